"""Benchmark: stitching, isolation, the outputs, `kansoku trace ID` start-up and `trace stats`.

Each figure is a ratio against a baseline run in this same script over the same files:

* stitch + isolate of the generator's big request (>= 2,000 lines, 10+ services) with its
  lines already in memory, vs `grep -hF ID` over just the files that hold the request;
* terminal / JSON / HTML rendering of that trace, vs `json.dumps` of its raw lines;
* the whole `kansoku trace ID` process for a typical failed request, vs `grep -rF ID` over the
  corpus and vs a bare `python -c pass` (interpreter start-up);
* `trace stats` access-line streaming, vs `grep -c "status: "` (zcat for .gz) on the same files.

Writes `bench/results/stitch.md`. `--quick`: the default demo cloud (~15 MB) instead of 200 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from machine import cpu_model
from report import write_section

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv" / "bin" / "python")
KANSOKU = str(REPO / ".venv" / "bin" / "kansoku")
sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from kansoku.tracing.demo.truth import GroundTruth


def best(fn: Callable[[], object], runs: int = 5) -> float:
    """Median wall time of `fn()` after one warm-up run."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


#: As on a user's machine: byte-code caches may be written (this sandbox sets
#: PYTHONDONTWRITEBYTECODE, which would recompile every module on every run).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def sh(cmd: list[str] | str, shell: bool = False) -> None:
    subprocess.run(cmd, shell=shell, capture_output=True, check=False, env=ENV)


def corpus(size_mb: int | None) -> tuple[Path, Path, GroundTruth]:
    """A demo-cloud corpus and its index under bench/data (regenerated only if missing)."""
    from kansoku.tracing.demo.generate import generate
    from kansoku.tracing.demo.truth import GroundTruth
    from kansoku.tracing.index import build_index

    name = f"stitch-{size_mb or 'default'}mb"
    data = REPO / "bench" / "data" / name
    store = REPO / "bench" / "data" / f"{name}-store"
    if not (data / "ground-truth.json").is_file():
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)
        print(f"generating {name} ...", flush=True)
        generate(data, target_bytes=size_mb * 1_000_000 if size_mb else None)
    if not (store / "manifest.json").exists() and not any(store.glob("*")):
        print("indexing ...", flush=True)
        build_index([data], store)
    return data, store, GroundTruth.load(data / "ground-truth.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="default demo cloud (~15 MB) instead of 200 MB")
    args = parser.parse_args()
    size_mb = None if args.quick else 200
    data, store, truth = corpus(size_mb)

    from rich.console import Console

    from kansoku.tracing.isolate import isolate
    from kansoku.tracing.outputs.html_page import render_html
    from kansoku.tracing.outputs.json_doc import render_json
    from kansoku.tracing.outputs.terminal import render_terminal
    from kansoku.tracing.sources.index import IndexSource
    from kansoku.tracing.stats import collect, stats_table
    from kansoku.tracing.stitch import build_trace
    from tests.support.scenarios import MemorySource

    files = sorted(str(p) for p in data.rglob("*") if p.is_file() and ".log" in p.name)
    total_bytes = sum(os.path.getsize(f) for f in files)
    rows: list[tuple[str, str, str, str]] = []

    # --- stitch + isolate, lines in memory
    big = truth.big_request
    assert big is not None
    full = build_trace(IndexSource(store), big.request_id)
    lines = list(full.lines())
    mem = MemorySource(lines)
    t_stitch = best(lambda: isolate(build_trace(mem, big.request_id)))
    big_files = sorted({ln.file for ln in lines})
    plain = [f for f in big_files if not f.endswith(".gz")]
    gz = [f for f in big_files if f.endswith(".gz")]
    # grep writes into sh()'s captured pipe: with stdout on /dev/null GNU grep stops at the first match
    grep_cmd = f"grep -hF {big.request_id} {' '.join(plain)} ; " + (
        f"zcat {' '.join(gz)} | grep -F {big.request_id}" if gz else "true"
    )
    t_grep_big = best(lambda: sh(grep_cmd, shell=True))
    n_services = len({s.service for s in full.spans})
    rows.append(
        (
            f"stitch + isolate, lines in memory ({len(lines):,} lines, {len(full.spans)} spans, "
            f"{n_services} services, {len(full.ids)} ids)",
            f"{t_stitch * 1000:.1f} ms",
            f"{t_grep_big * 1000:.1f} ms (`grep -hF ID` over its {len(big_files)} files)",
            f"{t_grep_big / t_stitch:.1f}x",
        )
    )

    # --- outputs of the big trace vs writing its raw lines
    verdict = isolate(full)
    raws = [ln.raw for ln in lines]
    t_raw = best(lambda: json.dumps(raws))

    def terminal() -> None:
        render_terminal(full, verdict, Console(file=io.StringIO(), width=160))

    for label, fn in (
        ("terminal waterfall", terminal),
        ("--json document", lambda: render_json(full, verdict)),
        ("--html page", lambda: render_html(full, verdict)),
    ):
        t = best(fn)
        rows.append(
            (
                f"{label} of that trace",
                f"{t * 1000:.1f} ms",
                f"{t_raw * 1000:.1f} ms (`json.dumps` of its raw lines)",
                f"{t_raw / t:.2f}x",
            )
        )

    # --- the whole command for a typical failed request
    fault = next(f for f in truth.faults if f.kind == "placement_conflict")
    t_cli = best(lambda: sh([KANSOKU, "trace", fault.request_id, "--store", str(store)]), runs=7)
    fast = (
        "import sys; from kansoku.tracing.trace_cmd import trace_main; "
        f"sys.exit(trace_main([{fault.request_id!r}, '--store', {str(store)!r}]))"
    )
    t_fast = best(lambda: sh([PY, "-c", fast]), runs=7)
    t_py = best(lambda: sh([PY, "-c", "pass"]), runs=7)
    t_grep_r = best(lambda: sh(["grep", "-rF", fault.request_id, str(data)]), runs=3)
    rows.append(
        (
            "`kansoku trace ID` process (placement 409 request), warm",
            f"{t_cli * 1000:.0f} ms",
            f"{t_grep_r * 1000:.0f} ms (`grep -rF ID`, no .gz)",
            f"{t_grep_r / t_cli:.2f}x",
        )
    )
    rows.append(
        (
            "same, `trace_main` called from `python -c`",
            f"{t_fast * 1000:.0f} ms",
            f"{t_py * 1000:.0f} ms (`python -c pass`)",
            f"{t_py / t_fast:.2f}x",
        )
    )

    # --- trace stats streaming
    t0 = time.perf_counter()
    stats_in = collect(store)
    frame = stats_table(stats_in)
    t_stats = time.perf_counter() - t0
    plain_all = [f for f in files if not f.endswith(".gz")]
    gz_all = [f for f in files if f.endswith(".gz")]
    count_cmd = f"grep -c 'status: ' {' '.join(plain_all)} ; " + (
        f"zcat {' '.join(gz_all)} | grep -c 'status: '" if gz_all else "true"
    )
    t0 = time.perf_counter()
    sh(count_cmd, shell=True)
    t_count = time.perf_counter() - t0
    rows.append(
        (
            f"`trace stats` ({stats_in.lines:,} access lines, {len(frame)} groups, {total_bytes / 1e6:,.0f} MB on disk)",
            f"{t_stats:.2f} s ({total_bytes / 1e6 / t_stats:,.0f} MB/s)",
            f"{t_count:.2f} s (`grep -c 'status: '`, zcat for .gz)",
            f"{t_count / t_stats:.2f}x",
        )
    )

    out = REPO / "bench" / "results" / "stitch.md"
    text = [
        "## Tracing: stitching, isolation, outputs, CLI start-up, trace stats",
        "",
        f"Corpus: demo cloud, {total_bytes / 1e6:,.0f} MB on disk, {truth.total_lines:,} lines, {len(files)} files. "
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}, Python {platform.python_version()}; "
        f"shared with other engineers' runs, so absolute times are noisy. "
        f"Run: `python bench/bench_stitch.py{' --quick' if args.quick else ''}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). Medians of 5-7 warm runs.",
        "",
        "| measure | kansoku | baseline (same run, same files) | ratio (baseline / kansoku) |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "Index lookups are measured in `bench/results/tracing.md`; here the lines are",
        "preloaded so the figure is the stitching and isolation alone (target < 100 ms).",
        "`kansoku trace ID` goes from the entry point straight to `trace_main` (no typer, no",
        "pydantic); the second row runs `trace_main` from `python -c` for comparison.",
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times",
        "are inflated when it is above the core count).",
        "",
    ]
    write_section(out, text)


if __name__ == "__main__":
    main()
