"""Index segments: immutable sorted (key, block, where) postings, 9 bytes each, a CRC32 per page.

Layout (little-endian; every section starts 8-byte aligned, zero padding)::

    header      magic "KSKIDX03", count, keys per page, pages, blocks, posting width  (48 bytes)
    blocks      blocks x u64, (file_id << 32 | block number), sorted: the blocks postings name
    key high    count x u32, the top 32 bits of each posting's 40-bit key, sorted
    key low     count x u8, its low 8 bits
    postings    count x u16 (u32 when a segment names more than 65,536 blocks): index in blocks
    slices      count x u16: where in the block the id occurs, a bit per 8 KiB (`SLICE`)
    page table  pages x (first key u64, crc32 of the page's key high, key low, postings, slices u32)
    footer      crc32 of header + blocks + page table u32, magic "KSKEND03"

**Why 40-bit keys.** A lookup re-checks the full id in the block's text, so a key only has
to make wrong block reads rare, not impossible: with 10 M distinct ids in a segment a 40-bit
key sends one lookup in ~110,000 to a block that does not hold its id. The key is the
UUID's last 16 hex digits (`id_key`, 64 bits) multiplied by an odd constant, top 40 bits
kept (`segment_key`): UUID4 fixes the variant bits at the top of those digits, the multiply
spreads them. **Why block numbers, not file/block pairs.** A segment of 2 M postings names a
few thousand 128 KiB blocks, so a u16 into the segment's block list replaces a u64. On
the two-random-ids-per-line worst case this is 7 bytes per posting instead of 16: the
index falls from 12 % to about 5 % of the logs, below tantivy's (issue 14). **Why slices.**
Two more bytes say which 8 KiB stretches of the block hold the id, so a lookup searches
those instead of the whole block (a 2,400-line trace spent a third of its time in
whole-block `bytes.find`s): 9 bytes a posting, about 7 % of the worst-case logs.

The manifest records each segment's size, count and footer CRC and the file ids it holds
postings for. Opening a segment checks its size and the header/blocks/page-table CRC (a few
KiB); a lookup bisects the page table's first keys, then checks the CRCs of each page it
touches, once per process. So a flipped byte or a cut-off file is named (`StoreDamaged`)
instead of becoming a wrong answer, while a lookup still reads only a few pages: a cold
`kansoku trace` does not read whole segments. Stdlib only on the read path (the lookup must
not import numpy); writing takes numpy arrays from the indexer.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError
from kansoku.tracing.durable import FILE_MODE, StoreDamaged, fsync_dir
from kansoku.tracing.slotted import Row

MAGIC = b"KSKIDX03"
END_MAGIC = b"KSKEND03"
PAGE_KEYS = 8192  # per page: 32 KiB of key high, 8 KiB of key low, 16 KiB each of postings and slices
KEY_BITS = 40
#: A posting also says *where* in its block the id occurs: bit i of a 16-bit mask is set
#: for an occurrence whose UUID starts in bytes [i * SLICE, (i + 1) * SLICE) of the block
#: (bit 15: anywhere from 15 * SLICE on). A lookup then searches 8 KiB windows instead of the
#: whole 128 KiB block: a trace that follows 280 ids did 850 whole-block finds.
SLICE = 8192
SLICE_BITS = 16
_MIX = 0x9E3779B97F4A7C15  # odd: multiplying by it is a bijection of 64-bit keys
_MASK64 = (1 << 64) - 1
_HEAD = struct.Struct("<8sQQQQQ")
_PAGE = struct.Struct("<QIIII")
_FOOT = struct.Struct("<I8s")


def segment_key(key: int) -> int:
    """The 40-bit key a segment stores for a 64-bit id key (see the module docstring)."""
    return ((key * _MIX) & _MASK64) >> (64 - KEY_BITS)


def segment_keys(keys: Any) -> Any:
    """`segment_key` of a numpy uint64 array (wrapping multiply, as the scalar form)."""
    import numpy as np

    with np.errstate(over="ignore"):
        return (keys.astype(np.uint64) * np.uint64(_MIX)) >> np.uint64(64 - KEY_BITS)


def _pad8(n: int) -> int:
    return (n + 7) & ~7


class SegmentMeta(Row):
    """What the manifest records of one segment (it is checked against the file)."""

    def __init__(self, name: str, size: int, count: int, crc: int, files: list[int] | None = None) -> None:
        self.name = name
        self.size = size
        self.count = count
        self.crc = crc
        self.files: list[int] = [] if files is None else files

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> SegmentMeta:
        return cls(row["name"], int(row["size"]), int(row["count"]), int(row["crc"]), list(row["files"]))


class _Layout:
    """Where each section of a segment starts, from the header's numbers."""

    __slots__ = ("blocks", "count", "pages", "width")

    def __init__(self, count: int, pages: int, blocks: int, width: int) -> None:
        self.count = count
        self.pages = pages
        self.blocks = blocks
        self.width = width

    @property
    def blocks_at(self) -> int:
        return _HEAD.size

    @property
    def high_at(self) -> int:
        return self.blocks_at + 8 * self.blocks

    @property
    def low_at(self) -> int:
        return self.high_at + _pad8(4 * self.count)

    @property
    def posts_at(self) -> int:
        return self.low_at + _pad8(self.count)

    @property
    def slices_at(self) -> int:
        return self.posts_at + _pad8(self.width * self.count)

    @property
    def table_at(self) -> int:
        return self.slices_at + _pad8(2 * self.count)

    @property
    def size(self) -> int:
        return self.table_at + _PAGE.size * self.pages + _FOOT.size


def write_segment(path: Path, k: Any, refs: Any, blocks: Any, masks: Any) -> SegmentMeta:
    """Sort the postings, drop duplicates, write durably; the manifest row.

    `k` holds `segment_key`s (the indexer converts its 64-bit keys; a merge passes what
    `SegmentReader.arrays` returned), `refs` the index of each posting's block in `blocks`:
    the sorted, distinct `file_id << 32 | block number` the postings name, `masks` the slice
    bits of each (numpy arrays). Sorting is one `sort` of packed values (`_key_order`): a
    two-key `lexsort` of the postings was half of a whole index build. A (key, block)
    given twice keeps one posting with the union of its slices.
    """
    import numpy as np

    k = np.asarray(k, dtype=np.uint64)
    refs = np.asarray(refs, dtype=np.uint64)
    blocks = np.asarray(blocks, dtype=np.uint64)
    masks = np.asarray(masks, dtype=np.uint16)
    k, refs, masks = sorted_distinct(k, refs, masks, len(blocks))
    writer = SegmentWriter(path, blocks, len(k))  # the one place that lays the format out
    writer._put(k, refs, masks)
    return writer.finish()


class SegmentWriter:
    """A segment written piece by piece, in key order: a merge streams through it.

    Each array of the layout is a section of its own, so the posting `count` is given up
    front (a merge announces the sum of its inputs' counts) and each piece is written at
    its place in the four sections (`pwrite`); the page table (each page's first key and
    running CRC32s) is accumulated and written at the end with the footer. Memory is one
    piece, whatever the segment's size; `write_segment` writes through it too (one piece),
    so a merged segment is byte for byte what one flush of the same postings writes. Written as `NAME.tmp`, fsynced, then renamed (as
    `write_new`): a kill leaves a `.tmp` that recovery deletes, never a half segment.
    """

    def __init__(self, path: Path, blocks: Any, count: int) -> None:
        import numpy as np

        blocks = np.asarray(blocks, dtype=np.uint64)
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.width = 2 if len(blocks) <= 1 << 16 else 4
        self.page_keys = per = PAGE_KEYS
        self.lay = _Layout(count, (count + per - 1) // per, len(blocks), self.width)
        self.written = 0
        self.last = -1  # the last (key, block index) written, packed: pieces must follow it
        self._table = bytearray()
        self._page: list[int] = [0, 0, 0, 0, 0]  # first key, then the CRC32s of the page so far
        self.files = [int(f) for f in np.unique(blocks >> np.uint64(32)).tolist()]
        head = _HEAD.pack(MAGIC, count, per, self.lay.pages, len(blocks), self.width)
        blocks_b = blocks.astype("<u8").tobytes()
        self._crc = zlib.crc32(blocks_b, zlib.crc32(head))
        self._fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            os.pwrite(self._fd, head, 0)
            os.pwrite(self._fd, blocks_b, self.lay.blocks_at)
        except BaseException:
            self.abort()
            raise

    def append(self, k: Any, refs: Any, masks: Any) -> None:
        """Write the next postings: 40-bit keys (uint64), block indexes, slice masks, sorted
        by (key, block index), distinct, and all after those written before."""
        if not len(k):
            return
        first = (int(k[0]) << 32) | int(refs[0])
        if first <= self.last:
            raise ValueError(f"{self.path}: postings out of order")
        self.last = (int(k[-1]) << 32) | int(refs[-1])
        self._put(k, refs, masks)

    def _put(self, k: Any, refs: Any, masks: Any) -> None:
        """Write postings at their place in the four sections and extend the page table
        (`write_segment` calls it directly with the whole segment, already in order)."""
        import numpy as np

        n = len(k)
        lay, at = self.lay, self.written
        if at + n > lay.count:
            raise ValueError(f"{self.path}: more postings than the {lay.count} announced")
        sections: tuple[tuple[Any, int], ...] = (
            ((k >> np.uint64(8)).astype("<u4"), lay.high_at + 4 * at),
            ((k & np.uint64(0xFF)).astype("u1"), lay.low_at + at),
            (np.asarray(refs).astype("<u2" if self.width == 2 else "<u4"), lay.posts_at + self.width * at),
            (np.asarray(masks).astype("<u2"), lay.slices_at + 2 * at),
        )
        for arr, offset in sections:
            _pwrite_all(self._fd, memoryview(arr).cast("B"), offset)
        i, per = 0, self.page_keys
        while i < n:  # the page table: a page may span pieces, a piece many pages
            in_page = (at + i) % per
            take = min(n - i, per - in_page)
            page = self._page
            if in_page == 0:
                page[:] = [int(k[i]), 0, 0, 0, 0]
            for j, (arr, _) in enumerate(sections, 1):
                page[j] = zlib.crc32(memoryview(arr[i : i + take]).cast("B"), page[j])
            if in_page + take == per:
                self._table += _PAGE.pack(*page)
            i += take
        self.written += n

    def finish(self) -> SegmentMeta:
        """Page table, footer, fsync, rename into place, fsync the directory: the manifest row.
        Fails (and removes the `.tmp`) when fewer postings came than were announced."""
        lay = self.lay
        try:
            if self.written != lay.count:
                raise ValueError(f"{self.path}: {self.written} postings written, {lay.count} announced")
            if lay.count % self.page_keys:
                self._table += _PAGE.pack(*self._page)
            for at, used in (
                (lay.high_at, 4 * lay.count),
                (lay.low_at, lay.count),
                (lay.posts_at, self.width * lay.count),
                (lay.slices_at, 2 * lay.count),
            ):
                _pwrite_all(self._fd, bytes(_pad8(used) - used), at + used)
            crc = zlib.crc32(bytes(self._table), self._crc)
            _pwrite_all(self._fd, bytes(self._table) + _FOOT.pack(crc, END_MAGIC), lay.table_at)
            os.fsync(self._fd)
        except BaseException:
            self.abort()
            raise
        os.close(self._fd)
        self._fd = -1
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)
        return SegmentMeta(self.path.name, lay.size, lay.count, crc, self.files)

    def abort(self) -> None:
        """Close and remove the unfinished `.tmp`."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.tmp.unlink(missing_ok=True)


def _pwrite_all(fd: int, data: Any, offset: int) -> None:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def sorted_distinct(k: Any, refs: Any, masks: Any, n_blocks: int) -> tuple[Any, Any, Any]:
    """Postings sorted by (key, block index), a (key, block) given twice kept once with the
    union of its slices: what a segment holds (a flush and each range of a merge)."""
    import numpy as np

    order = _key_order(np, k, refs, n_blocks)
    k, refs, masks = k[order], refs[order], masks[order]
    if len(k) > 1:
        first = np.flatnonzero(np.concatenate(([True], (k[1:] != k[:-1]) | (refs[1:] != refs[:-1]))))
        if len(first) < len(k):
            k, refs, masks = k[first], refs[first], np.bitwise_or.reduceat(masks, first)
    return k, refs, masks


def _key_order(np: Any, k: Any, refs: Any, n_blocks: int) -> Any:
    """The permutation that sorts postings by (key, block index).

    The slices must follow the sort, so it is a permutation, not a sort of packed values;
    but `argsort` of 2 M values costs 3x a `sort`. With fewer than 2^24 postings the
    position rides in the low 24 bits of the 40-bit key and one `sort` gives the
    permutation (ties in position order, which is block order in what the indexer
    flushes: checked, and a true argsort when it is not so, as in some merges).
    """
    n = len(k)
    if n < 1 << 24:
        packed = np.sort((k << np.uint64(24)) | np.arange(n, dtype=np.uint64))
        order = (packed & np.uint64((1 << 24) - 1)).astype(np.intp)
        keys, blocks = packed >> np.uint64(24), refs[order]
        if not ((keys[1:] == keys[:-1]) & (blocks[1:] < blocks[:-1])).any():
            return order
    if n_blocks < 1 << 24:
        return np.argsort((k << np.uint64(24)) | refs)
    return np.lexsort((refs, k))  # more blocks than 24 bits can number (TBs in one segment)


class SegmentReader:
    """One segment mmapped; `postings` bisects it and checks each page it reads (stdlib only)."""

    def __init__(self, path: Path, meta: SegmentMeta) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise  # the caller tells a reader that raced a merge from a damaged store
        except OSError as err:
            raise KansokuError(f"{path}: cannot open index segment ({err.strerror})") from None
        try:
            size = os.fstat(fd).st_size
            if size != meta.size:
                raise StoreDamaged(
                    path,
                    f"index segment is {size} bytes, the manifest says {meta.size} (cut short or overwritten)",
                )
            self._mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if size else None
        finally:
            os.close(fd)
        if self._mm is None:
            raise StoreDamaged(path, "index segment is empty (cut short)")
        try:
            self._check_frame(meta)
        except BaseException:
            self._mm.close()
            raise
        lay = self._lay
        view = memoryview(self._mm)
        self._raw = view
        self.blocks = view[lay.blocks_at : lay.high_at].cast("Q")
        self.high = view[lay.high_at : lay.high_at + 4 * lay.count].cast("I")
        self.low = view[lay.low_at : lay.low_at + lay.count]
        posts = view[lay.posts_at : lay.posts_at + lay.width * lay.count]
        self.posts = posts.cast("H") if lay.width == 2 else posts.cast("I")
        self.slices = view[lay.slices_at : lay.slices_at + 2 * lay.count].cast("H")
        self._good: set[int] = set()
        self._at = (lay.high_at, lay.low_at, lay.posts_at, lay.slices_at, lay.width)

    def _check_frame(self, meta: SegmentMeta) -> None:
        mm = self._mm
        assert mm is not None
        magic, count, page_keys, pages, blocks, width = _HEAD.unpack_from(mm, 0)
        lay = _Layout(count, pages, blocks, width)
        if (
            magic != MAGIC
            or count != meta.count
            or page_keys < 1
            or width not in (2, 4)
            or pages != (count + page_keys - 1) // page_keys
            or lay.size != len(mm)
        ):
            raise StoreDamaged(self.path, "not a kansoku index segment of this format (header damaged)")
        table = mm[lay.table_at : lay.table_at + _PAGE.size * pages]
        crc, end = _FOOT.unpack_from(mm, len(mm) - _FOOT.size)
        actual = zlib.crc32(table, zlib.crc32(mm[lay.blocks_at : lay.high_at], zlib.crc32(mm[: _HEAD.size])))
        if end != END_MAGIC or crc != actual or crc != meta.crc:
            raise StoreDamaged(self.path, "index segment page table fails its checksum (damaged)")
        self._lay = lay
        self.count = count
        self.page_keys = page_keys
        self.pages = pages
        # A page-table row is 3 u64 (first key, then the four u32 CRCs): the first keys are
        # every third u64, sliced in C; a page's CRCs are unpacked when it is first read
        # (a struct call per page of a 200-page segment was a tenth of a one-id lookup).
        rows: array[int] = array("Q")
        rows.frombytes(table)
        if sys.byteorder != "little":
            rows.byteswap()
        self.firsts = rows[0::3]
        self._table = table
        self._crc32: Callable[..., int] = zlib.crc32

    def _check_page(self, page: int) -> None:
        if page in self._good:
            return
        high_at, low_at, posts_at, slices_at, w = self._at
        lo = page * self.page_keys
        hi = min(lo + self.page_keys, self.count)
        raw = self._raw
        crc32 = self._crc32
        if (
            crc32(raw[high_at + 4 * lo : high_at + 4 * hi]),
            crc32(raw[low_at + lo : low_at + hi]),
            crc32(raw[posts_at + w * lo : posts_at + w * hi]),
            crc32(raw[slices_at + 2 * lo : slices_at + 2 * hi]),
        ) != _PAGE.unpack_from(self._table, page * _PAGE.size)[1:]:
            raise StoreDamaged(self.path, f"index segment page {page} fails its checksum (damaged)")
        self._good.add(page)

    def postings(self, key: int) -> list[tuple[int, int]]:
        """Every (`file_id << 32 | block`, slice mask) of a 40-bit `key` (pages checked as read)."""
        count = self.count
        if not count:
            return []
        per = self.page_keys
        good = self._good
        page = max(0, bisect_left(self.firsts, key) - 1)  # the key may start in the page before
        if page not in good:
            self._check_page(page)
        lo = page * per
        hi = min(lo + per, count)
        want_high, want_low = key >> 8, key & 0xFF
        high, low = self.high, self.low
        i = bisect_left(high, want_high, lo, hi)
        out: list[tuple[int, int]] = []
        while i < count:
            if i % per == 0 and i // per not in good:  # the postings run on into the next page
                self._check_page(i // per)
            if high[i] != want_high:
                break
            if low[i] == want_low:
                ref = self.posts[i]
                if ref >= len(self.blocks):
                    raise StoreDamaged(self.path, f"index segment posting {i} names no block (damaged)")
                out.append((self.blocks[ref], self.slices[i]))
            i += 1
        return out

    def use_fast_crc(self) -> None:
        """Check pages with ISA-L's CRC32 (same values, ~15x zlib's speed here) when it is
        installed: a lookup of hundreds of ids checks ~150 pages of 72 KiB, 3 ms with zlib.
        Not for every lookup: importing isal costs about what a few pages do."""
        self._crc32 = fast_crc32()

    def verify(self) -> None:
        """Check every page (for `kansoku index --verify` and before a merge reads it all)."""
        for page in range(self.pages):
            self._check_page(page)

    def arrays(self) -> tuple[Any, Any, Any, Any]:
        """(40-bit keys, block indexes, blocks, slice masks) as numpy arrays (uint64, masks
        uint16), every page checked: what `write_segment` takes, for a merge (index time only)."""
        import numpy as np

        self.verify()
        high = np.frombuffer(self.high, dtype="<u4").astype(np.uint64)
        low = np.frombuffer(self.low, dtype="u1").astype(np.uint64)
        refs = np.frombuffer(self.posts, dtype="<u2" if self._lay.width == 2 else "<u4").astype(np.uint64)
        blocks = np.frombuffer(self.blocks, dtype="<u8").astype(np.uint64)
        masks = np.frombuffer(self.slices, dtype="<u2").astype(np.uint16)
        if len(refs) and int(refs.max()) >= len(blocks):
            raise StoreDamaged(self.path, "index segment postings name blocks it does not have (damaged)")
        return (high << np.uint64(8)) | low, refs, blocks, masks

    def read_pages(self, first: int, last: int) -> tuple[Any, Any, Any]:
        """(40-bit keys uint64, block indexes, slice masks uint16) of pages [first, last),
        each page checked: what a merge streams through (index time only).

        Read with `pread`, not through the mapping: a merge reads whole segments, and every
        mapped page it touched would stay in the process's resident set to the end.
        """
        import numpy as np

        lay, per = self._lay, self.page_keys
        lo, hi = first * per, min(last * per, self.count)
        w = lay.width
        sizes = (4, 1, w, 2)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            raw = [
                os.pread(fd, size * (hi - lo), at + size * lo)
                for at, size in zip(
                    (lay.high_at, lay.low_at, lay.posts_at, lay.slices_at), sizes, strict=True
                )
            ]
            rows = os.pread(fd, _PAGE.size * (last - first), lay.table_at + _PAGE.size * first)
        finally:
            os.close(fd)
        if any(len(r) != size * (hi - lo) for r, size in zip(raw, sizes, strict=True)):
            raise StoreDamaged(self.path, "index segment is shorter than its header says (cut short)")
        views = [memoryview(r) for r in raw]
        for page in range(first, last):
            a, b = page * per - lo, min((page + 1) * per, self.count) - lo
            crcs = tuple(zlib.crc32(v[a * size : b * size]) for v, size in zip(views, sizes, strict=True))
            if crcs != _PAGE.unpack_from(rows, (page - first) * _PAGE.size)[1:]:
                raise StoreDamaged(self.path, f"index segment page {page} fails its checksum (damaged)")
        high = np.frombuffer(raw[0], dtype="<u4").astype(np.uint64)
        keys = (high << np.uint64(8)) | np.frombuffer(raw[1], dtype="u1")
        refs = np.frombuffer(raw[2], dtype="<u2" if w == 2 else "<u4")
        if len(refs) and int(refs.max()) >= lay.blocks:
            raise StoreDamaged(self.path, "index segment postings name blocks it does not have (damaged)")
        return keys, refs, np.frombuffer(raw[3], dtype="<u2")

    def close(self) -> None:
        for view in (self.blocks, self.high, self.low, self.posts, self.slices, self._raw):
            view.release()
        if self._mm is not None:
            self._mm.close()


#: From how many keys in one lookup the pages are checked with ISA-L's CRC32 (`fast_crc32`):
#: importing isal costs ~0.5 ms, what zlib's CRC32 of ~30 pages costs, and a key seldom
#: shares a page with another (a 2,400-line trace's 284 ids touch ~150 pages).
FAST_CRC_KEYS = 48


def fast_crc32() -> Callable[..., int]:
    """ISA-L's crc32 (python-isal, a dependency for .gz inflating) if it imports, else zlib's."""
    try:
        from isal import isal_zlib
    except ImportError:  # a platform without an isal wheel
        return zlib.crc32
    return isal_zlib.crc32


#: file_id -> block number -> id key -> where in the block it occurs (slice mask)
Hits = dict[int, dict[int, dict[int, int]]]


def lookup(readers: Iterable[SegmentReader], keys: Iterable[int]) -> Hits:
    """Which blocks hold each of the 64-bit `keys`, and where in them, over all segments.

    Two wanted ids whose 40-bit keys collide are both reported for each block that holds
    either: the block's text decides which id is really there.
    """
    found: Hits = {}
    # in key order: the pages are read front to back, and each is checked once
    wanted = sorted((segment_key(key), key) for key in keys)
    for reader in readers:
        if len(wanted) > FAST_CRC_KEYS:
            reader.use_fast_crc()
        for short, key in wanted:
            for post, mask in reader.postings(short):
                in_block = found.setdefault(post >> 32, {}).setdefault(post & 0xFFFFFFFF, {})
                in_block[key] = in_block.get(key, 0) | mask
    return found
