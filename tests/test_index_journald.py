"""devstack/journald logs index cleanly: no false "problems", and first/last log times known."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from kansoku.tracing.index import build_index
from kansoku.tracing.sources.index import IndexSource

DEVSTACK = Path(__file__).resolve().parent / "data" / "devstack"


def test_journald_lines_are_not_reported_as_problems(tmp_path: Path) -> None:
    report = build_index([DEVSTACK], tmp_path / "store")
    assert report.lines > 400
    assert report.problems_count == 0, report.problems[:5]


def test_journald_files_get_first_and_last_times_with_the_mtime_year(tmp_path: Path) -> None:
    # journald's short format has no year: parse.py takes it from the file's mtime.
    tree = tmp_path / "job" / "controller" / "logs"
    tree.mkdir(parents=True)
    src = DEVSTACK / "lab-journal" / "controller" / "logs" / "screen-n-api.txt"
    dst = tree / "screen-n-api.txt"
    shutil.copy(src, dst)
    jan_2025 = 1736942400.0  # 2025-01-15 12:00 UTC
    os.utime(dst, (jan_2025, jan_2025))
    build_index([tmp_path / "job"], tmp_path / "store")
    text = IndexSource(tmp_path / "store").describe()
    first_line = dst.read_text().splitlines()[0]
    month = first_line[:3]
    year = "2025" if month == "Jan" else "2024"  # a month after the mtime's is last year's
    assert f"log time {year}-" in text, text
