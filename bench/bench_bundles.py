"""Benchmark: render the full bundle for N clusters (default 1,000; --quick: 50).

Measures per-cluster render time (grafana-foundation-sdk build + schema validation + rule
rendering) and the bytes pushed per cluster, against a baseline in the same run: a plain
`json.dumps` of the same dashboard dicts. Writes bench/results/bundles.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from machine import cpu_model
from report import write_section

from kansoku.addon_bundles.catalog import load_catalog
from kansoku.addon_bundles.render import render_cluster
from kansoku.models import Cluster

VERSIONS = ["1.18.20", "1.20.15", "1.27.9", "1.29.4", "1.31.1"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clusters", type=int, default=1000)
    args = parser.parse_args()
    n = 50 if args.quick else args.clusters
    catalog = load_catalog()
    clusters = [
        Cluster(
            id=f"c{i:04d}",
            api_url=f"https://c{i:04d}:6443",
            k8s_version=VERSIONS[i % len(VERSIONS)],
            region=f"r{i % 4}",
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    rendered = [render_cluster(catalog, c) for c in clusters]
    render_s = time.perf_counter() - t0
    dashboards = [d for r in rendered for d in r.dashboards.values()]
    t1 = time.perf_counter()
    baseline_bytes = sum(len(json.dumps(d, separators=(",", ":"))) for d in dashboards)
    baseline_s = time.perf_counter() - t1
    pushed = sum(r.pushed_bytes() for r in rendered)
    lines = [
        "## bundles",
        "",
        f"Machine: {os.cpu_count()} cores (nproc), {cpu_model()}. Data: {n} clusters over Kubernetes "
        f"{', '.join(VERSIONS)}; each gets its bundle chain (kansoku-core + kansoku-k8s) and a "
        "PrometheusRule per rule file: Kubernetes < 1.21 the per-cluster dashboard and 2 rule files, "
        ">= 1.21 (kansoku-k8s-2.1.0) 6 rule files (kansoku + recording + four vendored mixin files) and "
        "no per-cluster dashboard (its dashboards are fleet scope, rendered once per region).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| full render, {n} clusters | {render_s:.2f} s (target ≤ 30 s for 1,000) |",
        f"| per-cluster render | {render_s / n * 1000:.1f} ms |",
        f"| baseline: json.dumps of the same dashboards | {baseline_s:.3f} s |",
        f"| render / baseline | {render_s / baseline_s:.0f}× |"
        if baseline_s
        else "| render / baseline | n/a |",
        f"| dashboard JSON per cluster (compact) | {baseline_bytes / n / 1024:.1f} KiB |",
        f"| pushed per cluster (dashboards + rule files) | {pushed / n / 1024:.1f} KiB |",
        f"| pushed for the fleet | {pushed / 1024 / 1024:.1f} MiB |",
        "",
    ]
    out = Path(__file__).resolve().parent / "results" / "bundles.md"
    write_section(out, lines)


if __name__ == "__main__":
    main()
