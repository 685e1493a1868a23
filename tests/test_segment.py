"""Index segments (format 3): 40-bit keys, postings as indexes into the segment's block list.

What must hold whatever the encoding: every posting written is found again, two ids whose
short keys collide never give a wrong line, a segment naming more blocks than a u16 can
index still answers, a store of the previous format is named with the way out, and the
encoding stays about 7 bytes a posting (the point of the format: issue 14's index size).
"""

from __future__ import annotations

import json
import random
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest

from kansoku.errors import KansokuError
from kansoku.tracing.durable import StoreDamaged
from kansoku.tracing.index import build_index, id_key
from kansoku.tracing.segment import (
    FAST_CRC_KEYS,
    KEY_BITS,
    PAGE_KEYS,
    SegmentReader,
    fast_crc32,
    lookup,
    segment_key,
    segment_keys,
    write_segment,
)
from kansoku.tracing.sources.index import IndexSource

_MIX_INVERSE = pow(0x9E3779B97F4A7C15, -1, 1 << 64)


def _colliding_keys(short: int) -> tuple[int, int]:
    """Two different 64-bit id keys with the same 40-bit segment key."""
    keys = tuple((((short << (64 - KEY_BITS)) | r) * _MIX_INVERSE) % (1 << 64) for r in (1, 2))
    assert keys[0] != keys[1] and {segment_key(k) for k in keys} == {short}
    return keys[0], keys[1]


def _uuid_with_key(key: int, rng: random.Random) -> str:
    tail = f"{key:016x}"
    return f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-{tail[:4]}-{tail[4:]}"


def test_scalar_and_vector_keys_agree_and_fit_40_bits() -> None:
    rng = random.Random(1)
    keys = [rng.getrandbits(64) for _ in range(1000)] + [0, (1 << 64) - 1]
    vec = segment_keys(np.array(keys, dtype=np.uint64)).tolist()
    assert vec == [segment_key(k) for k in keys]
    assert max(vec) < 1 << KEY_BITS


@pytest.mark.parametrize("blocks", [300, 70_000])  # u16 postings, then u32 past 65,536 blocks
def test_every_posting_written_is_found(tmp_path: Path, blocks: int) -> None:
    rng = np.random.default_rng(2)
    n = 200_000
    k64 = rng.integers(0, 1 << 63, size=n // 2, dtype=np.uint64)
    k64 = np.concatenate((k64, k64[: n // 4]))  # a quarter of the keys in two blocks
    files = rng.integers(1, 40, size=len(k64), dtype=np.uint64)
    block_no = rng.integers(0, blocks, size=len(k64), dtype=np.uint64)
    posts = (files << np.uint64(32)) | block_no
    masks = np.left_shift(1, rng.integers(0, 16, size=len(k64))).astype(np.uint64)
    # the same (key, block) twice with other slices: one posting, the union of the slices
    k64, posts = np.concatenate((k64, k64[:500])), np.concatenate((posts, posts[:500]))
    masks = np.concatenate((masks, np.left_shift(1, rng.integers(0, 16, size=500)).astype(np.uint64)))
    blocks_list, refs = np.unique(posts, return_inverse=True)
    meta = write_segment(tmp_path / "seg-000001.idx", segment_keys(k64), refs, blocks_list, masks)
    per_posting = 9.1 if blocks <= 1 << 16 else 11.1  # u16 block indexes, else u32
    assert meta.size <= 48 + 8 * len(np.unique(posts)) + per_posting * meta.count + 24 * (
        meta.count // 8192 + 2
    )
    assert meta.files == sorted(set(files.tolist()))
    reader = SegmentReader(tmp_path / "seg-000001.idx", meta)
    try:
        # a (key, block) given twice is one posting with the union of its slices
        expect: dict[int, dict[int, dict[int, int]]] = {}
        for k, p, m in zip(k64.tolist(), posts.tolist(), masks.tolist(), strict=True):
            in_block = expect.setdefault(p >> 32, {}).setdefault(p & 0xFFFFFFFF, {})
            in_block[k] = in_block.get(k, 0) | m
        sample = set(sorted(set(k64.tolist()))[::97])
        got = lookup([reader], sample)
        want: dict[int, dict[int, dict[int, int]]] = {}
        for f, by_block in expect.items():
            for b, ks in by_block.items():
                if hit := {k: m for k, m in ks.items() if k in sample}:
                    want.setdefault(f, {})[b] = hit
        assert got == want
        keys, back, listed, got_masks = reader.arrays()  # what a merge reads: sorted, merged
        assert listed.tolist() == blocks_list.tolist()
        merged: dict[tuple[int, int], int] = {}
        for k, p, m in zip(segment_keys(k64).tolist(), posts.tolist(), masks.tolist(), strict=True):
            merged[(k, p)] = merged.get((k, p), 0) | m
        assert list(zip(keys.tolist(), listed[back].tolist(), got_masks.tolist(), strict=True)) == [
            (k, p, m) for (k, p), m in sorted(merged.items())
        ]
    finally:
        reader.close()


def test_ids_whose_short_keys_collide_never_give_a_wrong_line(tmp_path: Path) -> None:
    """A 40-bit collision costs a block read; the block's text decides, so each id gets
    only its own lines (lookups of both at once included)."""
    rng = random.Random(3)
    ka, kb = _colliding_keys(0x12_3456_789A)
    a, b = _uuid_with_key(ka, rng), _uuid_with_key(kb, rng)
    assert id_key(a) == ka and id_key(b) == kb
    logs = tmp_path / "logs" / "cmp-1"
    logs.mkdir(parents=True)
    ctx = "[None {} 0f4e3d2c1b0a49586776655443322110 5a6b7c8d9e0f41a2b3c4d5e6f7a8b9c0 - default default]"
    (logs / "nova-compute.log").write_text(
        f"2026-11-20 10:00:00.001 1901 INFO nova.compute.manager {ctx.format('req-' + a)} one\n"
        f"2026-11-20 10:00:00.002 1901 INFO nova.compute.manager {ctx.format('req-' + str(uuid.UUID(int=5)))} x\n"
    )
    (logs / "nova-api.log").write_text(
        f"2026-11-20 10:00:00.003 1902 INFO nova.api.openstack {ctx.format('req-' + b)} two\n"
    )
    build_index([tmp_path / "logs"], tmp_path / "st")
    source = IndexSource(tmp_path / "st")
    assert [(x.service, x.line_no) for x in source.lines_for([f"req-{a}"])] == [("nova-compute", 1)]
    assert [(x.service, x.line_no) for x in source.lines_for([f"req-{b}"])] == [("nova-api", 1)]
    both = sorted((x.service, x.line_no) for x in source.lines_for([f"req-{a}", f"req-{b}"]))
    assert both == [("nova-api", 1), ("nova-compute", 1)]


def test_a_store_of_the_previous_format_is_named_with_the_way_out(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "h"
    logs.mkdir(parents=True)
    rid = f"req-{uuid.UUID(int=7)}"
    ctx = f"[None {rid} u p - default default]"
    (logs / "glance-api.log").write_text(f"2026-11-20 10:00:00.001 77 INFO glance.api {ctx} hello\n")
    build_index([tmp_path / "logs"], tmp_path / "st")
    manifest = tmp_path / "st" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["version"] = 2  # a store written by the release before 7-byte postings
    manifest.write_text(json.dumps(data))
    with pytest.raises(KansokuError, match=r"index format 2 \(this kansoku reads 3\).*--repair"):
        IndexSource(tmp_path / "st")
    report = build_index([tmp_path / "logs"], tmp_path / "st", repair=True)
    assert report.repaired
    assert [x.line_no for x in IndexSource(tmp_path / "st").lines_for([rid])] == [1]


def test_every_occurrence_is_found_whatever_slice_of_the_block_it_sits_in(tmp_path: Path) -> None:
    """A lookup searches only the 8 KiB slices a posting names: an id at any offset (slice
    boundaries, UUIDs straddling them, the end of a long block, a traceback continuation
    line) is still found, exactly where grep finds it."""
    rng = random.Random(9)
    wanted = [f"req-{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(6)]
    lines = []
    for i in range(9000):
        pad = "x" * rng.randrange(0, 400)
        rid = (
            rng.choice(wanted)
            if rng.random() < 0.08
            else f"req-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        )
        ctx = f"[None {rid} u p - default default]"
        lines.append(f"2026-11-20 10:00:{i % 60:02d}.{i % 1000:03d} 77 INFO nova.api.openstack {ctx} {pad}\n")
        if rng.random() < 0.02:  # a continuation line naming an id (a traceback's remote call)
            lines.append(f"  raise Exception('callee {rng.choice(wanted)} said no')\n")
        if i == 4000:  # one record longer than a block: the next block starts inside it
            lines.append(
                f"2026-11-20 10:01:00.000 77 ERROR nova.api.openstack [None {wanted[0]} u p - - -] boom\n"
            )
            lines += [f"  File 'x.py', line {j}, in f{'y' * rng.randrange(0, 200)}\n" for j in range(1500)]
            lines.append(f"  callee {wanted[1]} failed\n")
    text = "".join(lines)
    logs = tmp_path / "logs" / "h"
    logs.mkdir(parents=True)
    (logs / "nova-api.log").write_text(text)
    build_index([tmp_path / "logs"], tmp_path / "st")
    source = IndexSource(tmp_path / "st")
    for rid in wanted:
        expect = sorted(
            {n for n, line in enumerate(text.splitlines(), 1) if rid in line and line.startswith("2026")}
        )
        got = [x.line_no for x in source.lines_for([rid])]
        assert len(expect) > 30 and got == sorted(got)
        # a continuation line belongs to the record above it: that record's line is reported
        cont, head = set(), 0
        for n, line in enumerate(text.splitlines(), 1):
            if line.startswith("2026"):
                head = n
            elif rid in line:
                cont.add(head)
        assert set(got) == set(expect) | cont


@pytest.mark.parametrize("n_keys", [1, FAST_CRC_KEYS + 30])  # zlib's CRC32, then ISA-L's
def test_a_flipped_byte_in_a_page_is_named_whichever_crc_checks_it(tmp_path: Path, n_keys: int) -> None:
    """A lookup of many ids checks its pages with ISA-L's CRC32 (`fast_crc32`), of few with
    zlib's: the same values, so a damaged page is named either way, never a wrong block."""
    assert fast_crc32()(b"kansoku" * 999) == zlib.crc32(b"kansoku" * 999)
    rng = np.random.default_rng(5)
    k64 = np.unique(rng.integers(0, 1 << 63, size=3 * PAGE_KEYS, dtype=np.uint64))
    short = segment_keys(k64)
    blocks = np.arange(1, 41, dtype=np.uint64) | np.uint64(7 << 32)
    refs = rng.integers(0, len(blocks), size=len(k64), dtype=np.uint64)
    path = tmp_path / "seg-000001.idx"
    meta = write_segment(path, short, refs, blocks, np.ones(len(k64), dtype=np.uint64))
    order = np.argsort(short)
    in_page_1 = [int(k) for k in k64[order][PAGE_KEYS + 10 : PAGE_KEYS + 10 + n_keys]]
    reader = SegmentReader(path, meta)
    try:
        assert sum(len(b) for f in lookup([reader], in_page_1).values() for b in f.values()) == n_keys
    finally:
        reader.close()
    data = bytearray(path.read_bytes())
    data[48 + 8 * len(blocks) + 4 * (PAGE_KEYS + 20)] ^= 0x10  # a key of page 1
    path.write_bytes(bytes(data))
    reader = SegmentReader(path, meta)
    try:
        with pytest.raises(StoreDamaged, match=r"page 1 fails its checksum"):
            lookup([reader], in_page_1)
    finally:
        reader.close()
