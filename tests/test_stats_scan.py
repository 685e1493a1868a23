"""`kansoku trace stats` reads its access lines through `stats.scan`: the same groups, counts,
durations and first-seen order as the general per-line path (`stats.access_infos`) it replaced.

The reference is the general path itself, run over the same files: the demo cloud (text
and JSON services, rotated and gzipped files), the recorded real OpenStack logs, and lines
made to sit on every edge of the two exact shapes (which must fall back, not misread).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kansoku.tracing import stats
from kansoku.tracing.demo.generate import generate
from kansoku.tracing.index import build_index, iter_entries
from kansoku.tracing.ingest.routes import route_template
from kansoku.tracing.stats.groups import _shape
from kansoku.tracing.stats.scan import scan_files
from tests.support.stats import assert_same, reference, scanned

REAL = Path(__file__).parent / "data" / "real-openstack"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    generate(root / "cloud", seed=5)
    build_index([root / "cloud"], root / "store")
    return root / "store"


def test_demo_cloud_every_file_same_as_per_line_path(demo_store: Path) -> None:
    entries = list(iter_entries(demo_store))
    assert any(e.path.endswith(".gz") for e in entries)
    total = 0
    for entry in entries:
        ref = reference(entry.path, entry.service)
        assert_same(ref, scanned(entry.path, entry.service))
        assert_same(ref, scanned(entry.path, entry.service, chunk_size=4096))  # chunk cuts mid-file
        total += ref.lines
    assert total > 1000  # the demo cloud's API services log thousands of access lines


def test_collect_equals_reference_over_the_whole_store(demo_store: Path) -> None:
    ref = stats.StatsInput()
    for entry in iter_entries(demo_store):
        for access in stats.access_infos(stats._stream_lines(entry.path)):
            ref.lines += 1
            ref.add(entry.service, access)
    got = stats.collect(demo_store)
    assert got.lines == ref.lines and list(got.counts.items()) == list(ref.counts.items())
    assert all(got.durations[k] == v for k, v in ref.durations.items())
    assert stats.stats_table(got).equals(stats.stats_table(ref))


@pytest.mark.parametrize("name", sorted(p.name for p in REAL.glob("*.log")))
def test_recorded_real_logs_same_as_per_line_path(name: str) -> None:
    path = str(REAL / name)
    assert_same(reference(path, "svc"), scanned(path, "svc"))


HEAD = "2026-11-20 08:34:38.167 39233 INFO nova.api.openstack.requestlog [None req-6d537633-2a30-44bf-b72c-4eeadb6c1775 u p - - default default]"
EDGES = [
    # the text shape, with and without HTTP version, time, microversion
    f'{HEAD} 10.0.0.1 "GET /v2.1/servers/0fc20e69-ad72-4b05-8841-d98858561619 HTTP/1.1" status: 200 len: 2582 microversion: 2.79 time: 0.166977',
    f'{HEAD} 10.0.0.1 "POST /v2.1/servers" status: 202 len: 412 time: 0.080825',
    f'{HEAD} 10.0.0.1 "DELETE /v2.1/servers/x" status: 204 len: None',
    # cinder: a keystone project id as a segment; a query string with ids
    f'{HEAD} 10.0.0.1 "GET /v3/9b4817b7b6438324634e159bc8b56757/volumes/detail HTTP/1.1" status: 200 len: 1 time: 0.1',
    f'{HEAD} 10.0.0.1 "GET /v2.0/ports?device_id=0fc20e69-ad72-4b05-8841-d98858561619 HTTP/1.1" status: 200 len: 1 time: 0.2',
    # a 32-hex run that is not a whole segment, and a req- id segment
    f'{HEAD} 10.0.0.1 "GET /v3/abcdefabcdefabcdefabcdefabcdefabcdefx/x HTTP/1.1" status: 200 len: 1 time: 0.3',
    f'{HEAD} 10.0.0.1 "GET /v2.1/os-instance-actions/req-0fc20e69-ad72-4b05-8841-d98858561619 HTTP/1.1" status: 200 len: 1 time: 0.3',
    # off the shapes: must go the general way (and give what it gives)
    f'{HEAD} 10.0.0.1 "GET /caf\u00e9/x HTTP/1.1" status: 200 len: 1 time: 0.4',
    f'{HEAD} 10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: .5',
    f'{HEAD} 10.0.0.1 "GET /v2.1/servers HTTP/1.1" status: 200 len: 1 time: 0.5 trailing words',
    '2026-11-20 08:34:38,167 39233 INFO x [req-1 - - - - -] 10.0.0.1 "GET /a HTTP/1.1" status: 500 len: 1 time: 0.6',
    '2026-11-20 08:34:38.167 1 INFO x [ctx "quoted"] 10.0.0.1 "GET /b HTTP/1.1" status: 503 len: 1 time: 0.7',
    '10.0.0.1 - - [20/Nov/2026:10:15:32 +0000] "GET /v3/auth/tokens HTTP/1.1" 200 1234 "-" "ua" 4511',
    "[pid: 12|app: 0|req: 1/1] 10.0.0.1 () {34 vars in 567 bytes} [Fri Nov 20 10:15:32 2026] GET /identity/v3/auth/tokens => generated 1234 bytes in 45 msecs (HTTP/1.1 201) 7 headers in 300 bytes",
    '{"message": "10.20.0.8 \\"DELETE /allocations/461ac9e5-85ed-426e-ad42-daa04246553d\\" status: 204 len: 0 microversion: 1.36", "asctime": "2026-11-20 08:34:39,027"}',
    '{"message": "10.20.0.8 \\"GET /r\\u00e9\\" status: 200 len: 0 time: 0.01", "asctime": "2026-11-20 08:34:39,027"}',
    '{"asctime": "2026-11-20", "message": "10.20.0.8 \\"GET /x\\" status: 404 len: 0"}',
    # not access lines, with marks in them
    f"{HEAD} Fetched HTTP/1.1 headers from the status: endpoint",
    f"{HEAD} plain message",
    "",
]


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_edge_lines_same_as_per_line_path(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "api.log"
    path.write_bytes(ending.join(EDGES).encode() + ending.encode())
    ref = reference(str(path), "svc")
    assert ref.lines >= 15  # the reference itself reads most of them
    assert_same(ref, scanned(str(path), "svc"))


def test_dense_chunk_with_one_odd_line_falls_back(tmp_path: Path) -> None:
    """All text-shape access lines (the findall path) but one combined line: still exact."""
    lines = [EDGES[0], EDGES[1], EDGES[3]] * 2000 + [EDGES[12]] + [EDGES[4]] * 4000  # > 2 MiB: 3 reads
    path = tmp_path / "dense.log"
    path.write_text("\n".join(lines) + "\n")
    zipped = tmp_path / "dense.log.1.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    for p in (path, zipped):
        ref = reference(str(p), "svc")
        assert ref.lines == len(lines)
        assert_same(ref, scanned(str(p), "svc"))
        assert_same(ref, scanned(str(p), "svc", chunk_size=4096))  # a chunk per 1 MiB read


def test_shape_keeps_the_route() -> None:
    for path in (
        "/v3/9b4817b7b6438324634e159bc8b56757/volumes/detail",
        "/v2.0/ports?device_id=0fc20e69-ad72-4b05-8841-d98858561619",
        "/v2.1/servers/0fc20e69-ad72-4b05-8841-d98858561619/action#x",
        "/v3/abcdefabcdefabcdefabcdefabcdefabcdefx/x",
        "/v3/abcdefabcdefabcdefabcdefabcdefab",
        "/x/req-0fc20e69-ad72-4b05-8841-d98858561619",
    ):
        shape = _shape(path.encode()).decode()
        assert route_template(shape) == route_template(path), path
        assert _shape(shape.encode()).decode() == shape  # idempotent


def test_files_in_worker_processes_merge_like_one_process(demo_store: Path, tmp_path: Path) -> None:
    """Forked workers per file, merged in file order: the same result as one process, and a
    damaged .gz still gives its lines before the damage plus a problem naming it."""
    files = [(e.path, e.service) for e in iter_entries(demo_store)]
    good = next(p for p, _ in files if p.endswith(".gz"))
    damaged = tmp_path / "nova-api.log.3.gz"
    raw = Path(good).read_bytes()
    damaged.write_bytes(raw[: len(raw) // 2])  # cut off mid-stream
    files.insert(3, (str(damaged), "nova-api"))
    results = []
    for workers in (1, 2):
        counts: dict[stats.GroupKey, int] = {}
        durations: dict[stats.GroupKey, stats.array[float]] = {}
        lines, problems = scan_files(files, counts, durations, stats.access_infos, workers=workers)
        results.append((lines, problems, list(counts.items()), {k: list(v) for k, v in durations.items()}))
        assert len(problems) == 1 and str(damaged) in problems[0]
    assert results[0] == results[1]
    ref = stats.StatsInput()
    for path, service in files:
        try:
            for access in stats.access_infos(stats._stream_lines(path)):
                ref.lines += 1
                ref.add(service, access)
        except Exception:  # the damaged file: what came before the damage counts
            pass
    assert results[0][0] == ref.lines and results[0][2] == list(ref.counts.items())
