"""The parser on real public devstack/journald logs (tests/data/devstack, sources in its README)."""

from __future__ import annotations

import calendar
import os
import shutil
import time
from pathlib import Path

import pytest

from kansoku.tracing.ingest import journald
from kansoku.tracing.ingest.files import read_chunks
from kansoku.tracing.ingest.parse import parse_record
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.ingest.routes import route_template
from kansoku.tracing.model import LogLine, ParseProblem

DATA = Path(__file__).parent / "data" / "devstack"
EXCERPTS = [
    "leg-004/logs/screen-n-api.txt",
    "train/logs/screen-n-api.txt",
    "testoccm/logs/screen-n-sch.txt",
    "devstack-master/logs/screen-n-cpu.txt",
    "gelani-lab-1/logs/screen-n-cpu.txt.gz",
    "lab-journal/controller/logs/screen-n-api.txt",
    "lab-journal/controller/logs/screen-placement-api.txt",
    "lab-journal/controller/logs/screen-n-cpu.txt",
    "lab-journal/controller/logs/screen-n-cond-cell1.txt",
]


def _utc(y: int, mo: int, d: int, h: int, mi: int, s: int) -> float:
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))


def _copy(tmp_path: Path, rel: str, mtime: float) -> Path:
    """A copy of an excerpt whose mtime fixes the year journald's short format leaves out."""
    dst = tmp_path / Path(rel).name
    shutil.copyfile(DATA / rel, dst)
    os.utime(dst, (mtime, mtime))
    journald._year_cache.pop(str(dst), None)
    return dst


def _records(path: Path, service: str = "") -> list[LogLine | ParseProblem]:
    return list(iter_records(read_chunks_lines(path), str(path), service))


def read_chunks_lines(path: Path) -> list[bytes]:
    data = b"".join(read_chunks(str(path)))
    return data.splitlines(keepends=True)


def _lines(path: Path, service: str = "") -> list[LogLine]:
    out = []
    for rec in _records(path, service):
        assert not isinstance(rec, ParseProblem), rec
        out.append(rec)
    return out


@pytest.mark.parametrize("rel", EXCERPTS)
def test_every_real_excerpt_parses_without_problems(rel: str) -> None:
    lines = _lines(DATA / rel)
    assert lines
    # "journal": a line of a multi-line message, prefix parsed, payload kept as text
    assert all(line.fmt in ("text", "access", "journal") for line in lines), {line.fmt for line in lines}
    assert all(line.ts is not None and line.host and line.service for line in lines)


def test_devstack_debug_line_fields(tmp_path: Path) -> None:
    path = _copy(tmp_path, "leg-004/logs/screen-n-api.txt", _utc(2017, 12, 1, 0, 0, 0))
    debug = _lines(path)[1]
    assert debug.level == "DEBUG"
    assert debug.logger == "nova.api.openstack.wsgi"
    assert debug.global_id is None  # `[None req-...`: the caller sent no global id
    assert debug.local_id == "req-7e465212-6160-4dab-9d38-6c06e8cafbcc"
    assert debug.user_identity == "admin admin"
    assert debug.host == "leg-004"
    assert debug.service == "n-api"  # from the unit devstack@n-api.service
    assert debug.pid == 15083  # the uwsgi worker of the {{(pid=...)}} suffix, not the unit's 15067
    assert debug.ts == _utc(2017, 9, 5, 9, 2, 5)
    assert debug.message.endswith("VersionsController object at 0x7f574f45be10>>'")
    assert "{{" not in debug.message


def test_uwsgi_and_requestlog_access_lines(tmp_path: Path) -> None:
    path = _copy(tmp_path, "leg-004/logs/screen-n-api.txt", _utc(2017, 12, 1, 0, 0, 0))
    lines = _lines(path)
    uwsgi = lines[0]
    assert uwsgi.fmt == "access" and uwsgi.access is not None
    assert (uwsgi.access.method, uwsgi.access.status, uwsgi.access.duration) == ("GET", 302, 0.017)
    assert uwsgi.ts == _utc(2017, 9, 5, 9, 2, 5)
    redirect = lines[4]
    assert redirect.access is not None
    assert (redirect.access.status, redirect.access.length) == (302, None)  # nova writes `len: None`
    show = lines[6]
    assert show.access is not None
    assert show.access.route == "/compute/v2.1/servers/{id}"
    assert show.access.duration == pytest.approx(0.384767)
    assert show.local_id == "req-57757de1-2f5c-4d3c-b3c3-494b4d4930b1"


def test_prefixed_traceback_is_one_record(tmp_path: Path) -> None:
    path = _copy(tmp_path, "train/logs/screen-n-api.txt", _utc(2019, 4, 30, 0, 0, 0))
    error, warning = _lines(path)
    assert error.n_lines == 29
    assert error.level == "ERROR" and error.logger == "nova.context"
    assert error.local_id == "req-fdaff415-48b9-44a7-b4c3-015214e80b90"
    assert error.exception == "DBConnectionError"
    assert "Traceback (most recent call last):" in error.message
    assert "devstack@n-api.service" not in error.message  # prefixes removed from the body
    assert error.ts == _utc(2019, 4, 4, 20, 48, 22)
    assert warning.level == "WARNING" and warning.line_no == 30


def test_traceback_lines_of_another_unit_are_not_glued(tmp_path: Path) -> None:
    """A merged journal (openstack-ansible `journalctl` export) interleaves units."""
    api = (DATA / "train/logs/screen-n-api.txt").read_text().splitlines()
    sch = (DATA / "testoccm/logs/screen-n-sch.txt").read_text().splitlines()
    merged = [api[0], api[1], sch[0], api[2]]
    recs = [r for r in iter_records(merged) if isinstance(r, LogLine)]
    assert [r.n_lines for r in recs] == [2, 1, 1]
    assert [r.service for r in recs] == ["n-api", "nova-scheduler", "n-api"]
    assert recs[1].host == "testoccm"


def test_record_of_only_exception_lines() -> None:
    """An excerpt that starts inside a traceback still parses: ERROR, logger, no request id."""
    lines = _lines(DATA / "testoccm/logs/screen-n-sch.txt")
    assert len(lines) == 1
    assert lines[0].level == "ERROR" and lines[0].logger == "nova" and lines[0].n_lines == 6
    assert lines[0].pid == 194098


def test_ansi_colours_are_stripped() -> None:
    """devstack with LOG_COLOR=True: colour codes around the fields (its format strings)."""
    plain = (DATA / "leg-004/logs/screen-n-api.txt").read_text().splitlines()[1]
    prefix, _, payload = plain.partition("]: ")
    level, logger, rest = payload.split(" ", 2)
    ctx, _, message = rest.partition("] ")
    gid, lid, project, user = ctx[1:].split(" ")
    coloured = (
        f"{prefix}]: \x1b[00;32m{level} {logger} [\x1b[01;36m{gid} {lid} \x1b[00;36m{project} {user}\x1b[00;32m] "
        f"\x1b[01;35m\x1b[00;32m{message}\x1b[00m"
    )
    a = parse_record(plain)
    b = parse_record(coloured)
    assert a is not None and b is not None
    assert (b.level, b.logger, b.local_id, b.user_identity, b.message, b.pid) == (
        a.level,
        a.logger,
        a.local_id,
        a.user_identity,
        a.message,
        a.pid,
    )


def test_year_from_mtime_rolls_back_over_new_year(tmp_path: Path) -> None:
    line = "Dec 31 23:59:59.500000 np0038123456 devstack@n-api.service[85011]: INFO nova.api [-] last line\n"
    path = tmp_path / "screen-n-api.txt"
    path.write_text(line)
    jan = _utc(2027, 1, 1, 0, 5, 0)
    os.utime(path, (jan, jan))
    journald._year_cache.pop(str(path), None)
    (rec,) = _lines(path)
    assert rec.ts == _utc(2026, 12, 31, 23, 59, 59) + 0.5
    assert rec.host == "np0038123456"


def test_short_iso_journal_export() -> None:
    """`journalctl -o short-iso-precise` (openstack-ansible exports) carries year and offset."""
    raw = (
        "2017-09-05T11:02:05.123456+0200 leg-004 devstack@n-api.service[15067]: INFO nova.api.openstack.requestlog "
        '[None req-7e465212-6160-4dab-9d38-6c06e8cafbcc admin admin] 85.10.193.66 "GET /compute/v2.1/" status: 200 '
        "len: 389 microversion: 2.1 time: 0.016996"
    )
    rec = parse_record(raw)
    assert rec is not None
    assert rec.ts == pytest.approx(_utc(2017, 9, 5, 9, 2, 5) + 0.123456)
    assert rec.access is not None and rec.access.status == 200
    assert (rec.service, rec.host, rec.local_id) == (
        "n-api",
        "leg-004",
        "req-7e465212-6160-4dab-9d38-6c06e8cafbcc",
    )


def test_callee_id_in_keystoneauth_line() -> None:
    """nova-compute logs the id neutron returned: the caller->callee link stitching uses."""
    (line,) = _lines(DATA / "devstack-master/logs/screen-n-cpu.txt")
    assert line.local_id == "req-034279a7-f2dd-40ff-9c93-75768fda494d"
    assert line.extra_ids == ("req-39b315da-e1eb-4ab5-a45b-3f2dbdaba787",)
    assert line.service == "nova-compute" and line.pid == 27857


def test_placement_global_id_from_nova() -> None:
    lines = _lines(DATA / "lab-journal/controller/logs/screen-placement-api.txt")
    hits = [x for x in lines if x.local_id == "req-391123c9-e92b-4ccb-9df7-a1d371e3b27f"]
    assert hits and all(x.global_id == "req-6065e735-5370-4cab-872c-467f9fb04aab" for x in hits)
    access = [x.access for x in hits if x.access is not None]
    assert access and access[0].route == "/usages" and access[0].status == 200


@pytest.mark.parametrize(
    ("paths", "template"),
    [
        (
            [
                f"/compute/v2.1/servers/{u}"
                for u in ("b500a3d8-89b8-45ab-8725-c2420e6d7e98", "8e90f1f0-e8dd-4783-8bb3-ec8d594e60f1")
            ],
            "/compute/v2.1/servers/{id}",
        ),
        (
            [
                f"/compute/v2.1/servers/{u}/action"
                for u in ("b500a3d8-89b8-45ab-8725-c2420e6d7e98", "afd45d84-2bd7-4e49-9dff-93359f742bc1")
            ],
            "/compute/v2.1/servers/{id}/action",
        ),
        (
            [
                f"/placement/resource_providers/{u}/allocations"
                for u in ("49905d0d-8b33-434a-8bc5-6a73898b9922", "996b45e0-3786-4b2b-84c3-acc1fe887b96")
            ],
            "/placement/resource_providers/{id}/allocations",
        ),
        (
            [
                "/placement/allocation_candidates?limit=1000&resources=VCPU%3A1",
                "/placement/allocation_candidates?resources=DISK_GB%3A40",
            ],
            "/placement/allocation_candidates",
        ),
        (
            [
                f"/identity/v3/users/{u}/projects"
                for u in ("9528fdc885c141e496131887dba4943b", "846ca9b7ebec48f38741abf2334efdb3")
            ],
            "/identity/v3/users/{id}/projects",
        ),
        (
            [
                f"/image/v2/images/{u}/file"
                for u in ("3f2a9b1e-8c3e-4a5b-9f7e-2b1d0c9e8a7f", "4f495a21-294a-4051-9a3d-8b34a250bbb4")
            ],
            "/image/v2/images/{id}/file",
        ),
        (
            [
                f"/volume/v3/{p}/volumes/detail"
                for p in ("84253199c47a481183a3786a48ed6277", "12013d2504b441a6adf9e5d8aaca12ac")
            ],
            "/volume/v3/{id}/volumes/detail",
        ),
    ],
)
def test_devstack_route_templates_are_bounded(paths: list[str], template: str) -> None:
    """devstack serves every API under a path prefix (/compute, /placement, /identity, ...)."""
    assert {route_template(p) for p in paths} == {template}


@pytest.mark.parametrize(
    ("lab", "screen"),
    [
        ("nova-api.log", "screen-n-api.txt"),
        ("placement.log", "screen-placement-api.txt"),
        ("nova-compute.log", "screen-n-cpu.txt"),
        ("nova-conductor.log", "screen-n-cond-cell1.txt"),
    ],
)
def test_journald_layout_gives_the_fields_of_the_oslo_layout(lab: str, screen: str) -> None:
    """The same real records in both layouts: every record with a request id parses to the same
    level, logger, ids, exception, access status, pid and time (to the millisecond oslo writes)."""

    def key(line: LogLine) -> tuple[object, ...]:
        status = line.access.status if line.access is not None else None
        return (line.local_id, line.global_id, line.level, line.logger, line.exception, status, line.pid)

    oslo = [x for x in _lines(DATA.parent / "real-openstack" / lab) if x.local_id]
    journal = [x for x in _lines(DATA / "lab-journal/controller/logs" / screen) if x.local_id]
    assert len(oslo) > 5
    assert [key(x) for x in journal] == [key(x) for x in oslo]
    year = time.gmtime(oslo[0].ts or 0).tm_year
    shifted = [x.ts for x in journal]
    assert all(a is not None for a in shifted)
    # the journald date has no year: it comes from the file's mtime, so compare within the year
    offset = _utc(year, 1, 1, 0, 0, 0) - _utc(time.gmtime(shifted[0] or 0).tm_year, 1, 1, 0, 0, 0)
    assert [round((t or 0) + offset, 3) for t in shifted] == [round(x.ts or 0, 3) for x in oslo]
