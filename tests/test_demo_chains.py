"""Two-step faults of the demo cloud: from the refused request to the earlier one that broke the resource.

The generator writes a build that fails in nova-compute and a later reboot/attach refused
with 409, and a volume create that fails in cinder-volume and a later attach refused with
400; its ground truth names the earlier request. kansoku, given only the refused request's
id, must name the service that broke the resource and the earlier request.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kansoku.tracing.demo import check_fault, prepare, verdict_matches
from kansoku.tracing.demo.chains import CHAIN_KINDS, CHAINS, SWITCH_KIND, generate_cloud
from kansoku.tracing.demo.generate import generate
from kansoku.tracing.demo.truth import GroundTruth
from kansoku.tracing.isolate import isolate
from kansoku.tracing.model import LinkKind, LogSource
from kansoku.tracing.stitch import build_trace


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[GroundTruth, LogSource]:
    d = prepare(tmp_path_factory.mktemp("demo-chains"))
    assert "problem" not in d.index_summary
    return d.truth, d.source


def test_ground_truth_lists_every_two_step_fault(demo: tuple[GroundTruth, LogSource]) -> None:
    truth, _ = demo
    assert sorted(f.kind for f in truth.chain_faults) == sorted(CHAINS)
    for fault in (f for f in truth.chain_faults if f.kind in CHAIN_KINDS):
        assert fault.earlier_request_id and fault.earlier_request_id != fault.request_id
        assert fault.resource and fault.resource in fault.note


@pytest.mark.parametrize("kind", sorted(CHAIN_KINDS))
def test_refused_request_is_traced_to_the_request_that_broke(
    demo: tuple[GroundTruth, LogSource], kind: str
) -> None:
    truth, source = demo
    fault = next(f for f in truth.chain_faults if f.kind == kind)
    # alone, the refused request only shows its own refusal (what kansoku said before chains)
    alone = isolate(build_trace(source, fault.request_id))
    assert alone.root_cause is not None and alone.root_cause.status in (400, 409)
    check, verdict = check_fault(source, fault)
    assert check.ok, verdict.explanation
    assert verdict.chain is not None and verdict.root_cause is not None
    assert verdict.chain.earlier_id == fault.earlier_request_id
    assert verdict.chain.resource.uuid == fault.resource
    assert verdict.chain.link.kind is LinkKind.RESOURCE
    assert fault.evidence in verdict.root_cause.line.raw
    assert f"earlier request {fault.earlier_request_id}" in verdict.explanation
    assert f"this request {fault.request_id} was refused" in verdict.explanation
    if fault.root_service == "nova-compute":  # crashed on the block-device mapping nova-api wrote
        assert [(s.service, s.request_id) for s in verdict.suspects] == [
            ("nova-api", fault.earlier_request_id)
        ]
    else:
        assert verdict.suspects == []


def test_a_chain_to_the_wrong_earlier_request_is_a_mismatch(demo: tuple[GroundTruth, LogSource]) -> None:
    import dataclasses

    truth, source = demo
    fault = truth.chain_faults[0]
    _, verdict = check_fault(source, fault)
    other = truth.chain_faults[-1].earlier_request_id
    assert not verdict_matches(dataclasses.replace(fault, earlier_request_id=other), verdict)


def test_single_request_faults_are_not_chained(demo: tuple[GroundTruth, LogSource]) -> None:
    truth, source = demo
    for fault in truth.faults:
        _, verdict = check_fault(source, fault)
        assert verdict.chain is None, (fault.kind, verdict.explanation)
        assert verdict.suspects == [], (fault.kind, verdict.explanation)


def _lines(root: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(root.glob("*/*.log*")):
        key = f"{path.parent.name}/{path.name.split('.log')[0]}"
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        out.setdefault(key, []).extend(raw.decode().splitlines())
    return out


def test_two_step_faults_leave_the_rest_of_the_cloud_unchanged(tmp_path: Path) -> None:
    """They draw from their own random stream: every line of the cloud without them is still there."""
    without = generate(tmp_path / "a", big_request=False)
    with_ = generate_cloud(tmp_path / "b", big_request=False)
    assert without.chain_faults == [] and len(with_.chain_faults) == len(CHAINS)
    assert [f.request_id for f in without.faults] == [f.request_id for f in with_.faults]
    a, b = _lines(tmp_path / "a"), _lines(tmp_path / "b")
    assert a.keys() == b.keys()
    for key, lines in a.items():
        assert set(lines) <= set(b[key]), key
    assert sum(map(len, b.values())) > sum(map(len, a.values()))


def test_request_id_switch_joins_the_rest_of_the_request(demo: tuple[GroundTruth, LogSource]) -> None:
    """nova-api logged one line under the user's id, then the error and the 500 under a new one."""
    truth, source = demo
    fault = next(f for f in truth.chain_faults if f.kind == SWITCH_KIND)
    alone = isolate(build_trace(source, fault.request_id))
    assert alone.root_cause is None  # before: "nothing failed"
    check, verdict = check_fault(source, fault)
    assert check.ok, verdict.explanation
    assert verdict.root_cause is not None and verdict.root_cause.span.request_id != fault.request_id
    assert verdict.chain is None
    assert f"{fault.request_id} continued as {verdict.root_cause.span.request_id}" in verdict.explanation
