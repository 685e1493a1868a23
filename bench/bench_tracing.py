"""Benchmark: index build, lookup, trace assembly and `kansoku trace ID` over a demo-cloud corpus.

Generates ~1 GB (default; `--quick`: ~50 MB) of OpenStack logs with the demo generator
(`kansoku.tracing.demo`, multi-host, text + JSON, rotated and gzipped), then reports,
each against a baseline run in the same script over the same files:

* index build lines/s per core (CPU time of a child process) vs `grep -c req-` (`zcat | grep`
  for .gz files), plus the indexer's peak RSS and a no-op incremental re-run;
* lookup of one id in process vs `grep -rF ID` over the tree, cold (page cache dropped, when
  permitted) and warm;
* index size vs log size;
* trace assembly (`build_trace` on the generator's big request: >= 2,000 lines, 10+ services)
  and the whole `kansoku trace ID` process, both vs the same `grep -rF`.

Writes bench/results/tracing.md. Generated data stays in bench/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model
from report import write_section

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
KANSOKU = str(Path(PY).parent / "kansoku")


def drop_caches() -> bool:
    """Cold-cache runs need root; returns False (warm only) when not permitted."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_timed(cmd: list[str] | str, shell: bool = False) -> tuple[float, float, str]:
    """(wall seconds, child CPU seconds, stdout) of one command."""
    cpu0 = children_cpu()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, shell=shell, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    return wall, children_cpu() - cpu0, out.stdout


def ensure_corpus(size_mb: int) -> Path:
    data = REPO / "bench" / "data" / f"tracing-{size_mb}mb"
    if (data / "ground-truth.json").is_file():
        return data
    from kansoku.tracing.demo.generate import generate

    if data.exists():
        shutil.rmtree(data)
    print(f"generating {size_mb} MB of demo-cloud logs into {data} ...", flush=True)
    generate(data, target_bytes=size_mb * 1_000_000)
    return data


def log_files(data: Path) -> list[Path]:
    return sorted(p for p in data.rglob("*") if p.is_file() and ".log" in p.name)


BUILD = """
import json, resource, sys, time
from kansoku.tracing.index import build_index
r = build_index([sys.argv[1]], sys.argv[2])
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"elapsed": r.elapsed, "lines": r.lines, "bytes": r.new_bytes, "files": r.files_seen,
                  "problems": r.problems_count, "cpu": ru.ru_utime + ru.ru_stime,
                  "maxrss_mb": ru.ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~50 MB instead of ~1 GB")
    parser.add_argument("--size-mb", type=int, default=None)
    args = parser.parse_args()
    size_mb = args.size_mb or (50 if args.quick else 1000)
    data = ensure_corpus(size_mb)
    truth = json.loads((data / "ground-truth.json").read_text())
    files = log_files(data)
    plain = [str(p) for p in files if not p.name.endswith(".gz")]
    gz = [str(p) for p in files if p.name.endswith(".gz")]
    disk_bytes = sum(p.stat().st_size for p in files)
    store = REPO / "bench" / "data" / f"store-{size_mb}mb"
    shutil.rmtree(store, ignore_errors=True)
    rows: list[tuple[str, str, str, str]] = []

    # --- index build vs grep -c req-
    # output into the captured pipe: GNU grep stops at the first match when stdout is /dev/null
    grep_cmd = "grep -c req- " + " ".join(plain) + "; " + "; ".join(f"zcat {g} | grep -c req-" for g in gz)
    run_timed(grep_cmd, shell=True)  # warm the page cache for both
    g_wall, g_cpu, _ = run_timed(grep_cmd, shell=True)
    # two builds from scratch, the better one reported (a shared machine: another user's
    # burst lowers one run's per-core rate); the other is shown too
    builds = []
    for _ in range(2):
        shutil.rmtree(store, ignore_errors=True)
        _, _, out = run_timed([PY, "-c", BUILD, str(data), str(store)])
        builds.append(json.loads(out.strip().splitlines()[-1]))
    build = min(builds, key=lambda b: b["cpu"])
    other = max(builds, key=lambda b: b["cpu"])
    lines = build["lines"]
    idx_rate = lines / build["cpu"]
    grep_rate = lines / max(g_cpu, 1e-9)
    rows.append(
        (
            "index build (lines/s per core, CPU time, better of 2 builds)",
            f"{idx_rate:,.0f} (other build {lines / other['cpu']:,.0f})",
            f"{grep_rate:,.0f} (`grep -c req-`, zcat for .gz)",
            f"{idx_rate / grep_rate:.2f}x",
        )
    )
    rows.append(
        (
            "index build wall time",
            f"{build['elapsed']:.1f} s ({build['bytes'] / build['elapsed'] / 1e6:,.0f} MB/s)",
            f"{g_wall:.1f} s",
            f"{g_wall / build['elapsed']:.2f}x",
        )
    )
    rows.append(("indexing peak RSS", f"{build['maxrss_mb']:.0f} MB", "target < 500 MB", ""))
    _, _, out2 = run_timed([PY, "-c", BUILD, str(data), str(store)])
    again = json.loads(out2.strip().splitlines()[-1])
    rows.append(
        (
            "incremental re-run, nothing new",
            f"{again['elapsed'] * 1000:.0f} ms ({again['bytes']} new bytes)",
            f"first build {build['elapsed']:.1f} s",
            f"{build['elapsed'] / max(again['elapsed'], 1e-9):.0f}x faster",
        )
    )
    store_bytes = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    rows.append(
        (
            "index size / log size",
            f"{store_bytes / 1e6:.1f} MB",
            f"{build['bytes'] / 1e6:,.0f} MB uncompressed ({disk_bytes / 1e6:,.0f} MB on disk)",
            f"{100 * store_bytes / build['bytes']:.2f} % ({100 * store_bytes / disk_bytes:.2f} % of on-disk)",
        )
    )

    # --- lookup of one id vs grep -rF
    from kansoku.tracing.sources.index import IndexSource

    big_id = truth["big_request"]["request_id"]
    # one id whose lines are in rotated .gz files, one in live plain files
    gz_fault = next(
        (f for f in truth["faults"] if any(x.endswith(".gz") for x in f["files"])), truth["faults"][0]
    )
    plain_fault = next(
        (f for f in truth["faults"] if not any(x.endswith(".gz") for x in f["files"])), truth["faults"][-1]
    )

    def lookup(one: str) -> tuple[float, int]:
        t0 = time.perf_counter()
        n = len(list(IndexSource(store).lines_for([one])))
        return time.perf_counter() - t0, n

    cold = drop_caches()
    warm_grep = 0.0
    for label, fault in (("in .gz files", gz_fault), ("in plain files", plain_fault)):
        one = fault["request_id"]
        grep_id = ["grep", "-rF", one, str(data)]
        if cold:
            drop_caches()
            c_look, n_found = lookup(one)
            drop_caches()
            c_grep, _, _ = run_timed(grep_id)
            rows.append(
                (
                    f"lookup one id {label}, cold ({n_found} lines)",
                    f"{c_look * 1000:.1f} ms",
                    f"{c_grep * 1000:.0f} ms (`grep -rF ID`)",
                    f"{c_grep / c_look:,.0f}x",
                )
            )
        lookup(one)
        warm_look = statistics.median(lookup(one)[0] for _ in range(7))
        _, n_found = lookup(one)
        run_timed(grep_id)
        warm_grep = statistics.median(run_timed(grep_id)[0] for _ in range(3))
        rows.append(
            (
                f"lookup one id {label}, warm ({n_found} lines)",
                f"{warm_look * 1000:.2f} ms",
                f"{warm_grep * 1000:.0f} ms (`grep -rF ID`)",
                f"{warm_grep / warm_look:,.0f}x",
            )
        )

    # --- trace assembly and the whole command (stitch and CLI)
    try:
        from kansoku.tracing.stitch import build_trace

        build_trace(IndexSource(store), big_id)
        times = []
        cpu_times = []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            trace = build_trace(IndexSource(store), big_id)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
        n_lines = sum(len(s.lines) for s in trace.spans)
        n_services = len({s.service for s in trace.spans})
        asm = statistics.median(times)
        rows.append(
            (
                f"trace assembly incl. lookups ({n_lines} lines, {n_services} services), wall (CPU)",
                f"{asm * 1000:.0f} ms ({statistics.median(cpu_times) * 1000:.0f} ms CPU)",
                f"{warm_grep * 1000:.0f} ms (`grep -rF ID`, one id only)",
                f"{warm_grep / asm:,.1f}x",
            )
        )
    except ImportError as err:
        rows.append(("trace assembly", f"not measured: {err}", "", ""))
    cmd = [KANSOKU, "trace", big_id, "--store", str(store)]
    # as on a user's machine: byte-code caches may be written (this sandbox sets
    # PYTHONDONTWRITEBYTECODE, which would recompile every module on every run)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if shutil.which(KANSOKU) or Path(KANSOKU).exists():
        subprocess.run(cmd, capture_output=True, check=False, env=env)
        proc = []
        code = 0
        for _ in range(5):
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, check=False, env=env)
            proc.append(time.perf_counter() - t0)
            code = res.returncode
        p_med = statistics.median(proc)
        rows.append(
            (
                f"`kansoku trace ID` process, warm (exit {code})",
                f"{p_med * 1000:.0f} ms",
                f"{warm_grep * 1000:.0f} ms (`grep -rF ID`)",
                f"{warm_grep / p_med:,.1f}x",
            )
        )

    write_results(size_mb, build, rows, cold)


def write_results(
    size_mb: int, build: dict[str, float], rows: list[tuple[str, str, str, str]], cold: bool
) -> None:
    out = REPO / "bench" / "results" / "tracing.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "## Tracing: index build, lookup, trace assembly",
        "",
        f"Corpus: demo cloud (`kansoku.tracing.demo`), {build['bytes'] / 1e6:,.0f} MB uncompressed, "
        f"{build['lines']:,.0f} lines, {build['files']:.0f} files (text + JSON, rotated `.1` and `.2.gz`). "
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}, Python {platform.python_version()}. "
        f"Run: `python bench/bench_tracing.py{' --quick' if size_mb <= 50 else ''}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
        "",
        "| measure | kansoku | baseline (same run, same files) | ratio |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "Cold runs drop the page cache (`echo 3 > /proc/sys/vm/drop_caches`)."
        if cold
        else "Cold-cache runs need root (drop_caches); only warm figures were measured here.",
        "`grep -rF` does not read inside `.gz` files, so its baseline does less work than the index "
        "(and finds nothing for an id that is only in .gz files).",
        f"Load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
        "(a shared machine: wall times are inflated when it is above the core count).",
        "",
    ]
    write_section(out, lines)


if __name__ == "__main__":
    main()
