"""A chunk's fast paths give the answers of the slow ones (tracing/sources/chunk.py).

Finding a trace's records in the blocks the index names was made cheaper (issue 14): lines
are counted with `_newlines` (memchr through `bytes.replace`, not `bytes.count`), from the
nearest known line number before *or after* a hit; a chunk may hold bytes read past its
last record (`end`) instead of being cut with a copy; the commonest one-line record is
found with one fused regex. Each is checked here against the plain computation on a
generated demo cloud, the recorded real samples in tests/data and hand-made edge lines.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kansoku.ids import ID_TAIL_BYTES_RE
from kansoku.tracing.ingest.records import iter_raw_records
from kansoku.tracing.sources import chunk as ch

DATA = Path(__file__).parent / "data"

EDGE = [
    b"2026-11-20 16:17:18.902 47522 INFO nova.api [req-6f1c2d3e-1111-4222-8333-444455556666 - - - - -] a",
    b"2026-11-20T16:17:18.902 47522 INFO nova.api [req-6f1c2d3e-1111-4222-8333-444455556666 - - - - -] iso",
    b"2026-11-20 16:17:18.902 1 ERROR nova.x [req-6f1c2d3e-1111-4222-8333-444455556666 - - - - -] boom",
    b"2026-11-20 16:17:18.902 1 ERROR nova.x Traceback (most recent call last):",
    b"2026-11-20 16:17:18.902 1 ERROR nova.x   raise X('req-6f1c2d3e-1111-4222-8333-444455556666')",
    b"2026-11-20 16:17:18.902 1 TRACE nova.x req-6f1c2d3e-1111-4222-8333-444455556666",
    b'{"message": "req-6f1c2d3e-1111-4222-8333-444455556666", "levelname": "INFO", "context": {}}',
    b"  continuation req-6f1c2d3e-1111-4222-8333-444455556666",
    b"",
    b"\r",
    b"\x00\x00\x002026-11-20 16:17:19.000 3 INFO nova.y [req-6f1c2d3e-1111-4222-8333-444455556666 - -] after NULs",
    b"2026-11-20 16:17:18.902 47522 INFO nova.api [req-6f1c2d3e-1111-4222-8333-444455556666 - - - - -] crlf\r",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Whole files: a small generated demo cloud, the recorded samples, shuffled edge lines."""
    from kansoku.tracing.demo.generate import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out, target_bytes=2_000_000, seed=14)
    files = [p for p in sorted(out.rglob("*.log*")) if not p.name.endswith(".gz")]
    files += [p for p in sorted(DATA.rglob("*")) if p.is_file() and p.suffix in (".log", ".txt")]
    texts = [p.read_bytes() for p in files]
    rng = random.Random(5)
    texts.append(b"\n".join(rng.choice(EDGE) for _ in range(3000)) + b"\n")
    return [t for t in texts if t]


def test_newlines_counts_what_bytes_count_counts() -> None:
    rng = random.Random(1)
    data = bytes(rng.choice(b"ab\n") if rng.random() < 0.01 else rng.choice(b"xyz ") for _ in range(300_000))
    for start, end in [(0, 0), (0, 1), (5, 2047), (5, 2048), (0, 65536), (1, 65537), (0, len(data))] + [
        tuple(sorted(rng.randrange(len(data) + 1) for _ in range(2))) for _ in range(300)
    ]:
        assert ch._newlines(data, start, end) == data.count(b"\n", start, end)


def _slow_records(data: bytes, line_no: int, offset: int) -> dict[int, tuple[int, str, int]]:
    """Every record of the chunk by its start: (line number, text, end), the plain way."""
    recs = list(iter_raw_records(ch._lines_from(data, 0, len(data)), line_no, offset))
    out = {}
    for i, (n, off, raw) in enumerate(recs):
        end = recs[i + 1][1] - offset if i + 1 < len(recs) else len(data)
        out[off - offset] = (n, raw, end)
    return out


def test_records_with_finds_what_grouping_the_whole_chunk_finds(corpus: list[bytes]) -> None:
    """For every id in a chunk, in any order of asking, with line marks known before and
    after (the next block's start) and with unused bytes past the chunk's end: the records
    `records_with` gives are the ones `iter_raw_records` gives for the whole chunk."""
    rng = random.Random(7)
    checked = 0
    for text in corpus:
        for _ in range(3):
            lo = text.find(b"\n", rng.randrange(max(1, len(text) - 1))) + 1
            hi = min(len(text), lo + rng.choice((3000, 40_000, 140_000)))
            hi = text.rfind(b"\n", lo, hi) + 1 if text.rfind(b"\n", lo, hi) != -1 else hi
            if hi - lo < 200:
                continue
            chunk_bytes = text[lo:hi]
            line_no = text.count(b"\n", 0, lo) + 1
            mid = chunk_bytes.find(b"\n", len(chunk_bytes) // 2) + 1
            known = (mid, line_no + chunk_bytes.count(b"\n", 0, mid)) if mid else None
            slack = text[hi : hi + rng.choice((0, 100, 9000))]  # bytes read past the end
            chunk = ch.Chunk(chunk_bytes + slack, line_no, lo, 0, len(chunk_bytes), known)
            slow = _slow_records(chunk_bytes, line_no, lo)
            tails = {m.group(1) for m in ID_TAIL_BYTES_RE.finditer(chunk_bytes)}
            for tail in rng.sample(sorted(tails), min(len(tails), 40)):
                got = chunk.records_with(tail)
                want = sorted(
                    (n, lo + start, raw, end)
                    for start, (n, raw, end) in slow.items()
                    if tail in chunk_bytes[start:end]
                )
                assert len(set(got)) == len(got) and sorted(got) == want, (tail, got[:3], want[:3])
                checked += len(want)
    assert checked > 2000
