"""Stitching and isolation on the demo cloud: 9 hosts, text + JSON, rotation, gzip, background
traffic, and injected faults with a ground truth written by the generator (not by us)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kansoku.tracing.demo.generate import generate
from kansoku.tracing.demo.truth import GroundTruth
from kansoku.tracing.index import build_index
from kansoku.tracing.isolate import isolate
from kansoku.tracing.sources.index import IndexSource
from kansoku.tracing.stitch import build_trace


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[GroundTruth, IndexSource]:
    root = tmp_path_factory.mktemp("demo")
    truth = generate(root / "cloud", seed=7)
    build_index([root / "cloud"], root / "store")
    return truth, IndexSource(root / "store")


def _short(name: str | None) -> str | None:
    return name.rsplit(".", 1)[-1] if name else None


def test_every_injected_fault_gets_the_true_root_cause(demo) -> None:
    truth, source = demo
    kinds = {f.kind for f in truth.faults}
    assert kinds == {
        "placement_conflict",
        "port_binding_failed",
        "image_not_found",
        "volume_attach_timeout",
        "expired_token",
        "rpc_timeout",
    }
    for fault in truth.faults:
        verdict = isolate(build_trace(source, fault.request_id))
        rc = verdict.root_cause
        assert rc is not None, fault.kind
        assert (rc.span.service, rc.span.host) == (fault.root_service, fault.root_host), (
            fault.kind,
            verdict.explanation,
        )
        if fault.exception:
            assert _short(rc.exception) == _short(fault.exception), fault.kind
        elif fault.status:
            assert rc.status == fault.status, fault.kind
        else:
            assert fault.evidence in rc.line.raw, fault.kind
        for service in fault.propagated:
            assert (
                any(p.span.service == service for p in verdict.propagated) or service == "nova-scheduler"
            ), (
                fault.kind,
                service,
                verdict.explanation,
            )


def test_every_service_of_a_fault_is_stitched(demo) -> None:
    """The ground truth lists service@host with the reported id and those joined via other ids."""
    truth, source = demo
    for fault in truth.faults:
        trace = build_trace(source, fault.request_id)
        got = {f"{s.service}@{s.host}" for s in trace.spans}
        assert set(fault.services) | set(fault.reachable) <= got, fault.kind
        files = {"/".join(Path(ln.file).parts[-2:]) for ln in trace.lines()}
        assert files >= set(fault.files), fault.kind


def test_big_request_is_complete_and_causal(demo) -> None:
    truth, source = demo
    big = truth.big_request
    assert big is not None
    trace = build_trace(source, big.request_id)
    assert trace.truncated is None
    assert sum(len(s.lines) for s in trace.spans) == big.lines
    assert {s.service for s in trace.spans} == {s.split("@")[0] for s in big.services} | {
        s.service for s in trace.spans
    }
    assert len({s.service for s in trace.spans}) >= 10
    seen = set()
    explained = {ln.target for ln in trace.links}
    for span in trace.spans:
        if span.parent is not None:
            assert span.parent in seen  # parents come first
        seen.add(span.key)
    assert explained == {s.key for s in trace.spans} - {trace.spans[0].key}


def test_rpc_timeout_names_the_silent_callee(demo) -> None:
    """nova-api's traceback goes through `self.compute_api...`: the callee that never logged is nova-compute."""
    truth, source = demo
    fault = next(f for f in truth.faults if f.kind == "rpc_timeout")
    verdict = isolate(build_trace(source, fault.request_id))
    assert "nova-compute never logged this request: it is down, stuck or not consuming its queue" in (
        verdict.explanation
    )
