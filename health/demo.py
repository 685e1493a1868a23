"""The fleet health section of `kansoku demo`: a simulated fleet, one round, the table.

Why self-checking: every simulated cluster fails in a known way, so the demo verifies that
each one was read as the right fault (cluster / management plane / unreachable) and fails
loudly otherwise, instead of just printing something red.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.console import Console

from kansoku.errors import KansokuError
from kansoku.process import free_port

from .fleet import (
    CLUSTER_FAULT,
    MANAGEMENT_FAULT,
    UNREACHABLE,
    by_cluster,
    fault_domain,
    fleet_shared_dependency_down,
)
from .model import cluster_level
from .runner import check_once
from .simfleet import fleet_inventory, start_process, write_inventory
from .summary import render_summary

#: What each simulated scenario must be read as.
EXPECTED = {
    "healthy": None,
    "api_down": CLUSTER_FAULT,
    "agent_disconnected": MANAGEMENT_FAULT,
    "node_not_ready": CLUSTER_FAULT,
    "etcd_unhealthy": CLUSTER_FAULT,
    "unreachable": UNREACHABLE,
    "scheduler_down": CLUSTER_FAULT,
    "slow": UNREACHABLE,
}


def run_demo(console: Console, workdir: Path, clusters: int = 70) -> None:
    """Simulate `clusters` clusters (every 10th faulty), check them all once, show and verify."""
    workdir.mkdir(parents=True, exist_ok=True)
    sim = start_process(clusters, workdir / "simfleet")
    try:
        port = sim.ports["http"]
        inventory = fleet_inventory(clusters, port, free_port())
        write_inventory(inventory, workdir / "fleet-inventory.yaml")
        console.print(
            f"simulated fleet: {clusters} clusters on 127.0.0.1:{port} (pid {sim.pid}) speaking /readyz?verbose, /livez, "
            "/api/v1/nodes, /api/v1/componentstatuses, etcd /health and member list"
        )
        t0 = time.perf_counter()
        statuses = cluster_level(asyncio.run(check_once(inventory)))
        elapsed = time.perf_counter() - t0
    finally:
        sim.stop()
    render_summary(statuses, console, title=f"fleet health ({len(statuses)} checks in {elapsed:.2f}s)")
    shared = fleet_shared_dependency_down(statuses)
    console.print(f"shared dependency down: {shared or 'no (faults are independent)'}")
    scenario = {c.id: c.labels["scenario"] for c in inventory.clusters}
    wrong = []
    for cid, items in by_cluster(statuses).items():
        got, want = fault_domain(items), EXPECTED[scenario[cid]]
        if got != want:
            wrong.append(f"{cid} ({scenario[cid]}): read as {got}, expected {want}")
    if wrong:
        raise KansokuError("fleet demo misread clusters:\n" + "\n".join(wrong), 1)
    console.print(f"[green]all {clusters} simulated clusters read as expected[/]")
