"""kansoku on the saved real OpenStack logs (tests/data/real-openstack), without the lab.

Fast companions of test_real_openstack.py: the same kind of assertions on a fixed recording,
so a parser or stitcher change that breaks on real logs shows up in a second, and through
the CLI a user runs (`kansoku index`, `kansoku trace`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kansoku.cli import build_app
from kansoku.lab.records import TrafficReport

DATA = Path(__file__).parent / "data" / "real-openstack"


@pytest.fixture(scope="module")
def report() -> TrafficReport:
    return TrafficReport.model_validate_json((DATA / "traffic.json").read_text())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kansoku.tracing.index import build_index

    path = tmp_path_factory.mktemp("store")
    assert build_index([DATA], path).files_seen == 7
    return path


def _placement_local(global_id: str) -> str:
    for line in (DATA / "placement.log").read_text().splitlines():
        ctx = json.loads(line)["context"]
        if ctx.get("global_request_id") == global_id:
            return str(ctx["request_id"])
    raise AssertionError(global_id)


def test_cli_traces_the_chain_across_four_services(report: TrafficReport, store: Path) -> None:
    gid = report.by_name("limits-chain").sent_global_request_id
    assert gid is not None
    result = CliRunner().invoke(build_app(), ["trace", gid, "--store", str(store)])
    assert result.exit_code == 0, result.output
    for service in ("nova-api@", "placement@", "rpc-client@", "rpc-server@"):
        assert service in result.output
    assert "4 services" in result.output


def test_chain_from_each_local_id(report: TrafficReport, store: Path) -> None:
    from kansoku.tracing.sources.index import IndexSource
    from kansoku.tracing.stitch import build_trace

    chain = report.by_name("limits-chain")
    starts = [
        chain.local_request_id,
        _placement_local(chain.sent_global_request_id or ""),
        report.by_name("limits-chain-rpc").local_request_id,
    ]
    for start in starts:
        trace = build_trace(IndexSource(store), start or "")
        assert {s.service for s in trace.spans} == {"nova-api", "placement", "rpc-client", "rpc-server"}


@pytest.mark.parametrize(
    ("name", "service", "needle"),
    [
        ("bad-password", "keystone", "Unauthorized"),
        ("invalid-token", "placement", "InvalidToken"),
        ("allocation-conflict", "placement", "409"),
        ("server-not-found", "nova-api", "404"),
        ("rpc-timeout", "rpc-client", "MessagingTimeout"),
        ("rpc-remote-error", "rpc-server", "InstanceNotFound"),
        ("compute-rpc-raises", "nova-compute", "NotImplementedError"),
        ("compute-rpc-timeout", "nova-compute", "None"),
    ],
)
def test_failures_isolated_on_saved_logs(
    report: TrafficReport, store: Path, name: str, service: str, needle: str
) -> None:
    from kansoku.tracing.isolate import isolate
    from kansoku.tracing.sources.index import IndexSource
    from kansoku.tracing.stitch import build_trace

    rec = report.by_name(name)
    verdict = isolate(build_trace(IndexSource(store), rec.sent_global_request_id or ""))
    assert verdict.root_cause is not None
    assert verdict.root_cause.span.service == service
    assert (
        needle in f"{verdict.root_cause.exception} {verdict.root_cause.status} {verdict.root_cause.message}"
    )


def test_refused_nova_token_is_not_findable_by_its_ids(report: TrafficReport, store: Path) -> None:
    """Case 5 of docs/openstack-odd-cases.md: nova logs the 401 with `[-]` only."""
    rec = report.by_name("nova-invalid-token")
    text = (DATA / "nova-api.log").read_text()
    assert str(rec.sent_global_request_id) not in text and str(rec.local_request_id) not in text
    assert "keystonemiddleware.auth_token [-] Authorization failed for token" in text
    result = CliRunner().invoke(
        build_app(), ["trace", rec.sent_global_request_id or "", "--store", str(store)]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output


# --- a saved server create (tests/data/real-openstack-create): six services, NoValidHost ------

CREATE_DATA = Path(__file__).parent / "data" / "real-openstack-create"
CREATE = {"nova-api", "glance", "placement", "nova-conductor", "nova-scheduler", "nova-compute"}


@pytest.fixture(scope="module")
def create_report() -> TrafficReport:
    return TrafficReport.model_validate_json((CREATE_DATA / "traffic.json").read_text())


@pytest.fixture(scope="module")
def create_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kansoku.tracing.index import build_index

    path = tmp_path_factory.mktemp("create-store")
    assert build_index([CREATE_DATA], path).files_seen == 9
    return path


def test_saved_create_recorded_active_and_error(create_report: TrafficReport) -> None:
    ok, bad = create_report.by_name("server-create"), create_report.by_name("server-create-no-valid-host")
    assert (ok.status, ok.final_state) == (202, "ACTIVE")
    assert (bad.status, bad.final_state) == (202, "ERROR")


@pytest.mark.parametrize("start", ["global", "nova-api-local"])
def test_saved_create_is_stitched_across_six_services(
    create_report: TrafficReport, create_store: Path, start: str
) -> None:
    from kansoku.tracing.sources.index import IndexSource
    from kansoku.tracing.stitch import build_trace

    rec = create_report.by_name("server-create")
    query = rec.sent_global_request_id if start == "global" else rec.local_request_id
    trace = build_trace(IndexSource(create_store), query or "")
    assert {s.service for s in trace.spans} == CREATE
    spans = {s.service: s for s in trace.spans if s.service != "placement"}
    assert spans["nova-scheduler"].parent == spans["nova-conductor"].key
    assert spans["nova-compute"].parent == spans["nova-conductor"].key


def test_saved_no_valid_host_is_isolated_to_the_scheduler(
    create_report: TrafficReport, create_store: Path
) -> None:
    rec = create_report.by_name("server-create-no-valid-host")
    result = CliRunner().invoke(
        build_app(), ["trace", rec.sent_global_request_id or "", "--store", str(create_store)]
    )
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("root cause: nova-scheduler") and "NoValidHost" in first
    assert "propagated: nova-conductor" in first
    assert "nova-compute@" not in result.output  # the build never reached a host


def test_saved_create_trace_is_rooted_at_nova_api(create_report: TrafficReport, create_store: Path) -> None:
    from kansoku.tracing.sources.index import IndexSource
    from kansoku.tracing.stitch import build_trace

    rec = create_report.by_name("server-create")
    trace = build_trace(IndexSource(create_store), rec.sent_global_request_id or "")
    assert trace.spans[0].service == "nova-api"
    # glance adopted the global id as its own; nova-api (still running when glance was called)
    # is its caller, not a placement call that happened to start before it.
    glance = next(s for s in trace.spans if s.service == "glance")
    assert glance.parent is not None and glance.parent.service == "nova-api"


def test_saved_active_create_has_no_root_cause(create_report: TrafficReport, create_store: Path) -> None:
    from kansoku.tracing.isolate import isolate
    from kansoku.tracing.sources.index import IndexSource
    from kansoku.tracing.stitch import build_trace

    rec = create_report.by_name("server-create")
    verdict = isolate(build_trace(IndexSource(create_store), rec.sent_global_request_id or ""))
    assert verdict.root_cause is None, verdict.explanation
