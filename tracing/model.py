"""The data that flows through tracing: lines, spans, links, traces, verdicts.

Plain slotted dataclasses: millions of `LogLine`s are made while indexing, so they must
be cheap; everything after parsing is built once and only read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(slots=True)
class AccessInfo:
    """What a wsgi access line says (eventlet.wsgi / oslo_middleware / placement style)."""

    method: str
    path: str
    status: int
    length: int | None
    duration: float | None  # seconds
    route: str  # path with ids replaced by placeholders: /v2.1/servers/{id}
    client: str | None = None


@dataclass(slots=True)
class LogLine:
    """One logical log record: a first line plus its continuation lines (tracebacks)."""

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
    fmt: str = "text"  # text | json | unparsed
    exception: str | None = None  # exception type from a traceback, e.g. nova.exception.NoValidHost
    access: AccessInfo | None = None
    extra_ids: tuple[str, ...] = ()  # other req-... ids in the message (callee ids, RPC)
    n_lines: int = 1  # physical lines this record spans

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line_no}"


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A line that could not be parsed: counted, reported with file:line, still findable."""

    file: str
    line_no: int
    reason: str


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


@dataclass(frozen=True, slots=True)
class SpanKey:
    service: str
    host: str
    request_id: str


@dataclass(slots=True)
class Span:
    """Everything one service on one host logged under one request id."""

    key: SpanKey
    start: float
    end: float
    lines: list[LogLine] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)
    parent: SpanKey | None = None
    errors: list[LogLine] = field(default_factory=list)
    weak: bool = False  # joined only through an instance UUID (`--instance`), not a request id

    @property
    def service(self) -> str:
        return self.key.service

    @property
    def host(self) -> str:
        return self.key.host

    @property
    def request_id(self) -> str:
        return self.key.request_id


@dataclass(frozen=True, slots=True)
class Link:
    """Why two spans belong to one trace; `evidence` is the file:line that proves it."""

    kind: LinkKind
    source: SpanKey
    target: SpanKey
    evidence: str
    strength: Strength = Strength.STRONG
    detail: str = ""  # how the parent was chosen when the evidence alone does not say

    def explain(self) -> str:
        return f"joined via {self.kind.value} at {self.evidence}"


@dataclass(slots=True)
class Trace:
    """One end-to-end request: spans in causal order and the links that join them."""

    query: str
    ids: set[str]
    spans: list[Span]
    links: list[Link]
    files_searched: int = 0
    truncated: str | None = None  # why expansion stopped early (a hot id hit the bounds)

    def lines(self) -> Iterator[LogLine]:
        for span in self.spans:
            yield from span.lines


@dataclass(slots=True)
class ErrorInfo:
    span: SpanKey
    line: LogLine
    exception: str | None
    message: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A cloud resource a log line names: kind (instance, volume, port, ...) and its UUID."""

    kind: str
    uuid: str


@dataclass(frozen=True, slots=True)
class Suspect:
    """A service that wrote the data the failing service crashed on (it ran fine itself)."""

    service: str
    data: str  # "block-device mapping"
    evidence: str  # file:line of the traceback frame or message that names the data
    reason: str
    host: str | None = None
    request_id: str | None = None


@dataclass(slots=True)
class CausalChain:
    """From the request the user saw fail back to the earlier request that broke a resource.

    The two requests share no request id, only the resource's UUID: the link is a
    `LinkKind.RESOURCE` link whose evidence is the reported request's refusal line, and
    `history` lists the resource's lines that prove the earlier failure.
    """

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
    history: list[str] = field(default_factory=list)  # file:line of the resource's lines we read


@dataclass(slots=True)
class Verdict:
    """The answer an operator wants: which service on which host failed first, and with what."""

    root_cause: ErrorInfo | None
    propagated: list[ErrorInfo]
    explanation: str
    others: list[ErrorInfo] = field(default_factory=list)  # errors off the root cause's call path
    #: Why the root cause was chosen, one reason per item with its evidence (file:line).
    reasons: list[str] = field(default_factory=list)
    #: Errors of another service found by time only (the origin logged no id): weak evidence.
    weak_origin: list[ErrorInfo] = field(default_factory=list)
    chain: CausalChain | None = None  # the root cause is in an earlier request (tracing.chain)
    suspects: list[Suspect] = field(default_factory=list)  # writers of the data it crashed on


class LogSource(Protocol):
    """Where lines come from: the on-disk index, Elasticsearch, ... (chosen by URL scheme)."""

    def lines_for(self, ids: Iterable[str]) -> Iterator[LogLine]:
        """Every parsed line that contains any of `ids` (local, global, instance or callee ids)."""
        ...

    def describe(self) -> str:
        """For "no lines for X in N files (indexed up to ...)" messages."""
        ...
