"""The data that flows through tracing: lines, spans, links, traces, verdicts.

Plain slotted classes (`kansoku.tracing.slotted`) with the fields, order, defaults, equality
and `repr` that `@dataclass(slots=True)` gave them, written out: millions of `LogLine`s are made while
indexing, so they must be cheap to make, and `kansoku trace ID` imports this module on
every run, where the 12 dataclasses cost ~7 ms CPU to create (each one compiles its generated
methods) and `dataclasses` itself ~8 ms more (it imports `inspect`): a quarter of the
process. The frozen ones refuse assignment, as frozen dataclasses do; `replace` is the
`dataclasses.replace` of these classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Protocol

from kansoku.tracing.slotted import FrozenRecord, Record, replace

__all__ = [
    "AccessInfo",
    "CausalChain",
    "ErrorInfo",
    "Link",
    "LinkKind",
    "LogLine",
    "LogSource",
    "ParseProblem",
    "ResourceRef",
    "Span",
    "SpanKey",
    "Strength",
    "Suspect",
    "Trace",
    "Verdict",
    "replace",
]


class AccessInfo(Record):
    """What a wsgi access line says (eventlet.wsgi / oslo_middleware / placement style)."""

    __slots__ = ("method", "path", "status", "length", "duration", "route", "client")  # noqa: RUF023 (the fields, in order)

    method: str
    path: str
    status: int
    length: int | None
    duration: float | None  # seconds
    route: str  # path with ids replaced by placeholders: /v2.1/servers/{id}
    client: str | None

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        length: int | None,
        duration: float | None,
        route: str,
        client: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.length = length
        self.duration = duration
        self.route = route
        self.client = client


class LogLine(Record):
    """One logical log record: a first line plus its continuation lines (tracebacks)."""

    __slots__ = (  # noqa: RUF023 (the fields, in order)
        "file",
        "line_no",
        "offset",
        "service",
        "host",
        "ts",
        "pid",
        "level",
        "logger",
        "global_id",
        "local_id",
        "user_identity",
        "instance",
        "message",
        "raw",
        "fmt",
        "exception",
        "access",
        "extra_ids",
        "n_lines",
    )

    file: str  # path as indexed
    line_no: int  # 1-based line of the first physical line
    offset: int  # byte offset of the first physical line (uncompressed stream)
    service: str
    host: str
    ts: float | None  # seconds since epoch; the log's wall clock read as UTC
    pid: int | None
    level: str | None  # DEBUG INFO WARNING ERROR CRITICAL TRACE AUDIT
    logger: str | None
    global_id: str | None  # the caller's req-... (oslo.context global_request_id)
    local_id: str | None  # this service's req-...
    user_identity: str | None
    instance: str | None  # [instance: <uuid>]
    message: str
    raw: str  # exactly as in the file, continuation lines included
    fmt: str  # text | json | unparsed
    exception: str | None  # exception type from a traceback, e.g. nova.exception.NoValidHost
    access: AccessInfo | None
    extra_ids: tuple[str, ...]  # other req-... ids in the message (callee ids, RPC)
    n_lines: int  # physical lines this record spans

    def __init__(
        self,
        file: str,
        line_no: int,
        offset: int,
        service: str,
        host: str,
        ts: float | None,
        pid: int | None,
        level: str | None,
        logger: str | None,
        global_id: str | None,
        local_id: str | None,
        user_identity: str | None,
        instance: str | None,
        message: str,
        raw: str,
        fmt: str = "text",
        exception: str | None = None,
        access: AccessInfo | None = None,
        extra_ids: tuple[str, ...] = (),
        n_lines: int = 1,
    ) -> None:
        self.file = file
        self.line_no = line_no
        self.offset = offset
        self.service = service
        self.host = host
        self.ts = ts
        self.pid = pid
        self.level = level
        self.logger = logger
        self.global_id = global_id
        self.local_id = local_id
        self.user_identity = user_identity
        self.instance = instance
        self.message = message
        self.raw = raw
        self.fmt = fmt
        self.exception = exception
        self.access = access
        self.extra_ids = extra_ids
        self.n_lines = n_lines

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line_no}"


class ParseProblem(FrozenRecord):
    """A line that could not be parsed: counted, reported with file:line, still findable."""

    __slots__ = ("file", "line_no", "reason")

    file: str
    line_no: int
    reason: str

    def __init__(self, file: str, line_no: int, reason: str) -> None:
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "line_no", line_no)
        object.__setattr__(self, "reason", reason)


class LinkKind(StrEnum):
    GLOBAL_ID = "global_request_id"  # a line carries both the caller's global id and a local id
    SHARED_LOCAL_ID = "shared_local_id"  # the same req- id logged by several services (RPC context)
    CALLEE_ID = "callee_id"  # the caller logged the callee's returned request id
    INSTANCE = "instance"  # same instance UUID: weak, only on request
    TIME = "time"  # only time ties them (keystone token checks): weakest
    RESOURCE = "resource"  # an earlier request left a resource (instance, volume...) broken
    SAME_WORKER = "same_worker"  # same process and pid, right after the request, empty context


class Strength(StrEnum):
    STRONG = "strong"
    WEAK = "weak"


class SpanKey(FrozenRecord):
    """Which span: one service on one host under one request id (a dict key everywhere)."""

    __slots__ = ("service", "host", "request_id")  # noqa: RUF023 (the fields, in order)

    service: str
    host: str
    request_id: str

    def __init__(self, service: str, host: str, request_id: str) -> None:
        object.__setattr__(self, "service", service)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "request_id", request_id)

    # Written out (not the generic ones): stitching hashes and compares keys per line.
    def __eq__(self, other: object) -> bool:
        if other.__class__ is not SpanKey:
            return NotImplemented
        assert isinstance(other, SpanKey)
        return (
            self.service == other.service and self.host == other.host and self.request_id == other.request_id
        )

    def __hash__(self) -> int:
        return hash((self.service, self.host, self.request_id))


class Span(Record):
    """Everything one service on one host logged under one request id."""

    __slots__ = ("key", "start", "end", "lines", "levels", "parent", "errors", "weak")  # noqa: RUF023 (the fields, in order)

    key: SpanKey
    start: float
    end: float
    lines: list[LogLine]
    levels: dict[str, int]
    parent: SpanKey | None
    errors: list[LogLine]
    weak: bool  # joined only through an instance UUID (`--instance`), not a request id

    def __init__(
        self,
        key: SpanKey,
        start: float,
        end: float,
        lines: list[LogLine] | None = None,
        levels: dict[str, int] | None = None,
        parent: SpanKey | None = None,
        errors: list[LogLine] | None = None,
        weak: bool = False,
    ) -> None:
        self.key = key
        self.start = start
        self.end = end
        self.lines = [] if lines is None else lines
        self.levels = {} if levels is None else levels
        self.parent = parent
        self.errors = [] if errors is None else errors
        self.weak = weak

    @property
    def service(self) -> str:
        return self.key.service

    @property
    def host(self) -> str:
        return self.key.host

    @property
    def request_id(self) -> str:
        return self.key.request_id


class Link(FrozenRecord):
    """Why two spans belong to one trace; `evidence` is the file:line that proves it."""

    __slots__ = ("kind", "source", "target", "evidence", "strength", "detail")  # noqa: RUF023 (the fields, in order)

    kind: LinkKind
    source: SpanKey
    target: SpanKey
    evidence: str
    strength: Strength
    detail: str  # how the parent was chosen when the evidence alone does not say

    def __init__(
        self,
        kind: LinkKind,
        source: SpanKey,
        target: SpanKey,
        evidence: str,
        strength: Strength = Strength.STRONG,
        detail: str = "",
    ) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "evidence", evidence)
        object.__setattr__(self, "strength", strength)
        object.__setattr__(self, "detail", detail)

    def explain(self) -> str:
        return f"joined via {self.kind.value} at {self.evidence}"


class Trace(Record):
    """One end-to-end request: spans in causal order and the links that join them."""

    __slots__ = ("query", "ids", "spans", "links", "files_searched", "truncated")  # noqa: RUF023 (the fields, in order)

    query: str
    ids: set[str]
    spans: list[Span]
    links: list[Link]
    files_searched: int
    truncated: str | None  # why expansion stopped early (a hot id hit the bounds)

    def __init__(
        self,
        query: str,
        ids: set[str],
        spans: list[Span],
        links: list[Link],
        files_searched: int = 0,
        truncated: str | None = None,
    ) -> None:
        self.query = query
        self.ids = ids
        self.spans = spans
        self.links = links
        self.files_searched = files_searched
        self.truncated = truncated

    def lines(self) -> Iterator[LogLine]:
        for span in self.spans:
            yield from span.lines


class ErrorInfo(Record):
    """One failure: the span, its line, the exception type if any, the message and HTTP status."""

    __slots__ = ("span", "line", "exception", "message", "status")  # noqa: RUF023 (the fields, in order)

    span: SpanKey
    line: LogLine
    exception: str | None
    message: str
    status: int | None

    def __init__(
        self, span: SpanKey, line: LogLine, exception: str | None, message: str, status: int | None = None
    ) -> None:
        self.span = span
        self.line = line
        self.exception = exception
        self.message = message
        self.status = status


class ResourceRef(FrozenRecord):
    """A cloud resource a log line names: kind (instance, volume, port, ...) and its UUID."""

    __slots__ = ("kind", "uuid")

    kind: str
    uuid: str

    def __init__(self, kind: str, uuid: str) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "uuid", uuid)


class Suspect(FrozenRecord):
    """A service that wrote the data the failing service crashed on (it ran fine itself)."""

    __slots__ = ("service", "data", "evidence", "reason", "host", "request_id")  # noqa: RUF023 (the fields, in order)

    service: str
    data: str  # "block-device mapping"
    evidence: str  # file:line of the traceback frame or message that names the data
    reason: str
    host: str | None
    request_id: str | None

    def __init__(
        self,
        service: str,
        data: str,
        evidence: str,
        reason: str,
        host: str | None = None,
        request_id: str | None = None,
    ) -> None:
        object.__setattr__(self, "service", service)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "evidence", evidence)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "request_id", request_id)


class CausalChain(Record):
    """From the request the user saw fail back to the earlier request that broke a resource.

    The two requests share no request id, only the resource's UUID: the link is a
    `LinkKind.RESOURCE` link whose evidence is the reported request's refusal line, and
    `history` lists the resource's lines that prove the earlier failure.
    """

    __slots__ = (  # noqa: RUF023 (the fields, in order)
        "resource",
        "state",
        "trigger",
        "reported_id",
        "earlier_id",
        "earlier_time",
        "refusal",
        "breaker",
        "link",
        "earlier",
        "history",
    )

    resource: ResourceRef
    state: str | None  # what the refusal says the resource is in: "vm_state error", "status error"
    trigger: str  # why we looked back: "refused", "touched", "no_valid_host"
    reported_id: str
    earlier_id: str  # the earlier request, as its trace's first span carries it
    earlier_time: float | None
    refusal: ErrorInfo | None  # the reported request's own failure
    breaker: LogLine  # the earlier request's line that failed on the resource
    link: Link
    earlier: Verdict  # the earlier request's own verdict
    history: list[str]  # file:line of the resource's lines we read

    def __init__(
        self,
        resource: ResourceRef,
        state: str | None,
        trigger: str,
        reported_id: str,
        earlier_id: str,
        earlier_time: float | None,
        refusal: ErrorInfo | None,
        breaker: LogLine,
        link: Link,
        earlier: Verdict,
        history: list[str] | None = None,
    ) -> None:
        self.resource = resource
        self.state = state
        self.trigger = trigger
        self.reported_id = reported_id
        self.earlier_id = earlier_id
        self.earlier_time = earlier_time
        self.refusal = refusal
        self.breaker = breaker
        self.link = link
        self.earlier = earlier
        self.history = [] if history is None else history


class Verdict(Record):
    """The answer an operator wants: which service on which host failed first, and with what."""

    __slots__ = (  # noqa: RUF023 (the fields, in order)
        "root_cause",
        "propagated",
        "explanation",
        "others",
        "reasons",
        "weak_origin",
        "chain",
        "suspects",
    )

    root_cause: ErrorInfo | None
    propagated: list[ErrorInfo]
    explanation: str
    others: list[ErrorInfo]  # errors off the root cause's call path
    #: Why the root cause was chosen, one reason per item with its evidence (file:line).
    reasons: list[str]
    #: Errors of another service found by time only (the origin logged no id): weak evidence.
    weak_origin: list[ErrorInfo]
    chain: CausalChain | None  # the root cause is in an earlier request (tracing.chain)
    suspects: list[Suspect]  # writers of the data it crashed on

    def __init__(
        self,
        root_cause: ErrorInfo | None,
        propagated: list[ErrorInfo],
        explanation: str,
        others: list[ErrorInfo] | None = None,
        reasons: list[str] | None = None,
        weak_origin: list[ErrorInfo] | None = None,
        chain: CausalChain | None = None,
        suspects: list[Suspect] | None = None,
    ) -> None:
        self.root_cause = root_cause
        self.propagated = propagated
        self.explanation = explanation
        self.others = [] if others is None else others
        self.reasons = [] if reasons is None else reasons
        self.weak_origin = [] if weak_origin is None else weak_origin
        self.chain = chain
        self.suspects = [] if suspects is None else suspects


class LogSource(Protocol):
    """Where lines come from: the on-disk index, Elasticsearch, ... (chosen by URL scheme)."""

    def lines_for(self, ids: Iterable[str]) -> Iterator[LogLine]:
        """Every parsed line that contains any of `ids` (local, global, instance or callee ids)."""
        ...

    def describe(self) -> str:
        """For "no lines for X in N files (indexed up to ...)" messages."""
        ...
