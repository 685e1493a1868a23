"""Benchmark: parsing devstack/journald logs (screen-*.txt) vs oslo.log files of the same records.

The journald layout (tests/data/devstack/lab-journal) holds the same records as the real lab
logs (tests/data/real-openstack), so the ratio is the cost of the journald prefix, devstack's
payload and the per-line traceback prefixes. A second figure checks that the oslo path did not
get slower: the parser of the commit before journald support (`git show 9b0f7f8~1:...`) on the
same oslo files, run in this process. Baseline for both: `grep -c req-` over the same bytes.

Writes bench/results/public_logs.md. `--quick`: fewer repetitions.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from machine import cpu_model
from report import write_section

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "tests" / "data" / "real-openstack"
JOURNAL = REPO / "tests" / "data" / "devstack" / "lab-journal" / "controller" / "logs"
PAIRS = [
    ("nova-api.log", "screen-n-api.txt"),
    ("nova-compute.log", "screen-n-cpu.txt"),
    ("nova-conductor.log", "screen-n-cond-cell1.txt"),
]
OLD_COMMIT = "9b0f7f8~1"  # parse.py before journald support


def _load_old_parser() -> Any:
    src = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{OLD_COMMIT}:tracing/parse.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tmp = Path(tempfile.mkdtemp()) / "old_parse.py"
    tmp.write_text(src)
    spec = importlib.util.spec_from_file_location("old_parse", tmp)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_parse"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _corpus(names: Iterable[str], folder: Path, reps: int) -> list[bytes]:
    lines: list[bytes] = []
    for name in names:
        lines.extend((folder / name).read_bytes().splitlines(keepends=True))
    return lines * reps


def _time(fn: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(3):
        t0 = time.process_time()
        count = fn()
        best = min(best, time.process_time() - t0)
    return best, count


def _parse_all(iter_records: Callable[..., Iterator[Any]], lines: list[bytes]) -> Callable[[], int]:
    return lambda: sum(1 for _ in iter_records(lines, "bench"))


def _grep(data: bytes) -> float:
    with tempfile.NamedTemporaryFile() as fh:
        fh.write(data)
        fh.flush()
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(["grep", "-c", "req-", fh.name], capture_output=True, check=False)
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small run")
    args = ap.parse_args()
    reps = 5 if args.quick else 100
    sys.path.insert(0, str(REPO))
    from kansoku.tracing.ingest import records as parse

    old = _load_old_parser()
    oslo = _corpus([a for a, _ in PAIRS], LAB, reps)
    journal = _corpus([b for _, b in PAIRS], JOURNAL, reps)
    # alternate old and new (best of 3 rounds each): the machine is shared, its speed drifts
    t_oslo, t_old, n_oslo, n_old = float("inf"), float("inf"), 0, 0
    for _ in range(3):
        t, n_oslo = _time(_parse_all(parse.iter_records, oslo))
        t_oslo = min(t_oslo, t)
        t, n_old = _time(_parse_all(old.iter_records, oslo))
        t_old = min(t_old, t)
    t_journal, n_journal = _time(_parse_all(parse.iter_records, journal))
    g_oslo = _grep(b"".join(oslo))
    g_journal = _grep(b"".join(journal))
    mb_oslo = sum(map(len, oslo)) / 1e6
    mb_journal = sum(map(len, journal)) / 1e6
    rows = [
        ("oslo.log files, this parser", len(oslo), mb_oslo, t_oslo, n_oslo, g_oslo),
        ("oslo.log files, parser before journald support", len(oslo), mb_oslo, t_old, n_old, g_oslo),
        (
            "same records as devstack journald screen-*.txt",
            len(journal),
            mb_journal,
            t_journal,
            n_journal,
            g_journal,
        ),
    ]
    out = [
        "## Public log layouts (devstack / journald parsing)",
        "",
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}; Python {platform.python_version()}. "
        f"Data: the real lab logs ({', '.join(a for a, _ in PAIRS)}) and their devstack journald layout, "
        f"each repeated {reps} times. CPU time of `iter_records` (best of 3; old and new parser alternated, best of 9; one core) vs wall time of "
        "`grep -c req-` over the same bytes (best of 3).",
        "",
        "| input | physical lines | MB | records | parse s | lines/s | vs grep |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, lines, mb, t, n, g in rows:
        out.append(
            f"| {name} | {lines:,} | {mb:.1f} | {n:,} | {t:.2f} | {lines / t:,.0f} | {t / g:.0f}x grep |"
        )
    out += [
        "",
        f"journald layout / oslo layout, same records: {t_journal / t_oslo:.2f}x the parse time; "
        f"oslo path now / before journald support: {t_oslo / t_old:.2f}x.",
        "",
    ]
    write_section(REPO / "bench" / "results" / "public_logs.md", out)


if __name__ == "__main__":
    main()
