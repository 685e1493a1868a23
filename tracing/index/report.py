"""What a run did (`IndexReport`) and how far it is (`IndexProgress`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IndexReport:
    """What one `build_index` run did."""

    files_seen: int = 0
    files_indexed: int = 0
    new_bytes: int = 0
    lines: int = 0
    postings: int = 0
    problems: list[str] = field(default_factory=list)
    problems_count: int = 0
    elapsed: float = 0.0
    store: str = ""
    rotated: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # uncommitted leftovers dropped
    repaired: list[str] = field(default_factory=list)  # damaged store files dropped (--repair)

    def summary(self) -> str:
        mb = self.new_bytes / 1e6
        rate = self.lines / self.elapsed if self.elapsed > 0 else 0.0
        text = (
            f"indexed {self.files_indexed} of {self.files_seen} files: {mb:,.1f} MB new, "
            f"{self.lines:,} lines in {self.elapsed:.2f} s ({rate:,.0f} lines/s) into {self.store}"
        )
        if self.problems_count:
            text += f"; {self.problems_count} problem(s)"
        if self.recovered:
            text += f"; recovered from an interrupted run ({len(self.recovered)} uncommitted file(s) dropped)"
        if self.repaired:
            text += f"; repaired {len(self.repaired)} damaged store file(s)"
        return text


@dataclass(frozen=True)
class IndexProgress:
    """Where a `build_index` run is, after each file: for a progress bar (files, bytes, lines)."""

    files_done: int
    files_total: int
    bytes_done: int  # on-disk bytes of the files done (compressed size for .gz)
    bytes_total: int
    lines: int  # lines indexed so far in this run
