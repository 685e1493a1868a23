"""Index segments: immutable sorted (key, posting) arrays with a CRC32 per page.

Layout (little-endian), modelled on Prometheus TSDB's index, where every section carries
its own CRC32 so that a reader checks only what it reads::

    header      magic "KSKIDX02", count, keys per page, pages          (32 bytes)
    keys        count x u64, sorted
    postings    count x u64, (file_id << 32 | block number), sorted within a key
    page table  pages x (first key u64, crc32 of the page's keys u32, of its postings u32)
    footer      crc32 of header + page table u32, magic "KSKEND02"

The manifest records each segment's size, count and footer CRC and the file ids it holds
postings for. Opening a segment checks its size and the header/page-table CRC (a few KiB);
a lookup bisects the page table's first keys, then checks the CRC of each 64 KiB page of
keys and postings it touches, once per process. So a flipped byte or a cut-off file is
named (`StoreDamaged`) instead of becoming a wrong answer, while a lookup still reads only
a few pages: a cold `kansoku trace` does not read whole segments. Stdlib only on the read
path (the lookup must not import numpy); writing takes numpy arrays from the indexer.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError
from kansoku.tracing.durable import StoreDamaged, write_new

MAGIC = b"KSKIDX02"
END_MAGIC = b"KSKEND02"
PAGE_KEYS = 8192  # 64 KiB of keys and 64 KiB of postings per page
_HEAD = struct.Struct("<8sQQQ")
_PAGE = struct.Struct("<QII")
_FOOT = struct.Struct("<I8s")


@dataclass
class SegmentMeta:
    """What the manifest records of one segment (it is checked against the file)."""

    name: str
    size: int
    count: int
    crc: int
    files: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> SegmentMeta:
        return cls(row["name"], int(row["size"]), int(row["count"]), int(row["crc"]), list(row["files"]))


def write_segment(path: Path, k: Any, p: Any) -> SegmentMeta:
    """Sort (key, posting) numpy uint64 pairs, drop duplicates, write durably; the manifest row."""
    import numpy as np

    order = np.lexsort((p, k))
    k = k[order]
    p = p[order]
    if len(k) > 1:
        keep = np.ones(len(k), dtype=bool)
        keep[1:] = (k[1:] != k[:-1]) | (p[1:] != p[:-1])
        k = k[keep]
        p = p[keep]
    count = len(k)
    kb = k.astype("<u8").tobytes()
    pb = p.astype("<u8").tobytes()
    pages = (count + PAGE_KEYS - 1) // PAGE_KEYS
    head = _HEAD.pack(MAGIC, count, PAGE_KEYS, pages)
    table = bytearray()
    step = PAGE_KEYS * 8
    for i in range(pages):
        table += _PAGE.pack(
            int(k[i * PAGE_KEYS]),
            zlib.crc32(memoryview(kb)[i * step : (i + 1) * step]),
            zlib.crc32(memoryview(pb)[i * step : (i + 1) * step]),
        )
    crc = zlib.crc32(bytes(table), zlib.crc32(head))
    foot = _FOOT.pack(crc, END_MAGIC)
    write_new(path, (head, kb, pb, bytes(table), foot))
    files = sorted(int(f) for f in np.unique(p >> np.uint64(32))) if count else []
    return SegmentMeta(path.name, len(head) + len(kb) + len(pb) + len(table) + len(foot), count, crc, files)


class SegmentReader:
    """One segment mmapped; `lookup` bisects it and checks each page it reads (stdlib only)."""

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
            self._mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        try:
            self._check_frame(meta)
        except BaseException:
            self._mm.close()
            raise
        view = memoryview(self._mm)
        kstart = _HEAD.size
        pstart = kstart + 8 * self.count
        self.keys = view[kstart:pstart].cast("Q")
        self.posts = view[pstart : pstart + 8 * self.count].cast("Q")
        self._raw = view
        self._good: set[int] = set()

    def _check_frame(self, meta: SegmentMeta) -> None:
        mm = self._mm
        magic, count, page_keys, pages = _HEAD.unpack_from(mm, 0)
        expect = _HEAD.size + 16 * count + _PAGE.size * pages + _FOOT.size
        if magic != MAGIC or count != meta.count or page_keys < 1 or expect != len(mm):
            raise StoreDamaged(self.path, "not a kansoku index segment of this format (header damaged)")
        tstart = _HEAD.size + 16 * count
        table = mm[tstart : tstart + _PAGE.size * pages]
        crc, end = _FOOT.unpack_from(mm, len(mm) - _FOOT.size)
        actual = zlib.crc32(table, zlib.crc32(mm[: _HEAD.size]))
        if end != END_MAGIC or crc != actual or crc != meta.crc:
            raise StoreDamaged(self.path, "index segment page table fails its checksum (damaged)")
        self.count = count
        self.page_keys = page_keys
        self.pages = pages
        firsts: array[int] = array("Q")
        self._crcs: list[tuple[int, int]] = []
        for i in range(pages):
            first, kcrc, pcrc = _PAGE.unpack_from(table, i * _PAGE.size)
            firsts.append(first)
            self._crcs.append((kcrc, pcrc))
        self.firsts = firsts

    def _check_page(self, page: int) -> None:
        if page in self._good:
            return
        step = self.page_keys * 8
        lo = page * step
        hi = min(lo + step, 8 * self.count)
        kstart = _HEAD.size
        pstart = kstart + 8 * self.count
        kcrc, pcrc = self._crcs[page]
        if (
            zlib.crc32(self._raw[kstart + lo : kstart + hi]) != kcrc
            or zlib.crc32(self._raw[pstart + lo : pstart + hi]) != pcrc
        ):
            raise StoreDamaged(self.path, f"index segment page {page} fails its checksum (damaged)")
        self._good.add(page)

    def postings(self, key: int) -> list[int]:
        """Every posting of `key` (pages checked as they are read)."""
        if not self.count:
            return []
        per = self.page_keys
        page = max(0, bisect_left(self.firsts, key) - 1)  # the key may start in the page before
        self._check_page(page)
        lo = page * per
        hi = min(lo + per, self.count)
        i = bisect_left(self.keys, key, lo, hi)
        out: list[int] = []
        keys = self.keys
        while i < self.count:
            if i % per == 0 or i == lo:
                self._check_page(i // per)
            if keys[i] != key:
                break
            out.append(self.posts[i])
            i += 1
        return out

    def verify(self) -> None:
        """Check every page (for `kansoku index --verify` and before a merge reads it all)."""
        for page in range(self.pages):
            self._check_page(page)

    def arrays(self) -> tuple[array[int], array[int]]:
        """All keys and postings, every page checked."""
        self.verify()
        keys: array[int] = array("Q")
        posts: array[int] = array("Q")
        keys.frombytes(self.keys.tobytes())
        posts.frombytes(self.posts.tobytes())
        return keys, posts

    def close(self) -> None:
        self.keys.release()
        self.posts.release()
        self._raw.release()
        self._mm.close()


def lookup(readers: Iterable[SegmentReader], keys: Iterable[int]) -> dict[int, dict[int, set[int]]]:
    """file_id -> block number -> which of `keys` the block holds, over all segments."""
    found: dict[int, dict[int, set[int]]] = {}
    wanted = list(keys)
    for reader in readers:
        for key in wanted:
            for post in reader.postings(key):
                found.setdefault(post >> 32, {}).setdefault(post & 0xFFFFFFFF, set()).add(key)
    return found
