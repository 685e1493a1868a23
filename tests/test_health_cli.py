"""`kansoku check` end to end: exit codes, table, JSON, bad inventory as file:line:field."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kansoku.health.simfleet import SimFleetThread, cluster_id, fleet_inventory
from kansoku.process import ManagedProcess, free_port


@pytest.fixture(scope="module")
def fleet_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with SimFleetThread(50) as sim:
        path = tmp_path_factory.mktemp("cli") / "inventory.yaml"
        inv = fleet_inventory(50, sim.port, free_port())
        path.write_text(yaml.safe_dump(inv.model_dump(mode="json", by_alias=True, exclude_defaults=True)))
        yield path


def kansoku(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kansoku", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": ""},
    )


def test_check_healthy_cluster_exits_0(fleet_file: Path) -> None:
    out = kansoku("check", cluster_id(1), "--inventory", str(fleet_file))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 clusters, 1 fully healthy" in out.stdout
    assert "apiserver_mgmt_readyz" in out.stdout  # named clusters show every check


def test_check_failing_exits_1_and_names_fault(fleet_file: Path) -> None:
    out = kansoku("check", cluster_id(10), "--inventory", str(fleet_file))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "management plane fault" in out.stdout
    assert "cluster agent disconnected" in out.stdout


def test_check_unknown_exits_2(fleet_file: Path) -> None:
    out = kansoku("check", cluster_id(40), "not-in-inventory", "--inventory", str(fleet_file), "--json")
    assert out.returncode == 2, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    states = {(c["cluster"], c["check"]): c["state"] for c in doc["checks"]}
    assert states[("not-in-inventory", "inventory")] == "unknown"
    assert states[(cluster_id(40), "apiserver_readyz")] == "unknown"
    assert doc["faults"][cluster_id(40)] == "unreachable"


def test_check_bad_inventory_is_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yaml"
    bad.write_text("clusters:\n  - id: a\n    api_url: https://a\n    region: [fra]\n")
    out = kansoku("check", "--inventory", str(bad))
    assert out.returncode == 2
    assert f"{bad}:4: clusters[0].region:" in out.stderr
    assert "Traceback" not in out.stderr


def test_collect_serve_exposes_metrics(fleet_file: Path, tmp_path: Path, procs: list[ManagedProcess]) -> None:
    port = free_port()
    proc = ManagedProcess(
        "collect-serve",
        [
            sys.executable,
            "-m",
            "kansoku",
            "collect",
            "serve",
            "--inventory",
            str(fleet_file),
            "--port",
            str(port),
        ],
        tmp_path,
    )
    procs.append(proc.start())
    text = ""

    def has_checks() -> bool:
        nonlocal text
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return False
        return "kansoku_check_up{" in text

    proc.wait_ready(has_checks, timeout=60, interval=0.3)
    assert f'kansoku_check_up{{check="apiserver_readyz",cluster="{cluster_id(0)}",region="fra"}} 0.0' in text
    assert (
        f'kansoku_check_state{{check="apiserver_readyz",cluster="{cluster_id(40)}",region="fra",state="unknown"}} 1.0'
        in text
    )


def test_check_unreachable_source_is_an_unknown_row(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    port = free_port()
    inv.write_text(f"sources:\n  - type: rancher\n    url: http://127.0.0.1:{port}\n")
    out = kansoku("check", "--inventory", str(inv), "--json")
    assert out.returncode == 2, out.stdout + out.stderr
    (row,) = json.loads(out.stdout)["checks"]
    assert row["cluster"] == f"rancher:http://127.0.0.1:{port}"
    assert row["check"] == "inventory_source" and row["state"] == "unknown"
    assert row["reason"].startswith(f"Rancher http://127.0.0.1:{port}/v3/clusters:")
