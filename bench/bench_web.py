"""Benchmark: `kansoku web`'s overview (`GET /`) for a fleet of 1,000 clusters.

Run alone: `.venv/bin/python bench/bench_web.py [--quick]`; writes bench/results/web.md.

Setup, as in production: the simulated fleet (kansoku.health.simfleet, every 10th cluster
broken) in its own process; `kansoku web --inventory --store --iaas` as a real server in
another process, over the demo cloud's indexed logs (control-plane charts, failed requests)
and an IaaS snapshot placing every node VM on a compute host (cross-layer verdicts for the
~100 failing clusters). After its first check round, `GET /` is timed over HTTP on one
keep-alive connection. Target: < 1 s.

Baselines in the same script: `GET /healthz` on the same server and connection (the HTTP
floor), and in this process the page render (`web.pages.overview`) against `kansoku check
--json`'s renderer (`health.table.to_json`) over the same statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from machine import cpu_model  # noqa: E402
from report import write_section  # noqa: E402

from kansoku.health.crosslayer.sources import SnapshotIaas  # noqa: E402
from kansoku.health.runner import Monitor  # noqa: E402
from kansoku.health.simfleet import fleet_inventory, start_process, write_inventory  # noqa: E402
from kansoku.health.table import to_json  # noqa: E402
from kansoku.process import ManagedProcess, free_port  # noqa: E402
from kansoku.web.demo import demo_iaas  # noqa: E402
from kansoku.web.pages import overview  # noqa: E402
from kansoku.web.state import WebSources, WebState  # noqa: E402


def timed_gets(port: int, path: str, n: int) -> tuple[list[float], int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        times.append(time.perf_counter() - t0)
        assert resp.status == 200, (path, resp.status, body[:200])
        size = len(body)
    conn.close()
    return times, size


def p95(values: list[float]) -> float:
    return sorted(values)[max(int(len(values) * 0.95) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 clusters, fewer requests")
    parser.add_argument("--clusters", type=int, default=None)
    args = parser.parse_args()
    n_clusters = args.clusters or (200 if args.quick else 1000)
    n_req = 10 if args.quick else 30
    from kansoku.tracing.demo import prepare

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        root = Path(tmp)
        cloud = prepare(root / "demo")
        sim = start_process(n_clusters, root / "simfleet")
        web: ManagedProcess | None = None
        try:
            inv = fleet_inventory(n_clusters, sim.ports["http"], free_port(), flap=1)
            # one round only during the measurement: the next is 10 minutes away
            inv = inv.model_copy(update={"settings": inv.settings.model_copy(update={"interval_s": 600.0})})
            write_inventory(inv, root / "fleet.yaml")
            doc = demo_iaas(inv, cloud.truth)
            (root / "iaas.json").write_text(json.dumps(doc))
            port = free_port()
            web = ManagedProcess(
                "kansoku-web",
                [sys.executable, "-m", "kansoku", "web", "--inventory", str(root / "fleet.yaml"),
                 "--store", str(root / "demo" / ".kansoku"), "--iaas", str(root / "iaas.json"),
                 "--port", str(port)],
                root,
            )  # fmt: skip
            web.start()

            def ready() -> bool:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    c.request("GET", "/healthz")
                    return bool(json.loads(c.getresponse().read())["rounds"] >= 1)
                except OSError:
                    return False

            t0 = time.perf_counter()
            web.wait_ready(ready, timeout=300, interval=0.5)
            first = time.perf_counter() - t0
            timed_gets(port, "/", 2)  # warm
            load = os.getloadavg()[0]
            page, page_bytes = timed_gets(port, "/", n_req)
            floor, _ = timed_gets(port, "/healthz", n_req)
            # in process: the render alone vs the JSON renderer over the same statuses
            monitor = Monitor(inv)
            asyncio.run(monitor.round())
            statuses = monitor.store.statuses()
            state = WebState(
                WebSources(store=root / "demo" / ".kansoku", inventory=inv, iaas=SnapshotIaas(doc))
            )
            state.load_logs()
            t1 = time.perf_counter()
            state.apply(statuses)
            judge_s = time.perf_counter() - t1
            failing = sum(1 for r in state.snapshot.rows if r.failing)
            judged = sum(1 for r in state.snapshot.rows if r.verdict is not None)
            render = []
            for _ in range(n_req):
                t1 = time.perf_counter()
                overview(state)
                render.append(time.perf_counter() - t1)
            js = []
            for _ in range(n_req):
                t1 = time.perf_counter()
                to_json(statuses)
                js.append(time.perf_counter() - t1)
        finally:
            if web is not None:
                web.stop()
            sim.stop()
    med, base = statistics.median(page), statistics.median(floor)
    rmed, jmed = statistics.median(render), statistics.median(js)
    lines = [
        "## web (bench/bench_web.py)",
        "",
        f"Machine: {os.cpu_count()} cores, {cpu_model()}; Python {sys.version.split()[0]}. "
        f"Data: {n_clusters} simulated clusters ({failing} failing, {judged} with a cross-layer verdict), "
        f"{len(statuses):,} check statuses (nodes and etcd members included), the demo cloud's "
        f"{cloud.truth.total_lines:,} log lines for the charts and failed requests. "
        f"`kansoku web` served from its own process, GET over one keep-alive connection, {n_req} requests each. "
        f"Load average while measuring: {load:.1f} on {os.cpu_count()} cores (a shared machine).",
        "",
        "| figure | value | baseline (same run) | ratio |",
        "|---|---|---|---|",
        f"| `GET /` ({page_bytes / 1024:,.0f} KiB), median | {med * 1000:.0f} ms | `GET /healthz` {base * 1000:.1f} ms | {med / base:.0f}x |",
        f"| `GET /`, p95 / max | {p95(page) * 1000:.0f} / {max(page) * 1000:.0f} ms | target < 1 s | {max(page):.2f}x of target |",
        f"| overview render in process, median | {rmed * 1000:.0f} ms | `kansoku check --json` renderer {jmed * 1000:.0f} ms | {rmed / jmed:.1f}x |",
        f"| server start to first snapshot (index scan + one check round + verdicts) | {first:.1f} s | | |",
        f"| cross-layer verdicts + snapshot for the {failing} failing clusters, in process | {judge_s:.2f} s | | |",
        "",
        "The page is built per request from a snapshot that the check thread swaps in after each round "
        "(grid, labels and verdicts precomputed; charts from buckets computed once per store scan).",
        "",
    ]
    write_section(REPO / "bench" / "results" / "web.md", lines)


if __name__ == "__main__":
    main()
