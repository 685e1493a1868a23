"""One file indexed: read in chunks, cut into blocks at record boundaries, scan, record problems and times."""

from __future__ import annotations

import sys
import time
import zlib
from array import array

from kansoku.tracing.durable import make_dir, open_append
from kansoku.tracing.index.gz_cache import GzCacheWriter
from kansoku.tracing.index.postings import Postings
from kansoku.tracing.index.report import IndexReport
from kansoku.tracing.index.scan import (
    ChunkScan,
    chunk_scan,
    cut,
    is_good_start,
    kind_of_line_before,
    last_match_back,
)
from kansoku.tracing.ingest.access import parse_access
from kansoku.tracing.ingest.files import LogReadError, read_chunks
from kansoku.tracing.ingest.journald import journal_time
from kansoku.tracing.ingest.oslo_format import BAD_JSON_B, DATE_START_B, JSON_TS_B, TEXT_TS_B, TS_AT_B
from kansoku.tracing.store import BLOCK_SIZE, FileEntry, Store

READ_SIZE = 1 << 20

#: Blocks scanned in one numpy pass (~1 MiB): fewer calls than block by block, and the
#: scratch arrays stay in the CPU caches (8 MiB at once, as a `.gz` chunk inflates, was
#: 25 % slower per byte than 1 MiB on the demo cloud).
SCAN_BLOCKS = 8


MAX_PROBLEMS_KEPT = 20


def _ts_text(raw: bytes) -> str:
    return raw.decode("ascii", "replace").replace("T", " ")


#: journald's short format starts with the month's name.
_MONTH_PREFIXES = frozenset(
    m.encode() for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
)


def _utc_text(ts: float) -> str:
    """A time as the index keeps it (`YYYY-MM-DD HH:MM:SS.ffffff`, the log's clock read as UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}"


def block_bounds(buf: bytes, final: bool, start: int = 0) -> tuple[list[int], int]:
    """Where the blocks of `buf` from `start` start, and where the last one ends (the bytes
    consumed).

    ~`BLOCK_SIZE` each, cut just before a record start (`cut`), else after a newline; the
    tail waits for more data unless `final` (the file will not grow) says to index it.
    """
    starts: list[int] = []
    pos = start
    n = len(buf)
    while pos < n:
        if n - pos > BLOCK_SIZE * 3 // 2:
            end = cut(buf, pos + BLOCK_SIZE)
        else:
            last_nl = buf.rfind(b"\n", pos)
            if final:
                end = n
            elif last_nl == -1:
                break
            else:
                end = last_nl + 1
            if end - pos < BLOCK_SIZE // 4 and not final and pos > 0:
                break  # wait for more data to make a full block
        starts.append(pos)
        pos = end
    return starts, pos


class FileIndexer:
    """Index one file's new bytes: blocks, postings, line counts, timestamps, problems."""

    def __init__(self, store: Store, entry: FileEntry, postings: Postings, report: IndexReport) -> None:
        self.store = store
        self.entry = entry
        self.postings = postings
        self.report = report
        self.table: array[int] = array("Q")
        self._block_pos = 0  # where the block being indexed starts in the current buffer
        # the line a damaged .gz cut short: kept and indexed, but already named by the damage
        # problem, so not reported a second time as a malformed line
        self._cut_line = 0
        # a .gz file gets a seekable copy written block by block while it is indexed
        self.gz = (
            GzCacheWriter(store, entry) if entry.compressed and entry.gz_blocks == entry.blocks else None
        )

    def run(self, final: bool) -> None:
        """`final`: the file will not grow (rotated or gzip): index a last line without newline."""
        entry = self.entry
        start = entry.offset
        carry = b""
        try:
            for chunk in read_chunks(entry.path, start, READ_SIZE):
                carry = self._feed(carry, chunk)
            if carry:
                used = self._blocks(carry, final)
                carry = carry[used:]
        except LogReadError as err:
            self._problem_text(str(err))
            if carry:  # the damage cut a line: keep what was read
                if not carry.endswith(b"\n"):
                    self._cut_line = entry.lines + carry.count(b"\n") + 1
                self._blocks(carry, True)
        finally:
            self._save_table()
            if self.gz is not None:
                self.gz.close()

    def _feed(self, carry: bytes, chunk: bytes) -> bytes:
        """Index the whole blocks of `carry + chunk`; returns the bytes left for the next chunk.

        The blocks are those of `carry + chunk`, but that copy of the whole chunk (1-8 MiB,
        ~15 % of a build's time with its page faults) is made only when needed: the first
        block ends inside the chunk (`cut` reads no further than its target when it finds a
        record start or a newline before it), so it is cut from `carry` and the chunk's
        first 128 KiB, and the other blocks are cut from the chunk itself.
        """
        k = len(carry)
        if 0 < k < BLOCK_SIZE // 2 and k + len(chunk) > BLOCK_SIZE * 3 // 2:
            head = carry + chunk[: BLOCK_SIZE + 4096]
            first = cut(head, BLOCK_SIZE)
            if k < first <= BLOCK_SIZE:
                self._index_run(head, [0], first)
                used = self._blocks(chunk, False, first - k)
                return chunk[used:]
        buf = carry + chunk if carry else chunk
        return buf[self._blocks(buf, False) :]

    def _blocks(self, buf: bytes, final: bool, start: int = 0) -> int:
        """Index whole blocks of `buf` from `start`, ~1 MiB per numpy pass; returns where the
        last one ends (a line/record boundary: the bytes consumed)."""
        starts, stop = block_bounds(buf, final, start)
        for at in range(0, len(starts), SCAN_BLOCKS):
            end = starts[at + SCAN_BLOCKS] if at + SCAN_BLOCKS < len(starts) else stop
            self._index_run(buf, starts[at : at + SCAN_BLOCKS], end)
        return stop

    def _index_run(self, buf: bytes, run: list[int], end: int) -> None:
        """Index blocks [run[i], run[i + 1]) (the last up to `end`), scanned in one pass."""
        scan = chunk_scan(buf, run, end)
        entry = self.entry
        base = (entry.id << 32) | entry.blocks
        for i, pos in enumerate(run):
            self._index_block(buf, pos, run[i + 1] if i + 1 < len(run) else end, scan, i)
        self.postings.add(scan.keys, scan.masks, scan.blocks, range(base, base + len(run)))

    def _index_block(self, buf: bytes, pos: int, end: int, scan: ChunkScan, i: int) -> None:
        entry = self.entry
        entry.blocks += 1
        self.table.append(entry.offset)
        self.table.append(entry.lines + 1)
        if self.gz is not None:
            self.gz.add(buf[pos:end])
        nl = scan.newlines(i)
        if end > pos and buf[end - 1] != 10:
            nl += 1  # a final line without newline
        self._block_pos = pos
        self._problems(buf, pos, end, nl, scan, i)
        self._timestamps(buf, pos, end)
        entry.lines += nl
        entry.offset += end - pos
        self.report.lines += nl
        self.report.new_bytes += end - pos

    def _timestamps(self, buf: bytes, pos: int, end: int) -> None:
        """First timestamp of the file (first block only) and the latest one seen."""
        entry = self.entry
        if buf[pos : pos + 3] in _MONTH_PREFIXES:
            self._journal_timestamps(buf, pos, end)
            return
        pattern = JSON_TS_B if buf.startswith(b"{", pos) else TEXT_TS_B
        if block_is_first := entry.blocks == 1:
            m = TS_AT_B.match(buf, pos)
            if m is not None:
                entry.first_ts = _ts_text(m.group(0))
            else:
                m2 = pattern.search(buf, pos, min(end, pos + 65536))
                entry.first_ts = _ts_text(m2.group(1)) if m2 is not None else None
        anchor = b'"asctime"' if pattern is JSON_TS_B else b"\n"
        last = last_match_back(pattern, anchor, buf, max(pos, end - 8192), end)
        if last is not None:
            entry.last_ts = _ts_text(last.group(1))
        elif block_is_first and entry.first_ts is not None:
            entry.last_ts = entry.first_ts

    def _journal_timestamps(self, buf: bytes, pos: int, end: int) -> None:
        """journald lines (`Nov 23 10:15:02.123456 host unit[pid]: ...`) carry no year; ingest.journald
        knows the rule (the file's mtime), so the first and last line of the block ask it."""
        entry = self.entry
        nl = buf.find(b"\n", pos, end)
        first = buf[pos : nl if nl != -1 else end]
        last_start = buf.rfind(b"\n", pos, end - 1) + 1 if end - pos > 1 else pos
        last = buf[max(last_start, pos) : end].rstrip(b"\r\n")
        if entry.blocks == 1:
            ts = journal_time(first.decode("utf-8", "replace"), entry.path)
            entry.first_ts = _utc_text(ts) if ts is not None else None
        ts = journal_time(last.decode("utf-8", "replace"), entry.path)
        if ts is not None:
            entry.last_ts = _utc_text(ts)
        elif entry.last_ts is None:
            entry.last_ts = entry.first_ts

    def _problems(self, buf: bytes, pos: int, end: int, n_lines: int, scan: ChunkScan, i: int) -> None:
        """Lines iter_records will call problems, found without parsing every line.

        Only lines that are neither a header nor JSON are looked at (rare in real logs): a
        plain continuation line after a text record is fine, an access line is fine, a
        header-looking line with a bad header or any other line is a problem.
        """
        entry = self.entry
        first_is_line_start = pos == 0 or buf[pos - 1 : pos] == b"\n"
        kind = entry.last_kind
        prev_susp_end = -1
        if first_is_line_start and pos < end and not is_good_start(buf, pos):
            kind = self._judge(buf, pos, end, kind)
            prev_susp_end = buf.find(b"\n", pos, end)
        for at in scan.suspicious_in(i):
            line_start = at + 1
            if line_start >= end:
                break  # the next block's first line
            if at != prev_susp_end:
                kind = kind_of_line_before(buf, at, pos, kind)
            kind = self._judge(buf, line_start, end, kind)
            nxt = buf.find(b"\n", line_start, end)
            prev_susp_end = nxt
        # JSON lines: in a JSON block every line ends with `}` unless one is cut off (one C
        # count; the exact regex runs only when it disagrees). Blocks of text files are not
        # searched for cut-off JSON lines (oslo.log writes one format per file).
        if buf.startswith(b"{", pos):
            unterminated_ok = 1 if buf[end - 1 : end] == b"}" else 0
            # `}\n` pairs from the newline positions (one vectorised gather per chunk, not a scan)
            if scan.closed(i) + unterminated_ok != n_lines:
                for m in BAD_JSON_B.finditer(buf, max(0, pos - 1), end):
                    if m.start() + 1 >= pos:
                        self._problem_at(buf, m.start() + 1, "not a JSON log object (cut off?)")
        # remember the kind of the last record start for the next block
        last_nl = buf.rfind(b"\n", pos, end - 1) + 1 if end - pos > 1 else pos
        last_start = max(last_nl, pos)
        if DATE_START_B.match(buf, last_start):
            entry.last_kind = "text"
        elif buf.startswith(b"{", last_start):
            entry.last_kind = "other"
        else:
            entry.last_kind = kind

    def _judge(self, buf: bytes, line_start: int, end: int, kind: str) -> str:
        nxt = buf.find(b"\n", line_start, end)
        line = buf[line_start : nxt if nxt != -1 else end]
        if line.startswith(b"\x00"):
            # a crash left the file's tail unwritten (NULs) and the service appended after it:
            # said once here, while parsing skips the NULs so the record keeps its level
            rest = line.lstrip(b"\x00")
            self._problem_at(
                buf, line_start, f"{len(line) - len(rest)} NUL bytes before this line (cut short by a crash?)"
            )
            line = rest
        text = line.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return kind
        if journal_time(text, self.entry.path) is not None:
            return "text"  # devstack/journald: parsed by ingest.journald
        if DATE_START_B.match(line):
            self._problem_at(buf, line_start, "timestamp without the oslo.log 'pid LEVEL logger' header")
            return "text"
        if parse_access(text) is not None:
            return "other"
        if kind == "text":
            return "text"
        snippet = text[:60] + ("..." if len(text) > 60 else "")
        self._problem_at(buf, line_start, f"not an oslo.log, JSON or access line: {snippet!r}")
        return "other"

    def _problem_at(self, buf: bytes, at: int, reason: str) -> None:
        """Record a problem at byte `at` of the current block (line number from the block table)."""
        line_no = self.table[-1] + buf.count(b"\n", self._block_pos, at)
        self._problem_line(line_no, reason)

    def _problem_line(self, line_no: int, reason: str) -> None:
        if line_no == self._cut_line:
            return
        entry = self.entry
        entry.problems_count += 1
        self.report.problems_count += 1
        if len(entry.problems) < MAX_PROBLEMS_KEPT:
            entry.problems.append([line_no, reason])
        if len(self.report.problems) < 200:
            self.report.problems.append(f"{entry.path}:{line_no}: {reason}")

    def _problem_text(self, message: str) -> None:
        self.entry.problems_count += 1
        self.report.problems_count += 1
        if len(self.entry.problems) < MAX_PROBLEMS_KEPT:
            self.entry.problems.append([0, message])
        self.report.problems.append(message)

    def _save_table(self) -> None:
        if not self.table:
            return
        path = self.store.block_table_path(self.entry.id)
        make_dir(path.parent)
        table = self.table
        if sys.byteorder != "little":
            table = array("Q", table)
            table.byteswap()
        raw = table.tobytes()
        with open_append(path) as fh:
            fh.write(raw)
        self.entry.table_crc = zlib.crc32(raw, self.entry.table_crc)
        self.store.dirty.add(path)
        self.table = array("Q")
