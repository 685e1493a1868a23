"""Stitch one end-to-end trace out of the lines that mention a request id.

OpenStack services do not share one trace id: each logs its own local ``req-`` id, nova
passes its context (and so its request id) over RPC to conductor, scheduler and compute,
and HTTP callees (placement, neutron, glance, cinder) log the caller's id as their
``global_request_id``. Starting from any one id we therefore expand to a fixed point over
the ids found on the matching lines, then group lines into spans per (service, host,
request id) and explain every parent link with the file:line that proves it.

The expansion is bounded (ids and lines) so a hot instance UUID cannot pull in the whole
cloud; when a bound is hit the trace says so instead of silently stopping.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import cache

from kansoku.ids import REQUEST_ID_RE, UUID_RE
from kansoku.lazyre import LazyPattern
from kansoku.tracing.model import Link, LinkKind, LogLine, LogSource, Span, SpanKey, Strength, Trace
from kansoku.tracing.query_id import normalise_id
from kansoku.tracing.rpc_evidence import is_periodic_task, is_rpc_callee_line, is_rpc_caller_line

#: Expansion bounds: a request touching 10 services has a few dozen ids and a few thousand
#: lines; an instance that lived for months has far more, and we stop there.
MAX_IDS = 1024
MAX_LINES = 50_000

#: Seconds a callee may appear to start before its caller and still be matched to it by time
#: (hosts' clocks are NTP-synced to well under this).
CALLER_TOLERANCE = 0.5

#: RPC: when several services log the same local id, which service called which. Nova's
#: conductor drives the scheduler and the computes; cinder's scheduler drives cinder-volume.
RPC_UPSTREAM: dict[str, tuple[str, ...]] = {
    "nova-conductor": ("nova-api",),
    "nova-scheduler": ("nova-conductor", "nova-api"),
    "nova-compute": ("nova-conductor", "nova-api"),
    "cinder-scheduler": ("cinder-api",),
    "cinder-volume": ("cinder-scheduler", "cinder-api"),
    "cinder-backup": ("cinder-api",),
}

#: devstack's short service names (its log files are `screen-n-cpu.txt`, `n-cpu.log`, or
#: journald units `devstack@n-cpu.service`), as real CI logs of OpenStack show them.
DEVSTACK_NAMES: dict[str, str] = {
    "n-api": "nova-api",
    "n-api-meta": "nova-api-metadata",
    "n-cond": "nova-conductor",
    "n-cond-cell1": "nova-conductor",
    "n-super-cond": "nova-conductor",
    "n-sch": "nova-scheduler",
    "n-cpu": "nova-compute",
    "c-api": "cinder-api",
    "c-sch": "cinder-scheduler",
    "c-vol": "cinder-volume",
    "c-bak": "cinder-backup",
    "g-api": "glance-api",
    "q-svc": "neutron-server",
    "q-agt": "neutron-openvswitch-agent",
    "q-dhcp": "neutron-dhcp-agent",
    "q-l3": "neutron-l3-agent",
    "q-meta": "neutron-metadata-agent",
    "key": "keystone",
    "keystone": "keystone",
}

#: Words in a service name that say where it sits on a call path (lower = closer to the user).
_RANK_WORDS: tuple[tuple[str, int], ...] = (
    ("api", 0),
    ("server", 0),
    ("keystone", 0),
    ("conductor", 1),
    ("scheduler", 2),
)

ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
_UNPARSED_ERROR_RE = LazyPattern(r"(?:^|[\s:\]])(?:ERROR|CRITICAL)\s")

#: ERROR lines that real services log under a request's ids without the request failing
#: (logger, message prefix). stevedore logs a plugin it cannot import at its first use
#: (nova-conductor: `Could not load 'oslo_cache.memcache_pool'`) and falls back; the create
#: it happened in still went ACTIVE (docs/openstack-odd-cases.md).
NOT_REQUEST_FAILURES: tuple[tuple[str, str], ...] = (("stevedore.extension", "Could not load "),)


def _known_noise(line: LogLine) -> bool:
    return is_periodic_task(line) or any(
        line.logger == logger and line.message.startswith(prefix) for logger, prefix in NOT_REQUEST_FAILURES
    )


def is_error_line(line: LogLine) -> bool:
    """An error signal: ERROR/CRITICAL, a traceback, or a 5xx access line.

    A line in no known format (a syslog/journald wrapper around oslo.log, say) has no parsed
    level; an ERROR/CRITICAL word near its start or a traceback still counts, so a format the
    parser does not know yet degrades the verdict instead of hiding the failure.
    """
    if line.level in ERROR_LEVELS or line.exception is not None:
        return not _known_noise(line)
    if line.fmt == "unparsed":
        return (
            _UNPARSED_ERROR_RE.search(line.raw[:300]) is not None
            or "Traceback (most recent call last)" in line.raw
        )
    return line.access is not None and line.access.status >= 500


@cache
def canonical_service(service: str) -> str:
    """The packaged name of a service: devstack's `n-cpu`, `screen-n-cpu`, `devstack@n-cpu.service`
    are `nova-compute`. Only rules use it; spans keep the name their files gave."""
    name = service.removeprefix("screen-").removeprefix("devstack@").removesuffix(".service")
    return DEVSTACK_NAMES.get(name, name)


@cache
def service_rank(service: str) -> int:
    """Where a service sits on a call path, from its name: API frontends first, workers last."""
    service = canonical_service(service)
    for word, rank in _RANK_WORDS:
        if word in service:
            return rank
    return 3


def is_instance_id(text: str) -> bool:
    return UUID_RE.fullmatch(text) is not None


def request_ids(line: LogLine) -> list[str]:
    """Every request id on a line, local first: parsed fields, then ids found in the message."""
    found: list[str] = []
    for rid in (line.local_id, line.global_id, *line.extra_ids):
        if rid and rid not in found:
            found.append(rid)
    if line.fmt == "unparsed":
        for match in REQUEST_ID_RE.finditer(line.raw):
            if match.group(0) not in found:
                found.append(match.group(0))
    return found


class _Expansion:
    """What the fixed-point expansion found: lines, and how each id was reached."""

    __slots__ = ("ids", "lines", "truncated", "weak_ids")

    def __init__(self, ids: set[str]) -> None:
        self.lines: dict[tuple[str, int], LogLine] = {}
        self.ids = ids
        self.weak_ids: set[str] = set()  # reached only through an instance UUID
        self.truncated: str | None = None


def _expand(
    source: LogSource, query_id: str, include_instance: bool, max_ids: int, max_lines: int
) -> _Expansion:
    """Follow ids to a fixed point, breadth first, so the closest ids are kept when bounded."""
    # An instance UUID asked for explicitly is the subject, not weak evidence: the requests on
    # its lines are strong; only other instances' UUIDs (followed with --instance) are weak.
    exp = _Expansion(ids={query_id})
    lines, ids, weak_ids = exp.lines, exp.ids, exp.weak_ids  # the same objects, read per line
    pending = [query_id]
    while pending and exp.truncated is None:
        batch, pending = pending, []
        batch_weak = set(batch) & weak_ids
        for line in source.lines_for(batch):
            key = (line.file, line.offset)
            if key in lines:
                continue
            if len(lines) >= max_lines:
                exp.truncated = f"stopped at {max_lines} lines (raise the bound to see more)"
                break
            lines[key] = line
            new = request_ids(line)
            # A line reached through an instance UUID only is weak evidence for its ids.
            via_weak = bool(batch_weak) and not (set(new) & (ids - weak_ids))
            if line.instance and include_instance:
                new.append(line.instance)
            for rid in new:
                if rid in ids:
                    if not via_weak and rid in weak_ids and not is_instance_id(rid):
                        weak_ids.discard(rid)
                    continue
                if len(ids) >= max_ids:
                    exp.truncated = f"stopped at {max_ids} ids (raise the bound to see more)"
                    continue
                ids.add(rid)
                if via_weak or is_instance_id(rid):
                    weak_ids.add(rid)
                pending.append(rid)
    return exp


def _effective_times(lines: Iterable[LogLine]) -> dict[int, float | None]:
    """A time for every line (by `id`: the lines are alive as long as the result): lines
    without one (continuations, unparsed) take their neighbour's."""
    by_file: dict[str, list[LogLine]] = defaultdict(list)
    for line in lines:
        by_file[line.file].append(line)
    times: dict[int, float | None] = {}
    for file_lines in by_file.values():
        file_lines.sort(key=lambda ln: ln.line_no)
        last: float | None = next((ln.ts for ln in file_lines if ln.ts is not None), None)
        for line in file_lines:
            if line.ts is not None:
                last = line.ts
            times[id(line)] = last
    return times


def _span_id(line: LogLine, ids: set[str]) -> str:
    """The request id a line belongs to: its own local id, else an id of this trace it mentions."""
    if line.local_id:
        return line.local_id
    for rid in request_ids(line):
        if rid in ids:
            return rid
    if line.instance:
        return line.instance
    return "-"


_UNTIMED = float("-inf")


def _build_spans(exp: _Expansion) -> dict[SpanKey, Span]:
    times = _effective_times(exp.lines.values())
    # grouped by plain tuples: a SpanKey per line was a Python-level hash per line
    grouped: dict[tuple[str, str, str], list[LogLine]] = defaultdict(list)
    for line in exp.lines.values():
        grouped[(line.service, line.host, _span_id(line, exp.ids))].append(line)
    spans: dict[SpanKey, Span] = {}
    for (service, host, rid), lines in grouped.items():
        key = SpanKey(service, host, rid)
        if len(lines) > 1:
            lines.sort(key=lambda ln: (times[id(ln)] or 0.0, ln.file, ln.line_no))
        # one pass over the span's lines (a comprehension each was most of this function)
        stamped: list[float] = []
        began: list[float] = []
        levels: dict[str, int] = {}
        errors: list[LogLine] = []
        for line in lines:
            t = times[id(line)]
            if t is not None:
                stamped.append(t)
            # An access line is written when the response leaves: the request began `duration` earlier.
            if line.ts is not None and line.access and line.access.duration:
                began.append(line.ts - line.access.duration)
            level = line.level or "UNPARSED"
            levels[level] = levels.get(level, 0) + 1
            if is_error_line(line):
                errors.append(line)
        spans[key] = Span(
            key=key,
            start=min(stamped + began) if stamped else _UNTIMED,
            end=max(stamped) if stamped else _UNTIMED,
            lines=lines,
            levels=levels,
            errors=errors,
            weak=rid in exp.weak_ids,
        )
    # A span whose lines all lack a time (only unparsed lines) sits at the trace's start
    # rather than at the epoch, which would stretch the time axis over 56 years.
    timed = [sp.start for sp in spans.values() if sp.start != _UNTIMED]
    for sp in spans.values():
        if sp.start == _UNTIMED:
            sp.start = sp.end = min(timed) if timed else 0.0
    return spans


class _Proposal:
    __slots__ = ("link", "parent")

    def __init__(self, parent: SpanKey, link: Link) -> None:
        self.parent = parent
        self.link = link


class _Linker:
    """Chooses each span's parent, strongest evidence first, and refuses cycles."""

    def __init__(self, spans: dict[SpanKey, Span]) -> None:
        self.spans = spans
        self.by_rid: dict[str, list[Span]] = defaultdict(list)
        for span in spans.values():
            self.by_rid[span.request_id].append(span)
        # Callee evidence: "GET call to placement for ... used request id req-P" in the caller.
        self.callee_of: dict[str, tuple[Span, LogLine]] = {}
        for span in spans.values():
            own = span.request_id
            for line in span.lines:
                for rid in line.extra_ids:
                    if rid != own and rid not in self.callee_of:
                        self.callee_of[rid] = (span, line)
        self._origin: dict[str, Span] = {}
        # Per request id, its spans by (start, frontend first) for the "latest caller" bisection.
        self._by_time: dict[str, tuple[list[float], list[Span]]] = {}
        # Spans that carry an id as their *global* id (callers' ids), per id.
        self.carriers: dict[str, list[Span]] = defaultdict(list)
        for span in spans.values():
            own = span.request_id
            for gid in {ln.global_id for ln in span.lines if ln.global_id and ln.global_id != own}:
                self.carriers[gid].append(span)
        self._adopted: dict[str, bool] = {}

    def adopted(self, rid: str) -> bool:
        """Did the spans of `rid` take their caller's id as their own?

        glance uses an incoming `X-OpenStack-Request-ID` as its *local* request id and logs
        the global id as `None`. Its span then has the caller's id as its own, and would look
        like the caller's origin. It is not: the services that carry `rid` as their global id
        logged under it before glance did, and glance's lines never name a global id.
        """
        if rid not in self._adopted:
            own = self.by_rid[rid]
            carriers = self.carriers.get(rid, [])
            self._adopted[rid] = bool(
                own
                and carriers
                and all(ln.global_id in (None, rid) for s in own for ln in s.lines)
                and min(c.start for c in carriers) < min(s.start for s in own)
            )
        return self._adopted[rid]

    def origin(self, rid: str) -> Span:
        """The span that created a request id: the one that served it over HTTP (an access line
        under this id), else, leaving out known RPC callees (`RPC_UPSTREAM`), the earliest.

        Names are no guide here: `neutron-server` is the RPC *callee* of an agent's id, and a
        caller always logs before its callee receives, so time decides when HTTP does not.
        """
        if rid not in self._origin:
            spans = self.by_rid[rid]
            pool = [s for s in spans if any(ln.access is not None and ln.local_id == rid for ln in s.lines)]
            if not pool:  # nobody served it over HTTP (the lines below are read only then)
                services = {canonical_service(s.service) for s in spans}
                callers = [
                    s for s in spans if not set(RPC_UPSTREAM.get(canonical_service(s.service), ())) & services
                ]
                # The lines say who served an RPC call: the side logging oslo.messaging's
                # "Exception during message handling" is the callee, the side logging the
                # RemoteError it got back is the caller, whatever their times say.
                rpc_callees = {id(s) for s in spans if any(is_rpc_callee_line(ln) for ln in s.lines)}
                rpc_callers = [
                    s
                    for s in spans
                    if id(s) not in rpc_callees and any(is_rpc_caller_line(ln) for ln in s.lines)
                ]
                callers = [s for s in callers if id(s) not in rpc_callees] or callers
                pool = rpc_callers or callers or spans
            self._origin[rid] = min(pool, key=lambda s: (s.start, service_rank(s.service), s.service, s.host))
        return self._origin[rid]

    def origin_reason(self, rid: str) -> str:
        """Why `origin(rid)` was chosen, for `kansoku trace --explain`."""
        span = self.origin(rid)
        if any(ln.access is not None and ln.local_id == rid for ln in span.lines):
            return f"{span.service} served {rid} over HTTP (an access line under it)"
        if any(is_rpc_caller_line(ln) for ln in span.lines):
            return f"{span.service} logged the remote error / timeout of its RPC call: the caller"
        others = [s for s in self.by_rid[rid] if s is not span]
        if any(is_rpc_callee_line(ln) for s in others for ln in s.lines):
            return (
                f"{span.service} is not the side logging oslo.messaging's 'Exception during message handling'"
            )
        return f"{span.service} logged {rid} first"

    def proposals(self, span: Span) -> Iterator[_Proposal]:
        """Candidate parents, strongest evidence first; lazily, as the first usually wins."""
        for proposal in self._proposals(span):
            yield _Proposal(proposal.parent, _weaken(proposal.link)) if span.weak else proposal

    def _proposals(self, span: Span) -> Iterator[_Proposal]:
        rid = span.request_id
        if self.adopted(rid):
            caller = self._latest_carrier(rid, span)
            how = f"{span.service} took its caller's request id as its own (global id logged as None)"
            yield _Proposal(
                caller.key, Link(LinkKind.GLOBAL_ID, caller.key, span.key, span.lines[0].location, detail=how)
            )
        origin = self.origin(rid)
        if origin is not span:
            upstream = self._rpc_upstream(span, origin)
            evidence = span.lines[0].location
            yield _Proposal(upstream.key, Link(LinkKind.SHARED_LOCAL_ID, upstream.key, span.key, evidence))
        if rid in self.callee_of:
            caller, line = self.callee_of[rid]
            yield _Proposal(caller.key, Link(LinkKind.CALLEE_ID, caller.key, span.key, line.location))
        for line in span.lines:
            gid = line.global_id
            if gid and gid != rid and gid in self.by_rid and not self.adopted(gid):
                caller, how = self._caller_by_time(gid, span)
                yield _Proposal(
                    caller.key, Link(LinkKind.GLOBAL_ID, caller.key, span.key, line.location, detail=how)
                )
                break

    def _latest_carrier(self, rid: str, callee: Span) -> Span:
        """Which carrier of `rid` (as its global id) called `callee`: one still running when the
        callee started (a caller waits for its callee; a sibling call had already ended), the
        latest to start of those; else the latest to start before the callee."""
        carriers = sorted(self.carriers[rid], key=lambda s: (s.start, -service_rank(s.service)))
        before = [s for s in carriers if s.start <= callee.start + CALLER_TOLERANCE]
        pool = [s for s in before if s.start <= callee.start <= s.end] or before
        return pool[-1] if pool else carriers[0]

    def _rpc_upstream(self, span: Span, origin: Span) -> Span:
        for service in RPC_UPSTREAM.get(canonical_service(span.service), ()):
            candidates = [
                s
                for s in self.by_rid[span.request_id]
                if canonical_service(s.service) == service and s is not span
            ]
            if candidates:
                return min(candidates, key=lambda s: s.start)
        return origin

    def _caller_by_time(self, gid: str, callee: Span) -> tuple[Span, str]:
        """Which span of the caller's request made this HTTP call: the latest to start before it."""
        if gid not in self._by_time:
            ordered = sorted(self.by_rid[gid], key=lambda s: (s.start, -service_rank(s.service)))
            self._by_time[gid] = ([s.start for s in ordered], ordered)
        starts, ordered = self._by_time[gid]
        n = bisect_right(starts, callee.start + CALLER_TOLERANCE)
        if n:
            caller = ordered[n - 1]
            if len(ordered) > 1:
                return caller, f"caller {caller.service} chosen by time among {len(self.by_rid[gid])} spans"
            return caller, ""
        caller = self.origin(gid)
        return caller, f"callee starts before every {gid} span (clock skew?): attached to the origin"


def _weaken(link: Link) -> Link:
    return Link(link.kind, link.source, link.target, link.evidence, Strength.WEAK, link.detail)


def _reaches(key: SpanKey, target: SpanKey, parents: dict[SpanKey, SpanKey]) -> bool:
    """Is `target` `key` or one of its ancestors? A walk up, no set of ancestors built
    (`parents` has no cycle: a link that would close one is refused; bounded anyway)."""
    for _ in range(len(parents) + 1):
        if key == target:
            return True
        up = parents.get(key)
        if up is None:
            return False
        key = up
    return False


def _link_spans(spans: dict[SpanKey, Span], query_id: str) -> list[Link]:
    linker = _Linker(spans)
    parents: dict[SpanKey, SpanKey] = {}
    links: list[Link] = []
    # Strong spans first and the frontends before the workers, so parents exist when children ask.
    order = sorted(spans.values(), key=lambda s: (s.weak, service_rank(s.service), s.start))
    for span in order:
        for proposal in linker.proposals(span):
            if _reaches(proposal.parent, span.key, parents):
                continue  # would close a cycle: keep looking for weaker evidence
            parents[span.key] = proposal.parent
            span.parent = proposal.parent
            links.append(proposal.link)
            break
    links.extend(_membership_links(spans, parents, query_id))
    return links


def _membership_links(
    spans: dict[SpanKey, Span], parents: dict[SpanKey, SpanKey], query_id: str
) -> list[Link]:
    """Roots other than the first still need a reason to be in the trace: the id they share."""
    roots = sorted((s for s in spans.values() if s.key not in parents), key=lambda s: (s.weak, s.start))
    if len(roots) < 2:
        return []
    out: list[Link] = []
    anchor = roots[0]
    anchor_ids = {rid for ln in anchor.lines for rid in request_ids(ln)}
    anchor_instances = {ln.instance for ln in anchor.lines if ln.instance}
    for root in roots[1:]:
        shared = next(
            (
                (ln, rid)
                for ln in root.lines
                for rid in request_ids(ln)
                if rid in anchor_ids or rid == query_id
            ),
            None,
        )
        if shared is not None:
            line, rid = shared
            kind = LinkKind.GLOBAL_ID if rid == line.global_id else LinkKind.SHARED_LOCAL_ID
            strength = Strength.WEAK if root.weak else Strength.STRONG
            out.append(Link(kind, anchor.key, root.key, line.location, strength, f"both carry {rid}"))
            continue
        inst = next((ln for ln in root.lines if ln.instance and ln.instance in anchor_instances), None)
        if inst is None:
            inst = next((ln for ln in root.lines if ln.instance), root.lines[0])
        out.append(
            Link(
                LinkKind.INSTANCE,
                anchor.key,
                root.key,
                inst.location,
                Strength.WEAK,
                f"same instance {inst.instance}" if inst.instance else "",
            )
        )
    return out


def _causal_order(spans: dict[SpanKey, Span]) -> list[Span]:
    """Parents before children, siblings by time: causality first, so clock skew cannot reorder."""
    children: dict[SpanKey, list[Span]] = defaultdict(list)
    roots: list[Span] = []
    for span in spans.values():
        if span.parent is None:
            roots.append(span)
        else:
            children[span.parent].append(span)

    def key(s: Span) -> tuple[bool, float, int, str, str]:
        return (s.weak, s.start, service_rank(s.service), s.service, s.host)

    ordered: list[Span] = []
    stack = sorted(roots, key=key, reverse=True)
    while stack:
        span = stack.pop()
        ordered.append(span)
        kids = children.get(span.key)
        if kids:
            stack.extend(sorted(kids, key=key, reverse=True))
    return ordered


def build_trace(
    source: LogSource,
    query_id: str,
    include_instance: bool = False,
    *,
    max_ids: int = MAX_IDS,
    max_lines: int = MAX_LINES,
    files_searched: int = 0,
) -> Trace:
    """The trace of `query_id` (a local or global ``req-`` id, or an instance UUID).

    Instance UUIDs are followed only when asked (or when the query is one) and the spans
    they bring in are marked weak: an instance sees many unrelated requests in its life.
    """
    query_id = normalise_id(query_id)  # what the operator pasted, as the logs write it
    exp = _expand(source, query_id, include_instance, max_ids, max_lines)
    spans = _build_spans(exp)
    links = _link_spans(spans, query_id)
    ordered = _causal_order(spans)
    position = {s.key: i for i, s in enumerate(ordered)}
    links.sort(key=lambda link: position[link.target])
    return Trace(
        query=query_id,
        ids=exp.ids,
        spans=ordered,
        links=links,
        files_searched=files_searched,
        truncated=exp.truncated,
    )


def explain_link(link: Link) -> str:
    """One line for the operator: the kind, the proof and, if needed, how the parent was picked."""
    text = f"{link.target.service}@{link.target.host} ← {link.source.service}@{link.source.host}: {link.explain()}"
    if link.strength is Strength.WEAK:
        text += " (weak)"
    if link.detail:
        text += f" ({link.detail})"
    return text
