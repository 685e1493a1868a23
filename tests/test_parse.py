"""Parsing oslo.log output: records written by a real oslo_log logger, plus recorded-format samples.

The text and JSON files are produced in the test by oslo.log itself (ContextFormatter and
JSONFormatter with their default options and an oslo_context RequestContext), so the parser
is checked against what OpenStack services really write, not against our idea of it.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kansoku.tracing.ingest.access import parse_access
from kansoku.tracing.ingest.parse import parse_record
from kansoku.tracing.ingest.records import LineParser, iter_records
from kansoku.tracing.ingest.routes import route_template
from kansoku.tracing.ingest.tracebacks import exception_type
from kansoku.tracing.model import LogLine, ParseProblem

DATA = Path(__file__).parent / "data" / "oslo"

GLOBAL = "req-1b7e0f4c-2a9d-4c8b-9e61-3f5d7a2c8b90"
LOCAL = "req-9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
LONE = "req-7c3b2a19-5e4d-4f6a-8b7c-9d0e1f2a3b4c"
CALLEE = "req-8f9e0d1c-2b3a-4c5d-9e6f-7a8b9c0d1e2f"
INSTANCE = "3f6c1a2b-8d4e-4f5a-9b6c-7d8e9f0a1b2c"
USER = "0f4e3d2c1b0a49586776655443322110"
PROJECT = "5a6b7c8d9e0f41a2b3c4d5e6f7a8b9c0"


class NoValidHost(Exception):
    """Stands in for nova.exception.NoValidHost (same module path in the traceback)."""


NoValidHost.__module__ = "nova.exception"


def _write_with_oslo(path: Path, fmt: str) -> None:
    """Log a small nova-conductor session through oslo.log's own formatters."""
    from oslo_config import cfg
    from oslo_context import context
    from oslo_log import formatters
    from oslo_log import log as oslo_log

    conf = cfg.ConfigOpts()
    oslo_log.register_options(conf)
    conf([], project="nova")
    handler = logging.FileHandler(path)
    formatter: logging.Formatter
    if fmt == "json":
        formatter = formatters.JSONFormatter()
    else:
        formatter = formatters.ContextFormatter(config=conf, project="nova", datefmt=conf.log_date_format)
    handler.setFormatter(formatter)
    base = logging.getLogger(f"nova.conductor.manager.{fmt}")
    base.handlers = [handler]
    base.propagate = False
    base.setLevel(logging.DEBUG)
    log = oslo_log.KeywordArgumentAdapter(base, {})
    context._request_store.context = None  # no thread-local context: a `[-]` line
    log.info("Starting conductor node (version 30.0.0)")
    ctx = context.RequestContext(
        user_id=USER, project_id=PROJECT, global_request_id=GLOBAL, request_id=LOCAL, overwrite=False
    )
    lone = context.RequestContext(request_id=LONE, overwrite=False)
    log.debug("Selecting destinations for %s", INSTANCE, context=ctx)
    log.info("Scheduling instance", context=ctx, instance_uuid=INSTANCE)
    try:
        raise NoValidHost("No valid host was found. There are not enough hosts available.")
    except NoValidHost:
        log.exception("Failed to schedule instances", context=ctx, instance_uuid=INSTANCE)
    log.warning(
        f"GET call to placement for http://10.0.0.10/placement/allocations used request id {CALLEE}",
        context=lone,
    )
    log.info(
        f'10.0.0.11 "GET /v2.1/servers/{INSTANCE} HTTP/1.1" status: 200  len: 1834 time: 0.0451220',
        context=lone,
    )
    context._request_store.context = None
    handler.close()


@pytest.fixture(scope="module")
def oslo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("oslo")
    files = {}
    for fmt in ("text", "json"):
        path = root / f"nova-conductor-{fmt}.log"
        _write_with_oslo(path, fmt)
        files[fmt] = path
    return files


def _records(path: Path) -> list[LogLine | ParseProblem]:
    with open(path, "rb") as fh:
        return list(iter_records(fh, str(path), "nova-conductor", "ctl-1"))


def _lines(path: Path) -> list[LogLine]:
    return [r for r in _records(path) if isinstance(r, LogLine)]


@pytest.fixture(params=["text", "json"])
def fmt_lines(
    request: pytest.FixtureRequest, oslo_files: dict[str, Path]
) -> Iterator[tuple[str, list[LogLine]]]:
    yield request.param, _lines(oslo_files[request.param])


def test_oslo_output_parses_without_problems(oslo_files: dict[str, Path]) -> None:
    for path in oslo_files.values():
        records = _records(path)
        assert [r for r in records if isinstance(r, ParseProblem)] == []
        assert len(records) == 6  # six log calls, the traceback folded into its record


def test_context_line_fields(fmt_lines: tuple[str, list[LogLine]]) -> None:
    fmt, lines = fmt_lines
    sched = lines[2]
    assert sched.fmt == fmt
    assert sched.level == "INFO"
    assert sched.logger is not None and sched.logger.startswith("nova.conductor.manager")
    assert sched.global_id == GLOBAL
    assert sched.local_id == LOCAL
    assert sched.instance == INSTANCE
    assert sched.message == "Scheduling instance"
    assert sched.user_identity is not None and sched.user_identity.startswith(f"{USER} {PROJECT} ")
    assert sched.pid is not None and sched.pid > 0
    assert sched.ts is not None and sched.ts > 1.7e9
    assert (sched.service, sched.host) == ("nova-conductor", "ctl-1")


def test_default_line_has_no_ids(fmt_lines: tuple[str, list[LogLine]]) -> None:
    _, lines = fmt_lines
    first = lines[0]
    assert first.message == "Starting conductor node (version 30.0.0)"
    assert (first.global_id, first.local_id, first.instance) == (None, None, None)


def test_dropped_global_id_is_none(fmt_lines: tuple[str, list[LogLine]]) -> None:
    _, lines = fmt_lines
    warn = lines[4]
    assert warn.global_id is None
    assert warn.local_id == LONE
    assert warn.level == "WARNING"
    assert warn.extra_ids == (CALLEE,)  # the callee's id named in the message


def test_debug_suffix_is_not_part_of_the_message(fmt_lines: tuple[str, list[LogLine]]) -> None:
    _, lines = fmt_lines
    debug = lines[1]
    assert debug.level == "DEBUG"
    assert debug.message == f"Selecting destinations for {INSTANCE}"
    assert "test_parse.py" not in debug.message


def test_traceback_is_one_record_with_exception_type(fmt_lines: tuple[str, list[LogLine]]) -> None:
    fmt, lines = fmt_lines
    err = lines[3]
    assert err.level == "ERROR"
    assert err.exception == "nova.exception.NoValidHost"
    assert "Traceback (most recent call last):" in err.message
    assert 'raise NoValidHost("No valid host was found.' in err.message
    if fmt == "text":
        assert err.n_lines >= 5  # first line + exception-prefixed traceback lines
        assert err.instance == INSTANCE
        assert err.message.startswith("Failed to schedule instances: nova.exception.NoValidHost:")


def test_access_line_in_a_service_log(fmt_lines: tuple[str, list[LogLine]]) -> None:
    _, lines = fmt_lines
    access = lines[5].access
    assert access is not None
    assert (access.method, access.status, access.length) == ("GET", 200, 1834)
    assert access.duration == pytest.approx(0.045122)
    assert access.route == "/v2.1/servers/{id}"


def test_offsets_and_line_numbers_point_at_the_file(oslo_files: dict[str, Path]) -> None:
    for path in oslo_files.values():
        data = path.read_bytes()
        physical = data.split(b"\n")
        for line in _lines(path):
            assert data[line.offset :].startswith(line.raw.split("\n")[0].encode())
            assert physical[line.line_no - 1].decode() == line.raw.split("\n")[0]


def test_older_context_form_without_global_id() -> None:
    lines = _lines(DATA / "stor-1" / "cinder" / "cinder-volume.log")
    created = lines[2]
    assert created.global_id is None
    assert created.local_id == "req-0c9f6b2e-3d4a-4b5c-8d7e-6f5a4b3c2d1e"
    assert created.user_identity == "4a1b2c3d4e5f60718293a4b5c6d7e8f9 8f7e6d5c4b3a29180716a5b4c3d2e1f0 - - -"
    failed = lines[3]
    assert failed.exception == "cinder.exception.VolumeBackendAPIException"
    assert failed.n_lines == 8
    assert lines[4].line_no == 12 and lines[4].level == "DEBUG"


def test_remote_errors_are_unwrapped_and_plain_continuations_grouped() -> None:
    lines = _lines(DATA / "ctl-1" / "nova" / "nova-conductor.log")
    assert [x.line_no for x in lines] == [1, 2, 3, 20, 21]
    failed = lines[2]
    # nova logs the remote traceback as plain lines, then its own prefixed traceback
    assert failed.n_lines == 17
    assert failed.exception == "nova.exception.NoValidHost"
    assert failed.global_id == GLOBAL
    warn = lines[3]
    assert warn.instance == INSTANCE
    assert warn.exception == "nova.exception.NoValidHost"  # from the error summary
    timeout = lines[4]
    assert timeout.exception == "MessagingTimeout"  # oslo.messaging RemoteError names the remote type


def test_exception_type_picks_the_last_raised() -> None:
    chained = [
        "Traceback (most recent call last):",
        '  File "a.py", line 1, in f',
        "KeyError: 'port'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "b.py", line 2, in g',
        "neutron_lib.exceptions.PortNotFound: Port 27d514c6 could not be found.",
    ]
    assert exception_type(chained) == "neutron_lib.exceptions.PortNotFound"
    assert exception_type(["no traceback here: ValueError: x"]) is None


@pytest.mark.parametrize(
    ("raw", "method", "route", "status", "length", "duration"),
    [
        (
            '10.0.0.11 "GET /v2.1/servers/3f6c1a2b-8d4e-4f5a-9b6c-7d8e9f0a1b2c HTTP/1.1" status: 200  len: 1834 time: 0.0451220',
            "GET", "/v2.1/servers/{id}", 200, 1834, 0.045122,
        ),
        (
            '10.0.0.11 "POST /v2.1/servers" status: 202 len: 1012 microversion: 2.79 time: 1.203456',
            "POST", "/v2.1/servers", 202, 1012, 1.203456,
        ),
        (
            '10.0.0.11 "PUT /placement/allocations/3f6c1a2b-8d4e-4f5a-9b6c-7d8e9f0a1b2c" status: 409 len: 321 microversion: 1.36',
            "PUT", "/placement/allocations/{id}", 409, 321, None,
        ),
        (
            '10.0.0.21 - - [20/Nov/2026:10:15:29 +0000] "POST /v3/auth/tokens HTTP/1.1" 201 6870 "-" "openstacksdk/4.0.0" 45123(us)',
            "POST", "/v3/auth/tokens", 201, 6870, 0.045123,
        ),
        (
            '10.0.0.5 [20/Nov/2026:10:15:32 +0000] "GET /v3/users/9f0e1d2c3b4a59687766554433221100 HTTP/1.1" 200 312 4511 + "-" "ua"',
            "GET", "/v3/users/{id}", 200, 312, 0.004511,
        ),
        (
            '10.0.0.9 - - [20/Nov/2026 10:15:32] "GET /v2/images?limit=20 HTTP/1.1" 200 1534 0.045123',
            "GET", "/v2/images", 200, 1534, 0.045123,
        ),
        (
            "[pid: 1234|app: 0|req: 17/42] 10.0.0.3 () {62 vars in 1190 bytes} [Fri Nov 20 10:15:32 2026] "
            "GET /identity/v3/auth/tokens => generated 7462 bytes in 48 msecs (HTTP/1.1 201) 7 headers in 388 bytes",
            "GET", "/identity/v3/auth/tokens", 201, 7462, 0.048,
        ),
    ],
)  # fmt: skip
def test_access_styles(
    raw: str, method: str, route: str, status: int, length: int, duration: float | None
) -> None:
    info = parse_access(raw)
    assert info is not None
    assert (info.method, info.route, info.status, info.length) == (method, route, status, length)
    if duration is None:
        assert info.duration is None
    else:
        assert info.duration == pytest.approx(duration)


def test_apache_access_log_file() -> None:
    lines = _lines(DATA / "ctl-1" / "apache2" / "keystone_access.log")
    assert [x.fmt for x in lines] == ["access"] * 4
    assert [x.access.status for x in lines if x.access] == [201, 200, 404, 200]
    assert lines[0].ts == calendar.timegm((2026, 11, 20, 10, 15, 29, 0, 0, 0))


def test_not_access_lines() -> None:
    assert parse_access("Claim successful on node cmp-3") is None
    assert parse_access('Lock "compute_resources" acquired by "x" :: waited 0.000s') is None


def test_bad_lines_are_problems_and_stay_findable(tmp_path: Path) -> None:
    path = tmp_path / "neutron-server.log"
    good = (
        '{"message": "Port 27d514c6 bound", "levelname": "INFO", "name": "neutron.plugins.ml2", '
        '"created": 1795601729.5, "process": 812, "traceback": null, '
        f'"context": {{"request_id": "{LOCAL}", "global_request_id": null}}, "extra": {{}}}}'
    )
    path.write_text(f"{good}\nrsyslogd: message repeated 3 times for {LONE}\n{good[:40]}\n")
    records = _records(path)
    problems = [r for r in records if isinstance(r, ParseProblem)]
    assert [(p.file, p.line_no) for p in problems] == [(str(path), 2), (str(path), 3)]
    unparsed = [r for r in records if isinstance(r, LogLine) and r.fmt == "unparsed"]
    assert [u.line_no for u in unparsed] == [2, 3]
    assert unparsed[0].local_id == LONE  # still carries the id it mentions
    assert records[0] == records[0] and isinstance(records[0], LogLine) and records[0].local_id == LOCAL


def test_timestamp_without_header_is_a_problem() -> None:
    assert parse_record("2026-11-20 10:15:32.217 something else entirely") is None
    line = LineParser("f.log", "svc", "h").parse("2026-11-20 10:15:32.217 something else entirely")
    assert line.fmt == "unparsed"


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v2.1/servers/detail?all_tenants=1", "/v2.1/servers/detail"),
        ("/v2.1/flavors/m1.small/os-extra_specs", "/v2.1/flavors/{id}/os-extra_specs"),
        (
            "/v2.1/0f4e3d2c1b0a49586776655443322110/servers/3f6c1a2b-8d4e-4f5a-9b6c-7d8e9f0a1b2c/action",
            "/v2.1/{id}/servers/{id}/action",
        ),
        ("/placement/allocation_candidates?limit=1000", "/placement/allocation_candidates"),
        (
            "/resource_providers/3f6c1a2b-8d4e-4f5a-9b6c-7d8e9f0a1b2c/inventories/VCPU",
            "/resource_providers/{id}/inventories/{id}",
        ),
        ("/v2/images/3f6c1a2b-8d4e-4f5a-9b6c-7d8e9f0a1b2c/file", "/v2/images/{id}/file"),
        ("/v2.0/ports?device_id=3f6c1a2b-8d4e-4f5a-9b6c-7d8e9f0a1b2c", "/v2.0/ports"),
        ("/v3/auth/tokens", "/v3/auth/tokens"),
        ("/", "/"),
    ],
)
def test_route_templates(path: str, route: str) -> None:
    assert route_template(path) == route
