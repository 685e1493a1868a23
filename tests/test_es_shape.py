"""The Fluentd/kolla document shape, both directions, on lines written by oslo.log itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from kansoku.tracing import es_shape
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.model import LogLine
from tests.support.es import GLOBAL_ID, INSTANCE, PLACEMENT_CALLEE_ID, write_oslo_log


def records(path: Path) -> list[LogLine]:
    with path.open("rb") as fh:
        return [r for r in iter_records(fh, str(path), "nova-api", "ctl1") if isinstance(r, LogLine)]


@pytest.fixture(scope="module")
def nova_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_oslo_log(tmp_path_factory.mktemp("shape") / "nova-api.log", "nova")


def test_kolla_regex_splits_context_like_fluentd(nova_log: Path) -> None:
    recs = records(nova_log)
    creating = next(r for r in recs if "Creating server" in r.raw)
    doc = es_shape.to_document(creating.raw, host="ctl1", service="nova-api", ts=creating.ts or 0.0)
    # kolla's regex eats the `req-` prefix of both ids: the pitfall a search must handle.
    assert doc["global_request_id"] == GLOBAL_ID.removeprefix("req-")
    assert doc["request_id"] == creating.local_id.removeprefix("req-")  # type: ignore[union-attr]
    assert doc["user_id"] == "u1" and doc["tenant_id"] == "p1" and doc["system_scope"] == "-"
    assert doc["Payload"] == f" [instance: {INSTANCE}] Creating server"  # space after ] is kept
    assert doc["python_module"] == "nova.api.openstack.compute.servers"
    assert doc["log_level"] == "INFO" and doc["Pid"].isdigit()
    assert (
        doc["Hostname"] == "ctl1" and doc["programname"] == "nova-api" and doc["Logger"] == "openstack.nova"
    )
    assert doc["@timestamp"].endswith("+00:00") and doc["@timestamp"][:10] == doc["Timestamp"][:10]


def test_default_lines_and_none_global_id(nova_log: Path) -> None:
    recs = records(nova_log)
    startup = next(r for r in recs if "WSGI app loaded" in r.raw)
    doc = es_shape.to_document(startup.raw, host="h", service="nova-api", ts=0.0)
    assert "request_id" not in doc and doc["Payload"].startswith("[-] ")
    unrelated = next(r for r in recs if "Unrelated" in r.raw)
    doc = es_shape.to_document(unrelated.raw, host="h", service="nova-api", ts=0.0)
    assert "global_request_id" not in doc and doc["request_id"]


def test_every_record_round_trips_exactly(nova_log: Path, tmp_path: Path) -> None:
    placement = write_oslo_log(tmp_path / "placement-api.log", "placement")
    recs = records(nova_log) + records(placement)
    assert len(recs) >= 6
    traceback = next(r for r in recs if "Traceback" in r.raw)
    assert traceback.n_lines > 1
    for rec in recs:
        doc = es_shape.to_document(rec.raw, host="ctl1", service="nova-api", ts=rec.ts or 0.0)
        assert es_shape.to_raw(doc) == rec.raw
    callee = next(r for r in recs if r.raw.count(PLACEMENT_CALLEE_ID) and "status: 200" in r.raw)
    assert es_shape.to_document(callee.raw, host="h", service="placement-api", ts=0)["request_id"] == (
        PLACEMENT_CALLEE_ID.removeprefix("req-")
    )


def test_json_formatter_lines_are_kept_whole_in_message(tmp_path: Path) -> None:
    path = write_oslo_log(tmp_path / "nova-api.json.log", "nova", fmt="json")
    with path.open("rb") as fh:
        recs = [r for r in iter_records(fh, str(path), "nova-api", "h") if isinstance(r, LogLine)]
    assert recs and all(r.fmt == "json" for r in recs)
    for rec in recs:
        doc = es_shape.to_document(rec.raw, host="h", service="nova-api", ts=rec.ts or 0.0)
        assert set(doc) >= {"message", "@timestamp", "Hostname"} and "Payload" not in doc
        assert es_shape.to_raw(doc) == rec.raw


def test_read_document_without_timestamp_field_uses_at_timestamp() -> None:
    doc = {
        "@timestamp": "2026-11-23T10:00:01.250000000+00:00",
        "Pid": 4242,  # an index template that maps Pid as a number
        "log_level": "INFO",
        "python_module": "nova.compute.manager",
        "request_id": "586f9a0e-df69-4416-ad10-6fd88c4447b7",
        "user_id": "u",
        "tenant_id": "p",
        "domain_id": "-",
        "system_scope": "-",
        "user_domain": "-",
        "project_domain": "-",
        "Payload": " Took 1.2 seconds to build instance.",
        "Hostname": "cmp7",
        "programname": "nova-compute",
    }
    rec = es_shape.read_document(doc, index="flog-2026.11.23", doc_id="abc")
    assert rec.raw == (
        "2026-11-23 10:00:01.250 4242 INFO nova.compute.manager "
        "[None req-586f9a0e-df69-4416-ad10-6fd88c4447b7 u p - - - -] Took 1.2 seconds to build instance."
    )
    assert (rec.file, rec.host, rec.service, rec.shape) == (
        "flog-2026.11.23/abc",
        "cmp7",
        "nova-compute",
        "kolla",
    )


@pytest.mark.parametrize(
    ("doc", "complaint"),
    [
        ({"Hostname": "h", "@timestamp": "2026-11-23T10:00:00Z"}, "nor message"),
        ({"python_module": "nova", "Payload": " x", "log_level": "INFO"}, "without Timestamp, Pid"),
        ({"message": {"nested": "object"}}, "expected text"),
        ({"message": "x", "offset": "twelve"}, "not integers"),
    ],
)
def test_malformed_documents_raise_shape_errors(doc: dict[str, object], complaint: str) -> None:
    with pytest.raises(es_shape.ShapeError, match=complaint):
        es_shape.read_document(doc, index="i", doc_id="d")


def test_index_names_follow_logstash_format() -> None:
    assert es_shape.logstash_index("flog", 1795435200.0) == "flog-2026.11.23"
    assert es_shape.fluentd_timestamp(1795435200.5) == "2026-11-23T12:00:00.500000000+00:00"
