"""Finding and naming real public log layouts: devstack CI job trees, kolla-ansible, journald.

The end-to-end tests run the real CLI (`kansoku index DIR --store S`, `kansoku trace ID
--store S --json`) on a copy of tests/data/devstack laid out as a downloaded Zuul job.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from kansoku.tracing.index import build_index
from kansoku.tracing.ingest.files import DefaultRule, discover, is_log_name, service_name
from kansoku.tracing.sources.index import IndexSource

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "devstack"
KANSOKU = str(REPO / ".venv" / "bin" / "kansoku")


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A downloaded job tree, indexed once with the real CLI: (tree, store)."""
    root = tmp_path_factory.mktemp("job")
    tree = root / "logs"
    shutil.copytree(DATA, tree)
    store = root / "store"
    proc = subprocess.run(
        [KANSOKU, "index", str(tree), "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "indexed 9 of 9 files" in proc.stdout + proc.stderr
    return tree, store


def _trace(store: Path, rid: str) -> dict[str, Any]:
    proc = subprocess.run(
        [KANSOKU, "trace", rid, "--store", str(store), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: the trace holds a failure
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def _services(trace: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s["service"], s["host"]) for s in trace["spans"]}


def test_screen_names() -> None:
    assert service_name("screen-n-cond-cell1.txt") == "n-cond-cell1"
    assert service_name("screen-placement-api.txt.gz") == "placement-api"
    assert is_log_name("screen-q-svc.txt") and is_log_name("screen-c-vol.txt.gz")
    assert not is_log_name("job-output.txt") and not is_log_name("ground-truth.json")


def test_discover_job_tree_names_services_and_journald_hosts() -> None:
    files, problems = discover([DATA], DefaultRule(host="here"))
    assert problems == []
    got = {(Path(f.path).relative_to(DATA.resolve()).as_posix(), f.service, f.host) for f in files}
    assert got == {
        ("leg-004/logs/screen-n-api.txt", "n-api", "leg-004"),
        ("train/logs/screen-n-api.txt", "n-api", "train"),
        ("testoccm/logs/screen-n-sch.txt", "n-sch", "testoccm"),
        ("devstack-master/logs/screen-n-cpu.txt", "n-cpu", "devstack-master"),
        ("gelani-lab-1/logs/screen-n-cpu.txt.gz", "n-cpu", "gelani-lab-1"),
        ("lab-journal/controller/logs/screen-n-api.txt", "n-api", "vm"),
        ("lab-journal/controller/logs/screen-placement-api.txt", "placement-api", "vm"),
        ("lab-journal/controller/logs/screen-n-cpu.txt", "n-cpu", "vm"),
        ("lab-journal/controller/logs/screen-n-cond-cell1.txt", "n-cond-cell1", "vm"),
    }


def test_journald_prefix_host_wins_over_the_node_directory(tmp_path: Path) -> None:
    """A multi-node job: `compute1/logs/screen-n-cpu.txt.gz`; the line prefix names the host."""
    line = (DATA / "devstack-master/logs/screen-n-cpu.txt").read_bytes()
    node = tmp_path / "compute1" / "logs"
    node.mkdir(parents=True)
    (node / "screen-n-cpu.txt.gz").write_bytes(gzip.compress(b"-- Logs begin at Mon 2019-06-17 --\n" + line))
    (node / "screen-c-vol.txt").write_text("plain text without a journald prefix\n")
    files, _ = discover([tmp_path])
    assert {(f.service, f.host) for f in files} == {("n-cpu", "devstack-master"), ("c-vol", "compute1")}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/var/log/kolla/nova/nova-api.log", ("nova-api", "here")),
        ("/srv/collected/ctl1/kolla/nova/nova-compute.log", ("nova-compute", "ctl1")),
        ("/var/log/nova/nova-api.log", ("nova-api", "here")),
        ("/srv/collected/ctl1/logs/screen-n-api.txt", ("n-api", "ctl1")),
        ("/srv/collected/ctl1/nova-api.log", ("nova-api", "ctl1")),
        ("/srv/job/compute1/logs/libvirt/libvirtd.log", ("libvirtd", "compute1")),
        ("/srv/job/controller/logs/rabbitmq/rabbit.log", ("rabbit", "controller")),
    ],
)
def test_path_layouts(path: str, expected: tuple[str, str]) -> None:
    assert DefaultRule(host="here")(Path(path)) == expected


def test_trace_global_id_across_n_api_and_placement(job: tuple[Path, Path]) -> None:
    """GET /v2.1/limits with a caller's global id: n-api forwards it to placement."""
    _, store = job
    trace = _trace(store, "req-fe99d42a-9aa4-45e5-ad8e-89b5106d2257")
    assert _services(trace) == {("n-api", "vm"), ("placement-api", "vm")}
    assert trace["verdict"]["status"] == "ok"
    assert all(s["start"] is not None for s in trace["spans"])


def test_trace_from_a_local_id_with_none_global(job: tuple[Path, Path]) -> None:
    """`[None req-...`: n-api's own id becomes placement's global id; placement's local id
    finds the same trace."""
    _, store = job
    by_api = _trace(store, "req-6065e735-5370-4cab-872c-467f9fb04aab")
    by_placement = _trace(store, "req-391123c9-e92b-4ccb-9df7-a1d371e3b27f")
    assert _services(by_api) == _services(by_placement) == {("n-api", "vm"), ("placement-api", "vm")}
    statuses = {(line["service"], line["access"]["status"]) for line in by_api["lines"] if line.get("access")}
    assert statuses == {("n-api", 200), ("placement-api", 200)}


def test_verdict_names_n_cpu_behind_an_n_api_501(job: tuple[Path, Path]) -> None:
    _, store = job
    trace = _trace(store, "req-9b609ef8-0645-40f7-a580-a434c8009028")
    assert trace["verdict"]["status"] == "failed"
    root = trace["verdict"]["root_cause"]
    assert (root["service"], root["exception_short"]) == ("n-cpu", "NotImplementedError")


def test_verdict_on_the_real_down_cell_error(job: tuple[Path, Path]) -> None:
    _, store = job
    trace = _trace(store, "req-fdaff415-48b9-44a7-b4c3-015214e80b90")
    root = trace["verdict"]["root_cause"]
    assert (root["service"], root["host"], root["exception"]) == ("n-api", "train", "DBConnectionError")


def test_index_lookups_return_whole_journald_tracebacks(tmp_path: Path) -> None:
    """A screen file larger than several index blocks, every record a real 29-line traceback
    with its own id: whatever block boundary a traceback straddles, a lookup returns it whole."""
    template = (DATA / "train/logs/screen-n-api.txt").read_text().splitlines()[:29]
    old = "req-fdaff415-48b9-44a7-b4c3-015214e80b90"
    node = tmp_path / "logs" / "controller" / "logs"
    node.mkdir(parents=True)
    ids = [f"req-{uuid.UUID(int=i + 1)}" for i in range(300)]
    (node / "screen-n-api.txt").write_text(
        "".join("\n".join(template).replace(old, rid) + "\n" for rid in ids)
    )
    assert (node / "screen-n-api.txt").stat().st_size > 8 * 128 * 1024
    build_index([tmp_path / "logs"], tmp_path / "store")
    got = list(IndexSource(tmp_path / "store").lines_for(ids))
    assert sorted(x.local_id or "" for x in got) == sorted(ids)
    assert {(x.n_lines, x.exception, x.host, x.service) for x in got} == {
        (29, "DBConnectionError", "train", "n-api")
    }
