"""Run every `bench/bench_*.py` and join their `bench/results/*.md` sections into `bench/RESULTS.md`.

Each benchmark is run alone in its own process (so one area's imports and caches do not
distort another's figures) with `--quick` passed through. A benchmark that fails is named
in RESULTS.md, and the others still run; the exit code says whether all succeeded.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model

BENCH = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small runs (passed to every benchmark)")
    parser.add_argument("--only", nargs="*", default=None, help="area names, e.g. tracing bundles")
    parser.add_argument("--no-run", action="store_true", help="only join the existing results")
    args = parser.parse_args()
    scripts = sorted(BENCH.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    failed: list[str] = []
    if not args.no_run:
        for script in scripts:
            cmd = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
            print(f"== {script.name}", flush=True)
            t0 = time.perf_counter()
            res = subprocess.run(cmd, check=False)
            print(f"== {script.name}: exit {res.returncode} in {time.perf_counter() - t0:.0f} s", flush=True)
            if res.returncode != 0:
                failed.append(script.name)
    sections = sorted((BENCH / "results").glob("*.md"))
    header = [
        "# Benchmark results",
        "",
        f"Joined by `bench/run_all.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}, Python {platform.python_version()}. "
        "Every figure is a ratio against a baseline run in the same script; each section says "
        "its data size and command.",
        "",
    ]
    if failed:
        header += [f"**Failed in this run** (their sections may be stale): {', '.join(failed)}", ""]
    body = [s.read_text().rstrip() + "\n" for s in sections]
    (BENCH / "RESULTS.md").write_text("\n".join(header) + "\n" + "\n".join(body))
    print(f"wrote {BENCH / 'RESULTS.md'} from {len(sections)} section(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
