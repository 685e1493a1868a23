"""`stats.bulk`: a chunk of access lines grouped in bulk gives exactly what the per-line parser gives.

The reference is `stats.access_infos`, the general per-line parser, over the same bytes. Real
access lines are taken from the recorded logs in tests/data (oslo.service/eventlet
`status: 200  len: 1834 time: 0.04`, nova and placement requestlog with microversions,
neutron's eventlet combined form, Apache combined with `%D(us)`, uWSGI under journald) and
made into many lines by swapping their ids, lengths and times. A chunk the bulk path takes
must give the same groups, counts, durations (values and order) and first-seen order; a
chunk with any line it cannot prove (a quote inside a message, a JSON record, a uWSGI
line, a client cut by a tab...) must be refused and then read the per-line way.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from kansoku.tracing import stats
from kansoku.tracing.ingest.routes import route_template
from kansoku.tracing.stats.bulk import _IDS, _ZERO, scan_bulk
from kansoku.tracing.stats.scan import Groups, scan_chunk
from tests.support.stats import assert_same, reference, scanned

DATA = Path(__file__).parent / "data"
#: Recorded logs with access lines in them (see the READMEs next to them for their sources).
SOURCES = [
    "real-openstack/nova-api.log",
    "real-openstack/placement.log",
    "real-openstack-create/nova-api.log",
    "real-openstack-create/placement.log",
    "rdo-juno/hp-ms-01-c29/var/log/nova/nova-api.log",
    "oslo/ctl-1/placement/placement-api.log",
    "devstack/leg-004/logs/screen-n-api.txt",
]
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX32 = re.compile(r"(?<![0-9a-f-])[0-9a-f]{32}(?![0-9a-f-])")


def _real_access_lines() -> list[str]:
    found: list[str] = []
    for name in SOURCES:
        for line in (DATA / name).read_text(encoding="utf-8", errors="replace").splitlines():
            if "status: " in line or "HTTP/1." in line or "=> generated" in line:
                found.append(line)
    for path in sorted((DATA / "oslo").rglob("*.log")):  # Apache combined, %D(us)
        found += [line for line in path.read_text().splitlines() if '" 20' in line or '" 40' in line]
    return found


REAL = _real_access_lines()
#: The oslo.service / requestlog lines among them: what the bulk path reads.
OSLO = [line for line in REAL if re.search(r'[!-~] "[A-Z]+ \S+(?: HTTP/[\d.]+)?" status: ', line)]
#: eventlet.wsgi's own format writes two spaces before `len:` (`status: 200  len: 1834`)
OSLO += [line.replace(" len: ", "  len: ") for line in OSLO if "time: " in line]


def _vary(line: str, rnd: random.Random) -> str:
    """The same line with fresh ids, length and time (what the next request would log)."""
    line = _UUID.sub(
        lambda _: (
            f"{rnd.getrandbits(128):032x}"[:8]
            + "-"
            + str(rnd.randrange(1000, 9999))
            + "-4a1b-8c2d-"
            + f"{rnd.getrandbits(48):012x}"
        ),
        line,
    )
    line = _HEX32.sub(lambda _: f"{rnd.getrandbits(128):032x}", line)
    line = re.sub(r"len: \d+", f"len: {rnd.randrange(0, 99999)}", line)
    return re.sub(r"time: [\d.]+", f"time: {rnd.random() * 3:.7f}", line)


def _reference(path: Path) -> stats.StatsInput:
    return reference(str(path), "svc")


def _scanned(path: Path, chunk_size: int = 8 << 20) -> Groups:
    return scanned(str(path), "svc", chunk_size)


def _bulk(data: bytes) -> Groups | None:
    """The groups of `data` read in bulk, or None if the bulk path refused it."""
    groups = Groups({}, {}, stats.access_infos)
    return groups if scan_bulk(data, "svc", groups, len(data)) else None


def test_the_recorded_logs_hold_every_format() -> None:
    assert len(OSLO) >= 40
    assert any("microversion: " in line for line in OSLO) and any("  len: " in line for line in OSLO)
    assert any("=> generated" in line for line in REAL)  # uWSGI
    assert any(re.search(r'" \d{3} \d+ "', line) for line in REAL)  # Apache combined
    assert any("(us)" in line for line in REAL)


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_oslo_access_lines_in_bulk_equal_the_per_line_parser(tmp_path: Path, ending: str) -> None:
    """Thousands of real oslo access lines with fresh ids, plus lines with no quote at all
    (`status: ` in plain messages too): read in bulk, and exactly as the per-line parser."""
    rnd = random.Random(7)
    head = "2026-11-20 08:34:38.167 39233 INFO nova.compute.manager [None req-6d537633-2a30-44bf-b72c-4eeadb6c1775 u p - - default default]"
    quiet = [
        f"{head} Instance status: ACTIVE, task_state: None",
        f"{head} Took 2.31 seconds to spawn the instance on the hypervisor. status: 200 len: 5 time: 1.0",
        f"{head} Fetched HTTP/1.1 headers => fine",
        "",
    ]
    lines = [_vary(rnd.choice(OSLO), rnd) if rnd.random() < 0.9 else rnd.choice(quiet) for _ in range(6000)]
    path = tmp_path / "api.log"
    path.write_bytes(ending.join(lines).encode() + ending.encode())
    data = path.read_bytes()
    assert _bulk(data) is not None  # the bulk path takes this chunk
    ref = _reference(path)
    assert ref.lines > 5000 and len(ref.counts) > 10
    assert_same(ref, _scanned(path))
    assert_same(ref, _scanned(path, chunk_size=64 << 10))  # many chunks, cut mid-file


#: Lines the bulk path cannot prove: each, inside a chunk of oslo lines, makes it refuse
#: the chunk, and the per-line path then gives what it gives (counted or not).
ODD = [
    # a quote inside a message: must not count, and no `status: ` of its own
    '2026-11-20 08:34:38.167 1 WARNING nova.compute.manager [-] Instance "web-1" status: ERROR',
    # a status-looking text inside a message, after another quote
    '2026-11-20 08:34:38.167 1 INFO nova.api [-] Client said "retry" then 10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: 0.1',
    # two spaces, a tab, a non-breaking space between the client and the request
    '2026-11-20 08:34:38.167 1 INFO nova.api [-] 10.0.0.1  "GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: 0.1',
    '2026-11-20 08:34:38.167 1 INFO nova.api [-]\t"GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: 0.1',
    '2026-11-20 08:34:38.167 1 INFO nova.api [-] 10.0.0.1\u00a0"GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: 0.1',
    # off the field shapes: trailing words, a time the per-line regex reads differently,
    # non-ASCII in the path, a quote at the start of the line
    '2026-11-20 08:34:38.167 1 INFO nova.api [-] 10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: 0.5 trailing',
    '2026-11-20 08:34:38.167 1 INFO nova.api [-] 10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: .5',
    '2026-11-20 08:34:38.167 1 INFO nova.api [-] 10.0.0.1 "GET /caf\u00e9 HTTP/1.1" status: 200 len: 1 time: 0.5',
    '"GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: 0.1',
    # the other access formats and JSON
    '10.0.0.21 - - [20/Nov/2026:10:15:29 +0000] "POST /v3/auth/tokens HTTP/1.1" 201 6870 "-" "openstacksdk/4.0.0" 45123(us)',
    "[pid: 15083|app: 0|req: 77/156] 85.10.193.66 () {60 vars in 1171 bytes} [Tue Sep  5 09:02:05 2017] GET /compute/v2.1/ => generated 389 bytes in 17 msecs (HTTP/1.1 200) 9 headers in 357 bytes (2 switches on core 0)",
    '{"message": "10.20.0.8 \\"DELETE /allocations/461ac9e5-85ed-426e-ad42-daa04246553d\\" status: 204 len: 0 microversion: 1.36", "asctime": "2026-11-20 08:34:39,027"}',
]


@pytest.mark.parametrize("odd", ODD, ids=range(len(ODD)))
def test_a_chunk_with_an_odd_line_is_refused_and_read_per_line(tmp_path: Path, odd: str) -> None:
    rnd = random.Random(11)
    lines = [_vary(rnd.choice(OSLO), rnd) for _ in range(3000)]
    lines.insert(1700, odd)
    data = ("\n".join(lines) + "\n").encode()
    assert _bulk(data) is None
    path = tmp_path / "api.log"
    path.write_bytes(data)
    ref = _reference(path)
    assert_same(ref, _scanned(path))
    # in a chunk of its own the rest is read in bulk again, still exactly
    assert_same(ref, _scanned(path, chunk_size=32 << 10))


def test_every_real_access_line_alone_same_as_per_line(tmp_path: Path) -> None:
    """Each recorded line (any format) as a chunk of its own: bulk or not, the same result."""
    for i, line in enumerate(REAL):
        path = tmp_path / f"{i}.log"
        path.write_text(line + "\n")
        ref = _reference(path)
        groups = Groups({}, {}, stats.access_infos)
        scan_chunk(path.read_bytes(), "svc", groups)
        assert_same(ref, groups)


def test_zeroed_keys_keep_their_route() -> None:
    """`_IDS` zeroes ids in the joined keys; every path keeps its `route_template` route."""
    paths = [
        "/v2.1/servers/0fc20e69-ad72-4b05-8841-d98858561619/action",
        "/v2.1/servers/0FC20E69-AD72-4B05-8841-D98858561619",
        "/v3/9b4817b7b6438324634e159bc8b56757/volumes/detail",
        "/v3/9b4817b7b6438324634e159bc8b56757",
        "/v3/9b4817b7b6438324634e159bc8b56757abc/x",
        "/placement/allocations/3f6c1a2b-8d4e-4f5a-9b6c-7d8e9f0a1b2cdef",
        "/v2.1/os-instance-actions/req-0fc20e69-ad72-4b05-8841-d98858561619",
        "http://ctl-1:8774/v2.1/servers/0fc20e69-ad72-4b05-8841-d98858561619",
        "/v2.1/flavors/m1.small/os-extra_specs",
    ]
    for path in paths:
        for tail in (' HTTP/1.1" status: 200', '" status: 404'):
            key = f"GET {path}{tail}".encode()
            zeroed = _IDS.sub(_ZERO, key).decode()
            assert route_template(zeroed.split(" ")[1].split('"')[0]) == route_template(path), path


def test_many_distinct_paths_keep_the_memo_bounded(tmp_path: Path) -> None:
    """Paths that differ by a name, not an id (`/flavors/m1.<n>`), each a key of its own:
    the memo of keys is emptied when full, and the result stays the per-line parser's."""
    head = "2026-11-20 08:34:38.167 1 INFO nova.api.openstack.requestlog [-] 10.0.0.1"
    lines = [
        f'{head} "GET /v2.1/flavors/m1.x{i} HTTP/1.1" status: 200 len: 1 time: 0.{i}' for i in range(70_000)
    ]
    path = tmp_path / "api.log"
    path.write_text("\n".join(lines) + "\n")
    groups = _scanned(path)
    assert len(groups.bulk_memo) <= 65_537
    assert_same(_reference(path), groups)
    assert list(groups.counts) == [("svc", "GET", "/v2.1/flavors/{id}", 200)]


def test_lines_longer_than_the_read_buffer_and_no_last_newline(tmp_path: Path) -> None:
    """A plain file is read into one reused buffer: a line longer than it makes it grow, a
    last line without a newline is read, and nothing is lost at the refills."""
    rnd = random.Random(3)
    lines = [_vary(rnd.choice(OSLO), rnd) for _ in range(400)]
    long_path = "/v2.1/servers/detail?" + "&".join(f"name=vm-{i}" for i in range(2000))
    lines[200] = (
        f'2026-11-20 08:34:38.167 1 INFO nova.api [-] 10.0.0.1 "GET {long_path} HTTP/1.1" status: 200 len: 1 time: 9.5'
    )
    path = tmp_path / "api.log"
    path.write_text("\n".join(lines))  # no newline at the end
    ref = _reference(path)
    assert ref.lines == 400 and ("svc", "GET", "/v2.1/servers/detail", 200) in ref.counts
    for chunk_size in (4096, 8192, 1 << 20):
        assert_same(ref, _scanned(path, chunk_size=chunk_size))


def _json_records() -> list[str]:
    found: list[str] = []
    for name in ("real-openstack/placement.log", "real-openstack-two-step/placement.log"):
        found += [line for line in (DATA / name).read_text().splitlines() if line.startswith('{"message"')]
    return found


def test_json_access_records_in_bulk_equal_the_per_line_parser(tmp_path: Path) -> None:
    """oslo.log JSON records (placement's requestlog, recorded): the candidate lines of a
    JSON service's chunk go in bulk when every one is a JSON access record, and give what the
    per-line parser gives; one odd record makes the bulk path refuse them."""
    from kansoku.tracing.stats.bulk import scan_json_lines

    records = _json_records()
    access = [line for line in records if "status: " in line]
    assert len(access) >= 20 and len(records) > len(access)  # other records in between
    rnd = random.Random(5)
    lines = [_vary(rnd.choice(records), rnd) for _ in range(4000)]
    candidates = [line for line in lines if "status: " in line]
    assert scan_json_lines(
        ("\n" + "\n".join(candidates)).encode(), len(candidates), "svc", Groups({}, {}, stats.access_infos)
    )
    path = tmp_path / "placement-api.log"
    path.write_text("\n".join(lines) + "\n")
    ref = _reference(path)
    assert ref.lines == len(candidates)
    assert_same(ref, _scanned(path))
    assert_same(ref, _scanned(path, chunk_size=64 << 10))
    for odd in (
        '{"asctime": "2026-11-20", "message": "10.20.0.8 \\"GET /x\\" status: 404 len: 0"}',
        '{"message": "10.20.0.8 \\"GET /r\\u00e9\\" status: 200 len: 0 time: 0.01", "asctime": "2026-11-20 08:34:39,027"}',
        '{"message": "Fetched \\"x\\" status: 200 len: 0", "asctime": "2026-11-20 08:34:39,027"}',
    ):
        with_odd = [*lines[:2000], odd, *lines[2000:]]
        assert not scan_json_lines(
            ("\n" + "\n".join([*candidates[:900], odd, *candidates[900:]])).encode(),
            len(candidates) + 1,
            "svc",
            Groups({}, {}, stats.access_infos),
        )
        path.write_text("\n".join(with_odd) + "\n")
        assert_same(_reference(path), _scanned(path))
