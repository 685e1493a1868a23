"""`kansoku web --demo` as a real server, read by real headless Chromium.

The server is the CLI itself (`python -m kansoku web --demo`): the demo cloud's generated
logs indexed into a store, the simulated fleet in its own process checked in rounds, the
alerts demo's dry-run heal journal, and the demo's IaaS snapshot. Chromium loads the pages
over HTTP; the DOM it dumps and the pixels of its screenshots are what is checked.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kansoku.health.simfleet import cluster_id
from kansoku.process import ManagedProcess, free_port, tcp_open
from tests.conftest import require
from tests.test_html_chromium import CHROMIUM, _chromium


@dataclass
class DemoWeb:
    url: str
    workdir: Path
    root: Path
    truth: dict[str, object]

    def fault(self, kind: str) -> dict[str, str]:
        faults = self.truth["faults"]
        assert isinstance(faults, list)
        return next(f for f in faults if f["kind"] == kind)


@pytest.fixture(scope="module")
def demo_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWeb]:
    require(CHROMIUM, "chromium")
    root = tmp_path_factory.mktemp("web")
    port = free_port()
    workdir = root / "demo"
    proc = ManagedProcess(
        "kansoku-web",
        [sys.executable, "-m", "kansoku", "web", "--demo", "--port", str(port), "--workdir", str(workdir)],
        root,
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"

    def first_round_done() -> bool:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                return bool(json.loads(resp.read())["rounds"] >= 1)
        except OSError:
            return False

    try:
        proc.wait_ready(first_round_done, timeout=180, interval=0.5)
        truth = json.loads((workdir / "cloud" / "ground-truth.json").read_text())
        yield DemoWeb(url, workdir, root, truth)
    finally:
        proc.stop()
    # SIGTERM must also stop the simulated fleet the demo started (its own process group)
    fleet_url = yaml.safe_load((workdir / "fleet-inventory.yaml").read_text())["clusters"][0]["api_url"]
    fleet_port = int(fleet_url.split(":")[2].split("/")[0])
    assert not tcp_open("127.0.0.1", fleet_port), "the simulated fleet outlived `kansoku web --demo`"


def _rows(dom: str) -> dict[str, str]:
    return dict(re.findall(r'<tr class="(?:failing|healthy)" data-cluster="([^"]+)">(.*?)</tr>', dom, re.S))


#: The demo fleet's broken clusters (every 10th) and how `/` must label them.
EXPECTED_LABELS = {
    cluster_id(0): "cluster fault",  # API down (etcd), VMs on healthy hypervisors
    cluster_id(10): "management plane fault",  # agent disconnected
    cluster_id(20): "IaaS suspected",  # NotReady node on the host with the dead openvswitch agent
    cluster_id(30): "cluster fault",  # one etcd member unhealthy
    cluster_id(40): "IaaS suspected",  # unreachable; its VMs' host had a failed volume attach
    cluster_id(50): "cluster fault",  # scheduler down
    cluster_id(60): "unreachable",  # never answers
}


def _pixels(path: Path, box: tuple[int, int, int, int] | None = None) -> Any:
    """The screenshot's RGB pixels as an (n, 3) array, optionally cropped to `box`."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
        if box is not None:
            rgb = rgb.crop(box)
        return np.asarray(rgb, dtype=np.int16).reshape(-1, 3)


def _near(pixels: Any, colour: str, tol: int = 12) -> int:
    import numpy as np

    want = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(pixels - want) <= tol).all(axis=1).sum())


def test_overview_shows_failing_clusters_coloured_and_labelled(demo_web: DemoWeb) -> None:
    dom = _chromium(demo_web.root, "--dump-dom", demo_web.url + "/")
    rows = _rows(dom)
    assert len(rows) == 70
    failing = {cid for cid, body in rows.items() if f'data-cluster="{cid}"' in dom and "cell failing" in body}
    failing |= {cid for cid, body in rows.items() if "cell unknown" in body}
    assert failing == set(EXPECTED_LABELS)
    for cid, label in EXPECTED_LABELS.items():
        assert re.search(rf'<span class="label [^"]+">{label}</span>', rows[cid]), (cid, rows[cid][:400])
    assert "cell failing" in rows[cluster_id(0)] and "cell failing" not in rows[cluster_id(1)]
    assert "stale since" in rows[cluster_id(60)]  # unknown carries its staleness
    # the verdict sits in a row under its cluster, with the failed request's trace link
    verdict = re.search(rf'<tr class="verdict-row" data-verdict="{cluster_id(20)}">(.*?)</tr>', dom, re.S)
    assert verdict is not None and "IaaS suspected: neutron-openvswitch-agent on cmp-3" in verdict.group(1)
    assert f'href="/trace/{demo_web.fault("port_binding_failed")["request_id"]}"' in verdict.group(1)
    # failing clusters come first; the grid is followed by the charts and the failed requests
    assert list(rows)[: len(EXPECTED_LABELS)] == sorted(EXPECTED_LABELS)
    assert dom.count('<svg class="chart"') >= 10
    assert demo_web.fault("port_binding_failed")["request_id"] in dom  # most recent failed requests
    # and it is drawn: failing-red cells, the purple IaaS label, green ok cells on the screenshot
    shot = demo_web.root / "overview.png"
    _chromium(demo_web.root, "--window-size=1400,1000", f"--screenshot={shot}", demo_web.url + "/")
    pixels = _pixels(shot)
    assert _near(pixels, "#f6c9cd") > 2000  # failing cells
    assert _near(pixels, "#7b2cbf", 20) > 100  # "IaaS suspected" labels
    assert _near(pixels, "#d8f0df") > 20000  # ok cells


def test_search_box_finds_a_request_and_its_page_names_the_root_cause(demo_web: DemoWeb) -> None:
    dom = _chromium(demo_web.root, "--dump-dom", demo_web.url + "/")
    form = re.search(r'<form action="/search" method="get"[^>]*>(.*?)</form>', dom, re.S)
    assert form is not None and 'name="q"' in form.group(1)
    fault = demo_web.fault("port_binding_failed")
    # what the browser submits for the box: GET /search?q=<id>, redirected to the trace page
    page = _chromium(demo_web.root, "--dump-dom", f"{demo_web.url}/search?q={fault['request_id']}")
    verdict = re.search(r'<div id="verdict" class="failed">(.*?)</div>', page, re.S)
    assert verdict is not None
    assert verdict.group(1).startswith(f"root cause: {fault['root_service']} on {fault['root_host']}")
    assert "PortBindingFailed" in verdict.group(1)
    assert '<svg class="waterfall"' in page and 'class="span-row root-cause"' in page
    assert "links and why each exists" in page and "joined via" in page
    # an instance UUID (from that trace's lines) finds every request on that VM, same root cause
    instance = re.search(r"\[instance: ([0-9a-f-]{36})\]", html.unescape(page))
    assert instance is not None
    page = _chromium(demo_web.root, "--dump-dom", f"{demo_web.url}/search?q={instance.group(1)}")
    assert f"trace {instance.group(1)}" in page
    assert re.search(rf'<div id="verdict" class="failed">root cause: {fault["root_service"]} on', page)
    # a cluster name finds the cluster's page
    page = _chromium(demo_web.root, "--dump-dom", f"{demo_web.url}/search?q={cluster_id(20)}")
    assert f"cluster {cluster_id(20)}" in page and "Kubernetes or IaaS?" in page


def test_control_plane_charts_are_drawn(demo_web: DemoWeb) -> None:
    shot = demo_web.root / "charts.png"
    _chromium(demo_web.root, "--window-size=1400,900", f"--screenshot={shot}", demo_web.url + "/controlplane")
    pixels = _pixels(shot, (0, 120, 1400, 900))
    non_background = int((pixels != 255).any(axis=1).sum())
    assert non_background / len(pixels) > 0.15, non_background
    # the three latency lines (p50 blue, p95 orange, p99 vermilion) and the 5xx bars are there
    assert _near(pixels, "#0072b2") > 300
    assert _near(pixels, "#e69f00") > 300
    assert _near(pixels, "#d55e00") > 300
    assert _near(pixels, "#c8323c") > 30


def test_crosslayer_verdict_on_the_demo(demo_web: DemoWeb) -> None:
    fault = demo_web.fault("port_binding_failed")
    page = _chromium(demo_web.root, "--dump-dom", f"{demo_web.url}/cluster/{cluster_id(20)}")
    assert "IaaS suspected: neutron-openvswitch-agent on cmp-3 down since 2026-11-20 06:02:25Z" in page
    assert f'href="/trace/{fault["request_id"]}"' in page  # the failed request links to its trace
    page = _chromium(demo_web.root, "--dump-dom", f"{demo_web.url}/cluster/{cluster_id(0)}")
    assert "Kubernetes fault: IaaS healthy" in page
    # `kansoku check` says the same, in the table and in --json
    args = [
        sys.executable, "-m", "kansoku", "check", "--inventory", str(demo_web.workdir / "fleet-inventory.yaml"),
        "--iaas", str(demo_web.workdir / "iaas.json"), "--store", str(demo_web.workdir / ".kansoku"),
    ]  # fmt: skip
    out = subprocess.run(
        [*args, "--json"], capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": ""}
    )
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    cross = doc["crosslayer"]
    assert cross[cluster_id(20)]["kind"] == "iaas"
    assert fault["request_id"] in cross[cluster_id(20)]["request_ids"]
    assert cross[cluster_id(0)]["kind"] == "kubernetes"
    assert cluster_id(10) not in cross  # a management plane fault is neither layer
    out = subprocess.run(
        args, capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": ""}
    )
    assert f"{cluster_id(20)}: IaaS suspected: neutron-openvswitch-agent on cmp-3" in out.stdout
    assert f"kansoku trace {fault['request_id']}" in out.stdout


def test_heal_page_shows_the_journal(demo_web: DemoWeb) -> None:
    page = _chromium(demo_web.root, "--dump-dom", f"{demo_web.url}/heal")
    assert "budget left this hour" in page
    assert re.search(r"<td>replace_node</td><td>prod-a/prod-a-worker-3</td><td>dry_run</td>", page)
    # the storm of prod-c was refused by the max-unhealthy rail, with its reason
    assert page.count("<b>max_unhealthy</b>") == 4 and "a bigger fault than one target" in page
