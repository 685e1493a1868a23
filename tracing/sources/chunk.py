"""One indexed block widened to whole records, and the records found in it around id hits.

`IndexSource` (sources/index.py) reads the blocks the postings name; this finds, in each, the
records holding an id without splitting the whole block into records (a Python step per
line): `bytes.find` of the id in the slices the posting names, back to the nearest line
that surely starts a record (`definite_start`), then forward with the rules of
`iter_raw_records`.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

from kansoku.ids import ID_TAIL_BYTES_RE
from kansoku.lazyre import LazyPattern
from kansoku.tracing.ingest.records import (
    is_exception_prefix,
    iter_raw_records,
    json_record_start,
    starts_record,
)
from kansoku.tracing.segment import SLICE, SLICE_BITS


class Chunk:
    """One block widened to whole records; records are found around id hits, on demand.

    Splitting a whole 128 KiB block into records costs a Python step per line; a lookup
    only needs the few records that hold the ids, so it finds the id bytes with
    `bytes.find` (the segments say which ids each block holds), walks back to the nearest
    line that surely starts a record and groups forward from there with the same rules as
    `iter_raw_records`.
    """

    __slots__ = (
        "_at",
        "_lines",
        "_tails",
        "asked",
        "block_at",
        "data",
        "end",
        "line_no",
        "offset",
        "records",
    )

    def __init__(
        self,
        data: bytes,
        line_no: int,
        offset: int,
        block_at: int = 0,
        end: int = -1,
        known: tuple[int, int] | None = None,
    ) -> None:
        self.data = data
        # the chunk is data[:end]: what was read past the last record stays unused rather
        # than being cut off with a copy of the whole block
        self.end = len(data) if end < 0 else end
        self.line_no = line_no  # line number of data[0]
        self.offset = offset  # file offset of data[0]
        self.block_at = block_at  # where the indexed block starts in data (records before it are read too)
        self.records: dict[int, tuple[int, int, str, int]] = {}  # start -> (line, offset, raw, end)
        self._tails: dict[bytes, list[int]] | None = None  # UUID tail -> positions (one scan)
        self.asked = 0  # ids looked up in this chunk so far (all calls)
        # positions whose line numbers are known (sorted), and those line numbers
        self._at: list[int] = [0]
        self._lines: list[int] = [line_no]
        if known is not None and 0 < known[0] <= self.end:  # e.g. where the next block starts
            self._at.append(known[0])
            self._lines.append(known[1])

    def records_with(self, tail: bytes, many: bool = False, mask: int = 0) -> list[tuple[int, int, str, int]]:
        """Records holding `tail`, as (line number, file offset, text, end in data). A
        `bytes.find` per occurrence, only in the 8 KiB slices of the block that `mask` (from
        the posting) names; `many` (ids asked of this chunk, over all calls, >= MAP_AT) maps
        every UUID of the chunk in one regex scan instead, kept for later calls."""
        if many and self._tails is None:
            tails: dict[bytes, list[int]] = {}
            for m in ID_TAIL_BYTES_RE.finditer(self.data, 0, self.end):
                tails.setdefault(m.group(1), []).append(m.start(1))
            self._tails = tails
        out: list[tuple[int, int, str, int]] = []
        if self._tails is not None:
            covered = -1
            for pos in self._tails.get(tail, ()):
                if pos < covered:
                    continue
                rec = self._record_at(pos)
                covered = rec[3]
                out.append(rec)
            return out
        data = self.data
        end = self.end
        records = self.records
        one_line = _ONE_LINE_B.match
        find = data.find
        covered = 0
        for lo, hi in self._windows(mask):
            pos = find(tail, max(lo, covered), hi)
            while pos != -1:
                start = data.rfind(b"\n", 0, pos) + 1
                got = records.get(start)  # found before on this line (another id, an earlier call)
                if got is not None and got[3] > pos:
                    rec = got
                else:
                    one = one_line(data, start, end)
                    if one is not None:  # `_record_at`'s common case, without the call
                        nxt = one.end()
                        text = data[start:nxt].decode("utf-8", "replace").rstrip("\r\n")
                        rec = records[start] = (self._line_at(start), self.offset + start, text, nxt)
                    else:
                        rec = (data[start] == 123 and self._json_line(start)) or self._record_at(pos)
                out.append(rec)
                covered = rec[3] if rec[3] > pos else pos + 1
                pos = find(tail, covered, hi)
        return out

    def _windows(self, mask: int) -> list[tuple[int, int]]:
        """Byte ranges of data that can hold an id of slice `mask` (adjacent slices joined).

        Bit i: a UUID starting in [i * SLICE, (i + 1) * SLICE) of the block, so its tail lies
        in [start + 11, start + 28); the last bit covers the rest of the chunk."""
        n = self.end
        if not mask:
            return [(0, n)]
        base = self.block_at
        return [
            (base + first * SLICE, n if last == SLICE_BITS - 1 else min(n, base + (last + 1) * SLICE + 28))
            for first, last in _runs(mask)
        ]

    def _line_at(self, start: int) -> int:
        """Line number at byte `start`, counting from the nearest position already known,
        before or after it (`bytes.count` of one byte runs at ~1.5 GB/s: it was a sixth of
        finding a trace's records when it counted from the nearest position before only)."""
        at = self._at
        i = bisect_left(at, start)
        if i < len(at):
            after = at[i]
            if after == start:
                return self._lines[i]
            pos = at[i - 1]
            if after - start < start - pos:
                line = self._lines[i] - _newlines(self.data, start, after)
            else:
                line = self._lines[i - 1] + _newlines(self.data, pos, start)
        else:
            line = self._lines[i - 1] + _newlines(self.data, at[i - 1], start)
        at.insert(i, start)
        self._lines.insert(i, line)
        return line

    def _json_line(self, start: int) -> tuple[int, int, str, int] | None:
        """The record at `start` if it is one JSON line followed by a line that surely starts
        a record: what `_record_at` decides there, with the line decoded once."""
        data, end = self.data, self.end
        nl = data.find(b"\n", start, end)
        nxt = end if nl == -1 else nl + 1
        raw = data[start:nxt].decode("utf-8", "replace").rstrip("\r\n")
        if not json_record_start(raw):  # `definite_start` of a `{` line
            return None
        if (
            nxt < end
            and not (data[nxt + 10 : nxt + 11] == b" " and _NOT_ERROR_B.match(data, nxt))
            and not definite_start(data, nxt)
        ):
            return None
        entry = self.records[start] = (self._line_at(start), self.offset + start, raw, nxt)
        return entry

    def _record_at(self, pos: int) -> tuple[int, int, str, int]:
        data = self.data
        end = self.end
        start = data.rfind(b"\n", 0, pos) + 1
        known = self.records.get(start)  # a record already found on this line (another id)
        if known is not None and known[3] > pos:
            return known
        one = _ONE_LINE_B.match(data, start, end)
        if one is not None:  # the common case in one regex: a header line, a header line after it
            nxt = one.end()
            entry = (
                self._line_at(start),
                self.offset + start,
                data[start:nxt].decode("utf-8", "replace").rstrip("\r\n"),
                nxt,
            )
            self.records[start] = entry
            return entry
        # the common header line first: one regex, no function call (see `_NOT_ERROR_B`)
        if start > 0 and not (data[start + 10 : start + 11] == b" " and _NOT_ERROR_B.match(data, start)):
            while start > 0 and not definite_start(data, start):
                start = data.rfind(b"\n", 0, start - 1) + 1
            known = self.records.get(start)
            if known is not None and known[3] > pos:
                return known
        line_no = self._line_at(start)
        nl = data.find(b"\n", start, end)
        nxt = end if nl == -1 else nl + 1
        if (
            nxt >= end
            or (data[nxt + 10 : nxt + 11] == b" " and _NOT_ERROR_B.match(data, nxt))
            or definite_start(data, nxt)
        ):
            # a one-line record (the common case): no grouping needed
            raw = data[start:nxt].decode("utf-8", "replace").rstrip("\r\n").lstrip("\x00")
            if raw.strip():
                entry = (line_no, self.offset + start, raw, nxt)
                self.records[start] = entry
                return entry
        found: tuple[int, int, str, int] | None = None
        prev: tuple[int, int, str] | None = None
        for rec in iter_raw_records(_lines_from(data, start, end), line_no, self.offset + start):
            rel = rec[1] - self.offset
            if prev is not None:
                entry = (prev[0], prev[1], prev[2], rel)
                self.records[prev[1] - self.offset] = entry
                if pos < rel:
                    found = entry
                    break
            if rel > pos:
                break  # a blank stretch held the hit: no record
            prev = rec
        else:
            if prev is not None:  # the last record of the chunk holds the hit
                entry = (prev[0], prev[1], prev[2], end)
                self.records[prev[1] - self.offset] = entry
                found = entry
        if found is None:  # blank data around the hit: an empty record
            found = (line_no, self.offset + start, "", end)
        return found


_RUNS: dict[int, list[tuple[int, int]]] = {}


def _runs(mask: int) -> list[tuple[int, int]]:
    """The runs of adjacent set bits of a slice mask, (first, last), low bits first (memoised:
    a trace asks ~900 (id, block) windows, the bits of each looked at in Python)."""
    runs = _RUNS.get(mask)
    if runs is None:
        runs = []
        for i in range(SLICE_BITS):
            if mask >> i & 1:
                if runs and runs[-1][1] == i - 1:
                    runs[-1] = (runs[-1][0], i)
                else:
                    runs.append((i, i))
        _RUNS[mask] = runs
    return runs


def _newlines(data: bytes, start: int, end: int) -> int:
    """How many b"\n" in data[start:end].

    `bytes.count` of one byte is a plain byte loop in CPython (~1.4 GB/s here), and line
    numbers of a trace's records counted that way were a tenth of a 2,400-line trace.
    `bytes.replace` of one byte by nothing finds each with memchr: on log lines (a newline
    every few hundred bytes) counting what it removed is ~5x faster beyond a few KiB, in
    pieces of 64 KiB (a larger copy costs more than it saves)."""
    if end - start < 2048:
        return data.count(b"\n", start, end)
    n = 0
    while start < end:
        stop = min(end, start + 65536)
        piece = data[start:stop]
        n += len(piece) - len(piece.replace(b"\n", b""))
        start = stop
    return n


def _lines_from(data: bytes, start: int, n: int) -> Iterator[bytes]:
    """Lines of data[start:n] with their newlines (split on b"\n" only, as the indexer counts)."""
    while start < n:
        nl = data.find(b"\n", start, n)
        end = n if nl == -1 else nl + 1
        yield data[start:end]
        start = end


#: Bytes forms of parse's `_START_RE` and of HEADER_RE up to the level, for the fast
#: paths of `definite_start` (the exact str path still decides ERROR headers).
_STAMP_B = rb"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"
_TO_LEVEL_B = rb"(?:[.,]\d+)?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})? +\d+ +"  # fraction, zone, pid
_NOT_ERROR_LEVEL_B = rb"(?!ERROR |TRACE )[A-Z]+ "
_START_B = re.compile(_STAMP_B)
_LEVEL_B = re.compile(_STAMP_B + _TO_LEVEL_B + rb"([A-Z]+) ")
#: A one-line record in the commonest layout: a text header whose level is not ERROR (so
#: the line surely starts a record), then a line that surely starts the next one; what
#: `_record_at` decides with `_NOT_ERROR_B` twice (a space at byte 10: see below), in one
#: match. Compiled on first use (an import-time regex is start-up time of every process).
_SURE_HEADER = _STAMP_B.replace(b"[ T]", b" ") + _TO_LEVEL_B + _NOT_ERROR_LEVEL_B
_ONE_LINE_B = LazyPattern(_SURE_HEADER + rb"[^\n]*\n(?=" + _SURE_HEADER + rb")")

#: A header whose level is not ERROR: surely a record start (one match for the common case).
#: It cannot match across a newline, so `match(data, start)` needs no end bound; with a
#: space at byte 10 (not ISO `T`, not a journald line) a match means `definite_start`.
_NOT_ERROR_B = re.compile(_STAMP_B + _TO_LEVEL_B + _NOT_ERROR_LEVEL_B)


def definite_start(data: bytes, start: int) -> bool:
    """Does the line at `start` begin a record whatever precedes it? (See _Chunk.)

    Decided on the bytes for all but ERROR headers and quoted lines (decoding the line and
    running the str regexes was a third of finding a trace's records): a JSON line starts
    a record; a header line does unless it is an exception-prefix line, which needs level
    ERROR; any other line starts one only if it is an access line, which has a `"` or
    `=> generated`.
    """
    while data[start : start + 1] == b"\x00":  # NULs a crash left before a record
        start += 1
    first = data[start : start + 1]
    nl = data.find(b"\n", start)
    stop = nl if nl != -1 else len(data)
    if first == b"{":  # a JSON record, or a dict continuing a text record's message
        return json_record_start(data[start:stop].decode("utf-8", "replace").rstrip("\r"))
    # A journald line (`Nov 23 ...`, or ISO `...T...` + host) is left to the parser below.
    if not (first.isupper() or data[start + 10 : start + 11] == b"T"):
        if _NOT_ERROR_B.match(data, start, stop):
            return True
        if _START_B.match(data, start):
            m = _LEVEL_B.match(data, start, stop)
            if m is None or m.group(1) not in (b"ERROR", b"TRACE"):
                return True
        elif data.find(b'"', start, stop) == -1 and data.find(b"=> generated", start, stop) == -1:
            return False
    line = data[start:stop].decode("utf-8", "replace").rstrip("\r")
    return starts_record(line) and not is_exception_prefix(line)


#: From how many ids asked of one chunk mapping all its UUIDs (one regex scan: ~470 us
#: on 128 KiB of demo logs) beats a find per id in its slices (~2 us each with the
#: Python around it; a whole-block find was ~22 us, when this was 20).
MAP_AT = 200
