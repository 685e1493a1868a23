"""Runs of blocks of a log file, scanned once: every UUID key, every newline, and the lines that are not records.

Vectorised with numpy (imported only here, by the indexer: the lookup path stays standard
library); `chunk_scan` must agree, block by block, with the regexes of `ingest.oslo_format`
and `kansoku.ids` (tests/test_index_scan.py checks it on real and generated logs).
"""

from __future__ import annotations

import re
from typing import Any

from kansoku.numeric import import_numpy
from kansoku.tracing.ingest.oslo_format import (
    HEADER_START_B,
    RECORD_START_B,
    SUSPICIOUS_LINE_B,
)
from kansoku.tracing.segment import SLICE, SLICE_BITS
from kansoku.tracing.store import BLOCK_SIZE


def last_match(pattern: re.Pattern[bytes], buf: bytes, pos: int, end: int) -> re.Match[bytes] | None:
    last = None
    for m in pattern.finditer(buf, pos, end):
        last = m
    return last


def last_match_back(
    pattern: re.Pattern[bytes], anchor: bytes, buf: bytes, pos: int, end: int
) -> re.Match[bytes] | None:
    """`last_match` for a pattern that starts with the literal `anchor` and whose matches
    cannot overlap: tries the anchors from the end backwards (the last match is usually in
    the last line; iterating every match of an 8-16 KiB window cost ~5 % of a build)."""
    at = buf.rfind(anchor, pos, end)
    while at != -1:
        m = pattern.match(buf, at, end)
        if m is not None:
            return m
        at = buf.rfind(anchor, pos, at)
    return None


#: Byte classes and states of `_Scan.header_dfa`: the variable part of an oslo.log header
#: after its fixed 19-character `YYYY-MM-DD HH:MM:SS` (see `_SUSPICIOUS_RE`).
_C_DIGIT, _C_DOTCOMMA, _C_Z, _C_PLUS, _C_MINUS, _C_SPACE, _C_COLON, _C_UPPER, _C_OTHER, _C_WS = range(10)


_N_CLASSES = 10


_HEADER_COLS = 19  # `YYYY-MM-DD HH:MM:SS`


_DFA_COLS = 24  # header bytes after those checked per vectorised pass


class _Scan:
    """Lookup tables for `chunk_scan` and `suspicious`, built once per process (numpy is
    imported lazily: the `kansoku trace` path imports this module and must not pay for it)."""

    _made: _Scan | None = None

    def __init__(self) -> None:
        np = import_numpy()
        self.np = np
        # rows: positions after a candidate's first dash: the 24 hex digits of
        # `-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (the last 16 are the key), then its dashes at 5 and 10
        self.hex_rows = np.array(
            [*range(1, 5), *range(6, 10), *range(11, 15), *range(16, 28), 5, 10], dtype=np.int64
        )[:, None]
        self.empty = np.zeros(0, dtype=np.uint64)
        self.empty16 = np.zeros(0, dtype=np.uint16)
        # slice number -> its bit in a posting's mask (the last bit covers the rest of the block)
        self.slice_bit = np.left_shift(1, np.minimum(np.arange(SLICE_BITS), SLICE_BITS - 1)).astype(np.uint16)
        # the fixed `YYYY-MM-DD?HH:MM:SS` of a header, read as little-endian words at bytes
        # 0, 8 and 16 of the line (byte 10, ` ` or `T`, is checked apart)
        self.fixed_and, self.fixed_want, self.fixed_digit = (
            np.array(col, dtype=np.uint64)[:, None]
            for col in zip(
                _swar({0: "d", 1: "d", 2: "d", 3: "d", 4: "-", 5: "d", 6: "d", 7: "-"}),
                _swar({0: "d", 1: "d", 3: "d", 4: "d", 5: ":", 6: "d", 7: "d"}),
                _swar({0: ":", 1: "d", 2: "d"}),
                strict=True,
            )
        )
        cls = np.full(256, _C_OTHER, dtype=np.int64)
        cls[np.frombuffer(b"0123456789", dtype=np.uint8)] = _C_DIGIT
        cls[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXY", dtype=np.uint8)] = _C_UPPER
        for ch, c in ((b".", _C_DOTCOMMA), (b",", _C_DOTCOMMA), (b"Z", _C_Z), (b"+", _C_PLUS)):
            cls[ch[0]] = c
        for ch, c in ((b"-", _C_MINUS), (b" ", _C_SPACE), (b":", _C_COLON)):
            cls[ch[0]] = c
        cls[np.frombuffer(b"\t\n\r\x0b\x0c", dtype=np.uint8)] = _C_WS
        table, start, accept, dead = _header_dfa(np)
        # two bytes per step: next = table2[state + (first byte | second byte << 8)], the
        # states pre-multiplied by 65536 (16 states: an 8 MiB table, of which a log touches
        # a few lines)
        pair = np.arange(65536, dtype=np.int64)
        states = np.arange(len(table) // _N_CLASSES, dtype=np.int64)[:, None] * _N_CLASSES
        after = table[table[states + cls[pair & 0xFF]] + cls[pair >> 8]]  # pre-multiplied by 10
        self.table2 = (after // _N_CLASSES << 16).reshape(-1)
        self.start2 = start // _N_CLASSES << 16
        self.accept2 = accept // _N_CLASSES << 16
        self.dead2 = dead // _N_CLASSES << 16
        # scratch arrays reused block after block: a fresh 128 KiB numpy array is a fresh
        # mmap (glibc's threshold) and costs a page fault per 4 KiB on first touch
        self._bools = [np.zeros(0, dtype=bool) for _ in range(4)]
        self._idx = np.zeros(0, dtype=np.int64)

    def bools(self, i: int, n: int) -> Any:
        """Scratch bool array number `i`, at least `n` long (a view of exactly `n`)."""
        if len(self._bools[i]) < n:  # with headroom: runs of blocks differ a little in size
            self._bools[i] = self.np.zeros(max(n + n // 4, BLOCK_SIZE * 2), dtype=bool)
        return self._bools[i][:n]

    def sparse_nonzero(self, mask: Any) -> Any:
        """`np.flatnonzero(mask)` for a sparse bool array (newlines, UUID candidates).

        The mask is looked at as 8-byte words first: the few non-zero words are expanded.
        ~25 % less time than `flatnonzero` over every byte for one true byte in 500.
        """
        np = self.np
        n8 = len(mask) & ~7
        words = mask[:n8].view(np.uint64)
        hit = np.flatnonzero(np.not_equal(words, 0, out=self.bools(3, len(words))))
        inner = np.flatnonzero(mask[:n8].reshape(-1, 8)[hit].reshape(-1))
        found = (hit.take(inner >> 3) << 3) | (inner & 7)
        if n8 < len(mask):
            found = np.concatenate((found, n8 + np.flatnonzero(mask[n8:])))
        return found

    def idx(self, rows: int, cols: int) -> Any:
        """Scratch contiguous int64 (rows, cols) array."""
        if len(self._idx) < rows * cols:
            self._idx = self.np.zeros(max(rows * cols * 5 // 4, 24 * 8192), dtype=self.np.int64)
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


class ChunkScan:
    """What one numpy pass over a run of whole blocks found, answered block by block.

    The indexer reads 1 MiB (8 MiB from a `.gz`) at a time and cuts it into ~128 KiB blocks;
    scanning each block on its own cost ~40 numpy calls per block, so a third of a build was
    call overhead on 128 KiB arrays (issue 14). Blocks end after a newline, so no UUID and no
    header crosses a block end: the answers per block are the same as scanning each alone.
    """

    __slots__ = (
        "_closed",
        "_nl_at",
        "_starts",
        "blocks",
        "buf",
        "keys",
        "masks",
        "nls",
        "suspicious",
    )

    def __init__(self, buf: bytes, starts: list[int], nls: Any, keys: Any, masks: Any, blocks: Any) -> None:
        self.buf = buf
        self._starts = starts
        self.nls = nls  # newline positions in buf, ascending
        self.keys = keys  # distinct (40-bit segment key, block) postings: the key
        self.masks = masks  # ... its slice mask within the block
        self.blocks = blocks  # ... and the block's index in `starts`
        self._nl_at: list[int] = [*nls.searchsorted(starts).tolist(), len(nls)]
        self._closed: Any = None
        self.suspicious: list[int] = []

    def newlines(self, i: int) -> int:
        """Newlines in block `i`."""
        return self._nl_at[i + 1] - self._nl_at[i]

    def suspicious_in(self, i: int) -> list[int]:
        """The newlines of block `i` that `SUSPICIOUS_LINE_B.finditer` over the block yields."""
        from bisect import bisect_left

        susp = self.suspicious
        if not susp:
            return []
        pos = self._starts[i]
        stop = self._starts[i + 1] if i + 1 < len(self._starts) else None
        lo = bisect_left(susp, pos)
        hi = len(susp) if stop is None else bisect_left(susp, stop - 1)
        return susp[lo:hi]

    def closed(self, i: int) -> int:
        """Newlines of block `i` (not its first byte) right after a `}`: JSON lines that end."""
        if self._closed is None:
            np = _Scan.get().np
            # a newline at buf[0] is at a block's first byte: its (wrapped) flag is not used
            flag = np.frombuffer(self.buf, dtype=np.uint8).take(self.nls - 1) == 125
            self._closed = (flag, np.concatenate(([0], np.cumsum(flag))).tolist())
        flag, cum = self._closed
        lo, hi = self._nl_at[i], self._nl_at[i + 1]
        n = cum[hi] - cum[lo]
        if hi > lo and self.nls[lo] == self._starts[i] and flag[lo]:
            n -= 1  # it ends the line before the block
        return int(n)


def chunk_scan(buf: bytes, starts: list[int], end: int) -> ChunkScan:
    """Scan blocks [starts[i], starts[i + 1]) of `buf` (the last up to `end`) at once.

    Per block: the distinct UUID keys with their slice masks (as `ID_TAIL_BYTES_RE.findall`
    finds them: a dash, then 4-4-4-12 lowercase hex with dashes between; such matches
    cannot overlap), the newlines, and the lines `suspicious` names. UUIDs are found with
    a shifted comparison of the dash mask and a hex check of the few candidates:
    cheaper than the regex, which stops at every dash of a log line (dates, `- - default`,
    ...) and builds a bytes object per hit. A key is what the segment stores: the last 16
    hex digits as a 64-bit integer (`id_key`), mixed down to 40 bits (`segment_keys`); one
    sort of (key, block, slice) packed in a uint64 makes the postings distinct per block.
    Every block but the last must end after a newline (the indexer cuts there).
    """
    sc = _Scan.get()
    np = sc.np
    pos = starts[0]
    m = end - pos
    d = np.frombuffer(buf, dtype=np.uint8, count=m, offset=pos)
    nls = sc.sparse_nonzero(np.equal(d, 10, out=sc.bools(0, m)))
    nls += pos
    keys, masks, blocks = _uuid_postings(sc, d, pos, starts)
    scan = ChunkScan(buf, starts, nls, keys, masks, blocks)
    scan.suspicious = suspicious(buf, pos, end, nls - pos)
    return scan


def _uuid_postings(sc: _Scan, d: Any, pos: int, starts: list[int]) -> tuple[Any, Any, Any]:
    """(40-bit keys, slice masks, block indexes) of the UUIDs in `d` (buf from `pos`), one per (key, block)."""
    from kansoku.tracing.segment import segment_keys

    np = sc.np
    m = len(d)
    n = m - 27
    if n <= 0:
        return sc.empty, sc.empty16, sc.empty
    dash = np.equal(d, 45, out=sc.bools(1, m))
    # dashes 15 bytes apart: one comparison of shifted masks; the dashes between are
    # checked with the hex digits, on the few candidates
    cand = np.logical_and(dash[:n], dash[15 : n + 15], out=sc.bools(2, n))
    at = sc.sparse_nonzero(cand)
    if not len(at):
        return sc.empty, sc.empty16, sc.empty
    idx = np.add(at, sc.hex_rows, out=sc.idx(len(sc.hex_rows), len(at)))
    v = d.take(idx)  # (26, candidates) of ASCII: row-wise ops are fast
    # lowercase hex: `0`-`9` or `a`-`f` (uint8 arithmetic wraps: one comparison per range)
    digits = v[:24]
    bad = np.greater(digits - np.uint8(48), 9)
    bad &= np.greater(digits - np.uint8(97), 5)
    ok = ~np.logical_or.reduce(bad, axis=0)
    ok &= (v[24] == 45) & (v[25] == 45)
    if ok.all():  # the usual case: a boolean selection of the columns copies them
        v = v[8:24]
    else:
        v, at = v[8:24, ok], at[ok]
        if not len(at):
            return sc.empty, sc.empty16, sc.empty
    nib = (v & np.uint8(15)) + (v >> np.uint8(6)) * np.uint8(9)  # `0`-`9` -> 0-9, `a`-`f` -> 10-15
    packed = (nib[0::2] << np.uint8(4)) | nib[1::2]  # (8, keys) bytes, most significant first
    keys = segment_keys(np.ascontiguousarray(packed.T).view(">u8").reshape(-1))
    rel = np.array(starts, dtype=np.int64) - pos
    block = np.searchsorted(rel, at, side="right") - 1
    slice_no = np.minimum((at - rel.take(block)) // SLICE, SLICE_BITS - 1)
    # (key 40 bits, block 20 bits, slice 4 bits): one sort, then one run per (key, block)
    joined = (keys << np.uint64(24)) | (block.astype(np.uint64) << np.uint64(4)) | slice_no.astype(np.uint64)
    joined.sort()
    kb = joined >> np.uint64(4)
    bits = sc.slice_bit.take((joined & np.uint64(15)).astype(np.intp))
    if len(kb) > 1:
        first = np.flatnonzero(np.concatenate(([True], kb[1:] != kb[:-1])))
        if len(first) < len(kb):
            kb, bits = kb.take(first), np.bitwise_or.reduceat(bits, first)
    return kb >> np.uint64(20), bits, (kb & np.uint64(0xFFFFF)).astype(np.intp)


def _swar(spec: dict[int, str]) -> tuple[int, int, int]:
    """(and-mask, wanted value, digit mask) testing a little-endian word's bytes at once:
    `spec` maps a byte to `d` (a digit) or the one character it must be. A byte is a digit
    when its high nibble is 3 and its low nibble + 6 does not carry into bit 4."""
    mask = want = digit = 0
    for i, kind in spec.items():
        if kind == "d":
            mask |= 0xF0 << 8 * i
            want |= 0x30 << 8 * i
            digit |= 0x10 << 8 * i
        else:
            mask |= 0xFF << 8 * i
            want |= ord(kind) << 8 * i
    return mask, want, digit


#: Bytes of a line's start looked at by the vectorised check: the header's fixed part and
#: the columns the DFA runs over, read as six 8-byte words.
_WINDOW = 48


def suspicious(buf: bytes, pos: int, end: int, nls: Any) -> list[int]:
    """Positions of the newlines in buf[pos:end] that `SUSPICIOUS_LINE_B` would match, in order.

    The regex stops at every newline to try the header pattern (~1 us a line); here the
    first 48 bytes of every line are gathered at once (rows of a strided view), the fixed
    19 bytes of the header are tested as three 8-byte words (a few integer operations per
    line), and the variable rest runs through `_header_dfa`, all lines in step, two bytes
    per pass. Lines the vectorised check cannot decide (near the block end, or a header
    longer than the columns looked at) go to the regex itself, so the answer is exactly the
    regex's.
    """
    sc = _Scan.get()
    np = sc.np
    m = end - pos
    d = np.frombuffer(buf, dtype=np.uint8, count=m, offset=pos)
    starts = nls + 1
    # lines whose whole window lies in the block; the rest are decided by the regex
    inside = starts + _WINDOW <= m
    near_end = nls[~inside]
    starts = starts[inside]
    bad = [starts[:0]]
    if len(starts):
        rows = np.lib.stride_tricks.as_strided(d, shape=(m - _WINDOW + 1, _WINDOW), strides=(1, 1))[starts]
        # the fixed part as 3 contiguous rows of words (ufuncs on the strided view cost 4x)
        fixed = np.ascontiguousarray(rows.view("<u8")[:, :3].T)
        digits = fixed & np.uint64(0x0F0F0F0F0F0F0F0F)
        digits += np.uint64(0x0606060606060606)
        digits &= sc.fixed_digit  # a carry into bit 4: not a digit
        wrong = fixed & sc.fixed_and
        wrong ^= sc.fixed_want
        wrong |= digits
        ok = (wrong[0] | wrong[1] | wrong[2]) == 0
        sep = np.ascontiguousarray(rows[:, 10])
        ok &= (sep == 32) | (sep == 84)
        if not ok.all():
            # `{`, a blank line (`\n`, `\r\n`) or a header: only the last needs checking
            first = rows[:, 0]
            other = ~ok & (first != 123) & (first != 10) & ~((first == 13) & (rows[:, 1] == 10))
            bad.append(starts[other])
            starts, rows = starts[ok], rows[ok]
        if len(starts):
            pairs = np.ascontiguousarray(rows[:, _HEADER_COLS : _HEADER_COLS + _DFA_COLS].view("<u2").T)
            state = np.full(len(starts), sc.start2, dtype=np.int64)
            table = sc.table2
            for row in pairs:
                state = table.take(state + row)
            bad.append(starts[state == sc.dead2])
            undecided = starts[(state != sc.dead2) & (state != sc.accept2)]
            near_end = np.concatenate((near_end, undecided - 1))
    found: list[int] = (np.concatenate(bad) - 1 + pos).tolist()
    for at in near_end.tolist():
        if SUSPICIOUS_LINE_B.match(buf, at + pos, end):
            found.append(at + pos)
    found.sort()
    return found


def is_good_start(buf: bytes, pos: int) -> bool:
    return bool(HEADER_START_B.match(buf, pos)) or buf.startswith(b"{", pos)


def kind_of_line_before(buf: bytes, nl_at: int, block_pos: int, kind: str) -> str:
    """Kind of the (good) line ending at `nl_at`: 'text' for an oslo header, else 'other'."""
    start = buf.rfind(b"\n", block_pos, nl_at) + 1
    if start == 0 and block_pos > 0:
        start = block_pos
    if start >= nl_at:
        return kind
    if HEADER_START_B.match(buf, start):
        return "text"
    return "other"


def cut(buf: bytes, target: int) -> int:
    """A block end near `target`: just before a record start, else after a newline."""
    window = max(0, target - BLOCK_SIZE // 2)
    last = last_match_back(RECORD_START_B, b"\n", buf, max(window, target - 16384), target)
    if last is None:
        last = last_match_back(RECORD_START_B, b"\n", buf, window, target)
    if last is not None:
        return last.start() + 1
    nl = buf.rfind(b"\n", window, target)
    if nl != -1:
        return nl + 1
    nl = buf.find(b"\n", target)
    return nl + 1 if nl != -1 else len(buf)
