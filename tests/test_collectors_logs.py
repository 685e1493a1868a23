"""API metrics from real wsgi access lines, read incrementally across rotation and truncation."""

from __future__ import annotations

import os
from pathlib import Path

from kansoku.collectors.apimetrics import ApiMetrics, service_from_path
from kansoku.collectors.tail import LogTailer

REAL = Path(__file__).parent / "data" / "real-openstack"
RID = "req-0b8e9c7a-3f21-4d55-9e0a-1c2d3e4f5a6b"
ERROR_LINE = (
    f"2026-11-23 17:05:12.001 7408 INFO nova.api.openstack.requestlog [{RID} req-77aa0001-a76b-4717-be08-895d1ddc2bce "
    "16a474ad1ba44f43861b01eadaf75914 918193bf2742483ab4e1b0d9423c2238 - - default default] 127.0.0.1 "
    '"POST /v2.1/servers" status: 500 len: 211 microversion: 2.1 time: 0.734000'
)


def test_real_nova_api_lines_become_metrics() -> None:
    lines = (REAL / "nova-api.log").read_text().splitlines()
    m = ApiMetrics()
    found = m.feed("nova-api", lines)
    expected = sum(1 for line in lines if "nova.api.openstack.requestlog" in line and '" status: ' in line)
    assert found == expected > 0
    assert sum(m.requests.values()) == found
    assert m.requests[("nova-api", "/v2.1/limits", "GET", "200")] >= 1
    hist = m.latency[("nova-api", "/v2.1/limits", "GET")]
    assert hist.n == sum(
        n for (s, r, meth, _), n in m.requests.items() if r == "/v2.1/limits" and meth == "GET"
    )
    assert hist.cumulative()[-1] == ("+Inf", float(hist.n))


def test_5xx_line_keeps_request_id() -> None:
    m = ApiMetrics()
    m.feed("nova-api", [ERROR_LINE])
    (err,) = m.errors_since(0)
    assert (err.route, err.method, err.status, err.request_id) == ("/v2.1/servers", "POST", 500, RID)


def test_route_templates_collapse_ids() -> None:
    m = ApiMetrics()
    line = (
        "2026-11-23 17:05:09.624 7408 INFO nova.api.openstack.requestlog [-] 127.0.0.1 "
        '"GET /v2.1/servers/{}" status: 404 len: 111 microversion: 2.1 time: 0.010000'
    )
    m.feed(
        "nova-api",
        [
            line.format("5f1c9a3e-0c1d-4e2f-8a9b-0c1d2e3f4a5b"),
            line.format("6a2b9f4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b"),
        ],
    )
    assert m.requests == {("nova-api", "/v2.1/servers/{id}", "GET", "404"): 2}


def test_other_access_formats_still_parse_whole() -> None:
    combined = '10.0.0.1 - - [20/Nov/2026:10:15:32 +0000] "GET /v3/auth/tokens HTTP/1.1" 200 1234 "-" "python-keystoneclient" 4511'
    m = ApiMetrics()
    assert (
        m.feed("keystone", [combined, "2026-11-20 10:15:32.001 12 DEBUG keystone.x [-] no access here"]) == 1
    )
    assert m.requests == {("keystone", "/v3/auth/tokens", "GET", "200"): 1}
    assert m.lines_seen == 2


def test_service_from_path() -> None:
    assert service_from_path("/var/log/nova/nova-api.log") == "nova-api"
    assert service_from_path("/var/log/placement/placement-api.log.1") == "placement-api"


def test_tailer_reads_incrementally_and_follows_rotation(tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    log.write_text("a1\na2\npart")
    t = LogTailer(str(log))
    assert t.read_lines() == ["a1", "a2"]  # the half-written line waits
    assert t.read_lines() == []
    with log.open("a") as fh:
        fh.write("ial\na3\n")
    assert t.read_lines() == ["partial", "a3"]
    # logrotate: rename, a last line into the old file, then a new file
    os.rename(log, tmp_path / "nova-api.log.1")
    with (tmp_path / "nova-api.log.1").open("a") as fh:
        fh.write("a4-late\n")
    log.write_text("b1\n")
    assert t.read_lines() == ["a4-late", "b1"]
    assert t.rotations == 1
    # copytruncate: same inode, size drops below our offset
    with log.open("a") as fh:
        fh.write("b2\n")
    assert t.read_lines() == ["b2"]
    with log.open("w") as fh:
        fh.write("c1\n")
    assert t.read_lines() == ["c1"]
    assert t.rotations == 2
    t.close()


def test_tailer_missing_file_then_created(tmp_path: Path) -> None:
    t = LogTailer(str(tmp_path / "later.log"))
    assert t.read_lines() == []
    (tmp_path / "later.log").write_text("x\n")
    assert t.read_lines() == ["x"]
    t.close()


def test_tailer_from_end_skips_history(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("old\n")
    t = LogTailer(str(log), from_start=False)
    assert t.read_lines() == []
    with log.open("a") as fh:
        fh.write("new\n")
    assert t.read_lines() == ["new"]
    t.close()


def test_tailer_bounded_reads_split_no_line(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    want = [f"line {i} " + "x" * (i % 50) for i in range(2000)]
    log.write_text("\n".join(want) + "\n")
    t = LogTailer(str(log))
    got: list[str] = []
    calls = 0
    while batch := t.read_lines(max_bytes=4096):
        got += batch
        calls += 1
    assert got == want
    assert calls > 10
    t.close()
