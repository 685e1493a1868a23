"""Benchmark: loading a fleet inventory of 10k and 100k clusters (--quick: 5k and 20k).

Measures `kansoku.inventory.load_inventory` (read, parse, validate, uniqueness checks) and,
in the same run, a baseline: PyYAML's libyaml loader (`yaml.load(..., CSafeLoader)`) on the
same text, i.e. what parsing alone costs. The ratio large/small of each shows whether the
load grows linearly (issue 11, item 14: 71 s for 100k clusters and faster than linear,
from parsing the text twice with the pure-Python scanner and the cyclic GC's repeated full
collections). Writes bench/results/inventory.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import tempfile
import time
from pathlib import Path

import yaml
from machine import cpu_model
from report import write_section

from kansoku.inventory import load_inventory

RESULTS = Path(__file__).resolve().parent / "results" / "inventory.md"


def inventory_text(n: int) -> str:
    """`n` clusters with the fields a real inventory carries (API, etcd, Prometheus, region)."""
    out = ["clusters:"]
    for i in range(n):
        out.append(
            f"  - id: c{i:06d}\n"
            f"    api_url: https://10.{i // 65536}.{(i // 256) % 256}.{i % 256}:6443\n"
            f"    etcd: [https://10.{i // 65536}.{(i // 256) % 256}.{i % 256}:2379]\n"
            f"    prometheus: http://10.{i // 65536}.{(i // 256) % 256}.{i % 256}:9090\n"
            f"    region: r{i % 7}\n"
            f"    k8s_version: 1.29.4"
        )
    return "\n".join(out) + "\n"


def timed(fn: object, *args: object) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5k and 20k clusters instead of 10k and 100k")
    args = parser.parse_args()
    sizes = (5_000, 20_000) if args.quick else (10_000, 100_000)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kansoku-bench-inv-") as tmp:
        for n in sizes:
            path = Path(tmp) / f"inv-{n}.yaml"
            text = inventory_text(n)
            path.write_text(text)
            load = timed(load_inventory, path)
            base = timed(lambda t: yaml.load(t, Loader=yaml.CSafeLoader), text)
            assert len(load_inventory(path).clusters) == n
            rows.append((n, len(text), load, base))
    (small, _, s_load, s_base), (large, _, l_load, l_base) = rows
    load_avg = Path("/proc/loadavg").read_text().split()[0]
    lines = [
        "## inventory",
        "",
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}; Python {platform.python_version()}. "
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{' (--quick)' if args.quick else ''}; "
        f"load average {load_avg}. Data: generated inventories (id, api_url, etcd, prometheus, region, "
        "k8s_version per cluster). Command: `python bench/bench_inventory.py`.",
        "",
        "| clusters | file | load_inventory | baseline: yaml.load (libyaml) of the same text | ratio |",
        "|---|---|---|---|---|",
    ]
    for n, size, load, base in rows:
        lines.append(f"| {n:,} | {size / 1e6:.1f} MB | {load:.2f} s | {base:.2f} s | {load / base:.2f}x |")
    lines += [
        "",
        f"Growth from {small:,} to {large:,} clusters ({large / small:.0f}x the data): load_inventory "
        f"{l_load / s_load:.1f}x, baseline {l_base / s_base:.1f}x (linear would be {large / small:.0f}x).",
        "",
    ]
    write_section(RESULTS, lines)


if __name__ == "__main__":
    main()
