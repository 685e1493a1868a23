"""`stats.columns`: a chunk of oslo access lines grouped in C gives exactly what the per-line parser gives.

The reference is `stats.access_infos`, the general per-line parser, over the same bytes
(as in tests/test_stats_bulk.py, whose recorded real access lines and odd lines are reused
here). The columnar path judges each *form* of a key (hex digits made `0`) once, so the
lines here are made to share forms while differing where it matters: names that are not
ids (`/flavors/abc` and `/flavors/def` have one form), upper-case UUIDs, keystone project
ids, ids in queries and fragments, a 32-digit run in the HTTP version, times of every
length. A chunk it cannot prove is refused (and then read the bulk or per-line way).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kansoku.tracing import stats
from kansoku.tracing.stats.columns import scan_columns
from kansoku.tracing.stats.scan import Groups
from tests.support.stats import assert_same, reference, scanned
from tests.test_stats_bulk import ODD, OSLO, _vary

HEAD = "2026-11-20 08:34:38.167 39233 INFO nova.api.openstack.requestlog [req-6d537633-2a30-44bf-b72c-4eeadb6c1775 u p - - default default] 10.0.0.1"


def _columns(data: bytes) -> Groups | None:
    """The groups of `data` read the columnar way, or None if it refused the chunk."""
    groups = Groups({}, {}, stats.access_infos)
    return groups if scan_columns(data, "svc", groups, len(data)) else None


def _same_as_per_line(tmp_path: Path, data: bytes) -> Groups | None:
    """The columnar groups of `data` (None if refused), checked against the per-line parser;
    whatever the columnar path decides, the whole scan gives the per-line result."""
    path = tmp_path / "api.log"
    path.write_bytes(data)
    ref = reference(str(path), "svc")
    got = _columns(data)
    if got is not None:
        assert_same(ref, got)
    assert_same(ref, scanned(str(path), "svc"))
    assert_same(ref, scanned(str(path), "svc", chunk_size=16 << 10))  # many chunks, cut mid-file
    return got


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_real_oslo_access_lines_equal_the_per_line_parser(tmp_path: Path, ending: str) -> None:
    """Thousands of recorded oslo access lines with fresh ids, lengths and times, and lines
    without a quote between them: taken in columns, and exactly as the per-line parser."""
    rnd = random.Random(7)
    quiet = [
        f"{HEAD} Instance status: ACTIVE, task_state: None",
        f"{HEAD} Fetched HTTP/1.1 headers",
        "",
        f"{HEAD} Rebuilding *all* instances \x02",  # the bytes found with quotes and newlines
    ]
    lines = [_vary(rnd.choice(OSLO), rnd) if rnd.random() < 0.9 else rnd.choice(quiet) for _ in range(6000)]
    got = _same_as_per_line(tmp_path, (ending.join(lines) + ending).encode())
    assert got is not None and got.lines > 5000 and len(got.counts) > 10


#: Requests that share key forms with each other but not always a route, or that put an id
#: where only its form says where it is.
REQUESTS = [
    "GET /v2.1/flavors/abc HTTP/1.1",
    "GET /v2.1/flavors/def HTTP/1.1",  # same form as abc, another name: another residue
    "GET /v2.1/flavors/bbbbbb HTTP/1.1",
    "GET /v2.1/flavors/detail HTTP/1.1",  # same form as bbbbbb: a static word, not a name
    "GET /v2.1/servers/{u} HTTP/1.1",
    "GET /v2.1/servers/{U} HTTP/1.1",  # an upper-case UUID
    "DELETE /v2.1/servers/{u}/os-interface/{u} HTTP/1.1",
    "GET /v3/{p}/volumes/detail HTTP/1.1",  # a keystone project id between slashes
    "GET /v3/{p} HTTP/1.1",
    "GET /v3/{p}",  # ... and last, with no HTTP version
    "GET /v2.0/ports?device_id={u} HTTP/1.1",  # ids in the query
    "GET /v2.0/ports?device_id={u}&name=ab#{p} HTTP/1.1",
    "GET /v2.0/ports#{u} HTTP/1.1",  # a fragment
    "HEAD /v2/images/{u}/file",
]
#: Ids that bulk's `_IDS` does not zero (a request id, a 32-digit run inside a segment):
#: every such key is a residue of its own, fine while they are a few.
RARE = ["GET /v2.1/servers/{u}/os-instance-actions/req-{u} HTTP/1.0", "GET /v3/{p}abc/x HTTP/1.1"]
TAILS = [
    "status: {s} len: {n} time: {t}",
    "status: {s}  len: {n} time: {t}",  # eventlet's two spaces
    "status: {s} len: {n} microversion: 2.79 time: {t}",
    "status: {s} len: {n} microversion: 1.36",  # no time
    "status: {s} len: - time: {t}",
    "status: {s} len: None time: {t}",
]


def _access_line(rnd: random.Random, request: str, tail: str) -> str:
    uuid = "-".join(f"{rnd.getrandbits(4 * k):0{k}x}" for k in (8, 4, 4, 4, 12))
    digits = rnd.choice([1, 3, 7, 16, 17, 25])
    took = f"{rnd.randrange(0, 40)}.{rnd.getrandbits(90) % 10**digits:0{digits}d}"
    if rnd.random() < 0.05:
        took = str(rnd.randrange(0, 9))  # a whole number of seconds
    request = request.format(u=uuid, U=uuid.upper(), p=f"{rnd.getrandbits(128):032x}")
    status = rnd.choice(["200", "200", "202", "404", "409", "500", "503"])
    return f'{HEAD} "{request}" ' + tail.format(s=status, n=rnd.randrange(0, 9999), t=took)


def _request(rnd: random.Random) -> str:
    return rnd.choice(RARE if rnd.random() < 0.01 else REQUESTS)


def test_shared_forms_ids_queries_and_times_equal_the_per_line_parser(tmp_path: Path) -> None:
    rnd = random.Random(13)
    lines = [_access_line(rnd, _request(rnd), rnd.choice(TAILS)) for _ in range(5000)]
    got = _same_as_per_line(tmp_path, ("\n".join(lines) + "\n").encode())
    assert got is not None
    routes = {(method, route) for _, method, route, _ in got.counts}
    assert ("GET", "/v2.1/flavors/detail") in routes and ("GET", "/v2.1/flavors/{id}") in routes
    assert ("GET", "/v3/{id}/volumes/detail") in routes and ("GET", "/v2.0/ports") in routes
    assert ("GET", "/v2.1/servers/{id}/os-instance-actions/{id}") in routes


def test_last_line_without_newline(tmp_path: Path) -> None:
    rnd = random.Random(17)
    lines = [_access_line(rnd, _request(rnd), rnd.choice(TAILS)) for _ in range(2000)]
    assert _same_as_per_line(tmp_path, "\n".join(lines).encode()) is not None


@pytest.mark.parametrize("odd", ODD, ids=range(len(ODD)))
def test_a_chunk_with_an_odd_line_is_refused(tmp_path: Path, odd: str) -> None:
    """bulk's odd lines (a quote in a message, a tab before the request, JSON, uWSGI...):
    the columnar path refuses the chunk, and the scan still gives the per-line result."""
    rnd = random.Random(11)
    lines = [_vary(rnd.choice(OSLO), rnd) for _ in range(3000)]
    lines.insert(1700, odd)
    assert _same_as_per_line(tmp_path, ("\n".join(lines) + "\n").encode()) is None


@pytest.mark.parametrize(
    "odd",
    [
        # a 32-digit run where the HTTP version is: its form looks like an id there, and a
        # key of that form with letters in it is not an access line at all
        f'{HEAD} "GET /x HTTP/{"1" * 32}" status: 200 len: 1 time: 0.1',
        f'{HEAD} "GET /x HTTP/{"a" * 32}" status: 200 len: 1 time: 0.1',
        # hex letters where the tail wants digits
        f'{HEAD} "GET /x HTTP/1.1" status: 2a0 len: 1 time: 0.1',
        f'{HEAD} "GET /x HTTP/1.1" status: 200 len: 1 time: 0.1e5',
        # the line goes on after the tail, or the request is empty
        f'{HEAD} "GET /x HTTP/1.1" status: 200 len: 1 time: 0.1 "x"',
        f'{HEAD} "GET " status: 200 len: 1 time: 0.1',
        f'{HEAD} "" status: 200 len: 1 time: 0.1',
    ],
)
def test_off_shape_keys_and_tails_are_refused(tmp_path: Path, odd: str) -> None:
    rnd = random.Random(19)
    lines = [_access_line(rnd, rnd.choice(REQUESTS), rnd.choice(TAILS)) for _ in range(500)]
    lines.insert(250, odd)
    assert _same_as_per_line(tmp_path, ("\n".join(lines) + "\n").encode()) is None


@pytest.mark.parametrize("name", ["vm-{letters}", "m1.x{digits}", "{hex}abc"])
def test_many_names_are_left_to_the_bulk_path(tmp_path: Path, name: str) -> None:
    """Paths that differ by names, not ids, make a form each (letters) or a residue each
    (digits; 32 hex digits that are not a whole segment): past one per 16 lines the columnar path refuses the chunk (a Python step for
    each would cost more than bulk's regex)."""
    rnd = random.Random(23)
    lines = []
    for _ in range(2000):
        letters = "".join(rnd.choice("ghijklmnopqrstuvwxyz") for _ in range(6))
        vm = name.format(letters=letters, digits=rnd.randrange(10**6), hex=f"{rnd.getrandbits(128):032x}")
        lines.append(_access_line(rnd, f"GET /v2.1/flavors/{vm} HTTP/1.1", TAILS[0]))
    assert _same_as_per_line(tmp_path, ("\n".join(lines) + "\n").encode()) is None


def test_no_quotes_no_access_lines() -> None:
    data = f"{HEAD} Instance status: ACTIVE\n{HEAD} HTTP/1.1 is fine\n".encode()
    got = _columns(data)
    assert got is not None and got.lines == 0 and not got.counts
