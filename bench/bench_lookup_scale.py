"""Benchmark: how the lookup of one request id scales with the corpus, against rg and grep.

Issue 14 asks that the ratio of `kansoku trace ID` to `rg -F ID` grow with the corpus
(">= 30x at 10 GB"). An index answers from a few blocks whatever the corpus size; rg and grep
read every byte. This script measures that growth on the worst case for an index, the
`access` corpus of bench/bench_lookup.py (oslo.log access lines, two random request ids per
line), at 250 MB, 1 GB and 10 GB by default, in one run:

* whole process, warm page cache (every file read once before), median of 7 interleaved runs:
  `kansoku trace ID --json`, `rg -F ID DIR`, `grep -rF ID DIR`;
* whole process, cold page cache (`echo 1 > /proc/sys/vm/drop_caches` before each run, so
  needs root; skipped otherwise), median of 3: the same three commands. On a cloud's log hosts
  a 10 GB day of logs is rarely all in memory.

Each size's store is built fresh with `build_index` (build time and size reported). Data
stays in bench/data/ (`lookup-access-<N>mb`, generated when missing); writes
bench/results/lookup-scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench_lookup import (
    BENCH,
    BUILD,
    KANSOKU,
    PY,
    make_access_corpus,
    median_runs,
    ms,
    pick_id,
    run,
    tree_bytes,
)
from machine import cpu_model

DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def can_drop_caches() -> bool:
    return os.geteuid() == 0 and os.access(DROP_CACHES, os.W_OK)


def drop_caches() -> None:
    os.sync()
    DROP_CACHES.write_text("1\n")


def ensure_access(size: int) -> Path:
    data = BENCH / "data" / f"lookup-access-{size // 1_000_000}mb"
    if not (data / "done").is_file():
        shutil.rmtree(data, ignore_errors=True)
        print(f"generating {data} ...", flush=True)
        make_access_corpus(data, size)
    return data


def warm(files: list[Path]) -> None:
    for path in files:
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass


def cold_runs(tools: dict[str, Callable[[], tuple[float, float, bytes, int]]], runs: int) -> dict[str, dict]:
    """Median wall/CPU of `runs` runs of each tool, the page cache dropped before every run."""
    walls: dict[str, list[float]] = {k: [] for k in tools}
    cpus: dict[str, list[float]] = {k: [] for k in tools}
    for _ in range(runs):
        for name, fn in tools.items():
            drop_caches()
            wall, cpu, _, _ = fn()
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {k: {"wall": statistics.median(walls[k]), "cpu": statistics.median(cpus[k])} for k in tools}


def measure(size: int, runs: int, cold: int) -> dict:
    data = ensure_access(size)
    files = sorted(p for p in data.rglob("*.log") if p.is_file())
    store = BENCH / "data" / f"lookup-store-{data.name}"
    print(f"[{data.name}] kansoku index ...", flush=True)
    warm(files)
    shutil.rmtree(store, ignore_errors=True)
    bwall, bcpu, out, _ = run([PY, "-c", BUILD, str(data), str(store)])
    build = {"wall": bwall, "cpu": bcpu, **json.loads(out.decode().strip().splitlines()[-1])}
    build["size"] = tree_bytes(store)
    wanted = pick_id("access", data)
    tools: dict[str, Callable[[], tuple[float, float, bytes, int]]] = {
        "kansoku trace ID --json": lambda: run([KANSOKU, "trace", wanted, "--store", str(store), "--json"]),
        "rg -F ID": lambda: run(["rg", "-F", wanted, str(data)]),
        "grep -rF ID": lambda: run(["grep", "-rF", wanted, str(data)]),
    }
    print(f"[{data.name}] warm, {runs} interleaved runs ...", flush=True)
    warm(files)
    res = {"size": size, "bytes": sum(p.stat().st_size for p in files), "id": wanted, "build": build}
    res["warm"] = median_runs(tools, runs)
    if cold and can_drop_caches():
        print(f"[{data.name}] cold, {cold} runs ...", flush=True)
        res["cold"] = cold_runs(tools, cold)
    return res


def report(results: list[dict], sizes: str, runs: int, cold: int, load: tuple[float, float]) -> str:
    out = [
        f"## Lookup of one request id as the corpus grows (issue 14): access lines, {sizes}",
        "",
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}. Run: `python bench/bench_lookup_scale.py{(' ' + ' '.join(sys.argv[1:])) if sys.argv[1:] else ''}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after. Corpus: oslo.log access lines, two random request ids per line (the "
        "index's worst case), 18 plain files on 3 hosts; one mid-file global id looked up. Warm: every "
        f"file read once before, median of {runs} interleaved runs. Cold: page cache dropped before "
        f"every run, median of {cold}.",
        "",
        "| corpus | lines | index (build CPU, size) | cache | `kansoku trace ID --json` | `rg -F ID` | `grep -rF ID` | rg / kansoku | grep / kansoku |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b = r["build"]
        for cache in ("warm", "cold"):
            if cache not in r:
                continue
            m = r[cache]
            k, rg, gr = (m[t]["wall"] for t in ("kansoku trace ID --json", "rg -F ID", "grep -rF ID"))
            out.append(
                f"| {r['bytes'] / 1e9:,.2f} GB | {b['lines']:,} | {b['cpu']:.1f} s CPU, "
                f"{100 * b['size'] / r['bytes']:.2f} % | {cache} | {ms(k)} | {ms(rg)} | {ms(gr)} | "
                f"{rg / k:.1f}x | {gr / k:.1f}x |"
            )
    out += [
        "",
        "kansoku's time stays flat (it reads a few index pages and the blocks that hold the id); rg "
        "and grep read every byte, so their time grows with the corpus: in memory at the speed of "
        "memory on both cores (rg) or one (grep), from disk at the speed of the disk.",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250000000,1000000000,10000000000", help="corpus sizes in bytes")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cold", type=int, default=3, help="cold-cache runs per tool (0: none)")
    parser.add_argument("--quick", action="store_true", help="50 MB and 250 MB, 3 warm runs, 1 cold")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.runs, args.cold = "50000000,250000000", 3, 1
    if shutil.which("rg") is None:
        sys.exit("ripgrep (`rg`) is needed: apt-get install ripgrep")
    sizes = [int(s) for s in args.sizes.split(",")]
    size_text = ", ".join(f"{s / 1e9:g} GB" if s >= 1e9 else f"{s / 1e6:g} MB" for s in sizes)
    load0 = os.getloadavg()[0]
    results = [measure(s, args.runs, args.cold) for s in sizes]
    text = report(results, size_text, args.runs, args.cold, (load0, os.getloadavg()[0]))
    (BENCH / "results" / "lookup-scale.md").write_text(text)
    (BENCH / "data" / "lookup-scale.json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()
