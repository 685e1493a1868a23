"""End to end on the demo cloud: generate -> index -> trace every ground-truth request -> verdict.

Also `kansoku demo` itself, run as a user runs it (a real process), and the comparison
that decides its exit code.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kansoku.tracing.demo import check_fault, prepare, verdict_matches
from kansoku.tracing.demo.chains import CHAINS
from kansoku.tracing.demo.faults import FAULT_KINDS
from kansoku.tracing.demo.truth import GroundTruth
from kansoku.tracing.model import LogSource

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth, LogSource]:
    workdir = tmp_path_factory.mktemp("demo")
    demo = prepare(workdir)
    assert "indexed" in demo.index_summary
    assert "problem" not in demo.index_summary  # every generated line parses
    return workdir, demo.truth, demo.source


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_verdict_matches_ground_truth(demo: tuple[Path, GroundTruth, LogSource], kind: str) -> None:
    _, truth, source = demo
    fault = next(f for f in truth.faults if f.kind == kind)
    check, verdict = check_fault(source, fault)
    assert verdict.root_cause is not None, verdict.explanation
    rc = verdict.root_cause
    assert (rc.span.service, rc.span.host) == (fault.root_service, fault.root_host), verdict.explanation
    assert fault.evidence in rc.line.raw or fault.evidence in rc.message, verdict.explanation
    if fault.exception:
        assert rc.exception is not None and rc.exception.endswith(fault.exception.rsplit(".", 1)[-1])
    if fault.status and not fault.exception:
        assert rc.status == fault.status
    assert check.ok, check


def test_trace_reaches_every_service_of_the_ground_truth(demo: tuple[Path, GroundTruth, LogSource]) -> None:
    from kansoku.tracing.stitch import build_trace

    _, truth, source = demo
    for fault in truth.faults:
        trace = build_trace(source, fault.request_id)
        found = {f"{s.service}@{s.host}" for s in trace.spans}
        assert set(fault.services) <= found, fault.kind
        if fault.kind == "volume_attach_timeout":
            # cinder-volume logs only cinder-api's own id (older release, no global id)
            assert set(fault.reachable) <= found


def test_big_request_assembles(demo: tuple[Path, GroundTruth, LogSource]) -> None:
    from kansoku.tracing.stitch import build_trace

    _, truth, source = demo
    assert truth.big_request is not None
    trace = build_trace(source, truth.big_request.request_id)
    assert len({s.service for s in trace.spans}) >= 10
    assert sum(len(s.lines) for s in trace.spans) >= 2000


def test_a_wrong_verdict_is_a_mismatch(demo: tuple[Path, GroundTruth, LogSource]) -> None:
    """The comparison can fail: the same verdict against a ground truth with another host or type."""
    _, truth, source = demo
    by_kind = {f.kind: f for f in truth.faults}
    fault = by_kind["volume_attach_timeout"]
    _, verdict = check_fault(source, fault)
    assert verdict_matches(fault, verdict)
    assert not verdict_matches(dataclasses.replace(fault, root_host="stor-9"), verdict)
    assert not verdict_matches(
        dataclasses.replace(fault, exception="cinder.exception.VolumeNotFound"), verdict
    )
    placement = by_kind["placement_conflict"]
    _, verdict = check_fault(source, placement)
    assert not verdict_matches(dataclasses.replace(placement, status=404), verdict)


def test_kansoku_demo_cli_tracing_section(tmp_path: Path) -> None:
    kansoku = Path(sys.executable).with_name("kansoku")
    env = {**os.environ, "COLUMNS": "100"}
    proc = subprocess.run(
        [str(kansoku), "demo", "--only", "tracing", "--workdir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    n = len(FAULT_KINDS) + len(CHAINS)
    assert "request tracing" in out and f"all {n} fault kinds traced to their root cause" in out
    assert "root cause: placement-api on" in out
    for kind in (*FAULT_KINDS, *CHAINS):  # the two-step faults are in the table too
        assert kind in out
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "out" / "cloud" / "ground-truth.json").exists()
    assert (tmp_path / "out" / ".kansoku").is_dir()


def test_demo_runs_every_section_and_exits_1_when_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing section (a real module raising KansokuError) does not stop the next one."""
    import kansoku.demo

    pkg = tmp_path / "mods"
    pkg.mkdir()
    (pkg / "h3_failing_demo.py").write_text(
        "from kansoku.errors import KansokuError\n"
        "def run_demo(console, workdir):\n"
        "    console.print('failing section ran')\n"
        "    raise KansokuError('2 of 6 fault kinds got a wrong verdict', 1)\n"
    )
    (pkg / "h3_passing_demo.py").write_text(
        "def run_demo(console, workdir):\n    (workdir / 'passed').write_text('yes')\n"
    )
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.setattr(
        kansoku.demo,
        "SECTIONS",
        (("first", "h3_failing_demo"), ("second", "h3_passing_demo")),
    )
    assert kansoku.demo.run(tmp_path / "out") == 1
    out = capsys.readouterr().out
    assert "failing section ran" in out and "2 of 6 fault kinds got a wrong verdict" in out
    assert (tmp_path / "out" / "passed").read_text() == "yes"
    assert "demo failed in: first" in out
    monkeypatch.setattr(kansoku.demo, "SECTIONS", (("second", "h3_passing_demo"),))
    assert kansoku.demo.run(tmp_path / "out2") == 0
