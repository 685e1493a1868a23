"""Causal chains across requests: from the request the user saw fail to the request that broke.

The user's `openstack server reboot` fails with "409 Conflict: Cannot 'reboot' instance I
while it is in vm_state error". That request is fine; an earlier one (the build, minutes
ago, in nova-compute) broke the instance. The two share no request id, only the instance's
UUID, so `build_trace` stops at the 409. Here we:

1. decide whether the reported failure is about a resource's state: a refusal that names
   the state (`resources.refusal`), a NoValidHost on an instance that failed before, or a
   failure on a resource an earlier request left in error (`resources.leaves_broken`);
2. read the resource's history through the same `LogSource` (the index records every UUID
   of every line) and walk it backwards from the reported request, past other refusals, to
   the latest request that failed on the resource itself;
3. trace and isolate that request, and report both: the earlier root cause is the verdict's
   root cause, the reported request's refusal is propagated, and a `resource` link with its
   evidence (the refusal line; the history lines) joins the two traces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from kansoku.tracing.isolate import clip, fmt_root, fmt_short, isolate, short_exception, short_location
from kansoku.tracing.model import (
    CausalChain,
    ErrorInfo,
    Link,
    LinkKind,
    LogLine,
    LogSource,
    ResourceRef,
    Span,
    SpanKey,
    Strength,
    Trace,
    Verdict,
    replace,
)
from kansoku.tracing.resources import Refusal, leaves_broken, refusal, resource_refs
from kansoku.tracing.stitch import build_trace, is_error_line
from kansoku.tracing.suspects import with_suspects
from kansoku.tracing.worker import join_same_worker

#: Exceptions that end a build after an earlier failure (reschedules exhausted): the earlier
#: failure on the same instance is the cause, not the scheduler that found no other host.
RESCHEDULE_ENDS = frozenset({"NoValidHost", "MaxRetriesExceeded"})
#: A resource's history is read up to this many lines (a VM that lived for months logs more).
MAX_HISTORY_LINES = 5_000
#: Resource kinds a failure that merely touched them is checked against.
TOUCHED_KINDS = frozenset({"instance", "volume", "port"})
#: How much of an error message the causal-chain verdict quotes (isolate's verdict quotes 240).
_CLIP = 200

TraceBuilder = Callable[[LogSource, str], Trace]


def _default_builder(source: LogSource, query: str) -> Trace:
    return build_trace(source, query)


def follow_chain(
    source: LogSource, trace: Trace, verdict: Verdict, builder: TraceBuilder = _default_builder
) -> tuple[Trace, Verdict]:
    """The trace and verdict, extended to the earlier request that broke the resource, if any.

    Returns the inputs unchanged when the failure is not about a resource's state or the
    resource's history shows no earlier failure: single-request verdicts stay as they were.
    The verdict then lists the writer of the data the root cause crashed on, if any
    (`suspects.with_suspects`).
    """
    trace, verdict = _follow(source, trace, verdict, builder)
    return trace, with_suspects(trace, verdict)


def _follow(
    source: LogSource, trace: Trace, verdict: Verdict, builder: TraceBuilder
) -> tuple[Trace, Verdict]:
    joined = join_same_worker(source, trace, builder)
    if joined is not None:
        # the request went on under a new id in the same worker: judge the joined trace
        trace = joined
        link = next(ln for ln in trace.links if ln.kind is LinkKind.SAME_WORKER)
        verdict = isolate(trace)
        verdict.explanation += (
            f"; {trace.query} continued as {link.target.request_id} in the same {link.source.service} "
            f"worker (weak same_worker link at {link.evidence})"
        )
    verdict = prefer_first_failure(trace, verdict)
    if verdict.root_cause is None or not trace.spans:
        return trace, verdict
    for trigger, refs, why in _triggers(trace, verdict):
        for ref in refs:
            found = _breaker(source, ref, trace, need_marker=trigger == "touched")
            if found is None:
                continue
            breaker, history = found
            rid = breaker.local_id or breaker.global_id or ""
            earlier = builder(source, rid)
            if not earlier.spans:
                continue
            earlier_verdict = prefer_first_failure(earlier, isolate(earlier))
            return _combine(trace, verdict, earlier, earlier_verdict, ref, trigger, why, breaker, history)
    return trace, verdict


def _triggers(trace: Trace, verdict: Verdict) -> list[tuple[str, list[ResourceRef], Refusal | None]]:
    """Why the reported failure may be an earlier request's fault, with the resources to check."""
    strong = [s for s in trace.spans if not s.weak]
    named = _named(strong)
    out: list[tuple[str, list[ResourceRef], Refusal | None]] = []
    for span in strong:
        for line in span.lines:
            found = refusal(line)
            if found is not None:
                refs = [found.resource] if found.resource else [r for r in named if r.kind == found.kind]
                out.append(("refused", refs, found))
                break
        if out:
            break
    rc = verdict.root_cause
    assert rc is not None
    if short_exception(rc.exception) in RESCHEDULE_ENDS or any(
        short_exception(p.exception) in RESCHEDULE_ENDS for p in verdict.propagated
    ):
        out.append(("no_valid_host", [r for r in named if r.kind == "instance"], None))
    # Touched: only what the failing line itself names, and only resources a request owns
    # (a network or an image is shared by thousands of requests: a long history, no owner).
    touched = [r for r in resource_refs(rc.line) if r.kind in TOUCHED_KINDS]
    out.append(("touched", touched, None))
    return out


def _named(spans: list[Span]) -> list[ResourceRef]:
    seen: list[ResourceRef] = []
    for span in spans:
        for line in span.lines:
            for ref in resource_refs(line):
                if ref not in seen:
                    seen.append(ref)
    return seen


def _request_of(line: LogLine) -> str | None:
    return line.local_id or line.global_id


def _breaker(
    source: LogSource, ref: ResourceRef, trace: Trace, need_marker: bool
) -> tuple[LogLine, list[LogLine]] | None:
    """The line of the latest earlier request that failed on the resource, and the history read.

    Walking back from the reported request, requests that were only refused (consequences
    too) and requests that did not fail are passed; the first request with an error on the
    resource is the one that broke it. `need_marker`: only a request that says it left the
    resource broken counts (the reported failure did not name a state).
    """
    starts = [s.start for s in trace.spans if not s.weak]
    before = min(starts) if starts else float("inf")
    history: list[LogLine] = []
    for line in source.lines_for([ref.uuid]):
        if ref.uuid in line.raw:
            history.append(line)
        if len(history) >= MAX_HISTORY_LINES:
            break
    # the reported request's own ids; requests joined only weakly (--instance) may be the breaker
    own = trace.ids - {s.request_id for s in trace.spans if s.weak}
    by_request: dict[str, list[LogLine]] = defaultdict(list)
    for line in history:
        rid = _request_of(line)
        if rid is None or rid in own or line.ts is None or line.ts > before:
            continue
        by_request[rid].append(line)
    # A request's callee lines (placement, cinder) carry its id as their global id: one group.
    latest = sorted(by_request.items(), key=lambda kv: max(ln.ts or 0.0 for ln in kv[1]), reverse=True)
    for _rid, lines in latest:
        lines.sort(key=lambda ln: (ln.ts or 0.0, ln.file, ln.line_no))
        failed = [ln for ln in lines if (is_error_line(ln) or leaves_broken(ln)) and refusal(ln) is None]
        if not failed:
            continue
        if need_marker and not any(leaves_broken(ln) for ln in lines):
            continue
        with_tb = [ln for ln in failed if ln.exception is not None]
        return (with_tb or failed)[0], sorted(history, key=lambda ln: (ln.ts or 0.0, ln.file, ln.line_no))
    return None


def prefer_first_failure(trace: Trace, verdict: Verdict) -> Verdict:
    """NoValidHost after an earlier failure on the same instance: the earlier failure is the cause.

    A build that fails in nova-compute is rescheduled under the same request id; when no
    other host is left, the scheduler raises NoValidHost and the conductor sets the instance
    to ERROR. By causal order the scheduler is the deepest failure, but it only ran out of
    hosts: the compute failure on that instance, earlier in time, is what broke it.
    """
    rc = verdict.root_cause
    if rc is None or rc.line.ts is None or short_exception(rc.exception) not in RESCHEDULE_ENDS:
        return verdict
    rc_refs = set(_named([s for s in trace.spans if s.key == rc.span])) | set(resource_refs(rc.line))
    instances = {r.uuid for r in rc_refs if r.kind == "instance"}
    candidates: list[tuple[float, Span, LogLine]] = []
    for span in trace.spans:
        if span.key == rc.span or span.weak:
            continue
        for line in span.errors:
            if (
                line.exception is not None
                and line.ts is not None
                and line.ts < rc.line.ts
                and short_exception(line.exception) not in RESCHEDULE_ENDS
                and (not instances or line.instance in instances or line.instance is None)
            ):
                candidates.append((line.ts, span, line))
    if not candidates:
        return verdict
    _, span, line = min(candidates, key=lambda c: c[0])
    first = ErrorInfo(span=span.key, line=line, exception=line.exception, message=_exc_message(line))
    propagated = [rc, *(p for p in verdict.propagated if p.span != span.key)]
    text = f"root cause: {fmt_root(first, _CLIP)}; then {fmt_short(rc)} (no other host after the failure)"
    if propagated[1:]:
        text += "; propagated: " + ", ".join(fmt_short(p) for p in propagated[1:])
    others = [o for o in verdict.others if o.span != span.key]
    return replace(verdict, root_cause=first, propagated=propagated, explanation=text, others=others)


def _exc_message(line: LogLine) -> str:
    short = short_exception(line.exception)
    for text in reversed(line.message.split("\n")):
        text = text.strip()
        head, _, rest = text.partition(": ")
        if short and short_exception(head) == short:
            return rest.strip() or short
    return line.message.split("\n", 1)[0].strip()


def _when(ts: float | None) -> str:
    from datetime import UTC, datetime  # only a causal chain is dated: not at every start

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else "?"


def _span_of(trace: Trace, line: LogLine) -> Span | None:
    return next((s for s in trace.spans if any(ln is line for ln in s.lines)), None)


def _combine(
    trace: Trace,
    verdict: Verdict,
    earlier: Trace,
    earlier_verdict: Verdict,
    ref: ResourceRef,
    trigger: str,
    why: Refusal | None,
    breaker: LogLine,
    history: list[LogLine],
) -> tuple[Trace, Verdict]:
    """One trace with both requests, a `resource` link between them, and the chained verdict."""
    reported_rc = verdict.root_cause
    assert reported_rc is not None
    keys = {s.key for s in trace.spans}
    earlier_spans = [s for s in earlier.spans if s.key not in keys]
    breaker_span = _span_of(earlier, breaker)
    source_key: SpanKey = (
        breaker_span.key
        if breaker_span is not None
        else (earlier_verdict.root_cause.span if earlier_verdict.root_cause else earlier.spans[0].key)
    )
    target_line = why.line if why is not None else reported_rc.line
    target_span = _span_of(trace, target_line)
    target_key = target_span.key if target_span is not None else reported_rc.span
    state = why.state if why is not None else "error"
    earlier_id = earlier.spans[0].request_id
    strength = Strength.STRONG if why is not None and why.resource == ref else Strength.WEAK
    detail = (
        f"{ref.kind} {ref.uuid}: {earlier_id} failed on it at {short_location(breaker)}, "
        f"then {trace.spans[0].request_id} {'was refused' if why is not None else 'failed'} ({state})"
    )
    link = Link(LinkKind.RESOURCE, source_key, target_key, target_line.location, strength, detail)
    root = earlier_verdict.root_cause or ErrorInfo(
        span=source_key, line=breaker, exception=breaker.exception, message=_exc_message(breaker)
    )
    refused = "was refused" if why is not None else "failed"
    text = (
        f"root cause: {fmt_root(root, _CLIP)} (earlier request {earlier_id} at {_when(breaker.ts)} left "
        f"{ref.kind} {ref.uuid} in {state}); this request {trace.spans[0].request_id} {refused}: "
        f"{clip(reported_rc.message, _CLIP)} ({short_location(reported_rc.line)})"
    )
    propagated = [*earlier_verdict.propagated, reported_rc, *verdict.propagated]
    if earlier_verdict.propagated:
        text += "; propagated: " + ", ".join(fmt_short(p) for p in earlier_verdict.propagated)
    chain = CausalChain(
        resource=ref,
        state=state,
        trigger=trigger,
        reported_id=trace.spans[0].request_id,
        earlier_id=earlier_id,
        earlier_time=breaker.ts,
        refusal=reported_rc,
        breaker=breaker,
        link=link,
        earlier=earlier_verdict,
        history=[ln.location for ln in history[:50]],
    )
    combined = Trace(
        query=trace.query,
        ids=trace.ids | earlier.ids,
        spans=earlier_spans + trace.spans,
        links=[*earlier.links, link, *trace.links],
        files_searched=trace.files_searched,
        truncated=trace.truncated or earlier.truncated,
    )
    others = [*earlier_verdict.others, *verdict.others]
    suspects = [*earlier_verdict.suspects, *verdict.suspects]
    return combined, replace(
        verdict,
        root_cause=root,
        propagated=propagated,
        explanation=text,
        others=others,
        chain=chain,
        suspects=suspects,
        reasons=[*earlier_verdict.reasons, *verdict.reasons],
        weak_origin=[*earlier_verdict.weak_origin, *verdict.weak_origin],
    )
