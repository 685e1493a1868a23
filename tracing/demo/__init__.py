"""The tracing part of ``kansoku demo``: generate the demo cloud, index it, trace, compare.

Why this shape: the demo is also the proof. It runs exactly the pipeline a user runs
(generator -> ``build_index`` -> ``build_trace`` -> ``isolate`` -> terminal renderer) and then
checks every injected fault's verdict against the generator's ground truth, so a regression
anywhere in tracing turns the demo red (exit 1) instead of printing a plausible story.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kansoku.config import DEFAULT_STORE
from kansoku.errors import KansokuError

if TYPE_CHECKING:
    from rich.console import Console

    from kansoku.tracing.demo.truth import FaultRecord, GroundTruth
    from kansoku.tracing.model import LogSource, Verdict

#: The fault whose trace the demo draws in full: the classic "my VM create failed".
SHOWCASE_KIND = "placement_conflict"


class DemoMismatch(KansokuError):
    """At least one fault kind's verdict differs from the ground truth (exit code 1)."""

    exit_code = 1


@dataclass(frozen=True)
class FaultCheck:
    """One row of the demo's table: what the ground truth says vs what kansoku found."""

    kind: str
    request_id: str
    expected: str  # "service@host exception-or-status"
    got: str
    ok: bool
    explanation: str


def _short(name: str | None) -> str | None:
    return name.rsplit(".", 1)[-1].replace("_Remote", "") if name else None


def verdict_matches(fault: FaultRecord, verdict: Verdict) -> bool:
    """Same service and host, and the same exception type (or HTTP status, or evidence text).

    The exception is compared by its short name because tracebacks name remote exceptions
    as ``nova.exception_Remote.NoValidHost_Remote``; the status is used for faults whose root
    cause is an access line (placement's 409, glance's 404); otherwise the ground truth's
    evidence text must be on the root-cause line.
    """
    rc = verdict.root_cause
    if rc is None or rc.span.service != fault.root_service or rc.span.host != fault.root_host:
        return False
    if fault.earlier_request_id and (
        verdict.chain is None or verdict.chain.earlier_id != fault.earlier_request_id
    ):
        return False
    if fault.exception is not None:
        return _short(rc.exception) == _short(fault.exception)
    if fault.status is not None:
        return bool(rc.status == fault.status)
    return fault.evidence in rc.line.raw


def _expected(fault: FaultRecord) -> str:
    what = _short(fault.exception) or (str(fault.status) if fault.status else "error")
    return f"{fault.root_service}@{fault.root_host} {what}"


def _got(verdict: Verdict) -> str:
    rc = verdict.root_cause
    if rc is None:
        return "no error found"
    what = _short(rc.exception) or (str(rc.status) if rc.status else rc.line.level or "line").lower()
    return f"{rc.span.service}@{rc.span.host} {what}"


def check_fault(source: LogSource, fault: FaultRecord) -> tuple[FaultCheck, Verdict]:
    """Trace the id the user would report and compare kansoku's verdict with the ground truth."""
    from kansoku.tracing.chain import follow_chain
    from kansoku.tracing.isolate import isolate
    from kansoku.tracing.stitch import build_trace

    trace = build_trace(source, fault.request_id)
    _, verdict = follow_chain(source, trace, isolate(trace))
    check = FaultCheck(
        kind=fault.kind,
        request_id=fault.request_id,
        expected=_expected(fault),
        got=_got(verdict),
        ok=verdict_matches(fault, verdict),
        explanation=verdict.explanation,
    )
    return check, verdict


def check_all(source: LogSource, truth: GroundTruth) -> list[FaultCheck]:
    """Every injected fault, checked; the order of the ground truth (the order in time)."""
    return [check_fault(source, f)[0] for f in [*truth.faults, *truth.chain_faults]]


@dataclass(frozen=True)
class DemoCloud:
    """The generated, indexed demo cloud: its ground truth and a LogSource over the index."""

    truth: GroundTruth
    source: LogSource
    index_summary: str


def prepare(workdir: Path, *, seed: int | None = None, scale: int = 1) -> DemoCloud:
    """Generate the demo cloud under ``workdir/cloud`` and index it into ``workdir/.kansoku``.

    The store is rebuilt from scratch each time: the demo's files are regenerated, and a
    second run must show the same thing as the first.
    """
    import shutil

    from kansoku.tracing.demo.chains import generate_cloud
    from kansoku.tracing.demo.generate import DEFAULT_SEED
    from kansoku.tracing.index import build_index
    from kansoku.tracing.sources.index import IndexSource

    cloud = workdir / "cloud"
    store = workdir / DEFAULT_STORE
    truth = generate_cloud(cloud, seed=DEFAULT_SEED if seed is None else seed, scale=scale)
    shutil.rmtree(store, ignore_errors=True)
    # the host directories only: ground-truth.json next to them is not a log
    report = build_index([cloud / host for host in truth.hosts], store)
    return DemoCloud(truth, IndexSource(store), report.summary())


def run_demo(console: Console, workdir: Path) -> None:
    """Generate, index, trace the failed VM create, then check every fault kind (raise if any differ)."""
    from rich.table import Table

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    demo = prepare(workdir)
    truth, source = demo.truth, demo.source
    t1 = time.perf_counter()
    console.print(
        f"demo cloud: {len(truth.hosts)} hosts, {len(truth.files)} log files ({truth.total_lines:,} lines, "
        f"{truth.total_bytes / 1e6:.1f} MB, text + JSON, rotated and gzipped) in {workdir / 'cloud'}; "
        f"generated and indexed in {t1 - t0:.1f} s"
    )
    console.print(f"$ kansoku index --store {workdir / DEFAULT_STORE} {workdir / 'cloud'}/*/")
    console.print(demo.index_summary, soft_wrap=True)
    showcase = next(f for f in truth.faults if f.kind == SHOWCASE_KIND)
    console.print(
        f"\nA user reports: [bold]my VM create failed, request id {showcase.request_id}[/]\n"
        f"$ kansoku trace {showcase.request_id}\n"
    )
    _render_trace(console, source, showcase.request_id)
    checks = check_all(source, truth)
    table = Table(
        title="every injected fault: ground truth vs kansoku's verdict", title_justify="left", box=None
    )
    table.add_column("", justify="center", no_wrap=True, min_width=1)
    table.add_column("fault", no_wrap=True, min_width=21)
    table.add_column("expected root cause", ratio=1)
    table.add_column("kansoku's verdict", ratio=1)
    for c in checks:
        table.add_row("[green]✓[/]" if c.ok else "[red]✗[/]", c.kind, c.expected, c.got)
    console.print(table)
    console.print(f"\nTrace any of them: kansoku trace --store {workdir / DEFAULT_STORE} ID")
    for c in checks:
        console.print(f"  {c.kind:<22} {c.request_id}")
    bad = [c for c in checks if not c.ok]
    if bad:
        for c in bad:
            console.print(f"[red]✗ {c.kind}[/]: {c.explanation}", soft_wrap=True)
        raise DemoMismatch(f"{len(bad)} of {len(checks)} fault kinds got a wrong verdict")
    console.print(f"[green]all {len(checks)} fault kinds traced to their root cause[/]")


def _render_trace(console: Console, source: LogSource, request_id: str) -> None:
    """The waterfall and verdict exactly as ``kansoku trace ID`` prints them."""
    from kansoku.tracing.chain import follow_chain
    from kansoku.tracing.isolate import isolate
    from kansoku.tracing.stitch import build_trace

    trace = build_trace(source, request_id)
    trace, verdict = follow_chain(source, trace, isolate(trace))
    try:
        from kansoku.tracing.outputs.terminal import render
    except ImportError:  # the renderer lands separately; until then the verdict alone
        console.print(verdict.explanation, soft_wrap=True)
        return
    render(console, trace, verdict)
