"""--otlp: spans exported by the real OTLP/HTTP exporter, received and decoded on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from kansoku.errors import KansokuError
from kansoku.process import free_port
from kansoku.tracing.isolate import isolate
from kansoku.tracing.outputs.otlp import endpoint_url, export_otlp, span_id_for
from kansoku.tracing.stitch import build_trace
from tests.support.otlp import Receiver
from tests.support.scenarios import Cloud, boot_novalidhost


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    with r.server:
        yield r


def _attrs(span) -> dict[str, object]:
    out: dict[str, object] = {}
    for a in span.attributes:
        v = a.value
        kind = v.WhichOneof("value")
        out[a.key] = (
            [x.string_value for x in v.array_value.values] if kind == "array_value" else getattr(v, kind)
        )
    return out


def test_export_reaches_a_real_otlp_receiver(tmp_path: Path, receiver: Receiver) -> None:
    cloud = Cloud(tmp_path)
    sc = boot_novalidhost(cloud)
    trace = build_trace(cloud.source(), sc.ids["p2"])  # asked by placement's id: same trace id
    verdict = isolate(trace)
    result = export_otlp(trace, verdict, receiver.url)
    assert receiver.paths == ["/v1/traces"]
    assert receiver.content_types == ["application/x-protobuf"]
    got = list(receiver.spans())
    assert result.spans == len(got) == len(trace.spans)
    expected_trace_id = uuid.UUID(sc.ids["api"].removeprefix("req-")).bytes
    assert {span.trace_id for _, _, span in got} == {expected_trace_id}
    assert result.trace_id == expected_trace_id.hex()
    assert {scope for _, scope, _ in got} == {"kansoku.tracing"}

    by_id = {span.span_id: (res, span) for res, _, span in got}
    for kspan in trace.spans:
        res, span = by_id[span_id_for(kspan.key).to_bytes(8, "big")]
        assert (res["service.name"], res["host.name"]) == (kspan.service, kspan.host)
        attrs = _attrs(span)
        assert attrs["openstack.request_id"] == kspan.request_id
        assert attrs["kansoku.log.lines"] == len(kspan.lines)
        assert span.start_time_unix_nano == round(kspan.start * 1e9)
        assert span.end_time_unix_nano == round(kspan.end * 1e9)
        if kspan.parent is None:
            assert span.parent_span_id == b""
        else:
            assert span.parent_span_id == span_id_for(kspan.parent).to_bytes(8, "big")
            assert attrs["kansoku.link.evidence"]

    placement = [(res, s) for res, _, s in got if res["service.name"] == "placement-api"]
    root = next(s for _, s in placement if _attrs(s)["kansoku.root_cause"])
    ra = _attrs(root)
    assert ra["openstack.global_request_id"] == sc.ids["api"]
    assert ra["http.response.status_code"] == 409 and ra["http.request.method"] == "PUT"
    assert ra["kansoku.link.kind"] == "callee_id"
    assert root.status.code == Status.STATUS_CODE_ERROR and "409 Conflict" in root.status.message
    assert root.name.startswith("placement-api PUT /allocations/")
    conductor = next(s for res, _, s in got if res["service.name"] == "nova-conductor")
    assert conductor.status.code == Status.STATUS_CODE_ERROR
    assert [e.name for e in conductor.events] == ["exception"]
    ev = {a.key: a.value for a in conductor.events[0].attributes}
    assert ev["exception.type"].string_value == "nova.exception.NoValidHost"
    assert ev["log.file.line"].int_value > 0
    scheduler = next(s for res, _, s in got if res["service.name"] == "nova-scheduler")
    assert scheduler.status.code == Status.STATUS_CODE_UNSET


def test_endpoint_url() -> None:
    assert endpoint_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert (
        endpoint_url("https://otel.example:4318/custom/v1/traces")
        == "https://otel.example:4318/custom/v1/traces"
    )
    with pytest.raises(KansokuError, match="expected an OTLP/HTTP URL"):
        endpoint_url("grpc://127.0.0.1:4317")


def test_unreachable_collector_is_a_clear_error(tmp_path: Path) -> None:
    cloud = Cloud(tmp_path)
    sc = boot_novalidhost(cloud)
    trace = build_trace(cloud.source(), sc.ids["api"])
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(KansokuError, match=r"OTLP export to http://127\.0\.0\.1:\d+/v1/traces failed"):
        export_otlp(trace, isolate(trace), url, timeout=2.0)
