"""Segment merges: at most `MAX_SEGMENTS` segments after a build, in bounded memory, same answers.

A 10 GB corpus left 27 segments (each merge was bounded by loading its inputs whole, and
one merge ran per build) and the merge's peak resident memory was 1.8 GB (issue 14). The
merge now streams through its inputs one key range at a time and rounds go on until at
most `MAX_SEGMENTS` remain. Here the sizes are scaled down (small flushes, pages and
ranges) so the demo cloud makes dozens of segments and many ranges.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kansoku.tracing.index.merge as merge_mod
import kansoku.tracing.index.postings as postings
import kansoku.tracing.segment as segment
from kansoku.tracing.demo.generate import generate
from kansoku.tracing.index import build_index
from kansoku.tracing.segment import SegmentMeta, SegmentReader, SegmentWriter, segment_keys, write_segment
from kansoku.tracing.store import Store
from kansoku.tracing.store_check import verify_store
from tests.index_oracle import answers, differences, probe_ids


def test_many_small_segments_are_merged_down_to_max_segments_one_range_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    generate(logs, seed=1414)
    clean = tmp_path / "clean"
    build_index([logs], clean)  # default sizes: one segment, no merge
    monkeypatch.setattr(postings, "FLUSH_POSTINGS", 600)
    monkeypatch.setattr(postings, "MAX_SEGMENTS", 3)
    monkeypatch.setattr(postings, "MERGE_FAN_IN", 8)
    monkeypatch.setattr(segment, "PAGE_KEYS", 64)
    monkeypatch.setattr(merge_mod, "RANGE_POSTINGS", 512)
    pieces: list[int] = []
    real_append = SegmentWriter.append

    def append(self: SegmentWriter, k: Any, refs: Any, masks: Any) -> None:
        pieces.append(len(k))
        real_append(self, k, refs, masks)

    monkeypatch.setattr(SegmentWriter, "append", append)
    merges: list[int] = []
    real_merge = merge_mod.merge

    def counting_merge(root: Path, chosen: list[SegmentMeta], name: str) -> SegmentMeta:
        merges.append(len(chosen))
        return real_merge(root, chosen, name)

    monkeypatch.setattr(merge_mod, "merge", counting_merge)
    store = tmp_path / "st"
    report = build_index([logs], store)
    manifest = Store(store).load()
    assert len(manifest.segments) <= 3
    assert sorted(p.name for p in store.glob("seg-*.idx")) == sorted(s.name for s in manifest.segments)
    assert not list(store.glob("*.tmp"))
    assert sum(s.count for s in manifest.segments) == report.postings  # nothing lost, nothing twice
    # several rounds of at most MERGE_FAN_IN segments, each streamed in many small ranges:
    # a range holds the pages whose first key falls in it (512 / 64 = 8) plus one carried
    # page per merged segment, never the merged segments whole
    assert len(merges) >= 2 and max(merges) <= 8, merges
    bound = (512 // 64 + 8) * 64
    assert len(pieces) > 5 * len(merges)
    assert max(pieces) <= bound < max(s.count for s in manifest.segments) // 4, (
        max(pieces),
        manifest.segments,
    )
    ids, faults = probe_ids(logs)
    assert differences(answers(store, ids, faults), answers(clean, ids, faults)) == []
    assert verify_store(store) == []


def _random_segment(path: Path, rng: np.random.Generator, n: int, blocks: Any, keys: Any) -> SegmentMeta:
    chosen = rng.choice(blocks, n)
    listed, refs = np.unique(chosen, return_inverse=True)
    return write_segment(
        path,
        segment_keys(rng.choice(keys, n)),
        refs.reshape(-1),
        listed,
        rng.integers(1, 1 << 16, n, dtype=np.uint64).astype(np.uint16),
    )


@pytest.mark.parametrize("n_blocks", [900, 70_000])  # u16 and u32 block indexes
def test_a_streamed_merge_writes_what_write_segment_writes_for_all_postings_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n_blocks: int
) -> None:
    """Byte for byte, including (key, block) pairs named by two segments (one posting with the
    union of their slices: the count is known only at the end, so the merge writes twice)
    and keys repeated across segments and pages."""
    monkeypatch.setattr(segment, "PAGE_KEYS", 128)
    monkeypatch.setattr(merge_mod, "RANGE_POSTINGS", 1000)
    rng = np.random.default_rng(14)
    blocks = np.sort(rng.choice(np.arange(1 << 20, dtype=np.uint64), n_blocks, replace=False)) + (
        np.uint64(3) << np.uint64(32)
    )
    keys = rng.integers(0, 1 << 62, 3000, dtype=np.uint64)  # few keys: many repeats
    metas = [
        _random_segment(tmp_path / f"seg-{i}.idx", rng, n, blocks, keys)
        for i, n in enumerate((5000, 2500, 777))
    ]
    merged = merge_mod.merge(tmp_path, metas, "merged.idx")
    parts = []
    for meta in metas:
        reader = SegmentReader(tmp_path / meta.name, meta)
        parts.append(reader.arrays())
        reader.close()
    every = np.unique(np.concatenate([p[2] for p in parts]))
    at_once = write_segment(
        tmp_path / "at-once.idx",
        np.concatenate([p[0] for p in parts]),
        np.concatenate([np.searchsorted(every, p[2])[p[1]] for p in parts]),
        every,
        np.concatenate([p[3] for p in parts]),
    )
    assert merged.count < sum(m.count for m in metas)  # pairs in two segments became one
    assert (tmp_path / "merged.idx").read_bytes() == (tmp_path / "at-once.idx").read_bytes()
    assert (merged.size, merged.count, merged.crc, merged.files) == (
        at_once.size,
        at_once.count,
        at_once.crc,
        at_once.files,
    )
    assert not list(tmp_path.glob("*.tmp"))
    reader = SegmentReader(tmp_path / "merged.idx", merged)
    reader.verify()
    key = int(segment_keys(np.asarray([keys[random.Random(1).randrange(len(keys))]]))[0])
    assert reader.postings(key)
    reader.close()


def test_a_damaged_page_stops_the_merge_and_leaves_no_segment(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    blocks = np.arange(1000, dtype=np.uint64)
    keys = rng.integers(0, 1 << 62, 50_000, dtype=np.uint64)
    metas = [_random_segment(tmp_path / f"seg-{i}.idx", rng, 20_000, blocks, keys) for i in range(2)]
    path = tmp_path / metas[1].name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the arrays: the page table still checks out
    path.write_bytes(bytes(data))
    with pytest.raises(segment.StoreDamaged, match="fails its checksum"):
        merge_mod.merge(tmp_path, metas, "merged.idx")
    assert not (tmp_path / "merged.idx").exists()
    assert not list(tmp_path.glob("*.tmp"))
