"""The saved real two-step run (tests/data/real-openstack-two-step), traced without a lab.

Real nova-compute (FakeBuildAbortDriver) failed a build and left the instance in ERROR;
real nova-api then refused the user's soft reboot with 409. From the reboot's request id
alone, the verdict names nova-compute and the create request, linked by the instance UUID.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kansoku.lab.records import TrafficReport
from kansoku.tracing.index import build_index
from kansoku.tracing.model import LinkKind, Strength
from kansoku.tracing.trace_cmd import trace_main

DATA = Path(__file__).resolve().parent / "data" / "real-openstack-two-step"


@pytest.fixture(scope="module")
def report() -> TrafficReport:
    return TrafficReport.model_validate_json((DATA / "traffic-two-step.json").read_text())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("two-step") / "store"
    build_index([DATA], store)
    return store


def test_saved_run_is_a_build_failure_then_a_refused_reboot(report: TrafficReport) -> None:
    build, reboot = report.by_name("server-create-build-abort"), report.by_name("server-reboot-refused")
    assert (build.status, build.final_state, reboot.status) == (202, "ERROR", 409)
    assert reboot.caused_by == build.name and reboot.resource_id == build.resource_id


def test_from_the_refused_reboot_the_verdict_names_nova_compute_and_the_create(
    report: TrafficReport, store: Path
) -> None:
    from kansoku.tracing.chain import follow_chain
    from kansoku.tracing.isolate import isolate
    from kansoku.tracing.sources.index import IndexSource
    from kansoku.tracing.stitch import build_trace

    build, reboot = report.by_name("server-create-build-abort"), report.by_name("server-reboot-refused")
    assert reboot.local_request_id and build.resource_id
    source = IndexSource(store)
    trace = build_trace(source, reboot.local_request_id)
    alone = isolate(trace)
    assert alone.root_cause is not None and alone.root_cause.status == 409
    assert alone.root_cause.span.service == "nova-api"  # before chains: the refusal was the answer
    _, v = follow_chain(source, trace, alone)
    assert v.root_cause is not None and v.chain is not None, v.explanation
    assert v.root_cause.span.service == "nova-compute"
    assert v.root_cause.exception == "nova.exception.BuildAbortException"
    assert v.chain.earlier_id == build.local_request_id
    assert v.chain.resource.kind == "instance" and v.chain.resource.uuid == build.resource_id
    assert v.chain.state == "vm_state error" and v.chain.trigger == "refused"
    assert v.chain.link.kind is LinkKind.RESOURCE and v.chain.link.strength is Strength.STRONG
    assert "nova-api.log:" in v.chain.link.evidence
    assert v.explanation.startswith("root cause: nova-compute on ")
    assert f"earlier request {build.local_request_id}" in v.explanation
    assert f"this request {reboot.local_request_id} was refused: 409 Conflict" in v.explanation
    assert v.suspects == []  # BuildAbortException is not a crash on another service's data


def test_cli_json_carries_the_chain(
    report: TrafficReport, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build, reboot = report.by_name("server-create-build-abort"), report.by_name("server-reboot-refused")
    assert reboot.local_request_id
    assert trace_main([reboot.local_request_id, "--json", "--store", str(store)]) == 0
    doc = json.loads(capsys.readouterr().out)
    chain = doc["verdict"]["chain"]
    assert chain["earlier_request_id"] == build.local_request_id
    assert chain["resource"] == {"kind": "instance", "uuid": build.resource_id}
    assert doc["verdict"]["root_cause"]["service"] == "nova-compute"
