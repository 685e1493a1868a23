"""`IndexSource`: the `LogSource` that answers from the on-disk index (`kansoku.tracing.index`).

A lookup turns each id into its 64-bit key, bisects every segment (mmap, stdlib only: no
numpy import on the `kansoku trace` path), reads only the blocks the postings name, widens
each block range to whole records (a traceback may straddle a block boundary) and parses
only the records whose text really contains one of the ids. Key collisions therefore cost
a block read, never a wrong line.
"""

from __future__ import annotations

import os
import sys
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from kansoku.config import DEFAULT_STORE
from kansoku.errors import KansokuError
from kansoku.ids import ID_TAIL_RE
from kansoku.tracing.durable import StoreDamaged
from kansoku.tracing.ingest.files import LogReadError, open_error, read_chunks
from kansoku.tracing.ingest.parse import parse_record, unparsed_line
from kansoku.tracing.ingest.records import (
    is_exception_prefix,
    starts_record,
)
from kansoku.tracing.model import LogLine
from kansoku.tracing.segment import Hits, SegmentReader, lookup
from kansoku.tracing.slotted import FrozenRecord
from kansoku.tracing.sources.chunk import MAP_AT, Chunk
from kansoku.tracing.store import FileEntry, Manifest, Store, load_block_table

#: How far past a block's end to look for the end of its last record.
_EXTEND_STEP = 64 * 1024
_EXTEND_MAX = 1 << 20
#: How many blocks back to look for the start of a record that straddles blocks.
_STEP_BACK_MAX = 8
#: Bytes read past a block's end with it (one read instead of two): enough for the rest of
#: the last record in most logs; a longer traceback is read on by `_record_end`.
_SLACK = 8 * 1024


class _Range(FrozenRecord):
    """A block's byte range in a file and the line number it starts at (a dict key)."""

    __slots__ = ("end", "line_no", "start")

    end: int
    line_no: int
    start: int

    def __init__(self, start: int, end: int, line_no: int) -> None:
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "line_no", line_no)


class _Segments:
    """Every segment of the store opened once (size and page-table CRC checked); `lookup`
    bisects each and checks the CRC of every page it reads (stdlib only)."""

    def __init__(self, store: Store, manifest: Manifest) -> None:
        if sys.byteorder != "little":  # segments are little-endian; lookups use native arrays
            raise KansokuError("the index lookup supports little-endian machines only")
        self._readers: list[SegmentReader] = []
        try:
            for meta in manifest.segments:
                self._readers.append(SegmentReader(store.root / meta.name, meta))
        except BaseException:
            self.close()
            raise

    def lookup(self, keys: Iterable[int]) -> Hits:
        """file_id -> block number -> which of `keys` the block holds -> where in the block.

        Keeping the keys per block tells a lookup which ids to search for in each block,
        so no block is ever scanned for every UUID it holds (that map cost ~20 % of a trace),
        and the slice masks say which 8 KiB of the block to search.
        """
        return lookup(self._readers, keys)

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []


def _tail(text: str) -> str | None:
    found = ID_TAIL_RE.findall(text.lower())
    return found[-1] if found else None


class _PlainFile:
    """A plain log file opened once for all the blocks one lookup reads from it (`pread`,
    no seek; a file opened per block read was 50 opens for a 2,400-line trace)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1

    def read(self, start: int, length: int) -> bytes:
        try:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_RDONLY)
            data = os.pread(self._fd, length, start)
            while 0 < len(data) < length:  # a short read before the end of the file
                more = os.pread(self._fd, length - len(data), start + len(data))
                if not more:
                    break
                data += more
            return data
        except OSError as err:
            raise open_error(self.path, err) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _first_line_is_record_start(data: bytes) -> bool:
    nl = data.find(b"\n")
    first = data[: nl if nl != -1 else len(data)].decode("utf-8", "replace").lstrip("\x00")
    return starts_record(first) and not _is_exception_prefix(first)


def _is_exception_prefix(line: str) -> bool:
    """A traceback line written with logging_exception_prefix (ERROR, or TRACE before Mitaka)."""
    return is_exception_prefix(line)


def _record_end(read: Callable[[int, int], bytes], end: int) -> bytes:
    """Bytes after `end` that still belong to the last record (continuation lines)."""
    extra = b""
    pos = end
    while len(extra) < _EXTEND_MAX:
        more = read(pos, _EXTEND_STEP)
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
        line = data[pos:nl].decode("utf-8", "replace").rstrip("\r").lstrip("\x00")
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
        # a damaged tail: use what was read
        pass
    data = bytes(buf)
    for r in want:
        piece = data[r.start - base : r.end - base]
        tail = data[r.end - base :]
        cut = _continuation_len(tail)
        out[r] = piece + (tail[:cut] if cut is not None else tail)
    return out


_GZ_CACHE_BLOCKS = 512  # decompressed blocks kept per IndexSource (~64 MB at most)
_CHUNK_CACHE = 1024  # record chunks kept per IndexSource
_PARSED_MAX = 200_000  # parsed lines kept per IndexSource


class _GzBlocks:
    """Random access into a .gz file through the store's block-compressed copy."""

    def __init__(
        self, store: Store, entry: FileEntry, table: list[int], cache: dict[tuple[int, int], bytes]
    ) -> None:
        self.entry = entry
        self.table = table
        self.cache = cache
        from kansoku.tracing.store_check import load_gz_offsets  # .gz logs only: not at every start

        self.data_path, _ = store.gz_paths(entry.id)
        self.offsets, self.crcs = load_gz_offsets(store, entry)
        try:
            size = self.data_path.stat().st_size
        except OSError:
            raise StoreDamaged(self.data_path, "seekable copy of a .gz log missing") from None
        if size < entry.gz_size:
            raise StoreDamaged(
                self.data_path, f"seekable copy is {size} bytes, the manifest says {entry.gz_size}"
            )
        self.size = entry.gz_size

    def block(self, b: int) -> bytes:
        from kansoku.tracing.store_check import decode_gz_block

        key = (self.entry.id, b)
        data = self.cache.get(key)
        if data is None:
            start = self.offsets[b]
            end = self.offsets[b + 1] if b + 1 < len(self.offsets) else self.size
            with open(self.data_path, "rb") as fh:
                fh.seek(start)
                comp = fh.read(end - start)
            n = len(self.table) // 2
            length = (self.table[2 * b + 2] if b + 1 < n else self.entry.offset) - self.table[2 * b]
            data = decode_gz_block(self.entry, self.data_path, b, comp, length, self.crcs[b])
            if len(self.cache) >= _GZ_CACHE_BLOCKS:
                self.cache.pop(next(iter(self.cache)))
            self.cache[key] = data
        return data

    def read(self, start: int, length: int) -> bytes:
        end = min(start + length, self.entry.offset)
        n = min(len(self.table) // 2, len(self.offsets))
        out: list[bytes] = []
        b = _block_of(self.table, start)
        while start < end and b < n and self.table[2 * b] < end:
            base = self.table[2 * b]
            data = self.block(b)
            out.append(data[max(0, start - base) : end - base])
            b += 1
        return b"".join(out)


class IndexSource:
    """`LogSource` over a store built by `build_index`; cheap to create (reads the manifest)."""

    def __init__(self, store: str | Path = DEFAULT_STORE) -> None:
        self.store = Store(store)
        if not self.store.exists():
            raise KansokuError(
                f"{self.store.root}: no index here; run `kansoku index PATH...` first (or give --store)"
            )
        self.manifest = self.store.load()
        self.files = {f.id: f for f in self.manifest.files}
        self.files_searched = sum(1 for f in self.manifest.files if f.state == "live")
        # a trace asks for lines many times (each new id it learns): keep what was read
        self._segments: _Segments | None = None
        self._tables: dict[int, list[int]] = {}
        self._gz_cache: dict[tuple[int, int], bytes] = {}
        self._chunk_cache: dict[tuple[int, int], Chunk] = {}
        self._parsed: dict[int, dict[int, LogLine]] = {}  # file id -> offset -> line
        self._parsed_count = 0

    def _open_segments(self) -> _Segments:
        """The segments of the manifest read at creation; if a writer has committed since and
        merged some away, the newer manifest is read once (readers take no lock)."""
        if self._segments is None:
            try:
                self._segments = _Segments(self.store, self.manifest)
            except FileNotFoundError:
                self._reload()
                try:
                    self._segments = _Segments(self.store, self.manifest)
                except FileNotFoundError as err:
                    raise StoreDamaged(err.filename, "index segment missing") from None
        return self._segments

    def _reload(self) -> None:
        self.manifest = self.store.load()
        self.files = {f.id: f for f in self.manifest.files}
        self.files_searched = sum(1 for f in self.manifest.files if f.state == "live")
        self._tables.clear()
        self._chunk_cache.clear()
        self._parsed.clear()
        self._parsed_count = 0

    def close(self) -> None:
        """Unmap the segments (also done when the object is collected)."""
        if self._segments is not None:
            self._segments.close()
            self._segments = None

    def lines_for(self, ids: Iterable[str]) -> Iterator[LogLine]:
        """Every record containing one of `ids`, in offset order per file."""
        wanted: dict[bytes, list[str]] = {}
        for raw_id in ids:
            needle = raw_id.strip().lower()
            tail = _tail(needle) if needle else None
            if tail is not None:
                wanted.setdefault(tail.encode(), []).append(needle)
        if not wanted:
            return
        by_key = {int(t[:4] + t[5:], 16): t for t in wanted}
        hits = self._open_segments().lookup(by_key)
        for file_id in sorted(hits):
            entry = self.files.get(file_id)
            if entry is None or entry.state != "live":
                continue
            blocks = hits[file_id]
            chunks = self._chunks(entry, blocks)
            found: dict[int, tuple[int, int, str, int]] = {}  # offset -> record
            for b, chunk in chunks.items():
                keys = blocks[b]
                chunk.asked += len(keys)
                many = chunk.asked >= MAP_AT
                for key, mask in keys.items():
                    t = by_key[key]
                    needles = wanted[t]
                    only = needles[0] if len(needles) == 1 else None
                    for rec in chunk.records_with(t, many, mask):
                        if rec[1] in found:
                            continue
                        raw = rec[2]
                        if only in raw if only is not None else any(n in raw for n in needles):
                            found[rec[1]] = rec
            # lines parsed by an earlier call (the stitcher's last round) are not parsed again
            parsed = self._parsed.get(file_id)
            if parsed is None:
                parsed = self._parsed[file_id] = {}
            for offset in sorted(found):
                line = parsed.get(offset)
                if line is None:
                    rec = found[offset]
                    line = self._parse(entry, rec[0], offset, rec[2])
                    if self._parsed_count >= _PARSED_MAX:
                        self._parsed.clear()
                        self._parsed_count = 0
                        parsed = self._parsed[file_id] = {}
                    parsed[offset] = line
                    self._parsed_count += 1
                yield line

    def _parse(self, entry: FileEntry, line_no: int, offset: int, raw: str) -> LogLine:
        line = parse_record(raw, entry.path, line_no, offset, entry.service, entry.host)
        if line is None:  # counted as a problem at index time; still findable
            line = unparsed_line(raw, entry.path, line_no, offset, entry.service, entry.host)
        return line

    def block_table(self, file_id: int) -> list[int]:
        """The committed, checksum-verified block table of file `file_id` (cached)."""
        return self._table(self.files[file_id])

    def _table(self, entry: FileEntry) -> list[int]:
        table = self._tables.get(entry.id)
        if table is None:
            table = self._tables[entry.id] = load_block_table(self.store, entry)
        return table

    def _gz_reader(self, entry: FileEntry, table: list[int]) -> Callable[[int, int], bytes] | None:
        """read(start, length) for a .gz file, or None when only sequential gzip reading works."""
        if entry.gz_blocks < entry.blocks:
            return None
        gz = _GzBlocks(self.store, entry, table, self._gz_cache)
        return gz.read

    def _chunks(self, entry: FileEntry, blocks: Iterable[int]) -> dict[int, Chunk]:
        """The named blocks of a file as record chunks, by block number (cached for the next call)."""
        out: dict[int, Chunk] = {}
        missing = []
        for b in sorted(blocks):
            chunk = self._chunk_cache.get((entry.id, b))
            if chunk is None:
                missing.append(b)
            else:
                out[b] = chunk
        if not missing:
            return out
        table = self._table(entry)
        plain = _PlainFile(entry.path) if not entry.compressed else None
        try:
            read = plain.read if plain is not None else self._gz_reader(entry, table)
            if read is None:
                fresh = self._chunks_sequential_gz(entry, table, missing)
            else:
                fresh = {b: self._read_chunk(entry, table, b, read) for b in missing}
        except LogReadError:
            return out  # the file went away since indexing: describe() still counts it
        finally:
            if plain is not None:
                plain.close()
        for b, chunk in fresh.items():
            if len(self._chunk_cache) > _CHUNK_CACHE:
                self._chunk_cache.pop(next(iter(self._chunk_cache)))
            self._chunk_cache[(entry.id, b)] = chunk
            out[b] = chunk
        return out

    def _read_chunk(
        self, entry: FileEntry, table: list[int], b: int, read: Callable[[int, int], bytes]
    ) -> Chunk:
        n = len(table) // 2
        if b >= n:
            return Chunk(b"", 0, 0)  # the block table lags a concurrent writer: the next run has it
        start = table[2 * b]
        end = table[2 * b + 2] if b + 1 < n else entry.offset
        # the block and a little after it in one read: the last record's continuation
        # lines (a traceback) usually end within it (`_record_end` reads on when not)
        data = read(start, end - start + _SLACK)
        body = end - start  # where the block ends in data
        block_start = start
        block_no, line_no, steps = b, table[2 * b + 1], 0
        while data and block_no > 0 and steps < _STEP_BACK_MAX and not _first_line_is_record_start(data):
            block_no -= 1
            steps += 1
            prev = table[2 * block_no]
            data = read(prev, start - prev) + data
            body += start - prev
            start, line_no = prev, table[2 * block_no + 1]
        tail = data[body:]
        cut = _continuation_len(tail)
        if cut is not None:
            stop = body + cut  # the chunk ends there; the bytes after stay unused (no copy)
        elif len(tail) == _SLACK:  # continuation lines run past what was read: read on
            data = data[:body] + _record_end(read, end)
            stop = len(data)
        else:
            stop = len(data)
        # the line number where the next block starts: a second place to count lines from
        known = (end - start, table[2 * b + 3]) if b + 1 < n else None
        return Chunk(data, line_no, start, block_start - start, stop, known)

    def _chunks_sequential_gz(
        self, entry: FileEntry, table: list[int], blocks: list[int]
    ) -> dict[int, Chunk]:
        """Stores written before seekable copies existed: one sequential decode for all blocks."""
        n = len(table) // 2
        ranges = {
            b: _Range(table[2 * b], table[2 * b + 2] if b + 1 < n else entry.offset, table[2 * b + 1])
            for b in blocks
            if b < n
        }
        datas = _read_gz(entry.path, list(ranges.values()))
        return {b: Chunk(datas[r], r.line_no, r.start) for b, r in ranges.items() if r in datas}

    def describe(self) -> str:
        """`12 files (indexed up to 2026-11-20 10:15:32 UTC, 2 minutes ago)`."""
        live = [f for f in self.manifest.files if f.state == "live"]
        last = max((f.last_ts for f in live if f.last_ts), default=None)
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.manifest.updated))
        upto = f"log time {last}" if last else "no timestamps"
        files = "1 file" if len(live) == 1 else f"{len(live)} files"
        return f"{files} (indexed up to {upto}; index updated {when})"


def _block_of(table: list[int], offset: int) -> int:
    offsets = table[0::2]
    i = bisect_left(offsets, offset)
    return i if i < len(offsets) and offsets[i] == offset else max(0, i - 1)
