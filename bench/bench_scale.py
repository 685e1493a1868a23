"""Benchmark: sharded collectors (`kansoku collect serve --shard i/n`) over a simulated fleet.

Run alone: `.venv/bin/python bench/bench_scale.py [--quick] [--clusters N] [--shards N]`;
writes bench/results/scale.md.

The simulated fleet (kansoku.health.simfleet) runs in its own process. Each collector shard
runs in a process of its own, as in production, one after another so that each gets the
machine's cores: it loads the same inventory file, keeps the clusters rendezvous hashing gives
it, runs one warm-up round and one measured round of every binary check, and renders /metrics
once. Baseline, same script, same fleet: one unsharded collector with every cluster. Figures:
round time and peak RSS per shard next to the unsharded collector's, and how many clusters
each shard owns (the balance of the hashing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from machine import cpu_model  # noqa: E402
from report import write_section  # noqa: E402

from kansoku.health.simfleet import fleet_inventory, start_process  # noqa: E402
from kansoku.process import free_port  # noqa: E402

TIMEOUT = 2.0
CONCURRENCY = 256

ONE_COLLECTOR = """
import asyncio, json, resource, sys, time
from pathlib import Path
from prometheus_client import generate_latest
from kansoku.collectors.shard import Shard
from kansoku.collectors.serve import CollectService
shard = Shard.parse(sys.argv[2]) if sys.argv[2] != "-" else None
svc = CollectService(Path(sys.argv[1]), shard)
asyncio.run(svc.round())
t0 = time.perf_counter()
statuses = asyncio.run(svc.round())
round_s = time.perf_counter() - t0
t1 = time.perf_counter()
body = generate_latest(svc.registry)
scrape_s = time.perf_counter() - t1
svc.close()
print(json.dumps({"clusters": len(svc.monitor.inventory.clusters), "checks": len(statuses),
                  "round_s": round_s, "scrape_s": scrape_s, "metrics_bytes": len(body),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_collector(inv: Path, shard: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", ONE_COLLECTOR, str(inv), shard], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 clusters over 4 shards")
    parser.add_argument("--clusters", type=int, default=None)
    parser.add_argument("--shards", type=int, default=None)
    args = parser.parse_args()
    n = args.clusters or (2_000 if args.quick else 10_000)
    shards = args.shards or (4 if args.quick else 10)
    with tempfile.TemporaryDirectory() as tmp:
        sim = start_process(n, Path(tmp))
        try:
            inv = fleet_inventory(
                n, sim.ports["http"], free_port(), timeout_s=TIMEOUT, concurrency=CONCURRENCY
            )
            inv_path = Path(tmp) / "inventory.yaml"
            doc = inv.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            inv_path.write_text(yaml.safe_dump(doc, sort_keys=False))
            t0 = time.perf_counter()
            whole = run_collector(inv_path, "-")
            per_shard = [run_collector(inv_path, f"{i}/{shards}") for i in range(shards)]
            wall = time.perf_counter() - t0
        finally:
            sim.stop()
    owned = [int(r["clusters"]) for r in per_shard]
    rounds = [r["round_s"] for r in per_shard]
    rss = [r["rss_mb"] for r in per_shard]
    lines = [
        "## sharded collectors (bench/bench_scale.py)",
        "",
        f"Machine: {cpu_model()}, 2 cores; shared with other jobs while it ran. Data: {n:,} simulated clusters "
        f"(kansoku.health.simfleet in its own process, every 10th cluster faulty, slow ones cost a full "
        f"{TIMEOUT:.0f} s timeout), 5 binary checks each; {shards} shards by rendezvous hashing, each in its "
        f"own process, run one after another. Baseline in the same run: one unsharded collector over all "
        f"{n:,} clusters. Whole benchmark {wall:.0f} s.",
        "",
        "| figure | shards (max / median) | unsharded collector | ratio |",
        "|---|---|---|---|",
        f"| clusters per collector | {max(owned)} / {sorted(owned)[len(owned) // 2]} (min {min(owned)}) "
        f"| {int(whole['clusters'])} | {max(owned) / whole['clusters']:.3f} |",
        f"| round time (warm, one round of every check) | {max(rounds):.2f} s / {sorted(rounds)[len(rounds) // 2]:.2f} s "
        f"| {whole['round_s']:.2f} s | {max(rounds) / whole['round_s']:.2f}x |",
        f"| peak RSS | {max(rss):.0f} MB / {sorted(rss)[len(rss) // 2]:.0f} MB | {whole['rss_mb']:.0f} MB "
        f"| {max(rss) / whole['rss_mb']:.2f}x |",
        f"| /metrics render | {max(r['scrape_s'] for r in per_shard) * 1000:.0f} ms "
        f"| {whole['scrape_s'] * 1000:.0f} ms | {max(r['scrape_s'] for r in per_shard) / whole['scrape_s']:.2f}x |",
        "",
        "Per shard: "
        + ", ".join(
            f"{i}: {o} clusters {r:.2f} s" for i, (o, r) in enumerate(zip(owned, rounds, strict=True))
        ),
        "",
    ]
    write_section(REPO / "bench" / "results" / "scale.md", lines)


if __name__ == "__main__":
    main()
