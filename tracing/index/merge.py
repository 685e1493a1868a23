"""Merge segments into one by streaming through them range of keys by range (bounded memory).

Segments are sorted by key, and keys are hashes (`segment_key`), so a merge is a k-way
merge, done as a log-structured store does it: the merged block list (one entry per 128
KiB block, small) and each segment's old -> new block index are computed up front; then
the key space is cut into ranges of about `RANGE_POSTINGS` postings, and for each range
every segment's pages that can hold its keys are read (`SegmentReader.read_pages`, each
page checked once), joined, sorted by (key, block) and appended to the new segment
(`SegmentWriter`). Memory is one range, whatever the segments' sizes: loading whole
segments held several copies of all their postings at once (1.8 GB of resident memory
for a 10 GB corpus, issue 14).

The ranges come from the segments' page tables (each page's first key, already in
memory): a cut every `RANGE_POSTINGS / PAGE_KEYS` first keys of all segments together,
so a range holds at most that many pages plus one carried page per segment, whatever the
distribution of the keys (one key repeated over many pages is the exception: it is never
split, so its postings are in one range).
"""

from __future__ import annotations

from bisect import bisect_left
from pathlib import Path
from typing import Any

from kansoku.tracing.segment import KEY_BITS, SegmentMeta, SegmentReader, SegmentWriter, sorted_distinct

#: postings sorted at once (with the carried pages): ~40 MB of arrays, below a flush's peak
RANGE_POSTINGS = 1 << 20


def merge(root: Path, chosen: list[SegmentMeta], name: str) -> SegmentMeta:
    """Write `chosen` as one new segment `root/name` (durably, renamed into place); its row.

    The merged segment holds exactly what `write_segment` would write for all their
    postings together: sorted by (key, block), a (key, block) named by two segments once,
    with the union of its slices (a block's postings are all in one segment, but the index
    must not depend on that).
    """
    import numpy as np

    readers: list[SegmentReader] = []
    try:
        for meta in chosen:
            readers.append(SegmentReader(root / meta.name, meta))
        named = [np.frombuffer(r.blocks, dtype="<u8").astype(np.uint64) for r in readers]
        blocks = np.unique(np.concatenate(named))
        remap = [np.searchsorted(blocks, b).astype(np.uint64) for b in named]
        announced = sum(r.count for r in readers)
        written = _write(root / name, readers, remap, blocks, announced)
        if isinstance(written, SegmentMeta):
            return written
        # some (key, block) pairs were in two segments: the count is known now, once more
        again = _write(root / name, readers, remap, blocks, written)
        assert isinstance(again, SegmentMeta)
        return again
    finally:
        for reader in readers:
            reader.close()


def _write(
    path: Path, readers: list[SegmentReader], remap: list[Any], blocks: Any, count: int
) -> SegmentMeta | int:
    """The merged segment's row if exactly `count` postings came, else how many came
    (nothing is left behind then, nor when reading fails: no `.tmp`)."""
    writer = SegmentWriter(path, blocks, count)
    try:
        written = _stream(readers, remap, len(blocks), writer)
    except BaseException:
        writer.abort()
        raise
    if written != count:
        writer.abort()
        return written
    return writer.finish()


def _cuts(readers: list[SegmentReader]) -> list[int]:
    """Upper bounds (exclusive) of the key ranges, the last one past every 40-bit key."""
    import numpy as np

    firsts = np.sort(np.concatenate([np.frombuffer(r.firsts, dtype=np.uint64) for r in readers]))
    step = max(1, RANGE_POSTINGS // max(r.page_keys for r in readers))
    cuts = sorted({int(c) for c in firsts[step::step].tolist()})
    return [*cuts, 1 << KEY_BITS]


def _stream(readers: list[SegmentReader], remap: list[Any], n_blocks: int, writer: SegmentWriter) -> int:
    """Append the merged postings, range by range, to `writer`; how many were written."""
    import numpy as np

    read = [0] * len(readers)  # per segment: pages read so far
    carry: list[tuple[Any, Any, Any] | None] = [None] * len(readers)
    written = 0
    for cut in _cuts(readers):
        keys, refs, masks = [], [], []
        for s, reader in enumerate(readers):
            upto = bisect_left(reader.firsts, cut)  # pages that may hold keys below the cut
            held = carry[s]
            parts: list[tuple[Any, Any, Any]] = [held] if held is not None else []
            if upto > read[s]:
                k, r, m = reader.read_pages(read[s], upto)
                parts.append((k, remap[s][r], m))
                read[s] = upto
            carry[s] = None
            if not parts:
                continue
            k = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
            r = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
            m = parts[0][2] if len(parts) == 1 else np.concatenate([p[2] for p in parts])
            below = int(np.searchsorted(k, np.uint64(cut))) if cut < 1 << KEY_BITS else len(k)
            if below < len(k):  # the last page read reaches past the cut: keep its rest
                carry[s] = (k[below:], r[below:], m[below:])
            keys.append(k[:below])
            refs.append(r[:below])
            masks.append(m[:below])
        if keys:
            k, r, m = sorted_distinct(
                np.concatenate(keys), np.concatenate(refs), np.concatenate(masks), n_blocks
            )
            writer.append(k, r, m)
            written += len(k)
    return written
