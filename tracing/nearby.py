"""Errors of another service near a time: where a failure came from when that service logged
no id of the request (a crashed neutron-server, an unreachable glance).

A request's trace holds only lines that carry its ids. When the root-cause error names
another service ("Connection to neutron failed", a port such as `:9292`) and no span of
that service failed in the trace, the real origin logged nothing under the request's ids:
it crashed or never got the call. The nearest ERROR/CRITICAL records of that service's files
in a time window are then the best lead. That is correlation by time, not proof, and the
verdict marks it weak.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from kansoku.lazyre import LazyPattern
from kansoku.tracing.ingest.fields import header_ts
from kansoku.tracing.ingest.files import LogReadError, read_chunks
from kansoku.tracing.ingest.oslo_format import HEAD_STAMP_B, HEADER_RE
from kansoku.tracing.ingest.parse import parse_record
from kansoku.tracing.ingest.records import iter_raw_records
from kansoku.tracing.model import LogLine
from kansoku.tracing.stitch import canonical_service

#: Seconds either side of the failure searched for the origin's errors.
WINDOW = 30.0
#: Bytes read per file at most: the search is a fallback and must stay bounded.
MAX_BYTES = 64 << 20

#: Projects an exception message can name, and the API ports that name them in a URL.
_PROJECTS = (
    "neutron",
    "glance",
    "cinder",
    "placement",
    "keystone",
    "nova",
    "swift",
    "heat",
    "octavia",
    "ironic",
)
_PROJECT_RE = LazyPattern(r"\b(" + "|".join(_PROJECTS) + r")\b", re.IGNORECASE)
_PORTS = {"9696": "neutron", "9292": "glance", "8776": "cinder", "8778": "placement", "5000": "keystone",
          "35357": "keystone", "8774": "nova", "8004": "heat", "9876": "octavia", "6385": "ironic"}  # fmt: skip
_PORT_RE = LazyPattern(r"https?://[^\s/:'\"]+:(\d{2,5})")


class _Entry(Protocol):
    id: int
    path: str
    service: str
    host: str
    state: str


class NearbyError:
    __slots__ = ("delta", "line")

    def __init__(self, line: LogLine, delta: float) -> None:
        self.line = line
        self.delta = delta  # seconds from the failure (negative: before it)


def named_projects(text: str) -> list[str]:
    """OpenStack projects an error message names, by word or by API port in a URL."""
    found = [m.group(1).lower() for m in _PROJECT_RE.finditer(text)]
    found += [_PORTS[p] for p in _PORT_RE.findall(text) if p in _PORTS]
    return list(dict.fromkeys(found))


class NearbyErrors:
    """Time-window search over the files of an index store (`IndexSource.manifest.files`)."""

    def __init__(
        self, entries: Iterable[_Entry], block_table: Callable[[int], Sequence[int]] | None = None
    ) -> None:
        self.entries = [e for e in entries if e.state == "live"]
        self.block_table = block_table  # [offset0, line0, offset1, line1, ...] per file id

    def near(self, project: str, ts: float, window: float = WINDOW) -> list[NearbyError]:
        """ERROR/CRITICAL records of `project`'s services within `window` s of `ts`, nearest first."""
        out: list[NearbyError] = []
        for entry in self.entries:
            if canonical_service(entry.service).split("-", 1)[0] != project:
                continue
            table = self.block_table(entry.id) if self.block_table is not None else ()
            out.extend(_scan(entry, ts, window, table))
        out.sort(key=lambda e: (abs(e.delta), e.line.file, e.line.line_no))
        return out


def _time_at(path: str, offset: int) -> float | None:
    """The time of the first oslo.log header at or after byte `offset` of a plain file."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(16384)
    except OSError:
        return None
    m = HEAD_STAMP_B.search(data)
    if m is None:
        return None
    hm = HEADER_RE.match(m.group(0).decode("ascii", "replace") + "x")
    return header_ts(hm) if hm is not None else None


def _start(path: str, table: Sequence[int], ts: float) -> tuple[int, int]:
    """(offset, line number) of the last indexed block that starts before `ts`: bisection on
    the blocks' first header times (oslo.log files are written in time order), so a 1 GB
    file costs ~13 small reads, not a scan."""
    lo, hi = 0, len(table) // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        when = _time_at(path, table[2 * mid])
        if when is None or when >= ts:
            hi = mid
        else:
            lo = mid
    return (table[2 * lo], table[2 * lo + 1]) if table else (0, 1)


def _scan(entry: _Entry, ts: float, window: float, table: Sequence[int]) -> list[NearbyError]:
    found: list[NearbyError] = []
    read = 0
    start, first_line = 0, 1
    if table and not entry.path.endswith(".gz"):  # .gz: read from the start, bounded
        start, first_line = _start(entry.path, table, ts - window)

    def chunks() -> Iterable[bytes]:
        nonlocal read
        for data in read_chunks(entry.path, start):
            read += len(data)
            yield from data.splitlines(keepends=True)
            if read > MAX_BYTES:
                return

    try:
        for line_no, offset, raw in iter_raw_records(chunks(), first_line, start):
            m = HEADER_RE.match(raw[:200].partition("\n")[0])
            if m is None:
                continue
            when = header_ts(m)
            if when is None or when < ts - window:
                continue
            if when > ts + window:
                break
            if m.group("level") not in ("ERROR", "CRITICAL"):
                continue
            line = parse_record(raw, entry.path, line_no, offset, entry.service, entry.host)
            if line is not None:
                found.append(NearbyError(line, when - ts))
    except LogReadError:
        return found  # what was read before the damage still counts
    return found
