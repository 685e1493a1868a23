"""Fault isolation: which service on which host failed first, and which errors only echo it.

Errors in OpenStack propagate up the call path: placement answers 409, the scheduler gives
up with NoValidHost, the conductor logs a traceback, nova-api answers 500. The operator
wants the bottom of that chain. So we mark the failing spans, keep the ones with no failing
descendant (the deepest on the call path), take the first of them in causal order, and call
every failure on its ancestors "propagated". An RPC timeout or a remote exception points one
level further down: at the callee that did not answer (or was never reached).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING

from kansoku.ids import REQUEST_ID_LOOSE
from kansoku.lazyre import LazyPattern
from kansoku.tracing.model import ErrorInfo, LogLine, Span, SpanKey, Trace, Verdict
from kansoku.tracing.rpc_evidence import is_periodic_task, is_rpc_callee_line, last_host_error
from kansoku.tracing.stitch import canonical_service, is_error_line

if TYPE_CHECKING:
    from kansoku.tracing.nearby import NearbyErrors

#: Short hints for client errors that are the whole story (no traceback anywhere).
STATUS_HINTS: dict[int, str] = {
    401: "token rejected (expired, revoked or invalid): re-authenticate",
    403: "forbidden by policy for this user/project",
    404: "not found",
    409: "conflict",
    413: "over quota or request too large",
    503: "service unavailable",
}

#: Exceptions that mean "the callee did not answer" or "the callee raised": blame the callee.
TIMEOUT_EXCEPTIONS = ("MessagingTimeout",)
#: `.../nova/conductor/rpcapi.py` in a caller's traceback names the RPC callee nova-conductor.
_RPCAPI_RE = LazyPattern(r"/(\w+)/(\w+)/rpcapi\.py")
_VIA_API_RE = LazyPattern(r"\b(compute|conductor|scheduler|volume|backup)_(?:rpc)?api\.")
#: oslo.log's context bracket: `[None req-... user project ...] ` or `[req-... ...] ` or `[-] `.
_CONTEXT_RE = LazyPattern(rf"\[(?:None|-|{REQUEST_ID_LOOSE})(?: [^\]]*)?\] ")
_EXC_IN_TEXT_RE = LazyPattern(r"((?:[a-z_]\w*\.)+[A-Z]\w*): ")
_DETAIL_RE = LazyPattern(r'"detail": "((?:[^"\\]|\\.)*)"')
_EXC_FINAL_RE = LazyPattern(r"^([A-Za-z_][\w.]*?)(?:_Remote)?: ?(.*)$")


class _Signal:
    __slots__ = ("client_error", "line", "span")

    def __init__(self, span: Span, line: LogLine, client_error: bool) -> None:
        self.span = span
        self.line = line
        self.client_error = client_error  # a 4xx access line, not an error by itself


def short_location(line: LogLine) -> str:
    """`ctl-2/placement-api.log:812`: enough to find the file, short enough to read."""
    parts = PurePath(line.file).parts[-2:]
    return f"{'/'.join(parts)}:{line.line_no}"


def short_exception(name: str | None) -> str | None:
    return name.rsplit(".", 1)[-1].replace("_Remote", "") if name else None


def exception_message(line: LogLine) -> str:
    """The message of the exception a traceback ended with (its last `Type: message` line)."""
    short = short_exception(line.exception)
    if short:
        for text in reversed(line.message.split("\n")):
            m = _EXC_FINAL_RE.match(text.strip())
            if m and short_exception(m.group(1)) == short:
                return m.group(2).strip() or short
    return line.message.split("\n", 1)[0].strip()


def _signals(trace: Trace) -> list[_Signal]:
    """Error lines, plus 4xx access lines where they matter: in a failed request's call path."""
    by_key = {s.key: s for s in trace.spans}
    # spans by identity below: a SpanKey hashes in Python, an id in C
    failed = {id(s) for s in trace.spans if s.errors or (s.parent is None and _client_errors(s))}
    known: dict[int, bool] = {}  # answers so far: siblings share their ancestors

    def failing_above(span: Span) -> bool:
        node: Span | None = span
        path: list[int] = []
        seen: set[int] = set()
        result = False
        while node is not None and id(node) not in seen:
            at = id(node)
            if at in known:
                result = known[at]
                break
            if at in failed:
                result = True
                break
            seen.add(at)
            path.append(at)
            node = by_key.get(node.parent) if node.parent is not None else None
        for at in path:  # each span on the path reaches the same end (a cycle: no failure)
            known[at] = result
        return result

    out: list[_Signal] = []
    for span in trace.spans:
        client = {id(ln) for ln in _client_errors(span)} if failing_above(span) else set()
        for line in span.lines:
            if is_error_line(line):
                out.append(_Signal(span, line, False))
            elif id(line) in client:
                out.append(_Signal(span, line, True))
    return out


def _client_errors(span: Span) -> list[LogLine]:
    return [ln for ln in span.lines if ln.access is not None and 400 <= ln.access.status < 500]


def _describe(signal: _Signal, caller: Span | None = None) -> ErrorInfo:
    line = signal.line
    status = line.access.status if line.access is not None else None
    if line.exception:
        message = exception_message(line)
    elif line.access is not None:
        message = _access_message(signal.span, line, caller)
    elif line.fmt == "unparsed":
        return _describe_unparsed(signal)
    else:
        message = line.message.split("\n", 1)[0].strip()
    return ErrorInfo(
        span=signal.span.key, line=line, exception=line.exception, message=message, status=status
    )


def _describe_unparsed(signal: _Signal) -> ErrorInfo:
    """An error line in an unknown wrapper: the text after the oslo context bracket, and the
    exception it names (`nova.exception_Remote.NoValidHost_Remote: ...`) if any."""
    first = signal.line.raw.split("\n", 1)[0]
    ctx = _CONTEXT_RE.search(first)
    text = first[ctx.end() :] if ctx else first
    exc = _EXC_IN_TEXT_RE.search(text)
    exception = exc.group(1).replace("_Remote", "") if exc else None
    message = text[exc.end() :].strip() if exc else text.strip()
    return ErrorInfo(span=signal.span.key, line=signal.line, exception=exception, message=message or text)


#: `http.HTTPStatus` phrases of the statuses OpenStack APIs answer most (the same text; those
#: that changed between Python versions are left to HTTPStatus): `import http` builds a
#: 60-member enum, ~0.5 ms of a `kansoku trace` that met a failed access line.
_PHRASES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def status_phrase(status: int) -> str:
    """`HTTPStatus(status).phrase`, or "HTTP error" for a status HTTPStatus does not know."""
    phrase = _PHRASES.get(status)
    if phrase is not None:
        return phrase
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _access_message(span: Span, line: LogLine, caller: Span | None) -> str:
    """`409 Conflict: PUT /allocations/...` plus why: the service's own warning, or the
    caller's (the scheduler logs placement's 409 body, with its "detail", as a WARNING)."""
    assert line.access is not None
    acc = line.access
    phrase = status_phrase(acc.status)
    text = f"{acc.status} {phrase}: {acc.method} {acc.path}"
    own = (ln for ln in reversed(span.lines[: span.lines.index(line)]) if _telling(ln))
    from_caller = (
        ln
        for ln in (caller.lines if caller is not None else [])
        if ln.level in ("WARNING", "ERROR") and f"{acc.status}" in ln.message
    )
    why_line = next(own, None) or next(from_caller, None)
    why = _detail(why_line.message) if why_line is not None else None
    if why:
        text += f" — {why}"
    elif acc.status in STATUS_HINTS:
        text += f" ({STATUS_HINTS[acc.status]})"
    return text


def _telling(line: LogLine) -> bool:
    return line.level in ("WARNING", "ERROR") or (
        line.level == "INFO" and "exception" in line.message.lower()
    )


def _detail(message: str) -> str:
    """An API error body's "detail" if the message quotes one, else the message's first line."""
    m = _DETAIL_RE.search(message)
    return " ".join((m.group(1) if m else message.split("\n", 1)[0]).replace("\\n", " ").split())


def _best_line(signals: list[_Signal]) -> _Signal:
    """Within one span: the first traceback, else the first error, else the first 4xx."""
    errors = [s for s in signals if not s.client_error]
    with_exception = [s for s in errors if s.line.exception is not None]
    return (with_exception or errors or signals)[0]


def _ancestors(trace: Trace, key: SpanKey) -> list[SpanKey]:
    by_key = {s.key: s for s in trace.spans}
    out: list[SpanKey] = []
    parent = by_key[key].parent if key in by_key else None
    while parent is not None and parent not in out:
        out.append(parent)
        parent = by_key[parent].parent if parent in by_key else None
    return out


def _rpc_callee(line: LogLine, caller: str) -> str | None:
    """The RPC callee a caller's traceback names: a `nova/conductor/rpcapi.py` frame ->
    "nova-conductor"; else the API object it went through (`self.compute_api.get_console_output`
    in nova-api -> "nova-compute", `self.volume_rpcapi.attachment_update` -> "cinder-volume")."""
    found = _RPCAPI_RE.findall(line.raw)
    if found:
        project, service = found[-1]
        return f"{project}-{service}"
    via = _VIA_API_RE.findall(line.raw)
    if via:
        return f"{canonical_service(caller).split('-')[0]}-{via[-1]}"
    return None


def _blame_callee(trace: Trace, root: _Signal) -> tuple[ErrorInfo | None, str]:
    """A timeout or remote error in `root`: the callee that did not answer, or a note if absent."""
    exc = short_exception(root.line.exception) or ""
    remote = "_Remote" in root.line.raw or "Remote error:" in root.line.raw
    if exc not in TIMEOUT_EXCEPTIONS and not remote:
        return None, ""
    callee_service = _rpc_callee(root.line, root.span.service)
    children = [s for s in trace.spans if s.parent == root.span.key]
    if callee_service:
        children = [s for s in children if canonical_service(s.service) == callee_service]
    if not children:
        if exc in TIMEOUT_EXCEPTIONS:
            who = callee_service or "the RPC callee"
            return None, f"{who} never logged this request: it is down, stuck or not consuming its queue"
        return None, ""
    callee = max(children, key=lambda s: s.end)
    own = [ln for ln in callee.lines if not is_periodic_task(ln)] or callee.lines
    raised = [ln for ln in own if ln.exception and is_rpc_callee_line(ln)]
    if raised and exc not in TIMEOUT_EXCEPTIONS:
        # oslo.messaging's server logged what it sent back: that is the callee's own error
        return _describe(_Signal(callee, raised[0], False)), ""
    telling = [ln for ln in own if ln.level in ("WARNING", "ERROR", "CRITICAL")]
    last = telling[-1] if telling else own[-1]
    last_msg = last.message.split("\n", 1)[0].strip()
    gave_up = root.line.ts
    if exc in TIMEOUT_EXCEPTIONS and not telling and gave_up is not None and callee.end > gave_up:
        # The callee worked on without trouble and finished after the caller stopped waiting:
        # the caller's timeout is the failure; say how late the answer was.
        late = callee.end - gave_up
        where = f"{callee.service} on {callee.host}"
        return None, f"{where} answered late: still working {late:.1f} s after {root.span.service} gave up"
    if exc in TIMEOUT_EXCEPTIONS:
        message = f"did not answer {root.span.service}'s RPC in time ({exc}); last logged: {last_msg}"
    else:
        message = f"raised {exc or 'an error'} back to {root.span.service}; last logged: {last_msg}"
    # A remote error is the callee's exception, re-raised at the caller: name it on the callee
    raised_exc = root.line.exception if exc not in TIMEOUT_EXCEPTIONS else None
    info = ErrorInfo(span=callee.key, line=last, exception=raised_exc, message=message)
    return info, ""


def fmt_root(info: ErrorInfo, width: int = 240) -> str:
    """`nova-compute on cmp-3 — AttributeError: ... (cmp-3/nova-compute.log:88)`, the message
    clipped to `width` (the causal-chain verdict, which says more around it, uses less)."""
    exc = short_exception(info.exception)
    head = f"{exc}: " if exc and not info.message.startswith(exc) else ""
    return (
        f"{info.span.service} on {info.span.host} — {head}{clip(info.message, width)} "
        f"({short_location(info.line)})"
    )


def fmt_short(info: ErrorInfo) -> str:
    """`nova-api 500`: a propagated or other failure, as the verdict lists it."""
    what = short_exception(info.exception) or (str(info.status) if info.status else clip(info.message, 40))
    return f"{info.span.service} {what}"


def clip(text: str, width: int = 240) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _rescheduled(signals: list[_Signal], root: ErrorInfo) -> tuple[ErrorInfo, str] | None:
    """nova-conductor's (Havana: nova-scheduler's) `Error from last host: H (node N): [...]`
    names the compute build that failed; a later NoValidHost only says no host was left."""
    for sig in signals:
        found = last_host_error(sig.line)
        if found is None or root.span.host == found.host:
            continue
        key = SpanKey("nova-compute", found.host, sig.span.request_id)
        info = ErrorInfo(span=key, line=sig.line, exception=found.exception, message=found.message)
        reason = (
            f"{sig.span.service} logged the failed build of the previous attempt at "
            f"{short_location(sig.line)}: compute host {found.host} (node {found.node}) is the root cause"
        )
        return info, reason
    return None


def _off_path_origin(
    trace: Trace, root: ErrorInfo, nearby: NearbyErrors | None
) -> tuple[list[ErrorInfo], str]:
    """The root-cause error names another service that logged nothing failing under the
    request's ids: look for that service's errors near the time (weak)."""
    from kansoku.tracing.nearby import named_projects

    own = canonical_service(root.span.service).split("-", 1)[0]
    text = f"{root.exception or ''} {root.message}"
    failing_projects = {canonical_service(s.service).split("-", 1)[0] for s in trace.spans if s.errors}
    for project in named_projects(text):
        if project == own or project in failing_projects:
            continue
        hits = nearby.near(project, root.line.ts) if nearby is not None and root.line.ts is not None else []
        if not hits:
            return [], f"origin not in this request's logs: {project} logged no error under its ids"
        first = hits[0]
        ln = first.line
        info = ErrorInfo(span=SpanKey(ln.service, ln.host, ln.local_id or "-"), line=ln,
                         exception=ln.exception, message=exception_message(ln))  # fmt: skip
        when = _clock(ln.ts)
        note = (
            f"origin not in this request's logs; nearest errors in {ln.service} at {when} "
            f"({short_location(ln)}), {first.delta:+.1f} s from the failure (weak: time only)"
        )
        return [info], note
    return [], ""


def _clock(ts: float | None) -> str:
    import time

    if ts is None:
        return "?"
    return time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def isolate(trace: Trace, nearby: NearbyErrors | None = None) -> Verdict:
    """The verdict for a trace: root cause, the errors that only echo it, and the rest.

    `nearby` (the index's time-window search) lets a verdict whose error names another
    service point at that service's errors when it logged none under the request's ids."""
    signals = _signals(trace)
    if not signals:
        n_lines = sum(len(s.lines) for s in trace.spans)
        return Verdict(None, [], f"no errors: {len(trace.spans)} spans, {n_lines} lines, nothing failed")
    failing = {s.span.key for s in signals}
    # A span with a failing descendant (at any depth) only passed the failure on.
    has_failing_below = {anc for key in failing for anc in _ancestors(trace, key)}
    order = {s.key: i for i, s in enumerate(trace.spans)}
    by_key = {s.key: s for s in trace.spans}
    leaves = sorted(
        (k for k in failing if k not in has_failing_below),
        key=lambda k: (by_key[k].weak, order[k]),
    )
    root_key = leaves[0]
    per_span: dict[SpanKey, list[_Signal]] = {}
    for sig in signals:
        per_span.setdefault(sig.span.key, []).append(sig)
    root_sig = _best_line(per_span[root_key])
    root_parent = by_key[root_key].parent
    root = _describe(root_sig, by_key.get(root_parent) if root_parent else None)
    reasons = [
        f"{root.span.service}@{root.span.host} is the first failing span (causal order) with no failing "
        f"descendant; its {'traceback' if root.exception else 'error'} at {short_location(root.line)}"
    ]
    callee, note = _blame_callee(trace, root_sig)
    propagated: list[ErrorInfo] = []
    if callee is not None:
        propagated.append(root)
        reasons.append(
            f"{root.span.service} got a remote error or timeout back; blamed the RPC callee "
            f"{callee.span.service}@{callee.span.host} ({short_location(callee.line)})"
        )
        root = callee
    resched = _rescheduled(signals, root)
    if resched is not None:
        propagated.append(root)
        root, why = resched
        reasons.append(why)
    weak: list[ErrorInfo] = []
    if callee is None and resched is None:
        weak, origin_note = _off_path_origin(trace, root, nearby)
        if origin_note:
            note = f"{note}; {origin_note}" if note else origin_note
            reasons.append(origin_note)
    path = _ancestors(trace, root_sig.span.key)
    propagated.extend(_describe(_best_line(per_span[k])) for k in path if k in per_span)
    on_path = {root.span, root_sig.span.key, *path}
    others = [
        _describe(_best_line(per_span[k]))
        for k in sorted(per_span, key=order.__getitem__)
        if k not in on_path
    ]
    text = f"root cause: {fmt_root(root)}"
    if note:
        text += f"; {note}"
    if propagated:
        text += "; propagated: " + ", ".join(fmt_short(p) for p in propagated)
    if others:
        text += "; also failed: " + ", ".join(fmt_short(o) for o in others)
    return Verdict(root, propagated, text, others, reasons, weak)
