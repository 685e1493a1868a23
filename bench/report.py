"""Where a benchmark's figures go: its Markdown section under bench/results/, and the terminal.

`run_all.py` stitches the sections into bench/RESULTS.md; every benchmark ends by writing
its own section the same way, here.
"""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, lines: list[str]) -> None:
    """Write `lines` as the section `path` (its folder made if missing) and print them."""
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
