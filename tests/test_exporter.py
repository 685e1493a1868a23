"""The exporter: series names and labels per docs/contracts.md, scraped by a real Prometheus;
`collect serve`'s loop keeps the last good inventory when the file is broken."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from kansoku.collectors.serve import CollectService
from kansoku.health.simfleet import SimFleetThread, cluster_id, fleet_inventory
from kansoku.models import CheckState
from kansoku.process import ManagedProcess, free_port
from kansoku.servers import start_prometheus

REAL_NOVA_LOG = Path(__file__).parent / "data" / "real-openstack" / "nova-api.log"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimFleetThread]:
    with SimFleetThread(20) as fleet:
        yield fleet


def _write_inventory(
    path: Path, sim: SimFleetThread, n: int, logs: list[dict[str, str]] | None = None
) -> None:
    inv = fleet_inventory(n, sim.port, free_port())
    doc = inv.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    doc["openstack"] = {"cloud": "cloud-fra", "region": "fra", "logs": logs or []}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_metrics_text_has_contract_names_and_labels(sim: SimFleetThread, tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    shutil.copy(REAL_NOVA_LOG, log)
    inv_path = tmp_path / "inv.yaml"
    _write_inventory(inv_path, sim, 20, [{"path": str(log), "service": "nova-api"}])
    service = CollectService(inv_path)
    try:
        asyncio.run(service.round())
        text = generate_latest(service.registry).decode()
    finally:
        service.close()
    c0 = cluster_id(0)  # api_down
    assert f'kansoku_check_up{{check="apiserver_readyz",cluster="{c0}",region="fra"}} 0.0' in text
    assert f'kansoku_check_up{{check="apiserver_readyz",cluster="{cluster_id(1)}",region="ams"}} 1.0' in text
    assert (
        f'kansoku_check_state{{check="apiserver_readyz",cluster="{c0}",region="fra",state="failing"}} 1.0'
        in text
    )
    assert "kansoku_check_duration_seconds{" in text
    assert "kansoku_check_last_success_timestamp_seconds{" in text
    # API metrics from the real nova-api requestlog lines, cluster = the cloud name
    assert (
        'kansoku_openstack_api_requests_total{cluster="cloud-fra",method="GET",region="fra",route="/v2.1/limits",service="nova-api",status="200"}'
        in text
    )
    assert (
        'kansoku_openstack_api_request_duration_seconds_bucket{cluster="cloud-fra",le="+Inf",method="GET",region="fra",route="/v2.1/limits",service="nova-api"}'
        in text
    )
    for line in text.splitlines():
        if line.startswith("kansoku_") and "{" in line:
            assert 'cluster="' in line and 'region="' in line, line


def test_unknown_check_has_no_up_series(tmp_path: Path) -> None:
    with SimFleetThread(50) as fleet:
        inv_path = tmp_path / "inv.yaml"
        _write_inventory(inv_path, fleet, 50)
        service = CollectService(inv_path)
        asyncio.run(service.round())
        text = generate_latest(service.registry).decode()
        service.close()
    c40 = cluster_id(40)  # "unreachable": nothing listens at its API address
    assert (
        f'kansoku_check_state{{check="apiserver_readyz",cluster="{c40}",region="fra",state="unknown"}} 1.0'
        in text
    )
    assert f'kansoku_check_up{{check="apiserver_readyz",cluster="{c40}"' not in text


def test_broken_inventory_edit_keeps_last_good(sim: SimFleetThread, tmp_path: Path) -> None:
    inv_path = tmp_path / "inv.yaml"
    _write_inventory(inv_path, sim, 5)
    service = CollectService(inv_path)
    try:
        asyncio.run(service.round())
        assert len(service.monitor.inventory.clusters) == 5
        good = inv_path.read_text()
        inv_path.write_text(good.replace("api_url:", "api_ur1:", 1))
        statuses = asyncio.run(service.round())
        assert len(service.monitor.inventory.clusters) == 5  # still running the last good one
        assert service.reload_error is not None and f"{inv_path}:" in service.reload_error
        assert "clusters[0]" in service.reload_error
        inventory_check = [s for s in statuses if s.check == "inventory"]
        assert inventory_check and inventory_check[0].state is CheckState.FAILING
        # a fixed file with fewer clusters is picked up
        doc = yaml.safe_load(good)
        doc["clusters"] = doc["clusters"][:2]
        time.sleep(0.01)
        inv_path.write_text(yaml.safe_dump(doc))
        asyncio.run(service.round())
        assert [c.id for c in service.monitor.inventory.clusters] == [cluster_id(0), cluster_id(1)]
        assert service.reload_error is None
        assert {s.cluster for s in service.statuses()} <= {cluster_id(0), cluster_id(1), "cloud-fra"}
    finally:
        service.close()


@pytest.mark.real
def test_real_prometheus_scrapes_the_exporter(
    sim: SimFleetThread, tmp_path: Path, procs: list[ManagedProcess], need_prometheus: None
) -> None:
    inv_path = tmp_path / "inv.yaml"
    _write_inventory(inv_path, sim, 20)
    service = CollectService(inv_path)
    from kansoku.collectors.exporter import serve_metrics

    port = free_port()
    server, _ = serve_metrics(service.registry, "127.0.0.1", port)
    try:
        asyncio.run(service.round())
        config: dict[str, object] = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {"job_name": "kansoku", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            ],
        }
        prom = start_prometheus(tmp_path / "prom", config)
        procs.append(prom)
        query = 'kansoku_check_up{check="apiserver_readyz"}'
        url = f"http://127.0.0.1:{prom.ports['http']}/api/v1/query?" + urllib.parse.urlencode(
            {"query": query}
        )
        result: list[dict[str, object]] = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and len(result) < 18:
            with urllib.request.urlopen(url, timeout=5) as resp:
                result = json.load(resp)["data"]["result"]
            time.sleep(0.5)
    finally:
        server.shutdown()
        service.close()
    by_cluster = {r["metric"]["cluster"]: r["value"][1] for r in result}  # type: ignore[index]
    # 20 clusters: #0 api_down -> 0, #10 agent_disconnected -> direct API still 1, all others 1;
    # none is unreachable/slow in the first 20, so all 20 report
    assert len(by_cluster) == 20, by_cluster
    assert by_cluster[cluster_id(0)] == "0"
    assert by_cluster[cluster_id(10)] == "1"
    assert sum(1 for v in by_cluster.values() if v == "1") == 19
    assert {r["metric"]["job"] for r in result} == {"kansoku"}  # type: ignore[index]


def test_etcd_last_backup_from_snapshot_files(sim: SimFleetThread, tmp_path: Path) -> None:
    inv_path = tmp_path / "inv.yaml"
    _write_inventory(inv_path, sim, 3)
    doc = yaml.safe_load(inv_path.read_text())
    doc.setdefault("settings", {})["etcd_backup_dir"] = str(tmp_path / "snapshots" / "{cluster}")
    inv_path.write_text(yaml.safe_dump(doc))
    snap = tmp_path / "snapshots" / cluster_id(1)
    snap.mkdir(parents=True)
    (snap / "old.db").write_bytes(b"x")
    (snap / "new.db").write_bytes(b"x")
    (snap / "partial.part").write_bytes(b"x")
    os.utime(snap / "old.db", (1_700_000_000, 1_700_000_000))
    os.utime(snap / "new.db", (1_800_000_000, 1_800_000_000))
    os.utime(snap / "partial.part", (1_900_000_000, 1_900_000_000))  # incomplete: ignored
    service = CollectService(inv_path)
    try:
        text = generate_latest(service.registry).decode()
    finally:
        service.close()
    assert (
        f'kansoku_etcd_last_backup_timestamp_seconds{{cluster="{cluster_id(1)}",member="cluster",region="ams"}} 1.8e+09'
        in text
    )
    # never backed up: 0, so EtcdBackupStale fires instead of staying silent
    assert (
        f'kansoku_etcd_last_backup_timestamp_seconds{{cluster="{cluster_id(0)}",member="cluster",region="fra"}} 0.0'
        in text
    )


RULES = Path(__file__).parent.parent / "alerts" / "rule-files" / "kansoku.rules.yaml"


@pytest.fixture(scope="module")
def sim31() -> Iterator[SimFleetThread]:
    """31 clusters: #20 has node-3 NotReady, #30 has etcd member 2 saying health=false."""
    with SimFleetThread(31) as fleet:
        yield fleet


def test_node_and_member_series_carry_their_label(sim31: SimFleetThread, tmp_path: Path) -> None:
    inv_path = tmp_path / "inv.yaml"
    _write_inventory(inv_path, sim31, 31)
    service = CollectService(inv_path)
    try:
        asyncio.run(service.round())
        text = generate_latest(service.registry).decode()
    finally:
        service.close()
    c20, c30 = cluster_id(20), cluster_id(30)
    assert f'kansoku_check_up{{check="kubelet_ready",cluster="{c20}",node="node-3",region="fra"}} 0.0' in text
    assert f'kansoku_check_up{{check="kubelet_ready",cluster="{c20}",node="node-0",region="fra"}} 1.0' in text
    assert (
        f'kansoku_check_state{{check="kubelet_ready",cluster="{c20}",node="node-3",region="fra",state="failing"}} 1.0'
        in text
    )
    # no cluster-level kubelet_ready series beside the nodes' own: `sum by (cluster)` counts nodes
    assert not [
        ln for ln in text.splitlines() if 'check="kubelet_ready"' in ln and "node=" not in ln and "{" in ln
    ]
    node_lines = [ln for ln in text.splitlines() if ln.startswith("kansoku_check_up{") and "node=" in ln]
    assert len(node_lines) == 5 * 31  # every simulated cluster lists 5 nodes
    member = f"127.0.0.1:{sim31.port}/e/{c30}/2"
    assert (
        f'kansoku_check_up{{check="etcd_health",cluster="{c30}",member="{member}",region="fra"}} 0.0' in text
    )
    assert f'kansoku_check_up{{check="etcd_health",cluster="{c30}",region="fra"}}' not in text
    assert 'node=""' not in text and 'member=""' not in text
    # checks without subjects never get the labels
    assert not [
        ln
        for ln in text.splitlines()
        if 'check="apiserver_readyz"' in ln and ("node=" in ln or "member=" in ln)
    ]


@pytest.mark.real
def test_real_prometheus_node_alert_names_the_node(
    sim31: SimFleetThread, tmp_path: Path, procs: list[ManagedProcess], need_prometheus: None
) -> None:
    """A real Prometheus scrapes the exporter and evaluates our rule file: KubeNodeNotReady and
    EtcdMemberDown go pending for exactly the broken node and member, with the labels the
    healer reads (`node`, `member`), and nothing pends for the cluster-level summaries."""
    inv_path = tmp_path / "inv.yaml"
    _write_inventory(inv_path, sim31, 31)
    service = CollectService(inv_path)
    from kansoku.collectors.exporter import serve_metrics

    port = free_port()
    server, _ = serve_metrics(service.registry, "127.0.0.1", port)

    def query(prom: ManagedProcess, q: str) -> list[dict[str, str]]:
        """The label sets of the instant query's result."""
        url = f"http://127.0.0.1:{prom.ports['http']}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=5) as resp:
            return [dict(r["metric"]) for r in json.load(resp)["data"]["result"]]

    try:
        asyncio.run(service.round())
        config: dict[str, object] = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": ["kansoku.rules.yaml"],
            "scrape_configs": [
                {"job_name": "kansoku", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            ],
        }
        prom = start_prometheus(tmp_path / "prom", config, {"kansoku.rules.yaml": RULES.read_text()})
        procs.append(prom)
        down: list[dict[str, str]] = []
        alerts: list[dict[str, str]] = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            down = query(prom, 'kansoku_check_up{check="kubelet_ready", node!=""} == 0')
            alerts = query(prom, 'ALERTS{alertname=~"KubeNodeNotReady|KubeletDown|EtcdMemberDown"}')
            if down and len(alerts) >= 3:
                break
            time.sleep(0.5)
    finally:
        server.shutdown()
        service.close()
    c20, c30 = cluster_id(20), cluster_id(30)
    assert [(m["cluster"], m["node"]) for m in down] == [(c20, "node-3")]
    got = sorted(
        (m["alertname"], m["alertstate"], m["cluster"], m.get("node") or m.get("member")) for m in alerts
    )
    assert got == [
        ("EtcdMemberDown", "pending", c30, f"127.0.0.1:{sim31.port}/e/{c30}/2"),
        ("KubeNodeNotReady", "pending", c20, "node-3"),
        ("KubeletDown", "pending", c20, "node-3"),
    ], got


def test_summary_of_a_per_node_check_is_exported_only_while_no_node_is_known() -> None:
    """First round unanswered: the cluster-level kubelet_ready series says "unknown" (else the
    cluster would have no kubelet_ready series at all). Once nodes are listed only their
    series exist; when the API then goes away they all turn unknown, and no summary returns."""
    from kansoku.collectors.exporter import CheckCollector, build_registry
    from kansoku.health.model import CheckResult
    from kansoku.health.state import StateStore

    store = StateStore(flap_threshold=1)
    registry = build_registry(CheckCollector(store.statuses))

    def feed(ts: float, state: CheckState, nodes: dict[str, CheckState]) -> list[str]:
        base = CheckResult("k1", "fra", None, "kubelet_ready", state, "x", 0.1, ts, subject_label="node")
        parts = [
            CheckResult("k1", "fra", None, "kubelet_ready", st, "x", 0.1, ts, subject_label="node", subject=n)
            for n, st in nodes.items()
        ]
        store.update_all([base, *parts])
        text = generate_latest(registry).decode()
        return sorted(
            ln for ln in text.splitlines() if ln.startswith("kansoku_check_state{") and ln.endswith(" 1.0")
        )

    assert feed(1, CheckState.UNKNOWN, {}) == [
        'kansoku_check_state{check="kubelet_ready",cluster="k1",region="fra",state="unknown"} 1.0'
    ]
    assert feed(2, CheckState.FAILING, {"n1": CheckState.OK, "n2": CheckState.FAILING}) == [
        'kansoku_check_state{check="kubelet_ready",cluster="k1",node="n1",region="fra",state="ok"} 1.0',
        'kansoku_check_state{check="kubelet_ready",cluster="k1",node="n2",region="fra",state="failing"} 1.0',
    ]
    assert feed(3, CheckState.UNKNOWN, {}) == [
        'kansoku_check_state{check="kubelet_ready",cluster="k1",node="n1",region="fra",state="unknown"} 1.0',
        'kansoku_check_state{check="kubelet_ready",cluster="k1",node="n2",region="fra",state="unknown"} 1.0',
    ]
