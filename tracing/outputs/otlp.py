"""`kansoku trace ID --otlp URL`: send the stitched trace to an OpenTelemetry backend.

OpenStack does not emit spans, but its logs say enough to draw them: we build one
OpenTelemetry span per kansoku span and export them with the SDK's OTLP/HTTP exporter, so
Jaeger, Tempo or any collector shows the request next to instrumented services. The trace
id is the root request's UUID (a ``req-<uuid4>`` is exactly 128 bits), so exporting the same
request twice, from any of its ids, lands on the same trace; span ids are hashes of
(service, host, request id) for the same reason.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from kansoku.errors import KansokuError
from kansoku.tracing.isolate import exception_message
from kansoku.tracing.model import Link, LinkKind, Span, SpanKey, Trace, Verdict
from kansoku.urls import check_url

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

TRACES_PATH = "/v1/traces"
EXPORT_TIMEOUT = 10.0  # seconds; the exporter retries with backoff within this


@dataclass(frozen=True, slots=True)
class OtlpResult:
    endpoint: str
    trace_id: str  # 32 hex digits
    spans: int


def endpoint_url(url: str) -> str:
    """`http://host:4318` -> `http://host:4318/v1/traces`; a full path is kept as given."""
    try:
        check_url(url, "--otlp", schemes=("http", "https"))
    except ValueError as exc:  # inline secrets are refused and never printed (kansoku.urls)
        raise KansokuError(f"{exc}; expected an OTLP/HTTP URL such as http://127.0.0.1:4318") from None
    parts = urlsplit(url.strip())
    path = parts.path if parts.path not in ("", "/") else TRACES_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def root_request_id(trace: Trace) -> str:
    """The id the whole request is known by: the root span's global id, else its own id."""
    strong = [s for s in trace.spans if not s.weak] or trace.spans
    root = next((s for s in strong if s.parent is None), strong[0])
    # a causal chain (tracing.chain) puts the earlier request first: the trace is still the
    # reported request's, the root above the span its `resource` link points at
    refused = next((ln.target for ln in trace.links if ln.kind is LinkKind.RESOURCE), None)
    by_key = {s.key: s for s in trace.spans}
    seen: set[SpanKey] = set()
    while refused in by_key and refused not in seen:
        seen.add(refused)
        root = by_key[refused]
        refused = root.parent
    gid = next((ln.global_id for ln in root.lines if ln.global_id), None)
    return gid or root.request_id


def trace_id_for(request_id: str) -> int:
    """128-bit trace id: the UUID inside ``req-<uuid>`` itself, else a hash of the id."""
    text = request_id.removeprefix("req-")
    try:
        value = uuid.UUID(text).int
    except ValueError:
        value = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:16], "big")
    return value or 1


def span_id_for(key: SpanKey) -> int:
    digest = hashlib.sha256(f"{key.service}|{key.host}|{key.request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def build_spans(trace: Trace, verdict: Verdict) -> tuple[int, list[ReadableSpan]]:
    """The trace id and one OpenTelemetry `ReadableSpan` per kansoku span, parents linked."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    trace_id = trace_id_for(root_request_id(trace))
    scope = InstrumentationScope("kansoku.tracing", "1")
    parent_link: dict[SpanKey, Link] = {}
    for link in trace.links:
        parent_link.setdefault(link.target, link)
    root_key = verdict.root_cause.span if verdict.root_cause is not None else None

    def context(key: SpanKey) -> SpanContext:
        return SpanContext(
            trace_id, span_id_for(key), is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )

    out: list[ReadableSpan] = []
    for span in trace.spans:
        access = next((ln.access for ln in span.lines if ln.access is not None), None)
        attrs = _attributes(span, parent_link.get(span.key), span.key == root_key)
        events = [
            Event(
                "exception" if line.exception else "log",
                {
                    "exception.type": line.exception or "",
                    "exception.message": exception_message(line)[:1000],
                    "log.file.path": line.file,
                    "log.file.line": line.line_no,
                    "log.level": line.level or "",
                },
                timestamp=_ns(line.ts if line.ts is not None else span.start),
            )
            for line in span.errors
        ]
        failing = bool(span.errors) or span.key == root_key
        description = None
        if failing:
            description = (
                verdict.root_cause.message
                if span.key == root_key and verdict.root_cause is not None
                else exception_message(span.errors[0])
            )[:300]
        status = Status(StatusCode.ERROR, description) if failing else Status(StatusCode.UNSET)
        name = (
            f"{span.service} {access.method} {access.route}"
            if access
            else f"{span.service} {span.request_id}"
        )
        out.append(
            ReadableSpan(
                name=name,
                context=context(span.key),
                parent=context(span.parent) if span.parent is not None else None,
                resource=Resource.create(
                    {"service.name": span.service, "host.name": span.host, "service.namespace": "openstack"}
                ),
                attributes=attrs,
                events=events,
                kind=SpanKind.SERVER if access is not None else SpanKind.INTERNAL,
                status=status,
                start_time=_ns(span.start),
                end_time=_ns(span.end),
                instrumentation_scope=scope,
            )
        )
    return trace_id, out


def _attributes(
    span: Span, link: Link | None, is_root_cause: bool
) -> dict[str, str | int | bool | list[str]]:
    attrs: dict[str, str | int | bool | list[str]] = {
        "openstack.request_id": span.request_id,
        "kansoku.log.lines": len(span.lines),
        "kansoku.log.errors": len(span.errors),
        "kansoku.log.files": sorted({ln.file for ln in span.lines}),
        "kansoku.weak": span.weak,
        "kansoku.root_cause": is_root_cause,
    }
    gid = next((ln.global_id for ln in span.lines if ln.global_id), None)
    if gid:
        attrs["openstack.global_request_id"] = gid
    instance = next((ln.instance for ln in span.lines if ln.instance), None)
    if instance:
        attrs["openstack.instance_id"] = instance
    access = next((ln.access for ln in span.lines if ln.access is not None), None)
    if access is not None:
        attrs["http.request.method"] = access.method
        attrs["url.path"] = access.path
        attrs["http.route"] = access.route
        attrs["http.response.status_code"] = access.status
    if link is not None:
        attrs["kansoku.link.kind"] = link.kind.value
        attrs["kansoku.link.evidence"] = link.evidence
        attrs["kansoku.link.strength"] = link.strength.value
    return attrs


def export_otlp(trace: Trace, verdict: Verdict, url: str, timeout: float = EXPORT_TIMEOUT) -> OtlpResult:
    """Export the trace's spans with the OTLP/HTTP (protobuf) exporter; raise if refused."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    endpoint = endpoint_url(url)
    trace_id, spans = build_spans(trace, verdict)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=timeout)
    # The exporter logs (with tracebacks) when the collector is down; we report it ourselves.
    quiet = logging.getLogger("opentelemetry.exporter.otlp.proto.http")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        result = exporter.export(spans)
    finally:
        quiet.setLevel(level)
        exporter.shutdown()  # type: ignore[no-untyped-call]
    if result is not SpanExportResult.SUCCESS:
        raise KansokuError(f"OTLP export to {endpoint} failed (is an OTLP/HTTP receiver listening there?)")
    return OtlpResult(endpoint=endpoint, trace_id=f"{trace_id:032x}", spans=len(spans))
