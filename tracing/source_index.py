"""`IndexSource`: the `LogSource` that answers from the on-disk index (`kansoku.tracing.index`).

A lookup turns each id into its 64-bit key, bisects every segment (mmap, stdlib only: no
numpy import on the `kansoku trace` path), reads only the blocks the postings name, widens
each block range to whole records (a traceback may straddle a block boundary) and parses
only the records whose text really contains one of the ids. Key collisions therefore cost
a block read, never a wrong line.
"""

from __future__ import annotations

import io
import mmap
import os
import sys
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kansoku.tracing.files import LogReadError, open_error, read_chunks
from kansoku.tracing.index import _HEADER, MAGIC, FileEntry, Manifest, Store, id_key
from kansoku.tracing.model import LogLine, ParseProblem
from kansoku.tracing.parse import HEADER_RE, iter_records, starts_record

from kansoku.errors import KansokuError

#: How far past a block's end to look for the end of its last record.
_EXTEND_STEP = 64 * 1024
_EXTEND_MAX = 1 << 20
#: How many blocks back to look for the start of a record that straddles blocks.
_STEP_BACK_MAX = 8


@dataclass(frozen=True, slots=True)
class _Range:
    start: int
    end: int
    line_no: int


def postings_for(store: Store, manifest: Manifest, keys: set[int]) -> dict[int, set[int]]:
    """file_id -> block numbers for any of `keys`, from every segment."""
    found: dict[int, set[int]] = {}
    if sys.byteorder != "little":  # segments are little-endian; lookups use native arrays
        raise KansokuError("the index lookup supports little-endian machines only")
    for path in store.segment_paths(manifest):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            raise KansokuError(f"{path}: cannot open index segment ({err.strerror}); re-index") from None
        try:
            size = os.fstat(fd).st_size
            if size < _HEADER.size:
                raise KansokuError(f"{path}: truncated index segment; delete the store and re-index")
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        try:
            magic, count = _HEADER.unpack_from(mm)
            if magic != MAGIC or size < _HEADER.size + 16 * count:
                raise KansokuError(f"{path}: not a kansoku index segment; delete the store and re-index")
            view = memoryview(mm)
            key_view = view[_HEADER.size : _HEADER.size + 8 * count].cast("Q")
            post_view = view[_HEADER.size + 8 * count : _HEADER.size + 16 * count].cast("Q")
            try:
                for key in keys:
                    i = bisect_left(key_view, key)
                    while i < count and key_view[i] == key:
                        post = post_view[i]
                        found.setdefault(post >> 32, set()).add(post & 0xFFFFFFFF)
                        i += 1
            finally:
                key_view.release()
                post_view.release()
                view.release()
        finally:
            mm.close()
    return found


def _ranges(entry: FileEntry, table: list[int], blocks: set[int]) -> list[_Range]:
    """Byte ranges of the named blocks, adjacent blocks merged."""
    out: list[_Range] = []
    n = len(table) // 2
    for b in sorted(blocks):
        if b >= n:
            continue  # the block table lags a concurrent writer: the next run has it
        start = table[2 * b]
        end = table[2 * b + 2] if b + 1 < n else entry.offset
        if out and out[-1].end == start:
            out[-1] = _Range(out[-1].start, end, out[-1].line_no)
        else:
            out.append(_Range(start, end, table[2 * b + 1]))
    return out


def _read_plain(path: str, start: int, length: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            return fh.read(length)
    except OSError as err:
        raise open_error(path, err) from None


def _first_line_is_record_start(data: bytes) -> bool:
    nl = data.find(b"\n")
    first = data[: nl if nl != -1 else len(data)].decode("utf-8", "replace")
    return starts_record(first) and not _is_exception_prefix(first)


def _is_exception_prefix(line: str) -> bool:
    """A traceback line written with logging_exception_prefix: header, ERROR, no `[...]` context."""
    m = HEADER_RE.match(line)
    if m is None or m.group("level") != "ERROR":
        return False
    rest = m.group("rest") or ""
    return not rest.startswith("[") or rest.startswith("[instance: ")


def _record_end(path: str, end: int) -> bytes:
    """Bytes after `end` that still belong to the last record (continuation lines)."""
    extra = b""
    pos = end
    while len(extra) < _EXTEND_MAX:
        more = _read_plain(path, pos, _EXTEND_STEP)
        if not more:
            break
        cut = _continuation_len(extra + more)
        if cut is not None:
            return (extra + more)[:cut]
        extra += more
        pos += len(more)
    return extra


def _continuation_len(data: bytes) -> int | None:
    """Length of the leading continuation lines of `data`, None if they run past its end."""
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl == -1:
            return None
        line = data[pos:nl].decode("utf-8", "replace").rstrip("\r")
        if line and starts_record(line) and not _is_exception_prefix(line):
            return pos
        pos = nl + 1
        if pos >= len(data):
            return None


def _read_gz(path: str, ranges: list[_Range]) -> dict[_Range, bytes]:
    """One sequential decode of a .gz, slicing out each range (plus its record tail)."""
    want = sorted(ranges, key=lambda r: r.start)
    out: dict[_Range, bytes] = {}
    if not want:
        return out
    stop = want[-1].end + _EXTEND_MAX
    buf = bytearray()
    base = want[0].start
    try:
        for chunk in read_chunks(path, base):
            buf += chunk
            if base + len(buf) >= stop:
                break
    except LogReadError:
        pass  # a damaged tail: use what was read
    data = bytes(buf)
    for r in want:
        piece = data[r.start - base : r.end - base]
        tail = data[r.end - base :]
        cut = _continuation_len(tail)
        out[r] = piece + (tail[:cut] if cut is not None else tail)
    return out


class IndexSource:
    """`LogSource` over a store built by `build_index`; cheap to create (reads the manifest)."""

    def __init__(self, store: str | Path = ".kansoku") -> None:
        self.store = Store(store)
        if not self.store.exists():
            raise KansokuError(
                f"{self.store.root}: no index here; run `kansoku index PATH...` first (or give --store)"
            )
        self.manifest = self.store.load()
        self.files = {f.id: f for f in self.manifest.files}
        self.files_searched = sum(1 for f in self.manifest.files if f.state == "live")

    def lines_for(self, ids: Iterable[str]) -> Iterator[LogLine]:
        """Every record containing one of `ids`, in (file, offset) order per file."""
        wanted = sorted({i.strip() for i in ids if i.strip()})
        keys = {k for k in (id_key(i) for i in wanted) if k is not None}
        if not keys:
            return
        needles = tuple(wanted)

        def keep(raw: str) -> bool:
            return any(n in raw for n in needles)

        hits = postings_for(self.store, self.manifest, keys)
        seen: set[tuple[int, int]] = set()
        for file_id in sorted(hits):
            entry = self.files.get(file_id)
            if entry is None or entry.state != "live":
                continue
            for line in self._lines_in_file(entry, hits[file_id], keep):
                mark = (file_id, line.offset)
                if mark not in seen:
                    seen.add(mark)
                    yield line

    def _lines_in_file(
        self, entry: FileEntry, blocks: set[int], keep: Callable[[str], bool]
    ) -> Iterator[LogLine]:
        table = list(self.store.block_table(entry.id))
        ranges = _ranges(entry, table, blocks)
        datas: dict[_Range, bytes] = {}
        try:
            if entry.compressed:
                datas = _read_gz(entry.path, ranges)
            else:
                for r in ranges:
                    data = _read_plain(entry.path, r.start, r.end - r.start)
                    steps = 0
                    cur = r
                    block_no = _block_of(table, cur.start)
                    while (
                        data
                        and block_no > 0
                        and steps < _STEP_BACK_MAX
                        and not _first_line_is_record_start(data)
                    ):
                        block_no -= 1
                        steps += 1
                        prev_start = table[2 * block_no]
                        data = _read_plain(entry.path, prev_start, cur.start - prev_start) + data
                        cur = _Range(prev_start, cur.end, table[2 * block_no + 1])
                    data += _record_end(entry.path, cur.end)
                    datas[cur] = data
        except LogReadError:
            return  # the file went away since indexing: describe() still counts it
        for r, data in sorted(datas.items(), key=lambda kv: kv[0].start):
            lines = io.BytesIO(data)  # splits on b"\n" only, like the indexer counts lines
            for item in iter_records(lines, entry.path, entry.service, entry.host, r.line_no, r.start, keep):
                if isinstance(item, ParseProblem):
                    continue  # reported at index time; the unparsed LogLine follows
                yield item

    def describe(self) -> str:
        """`12 files (indexed up to 2026-11-20 10:15:32 UTC, 2 minutes ago)`."""
        live = [f for f in self.manifest.files if f.state == "live"]
        last = max((f.last_ts for f in live if f.last_ts), default=None)
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.manifest.updated))
        upto = f"log time {last}" if last else "no timestamps"
        return f"{len(live)} files (indexed up to {upto}; index updated {when})"


def _block_of(table: list[int], offset: int) -> int:
    offsets = table[0::2]
    i = bisect_left(offsets, offset)
    return i if i < len(offsets) and offsets[i] == offset else max(0, i - 1)
