"""Postings (id key -> file and block) buffered in memory and written as sorted segments; merges."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from kansoku.ids import ID_TAIL_BYTES_RE
from kansoku.tracing.index.scan import last_match
from kansoku.tracing.segment import write_segment
from kansoku.tracing.store import Manifest, Store

FLUSH_POSTINGS = 2_000_000


MAX_SEGMENTS = 8
#: segments merged in one round at most (each holds one page in memory during the merge)
MERGE_FAN_IN = 64


def id_key(text: str | bytes) -> int | None:
    """The 64-bit key of an id containing a UUID (`req-<uuid>` or `<uuid>`), else None."""
    raw = text.encode() if isinstance(text, str) else text
    m = last_match(ID_TAIL_BYTES_RE, raw.lower(), 0, len(raw))
    if m is None:
        return None
    tail = m.group(1)
    return int(tail[:4] + tail[5:], 16)


class Postings:
    """Buffered postings, flushed as sorted immutable segments (bounded memory).

    Per read chunk the postings arrive as numpy arrays (`chunk_scan`): 40-bit keys, slice
    masks and the index of each one's block among the chunk's blocks, with the blocks'
    values (`file_id << 32 | block number`); the arrays are joined and sorted only at flush
    time.
    """

    def __init__(self, store: Store, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self.parts: list[Any] = []
        self.masks: list[Any] = []
        self.refs: list[Any] = []
        self.posts: array[int] = array("Q")  # the blocks named since the last flush, in order
        self.pending = 0
        self.total = 0
        self.flushed = 0  # segments written since the last commit

    def add(self, keys: Any, masks: Any, blocks: Any, posts: Sequence[int]) -> None:
        """Postings of a run of blocks: `blocks` indexes `posts`, the run's block values.

        A segment is flushed right after the block whose postings reach FLUSH_POSTINGS, as
        when blocks came one by one: the segments do not depend on how blocks are grouped
        for scanning.
        """
        n = len(keys)
        if n and self.pending + n >= FLUSH_POSTINGS:
            import numpy as np

            reach = np.cumsum(np.bincount(blocks, minlength=len(posts))) + self.pending
            last = int(np.searchsorted(reach, FLUSH_POSTINGS))  # the block that fills the segment
            if last + 1 < len(posts):
                first = blocks <= last
                self._add(keys[first], masks[first], blocks[first], posts[: last + 1])
                self.flush()
                rest = ~first
                self.add(keys[rest], masks[rest], blocks[rest] - (last + 1), posts[last + 1 :])
                return
        self._add(keys, masks, blocks, posts)
        if self.pending >= FLUSH_POSTINGS:
            self.flush()

    def _add(self, keys: Any, masks: Any, blocks: Any, posts: Sequence[int]) -> None:
        n = len(keys)
        if n:
            self.parts.append(keys)
            self.masks.append(masks)
            self.refs.append(blocks + len(self.posts))
        self.posts.extend(posts)
        self.pending += n
        self.total += n

    def flush(self) -> None:
        if not self.pending:
            self.posts = array("Q")
            return
        import numpy as np

        # the segment's block list: the distinct values of the blocks its postings name
        refs = np.concatenate(self.refs)
        named = np.zeros(len(self.posts), dtype=bool)
        named[refs] = True
        which = np.flatnonzero(named)
        blocks, index = np.unique(np.frombuffer(self.posts, dtype=np.uint64)[which], return_inverse=True)
        to_block = np.zeros(len(self.posts), dtype=np.intp)
        to_block[which] = index.reshape(-1)
        name = f"seg-{self.manifest.next_segment:06d}.idx"
        self.manifest.next_segment += 1
        keys = np.concatenate(self.parts)
        masks = np.concatenate(self.masks)
        self.manifest.segments.append(
            write_segment(self.store.root / name, keys, to_block.take(refs), blocks, masks)
        )
        self.flushed += 1
        self.parts = []
        self.masks = []
        self.refs = []
        self.posts = array("Q")
        self.pending = 0


def merge_segments(store: Store, manifest: Manifest) -> list[str]:
    """Merge the smallest segments until at most `MAX_SEGMENTS` remain (a tiered policy).

    Every lookup probes every segment, so their number bounds a lookup's cost: a 10 GB
    corpus left 27 (each merge was bounded by loading its inputs whole). Each round merges
    the smallest segments, as many as needed to get down to `MAX_SEGMENTS` (at most
    `MERGE_FAN_IN` at once), streaming (`merge.merge`: memory is one key range, not the
    inputs); the big segments earlier runs merged are rewritten only when they are among
    the smallest. Returns the names of the segments merged away. They are deleted only
    after the manifest that no longer names them is committed: until then the last
    committed manifest still needs them (a failed commit here must not brick the store).
    """
    from kansoku.tracing.index.merge import merge  # looked up per call: tests wrap it

    gone: list[str] = []
    while len(manifest.segments) > MAX_SEGMENTS:
        metas = sorted(manifest.segments, key=lambda m: (m.size, m.name))
        chosen = metas[: min(MERGE_FAN_IN, len(metas) - MAX_SEGMENTS + 1)]
        if len(chosen) < 2:  # MAX_SEGMENTS or MERGE_FAN_IN below 2: nothing a merge can do
            break
        name = f"seg-{manifest.next_segment:06d}.idx"
        manifest.next_segment += 1
        merged = merge(store.root, chosen, name)
        names = {m.name for m in chosen}
        manifest.segments = [s for s in manifest.segments if s.name not in names] + [merged]
        gone += sorted(names)
    return gone
