"""The on-disk index: every request id, global request id and UUID -> (file, block).

API for callers (H2's `kansoku index` / `kansoku trace`)::

    from kansoku.tracing.index import build_index, IndexReport, Store
    report = build_index(["/var/log/nova", "logs/"], ".kansoku")   # incremental
    report.summary()          # "indexed 12 files, 3.2 MB new, 14,201 lines in 0.05 s"
    report.problems           # ["nova-api.log:17: not an oslo.log, JSON or access line: ...", ...]

    from kansoku.tracing.sources.index import IndexSource
    src = IndexSource(".kansoku")           # a kansoku.tracing.model.LogSource
    lines = list(src.lines_for(["req-6f1c..."]))
    src.describe()   # "12 files (indexed up to 2026-11-20 10:15:32 UTC)"

`build_index` raises KansokuError only for a store it cannot use; unreadable files and
corrupt .gz files are reported in `IndexReport.problems` (everything readable is indexed).

Design (measured in bench/bench_tracing.py, justified in docs/tracing-index.md):

* Indexing never builds LogLine objects. Each file is read in 1 MiB chunks and cut into
  ~128 KiB *blocks* at record boundaries; one compiled bytes regex finds every UUID
  (`req-<uuid>` ids contain one) in the block, the hits are de-duplicated per block and
  each distinct id becomes one posting `(key, file_id << 32 | block_no)`.
* The key is the UUID's last 16 hex digits read as a 64-bit integer (random in a UUID4,
  so it is a hash for free). `req-X` and a bare `X` share the key; a lookup re-checks the
  full id in the text, so collisions and near-misses cost a block read, never a wrong line.
* Postings accumulate in two `array('Q')`s and are flushed, sorted, as an immutable
  segment file (`seg-NNNNNN.idx`: header, sorted keys, postings) whenever 2M postings are
  buffered and at the end of a run: memory is bounded whatever the corpus size. Small
  segments are merged when there are more than `MAX_SEGMENTS`.
* Lookup is stdlib only: mmap each segment, bisect the keys, read only the blocks named.
* Per file the manifest keeps identity (device, inode, first 64 bytes), the indexed-up-to
  offset, line count, first/last timestamp and parse problems; per file a block table
  (`blocks/<file_id>.bin`: offset, first line number) maps block numbers to byte ranges.
  A second run reads only bytes after the indexed offset, follows renames (rotation to
  `.1`), recognises `.1` recompressed to `.2.gz` (same first bytes and uncompressed size),
  and starts a new entry when a file was truncated or rewritten.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kansoku.config import DEFAULT_STORE
from kansoku.errors import KansokuError
from kansoku.ids import ID_TAIL_BYTES_RE
from kansoku.tracing.durable import StoreDamaged, make_dir, open_append
from kansoku.tracing.ingest.access import parse_access
from kansoku.tracing.ingest.files import LogFile, LogReadError, PathRule, discover, fingerprint, read_chunks
from kansoku.tracing.ingest.journald import journal_time
from kansoku.tracing.segment import SegmentMeta, SegmentReader, write_segment
from kansoku.tracing.store import (  # Store, FileEntry and Manifest re-exported: the API of this module
    BLOCK_SIZE,
    codec,
    default_codec_name,
    load_block_table,
    manifest_dict,
)
from kansoku.tracing.store import FileEntry as FileEntry
from kansoku.tracing.store import Manifest as Manifest
from kansoku.tracing.store import Store as Store

READ_SIZE = 1 << 20
FLUSH_POSTINGS = 2_000_000
MAX_SEGMENTS = 8
MAX_PROBLEMS_KEPT = 20


#: A line that is neither an oslo.log header nor a JSON object: rare, checked exactly.
_SUSPICIOUS_RE = re.compile(
    rb"\n(?!\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)*(?:Z|[+-]\d\d:?\d\d)? +\d+ +[A-Z]+ +\S|\{|\r?\n|$)"
)
#: A JSON line that does not end with `}`: a record cut off (crash, disk full).
_BAD_JSON_RE = re.compile(rb"\n\{[^\n]*+(?<!\})(?<!\}\r)(?=\n)")
#: Where a block may end: before a line that starts a record (not an exception-prefix line).
_RECORD_START_RE = re.compile(
    rb"\n(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[^\n]{0,40}? [A-Z]+ \S+ \[(?!instance: )|\{)"
)
#: Timestamps for a file's first/last time: text headers after a newline, JSON `asctime`
#: (each pattern starts with a literal so the engine skips ahead fast).
_TEXT_TS_RE = re.compile(rb"\n(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?)")
_JSON_TS_RE = re.compile(rb'"asctime": ?"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?)')
_DATE_START_RE = re.compile(rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
_TS_AT_RE = re.compile(rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?")


def _last_match(pattern: re.Pattern[bytes], buf: bytes, pos: int, end: int) -> re.Match[bytes] | None:
    last = None
    for m in pattern.finditer(buf, pos, end):
        last = m
    return last


def _last_match_back(
    pattern: re.Pattern[bytes], anchor: bytes, buf: bytes, pos: int, end: int
) -> re.Match[bytes] | None:
    """`_last_match` for a pattern that starts with the literal `anchor` and whose matches
    cannot overlap: tries the anchors from the end backwards (the last match is usually in
    the last line; iterating every match of an 8-16 KiB window cost ~5 % of a build)."""
    at = buf.rfind(anchor, pos, end)
    while at != -1:
        m = pattern.match(buf, at, end)
        if m is not None:
            return m
        at = buf.rfind(anchor, pos, at)
    return None


def id_key(text: str | bytes) -> int | None:
    """The 64-bit key of an id containing a UUID (`req-<uuid>` or `<uuid>`), else None."""
    raw = text.encode() if isinstance(text, str) else text
    m = _last_match(ID_TAIL_BYTES_RE, raw.lower(), 0, len(raw))
    if m is None:
        return None
    tail = m.group(1)
    return int(tail[:4] + tail[5:], 16)


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


class _Postings:
    """Buffered postings, flushed as sorted immutable segments (bounded memory).

    Per block the distinct keys arrive as one numpy uint64 array (`_block_scan`) with one
    posting value for all of them; the arrays are joined and sorted only at flush time.
    """

    def __init__(self, store: Store, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self.parts: list[Any] = []
        self.posts: array[int] = array("Q")
        self.counts: array[int] = array("Q")
        self.pending = 0
        self.total = 0
        self.flushed = 0  # segments written since the last commit

    def add(self, keys: Any, post: int) -> None:
        n = len(keys)
        self.parts.append(keys)
        self.posts.append(post)
        self.counts.append(n)
        self.pending += n
        self.total += n
        if self.pending >= FLUSH_POSTINGS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        import numpy as np

        keys = np.concatenate(self.parts)
        posts = np.repeat(
            np.frombuffer(self.posts, dtype=np.uint64),
            np.frombuffer(self.counts, dtype=np.uint64).astype(np.int64),
        )
        name = f"seg-{self.manifest.next_segment:06d}.idx"
        self.manifest.next_segment += 1
        self.manifest.segments.append(write_segment(self.store.root / name, keys, posts))
        self.flushed += 1
        self.parts = []
        self.posts = array("Q")
        self.counts = array("Q")
        self.pending = 0


#: Byte classes and states of `_Scan.header_dfa`: the variable part of an oslo.log header
#: after its fixed 19-character `YYYY-MM-DD HH:MM:SS` (see `_SUSPICIOUS_RE`).
_C_DIGIT, _C_DOTCOMMA, _C_Z, _C_PLUS, _C_MINUS, _C_SPACE, _C_COLON, _C_UPPER, _C_OTHER, _C_WS = range(10)
_N_CLASSES = 10
_HEADER_COLS = 19  # `YYYY-MM-DD HH:MM:SS`
_DFA_COLS = 24  # header bytes after those checked per vectorised pass


class _Scan:
    """Lookup tables for `_block_scan` and `_suspicious`, built once per process (numpy is
    imported lazily: the `kansoku trace` path imports this module and must not pay for it)."""

    _made: _Scan | None = None

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        # hex digit -> its value, anything else -> 255 (one gather checks and converts)
        self.nib = np.full(256, 255, dtype=np.uint8)
        self.nib[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10, dtype=np.uint8)
        self.nib[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)
        # rows: positions after the first dash of `-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (its 24 hex
        # digits); the last 16 of them are the key
        self.hex_rows = np.array(
            [*range(1, 5), *range(6, 10), *range(11, 15), *range(16, 28)], dtype=np.int64
        )[:, None]
        self.empty = np.zeros(0, dtype=np.uint64)
        self.digit = np.zeros(256, dtype=bool)
        self.digit[np.frombuffer(b"0123456789", dtype=np.uint8)] = True
        self.fixed_rows = np.arange(_HEADER_COLS, dtype=np.int64)[:, None]
        self.digit_rows = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18], dtype=np.int64)
        self.var_rows = np.arange(_HEADER_COLS, _HEADER_COLS + _DFA_COLS, dtype=np.int64)[:, None]
        cls = np.full(256, _C_OTHER, dtype=np.int64)
        cls[np.frombuffer(b"0123456789", dtype=np.uint8)] = _C_DIGIT
        cls[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXY", dtype=np.uint8)] = _C_UPPER
        for ch, c in ((b".", _C_DOTCOMMA), (b",", _C_DOTCOMMA), (b"Z", _C_Z), (b"+", _C_PLUS)):
            cls[ch[0]] = c
        for ch, c in ((b"-", _C_MINUS), (b" ", _C_SPACE), (b":", _C_COLON)):
            cls[ch[0]] = c
        cls[np.frombuffer(b"\t\n\r\x0b\x0c", dtype=np.uint8)] = _C_WS
        self.cls = cls
        table, start, self.accept, self.dead = _header_dfa(np)
        # three columns per step: next = table3[state + c1 * 100 + c2 * 10 + c3]
        n_states = len(table) // _N_CLASSES
        s = np.arange(n_states, dtype=np.int64)[:, None] * _N_CLASSES
        codes = np.arange(_N_CLASSES**3, dtype=np.int64)
        c1, c2, c3 = codes // 100, codes // 10 % 10, codes % 10
        after = table[table[table[s + c1] + c2] + c3]  # (states, 1000), pre-multiplied by 10
        self.table3 = (after // _N_CLASSES * _N_CLASSES**3).reshape(-1)
        self.start3 = start // _N_CLASSES * _N_CLASSES**3
        self.accept3 = self.accept // _N_CLASSES * _N_CLASSES**3
        self.dead3 = self.dead // _N_CLASSES * _N_CLASSES**3
        # scratch arrays reused block after block: a fresh 128 KiB numpy array is a fresh
        # mmap (glibc's threshold) and costs a page fault per 4 KiB on first touch
        self._bools = [np.zeros(0, dtype=bool) for _ in range(3)]
        self._idx = np.zeros(0, dtype=np.int64)

    def bools(self, i: int, n: int) -> Any:
        """Scratch bool array number `i`, at least `n` long (a view of exactly `n`)."""
        if len(self._bools[i]) < n:
            self._bools[i] = self.np.zeros(max(n, BLOCK_SIZE * 2), dtype=bool)
        return self._bools[i][:n]

    def idx(self, rows: int, cols: int) -> Any:
        """Scratch contiguous int64 (rows, cols) array."""
        if len(self._idx) < rows * cols:
            self._idx = self.np.zeros(max(rows * cols, 24 * 8192), dtype=self.np.int64)
        return self._idx[: rows * cols].reshape(rows, cols)

    @classmethod
    def get(cls) -> _Scan:
        if cls._made is None:
            cls._made = cls()
        return cls._made


def _header_dfa(np: Any) -> tuple[Any, int, int, int]:
    r"""The DFA of `(?:[.,]\d+)*(?:Z|[+-]\d\d:?\d\d)? +\d+ +[A-Z]+ +\S` (deterministic as
    written: every branch starts with a different byte class). Returns a flat table
    `next = table[state + class]` with states pre-multiplied by the class count."""
    names = ["s0", "frac1", "frac", "tz1", "tz2", "tz3", "tz4", "tz5", "tzdone"]
    names += ["sp1", "pid", "sp2", "level", "sp3", "accept", "dead"]
    st = {name: i for i, name in enumerate(names)}
    table = np.full((len(names), _N_CLASSES), st["dead"], dtype=np.int64)

    def go(frm: str, cls: int, to: str) -> None:
        table[st[frm], cls] = st[to]

    for frm in ("s0", "frac"):
        go(frm, _C_DOTCOMMA, "frac1")
        go(frm, _C_Z, "tzdone")
        go(frm, _C_PLUS, "tz1")
        go(frm, _C_MINUS, "tz1")
        go(frm, _C_SPACE, "sp1")
    go("frac1", _C_DIGIT, "frac")
    go("frac", _C_DIGIT, "frac")
    go("tz1", _C_DIGIT, "tz2")
    go("tz2", _C_DIGIT, "tz3")
    go("tz3", _C_COLON, "tz4")
    go("tz3", _C_DIGIT, "tz5")
    go("tz4", _C_DIGIT, "tz5")
    go("tz5", _C_DIGIT, "tzdone")
    go("tzdone", _C_SPACE, "sp1")
    go("sp1", _C_SPACE, "sp1")
    go("sp1", _C_DIGIT, "pid")
    go("pid", _C_DIGIT, "pid")
    go("pid", _C_SPACE, "sp2")
    go("sp2", _C_SPACE, "sp2")
    go("sp2", _C_UPPER, "level")
    go("sp2", _C_Z, "level")
    go("level", _C_UPPER, "level")
    go("level", _C_Z, "level")
    go("level", _C_SPACE, "sp3")
    go("sp3", _C_SPACE, "sp3")
    for c in range(_N_CLASSES):
        if c not in (_C_SPACE, _C_WS):
            go("sp3", c, "accept")
        go("accept", c, "accept")
    flat = (table * _N_CLASSES).reshape(-1)
    return flat, st["s0"] * _N_CLASSES, st["accept"] * _N_CLASSES, st["dead"] * _N_CLASSES


def _block_scan(buf: bytes, pos: int, end: int) -> tuple[Any, Any]:
    """(distinct UUID keys, newline positions relative to pos) of buf[pos:end], vectorised.

    The same matches as `ID_TAIL_BYTES_RE.findall` (a dash, then 4-4-4-12 lowercase hex with
    dashes between; such matches cannot overlap), found with four shifted comparisons of
    the dash mask and a hex check of the few candidates: cheaper than the regex, which
    stops at every dash of a log line (dates, `- - default`, ...) and builds a bytes object
    per hit. Keys are the last 16 hex digits as a big-endian uint64 (see `id_key`).
    """
    sc = _Scan.get()
    np = sc.np
    m = end - pos
    d = np.frombuffer(buf, dtype=np.uint8, count=m, offset=pos)
    nls = np.flatnonzero(np.equal(d, 10, out=sc.bools(0, m)))
    n = m - 27
    if n <= 0:
        return sc.empty, nls
    dash = np.equal(d, 45, out=sc.bools(1, m))
    cand = np.logical_and(dash[:n], dash[5 : n + 5], out=sc.bools(2, n))
    cand &= dash[10 : n + 10]
    cand &= dash[15 : n + 15]
    at = np.flatnonzero(cand)
    if not len(at):
        return sc.empty, nls
    idx = np.add(at, sc.hex_rows, out=sc.idx(len(sc.hex_rows), len(at)))
    v = sc.nib.take(d.take(idx))  # (24, candidates): row-wise ops are fast
    v = v[8:, np.maximum.reduce(v, axis=0) < 16]
    if not v.shape[1]:
        return sc.empty, nls
    packed = (v[0::2] << 4) | v[1::2]  # (8, keys) bytes, most significant first
    keys = np.sort(np.ascontiguousarray(packed.T).view(">u8").reshape(-1).astype(np.uint64))
    if len(keys) > 1:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys, nls


def _suspicious(buf: bytes, pos: int, end: int, nls: Any) -> list[int]:
    """Positions of the newlines in buf[pos:end] that `_SUSPICIOUS_RE` would match, in order.

    The regex stops at every newline to try the header pattern (~1 us a line); here the
    fixed 19 bytes of every line's header are checked at once and the variable rest runs
    through `_header_dfa`, all lines in step, three columns per pass. Lines the vectorised
    check cannot decide (near the block end, or a header longer than the columns looked
    at) go to the regex itself, so the answer is exactly the regex's.
    """
    sc = _Scan.get()
    np = sc.np
    m = end - pos
    d = np.frombuffer(buf, dtype=np.uint8, count=m, offset=pos)
    starts = nls + 1
    # lines whose whole header window lies in the block; the rest are decided by the regex
    inside = starts + (_HEADER_COLS + _DFA_COLS) <= m
    near_end = nls[~inside]
    starts = starts[inside]
    first = d[starts]
    # `{`, a blank line (`\n`, `\r\n`) or a header: only the last needs checking
    maybe_header = (first != 123) & (first != 10) & ~((first == 13) & (d[starts + 1] == 10))
    starts = starts[maybe_header]
    fixed = d.take(starts + sc.fixed_rows)  # (19, lines)
    ok = np.logical_and.reduce(sc.digit[fixed[sc.digit_rows]], axis=0)
    ok &= (fixed[4] == 45) & (fixed[7] == 45) & ((fixed[10] == 32) | (fixed[10] == 84))
    ok &= (fixed[13] == 58) & (fixed[16] == 58)
    bad = [starts[~ok]]
    starts = starts[ok]
    if len(starts):
        classes = sc.cls.take(d.take(starts + sc.var_rows))  # (24, lines)
        codes = classes[0::3] * 100 + classes[1::3] * 10 + classes[2::3]  # 3 columns a step
        state = np.full(len(starts), sc.start3, dtype=np.int64)
        table = sc.table3
        for row in codes:
            state = table.take(state + row)
        bad.append(starts[state == sc.dead3])
        undecided = starts[(state != sc.dead3) & (state != sc.accept3)]
        near_end = np.concatenate((near_end, undecided - 1))
    found = [int(x) for x in np.concatenate(bad) - 1 + pos]
    for at in near_end.tolist():
        if _SUSPICIOUS_RE.match(buf, at + pos, end):
            found.append(at + pos)
    found.sort()
    return found


def _merge_segments(store: Store, manifest: Manifest) -> list[str]:
    """Merge the smallest segments into one when there are too many (bounded by size).

    Returns the names of the segments merged away. They are deleted only after the
    manifest that no longer names them is committed: until then the last committed
    manifest still needs them (a failed commit here must not brick the store).
    """
    if len(manifest.segments) <= MAX_SEGMENTS:
        return []
    metas = sorted(manifest.segments, key=lambda m: (m.size, m.name))
    chosen: list[SegmentMeta] = []
    budget = 16 * FLUSH_POSTINGS * 16  # bytes of postings merged at once
    used = 0
    for meta in metas:
        if chosen and used + meta.size > budget:
            break
        chosen.append(meta)
        used += meta.size
    if len(chosen) < 2:
        return []
    keys: array[int] = array("Q")
    posts: array[int] = array("Q")
    for meta in chosen:
        reader = SegmentReader(store.root / meta.name, meta)
        try:
            k, p = reader.arrays()
        finally:
            reader.close()
        keys.extend(k)
        posts.extend(p)
    import numpy as np

    name = f"seg-{manifest.next_segment:06d}.idx"
    manifest.next_segment += 1
    merged = write_segment(
        store.root / name, np.frombuffer(keys, dtype=np.uint64), np.frombuffer(posts, dtype=np.uint64)
    )
    names = {m.name for m in chosen}
    manifest.segments = [s for s in manifest.segments if s.name not in names] + [merged]
    return sorted(names)


def _uncompressed_size(path: str) -> int | None:
    """gzip's ISIZE trailer (size mod 2**32) of the last member: cheap size check."""
    try:
        with open(path, "rb") as fh:
            fh.seek(-4, os.SEEK_END)
            return int.from_bytes(fh.read(4), "little")
    except OSError:
        return None


def _head(path: str) -> bytes:
    """First 64 uncompressed bytes."""
    if not path.endswith(".gz"):
        return bytes(fingerprint(path))
    out = b""
    try:
        for chunk in read_chunks(path, 0, 4096):
            out += chunk
            if len(out) >= 64:
                break
    except LogReadError:
        pass
    return out[:64]


class _Reconciler:
    """Match files found on disk to manifest entries: new bytes, rename, recompress, truncation."""

    def __init__(self, manifest: Manifest, report: IndexReport) -> None:
        self.manifest = manifest
        self.report = report
        self.by_path = {f.path: f for f in manifest.files if f.state == "live"}
        self.by_inode = {(f.dev, f.ino): f for f in manifest.files if f.state == "live"}

    def new_entry(self, lf: LogFile, st: os.stat_result, head: bytes) -> FileEntry:
        entry = FileEntry(
            id=self.manifest.next_file_id,
            path=lf.path,
            service=lf.service,
            host=lf.host,
            compressed=lf.compressed,
            dev=st.st_dev,
            ino=st.st_ino,
            head=head.hex(),
        )
        self.manifest.next_file_id += 1
        self.manifest.files.append(entry)
        return entry

    def retire(self, entry: FileEntry) -> None:
        entry.state = "gone"
        self.by_path.pop(entry.path, None)
        self.by_inode.pop((entry.dev, entry.ino), None)

    def entry_for(self, lf: LogFile) -> FileEntry | None:
        """The entry to continue for this file (created if new); None when nothing to read."""
        st = os.stat(lf.path)
        same_inode = self.by_inode.get((st.st_dev, st.st_ino))
        at_path = self.by_path.get(lf.path)
        if at_path is not None and at_path is not same_inode:
            # Something else now lives at this path: the old file was rotated away or removed;
            # its entry is resolved when (if) its inode shows up under another name.
            self.by_path.pop(lf.path, None)
        if same_inode is not None:
            if same_inode.path != lf.path:
                self.report.rotated.append(f"{same_inode.path} -> {lf.path}")
                self.by_path.pop(same_inode.path, None)
                same_inode.path = lf.path
                same_inode.compressed = lf.compressed
                self.by_path[lf.path] = same_inode
            return self._check_same(same_inode, lf, st)
        head = _head(lf.path)
        if lf.compressed:
            moved = self._recompressed(head, lf)
            if moved is not None:
                self.report.rotated.append(f"{moved.path} -> {lf.path}")
                self.by_path.pop(moved.path, None)
                self.by_inode.pop((moved.dev, moved.ino), None)
                moved.path = lf.path
                moved.compressed = True
                moved.dev, moved.ino = st.st_dev, st.st_ino
                moved.disk_size, moved.mtime = st.st_size, st.st_mtime
                self.by_path[lf.path] = moved
                self.by_inode[(st.st_dev, st.st_ino)] = moved
                return None
        entry = self.new_entry(lf, st, head)
        self.by_path[lf.path] = entry
        self.by_inode[(st.st_dev, st.st_ino)] = entry
        return entry

    def _check_same(self, entry: FileEntry, lf: LogFile, st: os.stat_result) -> FileEntry | None:
        if lf.compressed:
            if entry.disk_size == st.st_size and entry.mtime == st.st_mtime and entry.offset > 0:
                return None  # gzip files are immutable once written
            return entry
        head = _head(lf.path)
        if st.st_size < entry.offset or (head[: len(bytes.fromhex(entry.head))].hex() != entry.head):
            # copytruncate or rewritten in place: the old content is gone.
            self.report.truncated.append(lf.path)
            self.retire(entry)
            fresh = self.new_entry(lf, st, head)
            self.by_path[lf.path] = fresh
            self.by_inode[(st.st_dev, st.st_ino)] = fresh
            return fresh
        if len(entry.head) < 128 and len(head) > len(entry.head) // 2:
            entry.head = head.hex()
        return entry

    def _recompressed(self, head: bytes, lf: LogFile) -> FileEntry | None:
        """A `.1` that logrotate compressed into `.2.gz`: same first bytes, same size."""
        isize = _uncompressed_size(lf.path)
        for entry in self.manifest.files:
            if entry.state != "live" or entry.compressed or entry.offset == 0:
                continue
            if entry.head == head.hex() and isize == entry.offset % (1 << 32):
                try:
                    st = os.stat(entry.path)
                    if (st.st_dev, st.st_ino) == (entry.dev, entry.ino):
                        continue  # the original is still there: this is a copy
                except OSError:
                    pass
                return entry
        return None

    def finish(self, seen: set[str]) -> None:
        """Retire entries whose file is gone: not found, or another file now at their path
        (rotated away and deleted, or replaced) - their offsets would point at other bytes."""
        for entry in self.manifest.files:
            if entry.state != "live":
                continue
            if entry.path not in seen:
                self.retire(entry)
                continue
            try:
                st = os.stat(entry.path)
            except OSError:
                self.retire(entry)
                continue
            if (st.st_dev, st.st_ino) != (entry.dev, entry.ino):
                self.retire(entry)


def _ts_text(raw: bytes) -> str:
    return raw.decode("ascii", "replace").replace("T", " ")


#: journald's short format starts with the month's name.
_MONTH_PREFIXES = frozenset(
    m.encode() for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
)


def _utc_text(ts: float) -> str:
    """A time as the index keeps it (`YYYY-MM-DD HH:MM:SS.ffffff`, the log's clock read as UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}"


class _FileIndexer:
    """Index one file's new bytes: blocks, postings, line counts, timestamps, problems."""

    def __init__(self, store: Store, entry: FileEntry, postings: _Postings, report: IndexReport) -> None:
        self.store = store
        self.entry = entry
        self.postings = postings
        self.report = report
        self.table: array[int] = array("Q")
        self._block_pos = 0  # where the block being indexed starts in the current buffer
        # a .gz file gets a seekable copy written block by block while it is indexed
        self.gz = (
            _GzCacheWriter(store, entry) if entry.compressed and entry.gz_blocks == entry.blocks else None
        )

    def run(self, final: bool) -> None:
        """`final`: the file will not grow (rotated or gzip): index a last line without newline."""
        entry = self.entry
        start = entry.offset
        carry = b""
        try:
            for chunk in read_chunks(entry.path, start, READ_SIZE):
                buf = carry + chunk if carry else chunk
                used = self._blocks(buf, False)
                carry = buf[used:]
            if carry:
                used = self._blocks(carry, final)
                carry = carry[used:]
        except LogReadError as err:
            self._problem_text(str(err))
            if carry:  # the damage cut a line: keep what was read
                self._blocks(carry, True)
        finally:
            self._save_table()
            if self.gz is not None:
                self.gz.close()

    def _blocks(self, buf: bytes, final: bool) -> int:
        """Index whole blocks of `buf`; returns bytes consumed (a line/record boundary)."""
        pos = 0
        n = len(buf)
        while pos < n:
            if n - pos > BLOCK_SIZE * 3 // 2:
                end = _cut(buf, pos + BLOCK_SIZE)
            else:
                last_nl = buf.rfind(b"\n", pos)
                if final:
                    end = n
                elif last_nl == -1:
                    return pos
                else:
                    end = last_nl + 1
                if end - pos < BLOCK_SIZE // 4 and not final and pos > 0:
                    return pos  # wait for more data to make a full block
            self._index_block(buf, pos, end)
            pos = end
        return pos

    def _index_block(self, buf: bytes, pos: int, end: int) -> None:
        entry = self.entry
        block_no = entry.blocks
        entry.blocks += 1
        self.table.append(entry.offset)
        self.table.append(entry.lines + 1)
        if self.gz is not None:
            self.gz.add(buf[pos:end])
        keys, nls = _block_scan(buf, pos, end)
        if len(keys):
            self.postings.add(keys, (entry.id << 32) | block_no)
        nl = len(nls)
        if end > pos and buf[end - 1 : end] != b"\n":
            nl += 1  # a final line without newline
        self._block_pos = pos
        self._problems(buf, pos, end, nl, nls)
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
        pattern = _JSON_TS_RE if buf.startswith(b"{", pos) else _TEXT_TS_RE
        if block_is_first := entry.blocks == 1:
            m = _TS_AT_RE.match(buf, pos)
            if m is not None:
                entry.first_ts = _ts_text(m.group(0))
            else:
                m2 = pattern.search(buf, pos, min(end, pos + 65536))
                entry.first_ts = _ts_text(m2.group(1)) if m2 is not None else None
        anchor = b'"asctime"' if pattern is _JSON_TS_RE else b"\n"
        last = _last_match_back(pattern, anchor, buf, max(pos, end - 8192), end)
        if last is not None:
            entry.last_ts = _ts_text(last.group(1))
        elif block_is_first and entry.first_ts is not None:
            entry.last_ts = entry.first_ts

    def _journal_timestamps(self, buf: bytes, pos: int, end: int) -> None:
        """journald lines (`Nov 23 10:15:02.123456 host unit[pid]: ...`) carry no year; parse.py
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

    def _problems(self, buf: bytes, pos: int, end: int, n_lines: int, nls: Any) -> None:
        """Lines iter_records will call problems, found without parsing every line.

        Only lines that are neither a header nor JSON are looked at (rare in real logs): a
        plain continuation line after a text record is fine, an access line is fine, a
        header-looking line with a bad header or any other line is a problem.
        """
        entry = self.entry
        first_is_line_start = pos == 0 or buf[pos - 1 : pos] == b"\n"
        kind = entry.last_kind
        prev_susp_end = -1
        if first_is_line_start and pos < end and not _is_good_start(buf, pos):
            kind = self._judge(buf, pos, end, kind)
            prev_susp_end = buf.find(b"\n", pos, end)
        for at in _suspicious(buf, pos, end, nls):
            line_start = at + 1
            if line_start >= end:
                break  # the next block's first line
            if at != prev_susp_end:
                kind = _kind_of_line_before(buf, at, pos, kind)
            kind = self._judge(buf, line_start, end, kind)
            nxt = buf.find(b"\n", line_start, end)
            prev_susp_end = nxt
        # JSON lines: in a JSON block every line ends with `}` unless one is cut off (one C
        # count; the exact regex runs only when it disagrees). Blocks of text files are not
        # searched for cut-off JSON lines (oslo.log writes one format per file).
        if buf.startswith(b"{", pos):
            unterminated_ok = 1 if buf[end - 1 : end] == b"}" else 0
            # `}\n` pairs from the newline positions (one vectorised gather, not a scan)
            inner = nls[nls > 0]
            closed = int((buf_view(buf, pos, end).take(inner - 1) == 125).sum())
            if closed + unterminated_ok != n_lines:
                for m in _BAD_JSON_RE.finditer(buf, max(0, pos - 1), end):
                    if m.start() + 1 >= pos:
                        self._problem_at(buf, m.start() + 1, "not a JSON log object (cut off?)")
        # remember the kind of the last record start for the next block
        last_nl = buf.rfind(b"\n", pos, end - 1) + 1 if end - pos > 1 else pos
        last_start = max(last_nl, pos)
        if _DATE_START_RE.match(buf, last_start):
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
            return "text"  # devstack/journald: parsed by parse.py's journald branch
        if _DATE_START_RE.match(line):
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


class _GzCacheWriter:
    """Appends blocks of a .gz file, each zlib-compressed on its own, to the store.

    gzip streams cannot be entered in the middle, and Python's zlib cannot resume inflation
    at a bit offset (no inflatePrime), so zran-style checkpoints are out of reach; keeping a
    block-compressed copy (zstd level 1) costs less than the .gz file's size and makes a
    lookup in a rotated file as fast as in a plain one (measured in bench/bench_tracing.py).
    """

    def __init__(self, store: Store, entry: FileEntry) -> None:
        self.entry = entry
        self.store = store
        data_path, off_path = store.gz_paths(entry.id)
        make_dir(data_path.parent)
        if entry.gz_blocks == 0:
            data_path.unlink(missing_ok=True)
            off_path.unlink(missing_ok=True)
            entry.gz_codec = default_codec_name()
            entry.gz_size = entry.gz_off_crc = 0
        self.codec = codec(entry.gz_codec)
        self.data = open_append(data_path)
        self.data_path = data_path
        self.off_path = off_path
        self.offsets: array[int] = array("Q")
        self.pos = entry.gz_size  # recovery cut the file back to this committed length

    def add(self, block: bytes) -> None:
        comp = self.codec.compress(block)
        self.offsets.append(self.pos)
        self.offsets.append(zlib.crc32(comp))  # checked before decompressing (~4 us a block)
        self.data.write(comp)
        self.pos += len(comp)
        self.entry.gz_blocks += 1

    def close(self) -> None:
        self.data.close()
        offsets = self.offsets
        if sys.byteorder != "little":
            offsets = array("Q", offsets)
            offsets.byteswap()
        raw = offsets.tobytes()
        with open_append(self.off_path) as fh:
            fh.write(raw)
        self.entry.gz_off_crc = zlib.crc32(raw, self.entry.gz_off_crc)
        self.entry.gz_size = self.pos
        self.store.dirty.update((self.data_path, self.off_path))


def _fill_gz_cache(store: Store, entry: FileEntry) -> None:
    """Write the seekable copy for blocks indexed before the file was compressed (`.1` -> `.2.gz`)."""
    table = load_block_table(store, entry)
    n = len(table) // 2
    writer = _GzCacheWriter(store, entry)
    try:
        start = table[2 * entry.gz_blocks] if entry.gz_blocks < n else entry.offset
        bounds = [table[2 * b] for b in range(entry.gz_blocks, n)] + [entry.offset]
        buf = b""
        base = start
        nxt = 1
        for chunk in read_chunks(entry.path, start):
            buf += chunk
            while nxt < len(bounds) and base + len(buf) >= bounds[nxt]:
                cut = bounds[nxt] - base
                writer.add(buf[:cut])
                buf = buf[cut:]
                base = bounds[nxt]
                nxt += 1
            if nxt >= len(bounds):
                break
    except LogReadError:
        # a damaged gzip: lookups in the rest of this file fall back to sequential decompression
        pass
    finally:
        writer.close()


def buf_view(buf: bytes, pos: int, end: int) -> Any:
    """buf[pos:end] as a numpy uint8 array without a copy."""
    np = _Scan.get().np
    return np.frombuffer(buf, dtype=np.uint8, count=end - pos, offset=pos)


def _is_good_start(buf: bytes, pos: int) -> bool:
    return bool(HEADER_START_B.match(buf, pos)) or buf.startswith(b"{", pos)


HEADER_START_B = re.compile(
    rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)*(?:Z|[+-]\d\d:?\d\d)? +\d+ +[A-Z]+ +\S"
)


def _kind_of_line_before(buf: bytes, nl_at: int, block_pos: int, kind: str) -> str:
    """Kind of the (good) line ending at `nl_at`: 'text' for an oslo header, else 'other'."""
    start = buf.rfind(b"\n", block_pos, nl_at) + 1
    if start == 0 and block_pos > 0:
        start = block_pos
    if start >= nl_at:
        return kind
    if HEADER_START_B.match(buf, start):
        return "text"
    return "other"


def _cut(buf: bytes, target: int) -> int:
    """A block end near `target`: just before a record start, else after a newline."""
    window = max(0, target - BLOCK_SIZE // 2)
    last = _last_match_back(_RECORD_START_RE, b"\n", buf, max(window, target - 16384), target)
    if last is None:
        last = _last_match_back(_RECORD_START_RE, b"\n", buf, window, target)
    if last is not None:
        return last.start() + 1
    nl = buf.rfind(b"\n", window, target)
    if nl != -1:
        return nl + 1
    nl = buf.find(b"\n", target)
    return nl + 1 if nl != -1 else len(buf)


class _Lock:
    """One writer per store (fcntl lock); readers use the manifest's atomic replace."""

    def __init__(self, root: Path) -> None:
        self.path = root / "lock"
        self.fh: IO[str] | None = None

    def __enter__(self) -> _Lock:
        import fcntl

        fh = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600), "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise KansokuError(
                f"{self.root_text()}: another `kansoku index` is running on this store"
            ) from None
        self.fh = fh
        return self

    def root_text(self) -> str:
        return str(self.path.parent)

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()


@dataclass(frozen=True)
class IndexProgress:
    """Where a `build_index` run is, after each file: for a progress bar (files, bytes, lines)."""

    files_done: int
    files_total: int
    bytes_done: int  # on-disk bytes of the files done (compressed size for .gz)
    bytes_total: int
    lines: int  # lines indexed so far in this run


def build_index(
    paths: Iterable[str | Path],
    store: str | Path = DEFAULT_STORE,
    path_rule: PathRule | None = None,
    progress: Callable[[IndexProgress], None] | None = None,
    *,
    repair: bool = False,
    follow_links: bool = False,
) -> IndexReport:
    """Index (incrementally) every log file under `paths` into `store`; see the module doc.

    The run recovers the store to its last commit first, refuses a damaged one (naming the
    file) unless `repair`, commits after each segment flush and at the end
    (docs/tracing-index.md, "Crash safety"). `repair` drops damaged store files and
    re-indexes the log files they covered (without `paths`: every file the store names).
    `progress`, if given, is called after each file (the CLI draws a bar with it).
    """
    t0 = time.perf_counter()
    st = Store(store)
    try:
        make_dir(st.root)
    except OSError as err:
        raise KansokuError(f"{st.root}: cannot create the index store ({err.strerror})") from None
    if not os.access(st.root, os.W_OK):
        raise KansokuError(f"{st.root}: permission denied (index store not writable)")
    report = IndexReport(store=str(st.root))
    paths = list(paths)
    with _Lock(st.root):
        manifest, as_loaded, obsolete, retired = _open_for_writing(st, report, bool(paths), repair)
        files, problems = discover(paths, path_rule, follow_links=follow_links)
        if repair and not paths:  # `kansoku index --repair`: the files the store names
            files += _again([f for f in manifest.files if f.state == "live"], {f.path for f in files})
        files += _again(retired, {f.path for f in files})
        report.problems.extend(problems)
        report.problems_count += len(problems)
        report.files_seen = len(files)
        _index_files(st, manifest, files, report, progress)
        obsolete += _merge_segments(st, manifest)
        if obsolete or _state(manifest) != as_loaded:
            # the commit: data durable first, then the manifest that names it
            st.sync()
            st.save(manifest)
        # else nothing changed (a re-run with nothing new): no commit, no fsync
        for name in obsolete:  # only now unneeded: the committed manifest no longer names them
            (st.root / name).unlink(missing_ok=True)
    report.elapsed = time.perf_counter() - t0
    return report


def _sizes(files: Iterable[LogFile]) -> dict[str, int]:
    """On-disk size per file (0 when it cannot be read now: the loop reports that)."""
    out = {}
    for lf in files:
        try:
            out[lf.path] = os.stat(lf.path).st_size
        except OSError:
            out[lf.path] = 0
    return out


def _open_for_writing(
    st: Store, report: IndexReport, have_paths: bool, repair: bool
) -> tuple[Manifest, str, list[str], list[FileEntry]]:
    """Load, recover and check the store (under the writer's lock).

    Returns the manifest, its content as loaded (to tell whether the run changed anything),
    the segments to delete after the commit and the entries retired by a repair.
    """
    from kansoku.tracing.store_check import check, drop_damaged, recover, wipe

    try:
        manifest = st.load()
    except KansokuError as err:
        if not repair:
            raise
        why = str(err).split("; run `kansoku", 1)[0]
        if not have_paths:  # nothing says which logs to rebuild from: keep the store as it is
            raise KansokuError(
                f"{why}; the store no longer knows its log files, so give them: `kansoku index --repair PATH...`"
            ) from None
        wipe(st)
        manifest = Manifest()
        report.repaired.append(why)
    report.recovered = recover(st, manifest)
    as_loaded = _state(manifest)
    damages = check(st, manifest, deep=repair)
    if not damages:
        return manifest, as_loaded, [], []
    if not repair:
        first = damages[0]
        more = f" ({len(damages) - 1} more damaged file(s): `kansoku index --verify` lists them)"
        raise StoreDamaged(first.path, first.reason + (more if len(damages) > 1 else ""))
    obsolete, retired = drop_damaged(manifest, damages)
    report.repaired.extend(str(d) for d in damages)
    return manifest, as_loaded, obsolete, retired


def _index_files(
    st: Store,
    manifest: Manifest,
    files: list[LogFile],
    report: IndexReport,
    progress: Callable[[IndexProgress], None] | None = None,
) -> None:
    """Index each file's new bytes, committing after each segment flush; then retire files
    that are gone and complete the seekable copies of newly compressed ones."""
    postings = _Postings(st, manifest)
    rec = _Reconciler(manifest, report)
    seen: set[str] = set()
    sizes = _sizes(files) if progress is not None else {}
    total, done = sum(sizes.values()), 0
    for n, lf in enumerate(files, 1):
        if progress is not None and n > 1:
            progress(IndexProgress(n - 1, len(files), done, total, report.lines))
        done += sizes.get(lf.path, 0)
        seen.add(lf.path)
        try:
            entry = rec.entry_for(lf)
            if entry is None:
                continue
            fst = os.stat(lf.path)
        except LogReadError as err:
            report.problems.append(str(err))
            report.problems_count += 1
            continue
        except OSError as err:
            msg = f"{lf.path}: {'permission denied' if isinstance(err, PermissionError) else err.strerror}"
            report.problems.append(msg)
            report.problems_count += 1
            continue
        before = entry.offset
        indexer = _FileIndexer(st, entry, postings, report)
        indexer.run(final=lf.compressed or bool(lf.rotation))
        entry.disk_size, entry.mtime = fst.st_size, fst.st_mtime
        if entry.offset > before:
            report.files_indexed += 1
        if postings.flushed:
            # ~every FLUSH_POSTINGS postings, at a file boundary: commit the work so far,
            # so a run killed late in a large corpus does not start over
            postings.flush()
            st.sync()
            st.save(manifest)
            postings.flushed = 0
    if progress is not None:
        progress(IndexProgress(len(files), len(files), total, total, report.lines))
    rec.finish(seen)
    for entry in manifest.files:
        if entry.state == "live" and entry.compressed and entry.gz_blocks < entry.blocks:
            _fill_gz_cache(st, entry)
    postings.flush()
    report.postings = postings.total


def _state(manifest: Manifest) -> str:
    """The manifest's content without its save time: did this run change anything?"""
    data = manifest_dict(manifest)
    data.pop("updated")
    return json.dumps(data, separators=(",", ":"))


def _again(retired: list[FileEntry], found: set[str]) -> list[LogFile]:
    """The files of these entries, with the service and host they had, unless the paths of
    this run already include them: files whose store data was damaged and dropped (indexed
    again from the start), or every file of the store for `--repair` without paths."""
    from kansoku.tracing.ingest.files import strip_rotation

    out = []
    for entry in retired:
        if entry.path not in found and os.path.isfile(entry.path):
            _, rotation = strip_rotation(os.path.basename(entry.path))
            out.append(LogFile(entry.path, entry.service, entry.host, entry.compressed, rotation))
            found.add(entry.path)
    return out


def iter_entries(store: str | Path) -> Iterator[FileEntry]:
    """The live files of a store (for stats and describe())."""
    for entry in Store(store).load().files:
        if entry.state == "live":
            yield entry
