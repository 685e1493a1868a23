"""The fast paths of the index and the lookup give exactly the answers of the slow ones.

`chunk_scan` (numpy, one pass over a run of blocks) must find, per block, the same UUID keys and
newlines as `kansoku.ids.ID_TAIL_BYTES_RE.findall` / `bytes.count` on that block alone, and the
same suspicious newlines as `oslo_format.SUSPICIOUS_LINE_B.finditer`, the lookup's
bytes test of a record start the same verdict as parse's str functions, and the memoised
route templates the same routes as a fresh computation. Checked on a generated demo cloud
(text, JSON, access lines, tracebacks), the real recorded samples in tests/data, and
hand-made edge cases (odd headers, time zones, blank and CRLF lines, cut blocks).
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from kansoku.ids import ID_TAIL_BYTES_RE
from kansoku.tracing.index import scan as ix
from kansoku.tracing.ingest import oslo_format, routes
from kansoku.tracing.ingest.records import starts_record
from kansoku.tracing.segment import SLICE, SLICE_BITS, segment_key
from kansoku.tracing.sources import chunk as si
from kansoku.tracing.store import BLOCK_SIZE

DATA = Path(__file__).parent / "data"

EDGE_LINES = [
    b"2026-11-20 16:17:18.902+00:00 47522 INFO nova.api x y",
    b"2026-11-20T16:17:18,902Z 1 WARNING nova.x msg",
    b"2026-11-20 16:17:18.902.5 1 DEBUG a b",
    b"2026-11-20 16:17:18+0000 1 ERROR nova.x [req-1] boom",
    b"2026-11-20 16:17:18-00:0 1 ERROR nova.x",
    b"2026-11-20 16:17:18          1          INFO          x",
    b"2026-11-20 16:17:18.902 47522 info lower-case level",
    b"2026-11-20 16:17:18.902 47522 INFO \tx",
    b"2026-11-20 16:17:18.902 47522 INFO",
    b"2026-11-20 16:17:18.902 4752222222222222222222222222222222222 INFO long.pid",
    b"2026-11-20 16:17:18 Z 1 INFO x",
    b"2026-11-20 16:17:18Z 1 ZZZ x",
    b"2026-11-20 16:17:18.902 1 ERROR nova.x Traceback (most recent call last):",
    b"2026-11-20 16:17:18.902 1 ERROR nova.x [instance: 6f1c2d3e-1111-4222-8333-444455556666] x",
    b"2026-11-20 16:17:18.902 1 ERRORX nova.x y",
    b"Traceback (most recent call last):",
    b'  File "/usr/lib/python3/dist-packages/nova/x.py", line 1, in f',
    b'{"asctime": "2026-11-20 16:17:18.902", "message": "req-6f1c2d3e-1111-4222-8333-444455556666"}',
    b'{"message": "cut off',
    b"",
    b"\r",
    b'10.0.0.1 - - [20/Nov/2026:16:17:18 +0000] "GET /v2.1/servers HTTP/1.1" 200 12',
    b"req-6f1c2d3e-1111-4222-8333-444455556666 -aaaa-bbbb-cccc-dddddddddddd -AAAA-bbbb-cccc-dddddddddddd",
    b"x-aaaa-bbbb-cccc-ddddddddddd -aaaa-bbbb-cccc-ddddddddddddd-aaaa-bbbb-cccc-eeeeeeeeeeee",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Whole files: a small generated demo cloud plus the recorded samples."""
    from kansoku.tracing.demo.generate import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out, target_bytes=3_000_000)
    files = [p for p in sorted(out.rglob("*")) if p.is_file() and ".log" in p.name]
    files += [p for p in sorted(DATA.rglob("*")) if p.is_file() and p.suffix in (".log", ".txt", ".gz")]
    blobs = []
    for path in files:
        try:
            blobs.append(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes())
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
    assert sum(len(b) for b in blobs) > 2_000_000
    return blobs


def _ranges(data: bytes, size: int) -> Iterator[tuple[int, int]]:
    for pos in range(0, len(data), size):
        yield pos, min(len(data), pos + size)


def _want(buf: bytes, pos: int, end: int) -> dict[int, int]:
    """The regex's answer for one block: 40-bit segment key -> the slices its UUIDs start in."""
    want: dict[int, int] = {}
    for m in ID_TAIL_BYTES_RE.finditer(buf, pos, end):
        t = m.group(1)
        key = segment_key(int(t[:4] + t[5:], 16))
        want[key] = want.get(key, 0) | 1 << min((m.start() - pos) // SLICE, SLICE_BITS - 1)
    return want


def _check_chunk(buf: bytes, starts: list[int], end: int) -> None:
    """One scan of blocks [starts[i], starts[i + 1]) (the last up to `end`), checked block by block."""
    scan = ix.chunk_scan(buf, starts, end)
    ends = [*starts[1:], end]
    keys, masks, blocks = scan.keys.tolist(), scan.masks.tolist(), scan.blocks.tolist()
    got: list[dict[int, int]] = [{} for _ in starts]
    for key, mask, block in zip(keys, masks, blocks, strict=True):
        assert key not in got[block]  # one posting per (key, block)
        got[block][key] = mask
    for i, (pos, stop) in enumerate(zip(starts, ends, strict=True)):
        assert got[i] == _want(buf, pos, stop)
        assert scan.newlines(i) == buf.count(b"\n", pos, stop)
        want = [m.start() for m in oslo_format.SUSPICIOUS_LINE_B.finditer(buf, pos, stop)]
        assert scan.suspicious_in(i) == want
        closed = sum(1 for at in range(pos + 1, stop) if buf[at] == 10 and buf[at - 1] == 125)
        assert scan.closed(i) == closed


def _check_block(buf: bytes, pos: int, end: int) -> None:
    _check_chunk(buf, [pos], end)


def _line_cuts(rnd: random.Random, data: bytes, pos: int, end: int, parts: int) -> list[int]:
    """Block starts in [pos, end) after newlines, as the indexer cuts (random sizes)."""
    cuts = {pos}
    for _ in range(parts - 1):
        nl = data.find(b"\n", rnd.randrange(pos, end), end - 1)
        if nl != -1:
            cuts.add(nl + 1)
    return sorted(cuts)


def test_block_scan_matches_the_regexes_on_real_and_generated_logs(corpus: list[bytes]) -> None:
    blocks = 0
    for data in corpus:
        for pos, end in _ranges(data, BLOCK_SIZE):
            _check_block(data, pos, end)
            blocks += 1
    assert blocks > 20


def test_chunk_scan_over_many_blocks_answers_per_block(corpus: list[bytes]) -> None:
    """The indexer scans a whole read chunk at once: each block's answer is the block's own."""
    rnd = random.Random(5)
    chunks = 0
    for data in corpus:
        for pos, end in _ranges(data, 8 * BLOCK_SIZE):
            if data.rfind(b"\n", pos, end) != -1 and end < len(data):
                end = data.rfind(b"\n", pos, end) + 1  # a chunk ends after a newline
            _check_chunk(data, _line_cuts(rnd, data, pos, end, rnd.randrange(1, 12)), end)
            chunks += 1
    assert chunks > 5


def test_block_scan_matches_the_regexes_on_edge_cases() -> None:
    # a block that starts at the newline ending a JSON line of the bytes before it: that
    # newline closes nothing in its own block
    buf = b'{"message": "a"}\n\n{"message": "b"}\n'
    _check_chunk(buf, [buf.index(b"\n"), buf.index(b"\n") + 1], len(buf))
    rnd = random.Random(7)
    for _ in range(1500):
        lines = [rnd.choice(EDGE_LINES) for _ in range(rnd.randrange(1, 50))]
        buf = b"\n".join(lines) + rnd.choice([b"", b"\n", b"\r\n"])
        _check_block(buf, 0, len(buf))
        pad = b"y" * rnd.randrange(0, 60)
        whole = pad + b"\n" + buf + b"\nz" * rnd.randrange(0, 3)
        _check_block(whole, len(pad), len(pad) + 1 + len(buf))
        end = len(pad) + 1 + len(buf)
        _check_chunk(whole, _line_cuts(rnd, whole, len(pad), end, rnd.randrange(1, 6)), end)


def test_block_scan_matches_the_regexes_on_mutated_headers(corpus: list[bytes]) -> None:
    """Random single-byte edits near line starts: the DFA and the regex still agree."""
    rnd = random.Random(11)
    base = next(b for b in corpus if b[:4].isdigit())[:100_000].split(b"\n")[:80]
    alphabet = b"0123456789 .,:+-ZTAz\t\r{}\n[x"
    for _ in range(1500):
        lines = list(base)
        for _ in range(5):
            i = rnd.randrange(len(lines))
            line = bytearray(lines[i])
            if line:
                j = rnd.randrange(min(len(line), 50))
                op = rnd.random()
                if op < 0.5:
                    line[j] = rnd.choice(alphabet)
                elif op < 0.75:
                    line.insert(j, rnd.choice(alphabet))
                else:
                    del line[j]
            lines[i] = bytes(line)
        buf = b"\n".join(lines)
        _check_block(buf, 0, len(buf))


def _slow_definite_start(data: bytes, start: int) -> bool:
    nl = data.find(b"\n", start)
    line = data[start : nl if nl != -1 else len(data)].decode("utf-8", "replace").rstrip("\r")
    return starts_record(line) and not si.is_exception_prefix(line)


def test_record_start_bytes_fast_path_agrees_with_parse(corpus: list[bytes]) -> None:
    checked = 0
    for data in [*corpus, b"\n".join(EDGE_LINES)]:
        start = 0
        while start < len(data) and checked < 400_000:
            assert si.definite_start(data, start) == _slow_definite_start(data, start), data[
                start : start + 100
            ]
            checked += 1
            nl = data.find(b"\n", start)
            if nl == -1:
                break
            start = nl + 1
    assert checked > 10_000


def test_route_memo_gives_the_computed_route() -> None:
    paths = [
        "/v2.1/servers/6f1c2d3e-1111-4222-8333-444455556666/action?x=1",
        "/v2.1/servers/detail",
        "/v2.1/flavors/m1.small",
        "/v2.1/flavors/v2",
        "http://10.0.0.2:8774/v2.1/servers/abc",
        "/placement/resource_providers/6f1c2d3e-1111-4222-8333-444455556666/inventories",
        "/v3/auth/tokens",
        "",
        "?only=query",
    ]
    first = [routes.route_template(p) for p in paths]
    again = [routes.route_template(p) for p in paths]  # from the memo now
    assert first == again == [routes._route_template(p) for p in paths]
    assert first[0] == "/v2.1/servers/{id}/action"
    assert first[2] == "/v2.1/flavors/{id}"
    assert first[3] == "/v2.1/flavors/v2"  # a version word stays, even after a collection
    # the memo is bounded: filling it empties it, answers unchanged
    for i in range(routes._MEMO_MAX + 10):
        routes.route_template(f"/v2.1/os-keypairs/key{i}")
    assert len(routes._path_memo) <= routes._MEMO_MAX
    assert routes.route_template("/v2.1/os-keypairs/key3") == "/v2.1/os-keypairs/{id}"


def test_last_match_backwards_equals_the_last_of_finditer(corpus: list[bytes]) -> None:
    """Block ends and last timestamps: searching back from the end finds the same match."""
    rnd = random.Random(3)
    patterns = (
        (oslo_format.TEXT_TS_B, b"\n"),
        (oslo_format.JSON_TS_B, b'"asctime"'),
        (oslo_format.RECORD_START_B, b"\n"),
    )
    checked = 0
    for data in corpus:
        for _ in range(40):
            end = rnd.randrange(1, len(data) + 1)
            lo = max(0, end - rnd.choice([100, 8192, 16384, 65536]))
            for pattern, anchor in patterns:
                slow = ix.last_match(pattern, data, lo, end)
                fast = ix.last_match_back(pattern, anchor, data, lo, end)
                assert (slow is None) == (fast is None)
                if slow is not None and fast is not None:
                    assert slow.span() == fast.span()
                    checked += slow.group(0) == fast.group(0)
    assert checked > 100


def test_blocks_cut_from_each_chunk_are_those_of_carry_plus_chunk(
    corpus: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The indexer cuts blocks from the chunk it read without first copying the previous
    chunk's tail in front of it: the blocks are still those of `carry + chunk`."""
    from kansoku.tracing.index import build_index, indexer
    from kansoku.tracing.store import Store, load_block_table

    rnd = random.Random(9)
    data = b"".join(corpus)
    # a record longer than a block, and one line without a newline for most of a block
    data += b"2026-11-20 16:17:18.902 1 ERROR nova.x " + b"x" * (BLOCK_SIZE * 3 // 2) + b"\n"
    data += b"2026-11-20 16:17:18.902 1 INFO nova.x " + b"y" * (BLOCK_SIZE // 3) + b"\n" + data[:500_000]
    read_size = rnd.randrange(200_000, 400_000)
    monkeypatch.setattr(indexer, "READ_SIZE", read_size)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "nova-api.log.1").write_bytes(data)  # rotated: its last line is indexed too
    build_index([logs], tmp_path / "store")
    store = Store(tmp_path / "store")
    (entry,) = store.load().files
    got = load_block_table(store, entry)[0::2]

    want: list[int] = []
    carry, base = b"", 0
    for at in range(0, len(data), read_size):
        buf = carry + data[at : at + read_size]
        starts, stop = indexer.block_bounds(buf, False)
        want += [base + s for s in starts]
        base, carry = base + stop, buf[stop:]
    want += [base + s for s in indexer.block_bounds(carry, True)[0]]
    assert got == want
    assert entry.offset == len(data)
