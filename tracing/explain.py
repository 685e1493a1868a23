"""`kansoku trace --explain`: why each span is a caller or a callee, and why the root cause.

An operator who disagrees with a verdict needs the evidence, not the conclusion: for every
span the link that placed it under its parent (kind and file:line) and what its own lines
say about its role (an access line: it served HTTP; oslo.messaging's "Exception during
message handling": it is an RPC callee; a RemoteError or MessagingTimeout: it is the
caller), then the steps that chose the root cause, each with its file:line.
"""

from __future__ import annotations

from kansoku.tracing.isolate import short_location
from kansoku.tracing.model import LogLine, Span, Trace, Verdict
from kansoku.tracing.rpc_evidence import is_rpc_callee_line, is_rpc_caller_line


def span_role(span: Span) -> str:
    """What the span's own lines say about its place in a call, with the line that says it."""
    callee = next((ln for ln in span.lines if is_rpc_callee_line(ln)), None)
    if callee is not None:
        return f"RPC callee: logs oslo.messaging's {_quote(callee)} ({short_location(callee)})"
    caller = next((ln for ln in span.lines if is_rpc_caller_line(ln)), None)
    if caller is not None:
        return f"RPC caller: got a remote error or timeout back ({short_location(caller)})"
    served = next((ln for ln in span.lines if ln.access is not None and ln.local_id == span.request_id), None)
    if served is not None and served.access is not None:
        return f"served {served.access.method} {served.access.route} over HTTP ({short_location(served)})"
    return "no role of its own in its lines: placed by its link"


def _quote(line: LogLine) -> str:
    return repr(line.message.split("\n", 1)[0].strip()[:60])


def explain_lines(trace: Trace, verdict: Verdict) -> list[str]:
    """The --explain text, one item per line (no markup)."""
    by_target = {link.target: link for link in trace.links}
    out = ["why each span is where it is:"]
    for span in trace.spans:
        name = f"{span.service}@{span.host} [{span.request_id}]"
        link = by_target.get(span.key)
        if span.parent is None:
            place = "root of the trace (no caller in these logs)"
            if link is not None:  # a second root, kept by the id it shares
                place += f"; in the trace because {link.explain()} ({link.detail})"
        elif link is not None:
            place = f"callee of {link.source.service}@{link.source.host}: {link.explain()}"
            if link.detail:
                place += f" ({link.detail})"
        else:
            place = f"callee of {span.parent.service}@{span.parent.host}"
        out.append(f"  {name}: {place}; {span_role(span)}")
    out.append("why this root cause:")
    if verdict.root_cause is None:
        out.append("  nothing failed: no ERROR/CRITICAL line, traceback or 5xx under the request's ids")
    out.extend(f"  - {reason}" for reason in verdict.reasons)
    for weak in verdict.weak_origin:
        out.append(f"  - weak (time only): {weak.span.service}@{weak.span.host} {short_location(weak.line)}: "
                   f"{weak.message.splitlines()[0] if weak.message else ''}")  # fmt: skip
    return out
