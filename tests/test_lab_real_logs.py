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
from kansoku.lab_traffic import TrafficReport

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
    from kansoku.tracing.source_index import IndexSource
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
    from kansoku.tracing.source_index import IndexSource
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
