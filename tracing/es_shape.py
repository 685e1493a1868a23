"""The document shape Fluentd writes for oslo.log lines into Elasticsearch, both directions.

Most OpenStack clouds that ship logs to Elasticsearch do it the kolla-ansible way (OSISM
deploys that configuration as is): Fluentd's `in_tail` with a `multiline` parser whose regex
(kolla-ansible `ansible/roles/fluentd/templates/conf/input/00-global.conf.j2`) splits each
oslo.log record into `Timestamp`, `Pid`, `log_level`, `python_module`, `global_request_id`,
`request_id`, `user_id`, `tenant_id`, `domain_id`, `system_scope`, `user_domain`,
`project_domain` and `Payload`; a `record_transformer` (`filter/00-record_transformer.conf.j2`)
adds `Hostname`, `Logger` (`openstack.<project>`) and `programname` (the file's base name,
e.g. `nova-api`); fluent-plugin-elasticsearch with `logstash_format true` adds `@timestamp`
and writes into daily indices `<logstash_prefix>-YYYY.MM.DD` (kolla's prefix is `flog`),
lower-cased (`out_elasticsearch.rb` `process_message`).

Two quirks of that regex matter for tracing and are reproduced here exactly:

* `request_id` and `global_request_id` are captured *without* their `req-` prefix
  (`(?:None|req-)(?<request_id>\\S+)`), so a search must ask for both spellings;
* `Payload` keeps the space after `]` and, for `[-]` lines (no context), begins with `[-]`.

`to_document` applies the same regex to a raw record (what `kansoku ship` writes), and
`to_raw` rebuilds the exact oslo.log text from such a document so that the one parser
(`kansoku.tracing.ingest.parse`) reads Elasticsearch and files alike. Documents of other pipelines
that keep the whole line in `message` (kolla's older `format /^(?<message>.*)$/`, Filebeat,
Logstash) are read through that field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: kolla-ansible's `format1` regex, translated from Ruby (`(?<x>` -> `(?P<x>`). Fluentd's
#: multiline parser compiles it with Regexp::MULTILINE, where `.` also matches a newline:
#: that is DOTALL in Python, so `Payload` holds the traceback lines too.
KOLLA_OSLO_RE = re.compile(
    r"^(?P<Timestamp>\S+ \S+) (?P<Pid>\d+) (?P<log_level>\S+) (?P<python_module>\S+) "
    r"((?:\[)(?:None|req-)(?P<global_request_id>\S+)? (?:None|req-)(?P<request_id>\S+) "
    r"(?P<user_id>\S+) (?P<tenant_id>\S+) (?P<domain_id>\S+) (?P<system_scope>\S+) "
    r"(?P<user_domain>\S+) (?P<project_domain>\S+)(?:\]))?(?P<Payload>.*)?$",
    re.DOTALL,
)

#: The context fields in the order oslo.log writes them inside `[...]`.
CONTEXT_FIELDS = ("user_id", "tenant_id", "domain_id", "system_scope", "user_domain", "project_domain")
#: Fields that hold request ids (without `req-` in kolla's shape); terms-queried by the source.
ID_FIELDS = ("request_id", "global_request_id")
#: Full-text fields where ids that only appear in the message live (callee ids, instance ids).
TEXT_FIELDS = ("Payload", "message")
TIME_FIELD = "@timestamp"
#: Where `kansoku ship` records the origin of a document (like in_tail's `path_key`).
PATH_FIELD = "path"
OFFSET_FIELD = "offset"
LINE_FIELD = "lineno"


class ShapeError(ValueError):
    """A document that is neither the kolla oslo.log shape nor carries a `message` line."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record rebuilt from a document, with what the document says about its origin."""

    raw: str
    host: str
    service: str
    file: str
    offset: int
    line_no: int
    shape: str  # "kolla" | "message"


@functools.lru_cache(maxsize=4096)
def _second(sec: int) -> str:
    return datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")


@functools.lru_cache(maxsize=64)
def _day(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y.%m.%d")


def fluentd_timestamp(ts: float) -> str:
    """`@timestamp` as fluent-plugin-elasticsearch writes it: `DateTime#iso8601(@time_precision)`.

    `time_precision` defaults to 9 in current releases; oslo.log times have milliseconds,
    so the last six digits are zeros. Bursts share a second, so the second is cached.
    """
    ms = round(ts * 1000)
    return f"{_second(ms // 1000)}{ms % 1000:03d}000000+00:00"


def logstash_index(prefix: str, ts: float) -> str:
    """`logstash_format`'s daily index: `<prefix>-%Y.%m.%d` in UTC (`utc_index true` default)."""
    return f"{prefix}-{_day(int(ts // 86400))}"


def to_document(
    raw: str, *, host: str, service: str, ts: float, project: str | None = None
) -> dict[str, Any]:
    """A raw oslo.log record -> the document Fluentd (kolla-ansible) would have indexed.

    `ts` is the event time Fluentd would use (the parsed `Timestamp`, or the time of reading
    for a line the regex does not match). A record the regex rejects (JSON formatter
    output, foreign lines) is kept whole in `message`, never dropped.
    """
    m = KOLLA_OSLO_RE.match(raw)
    fields = m.groupdict() if m is not None else {"message": raw}
    doc: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    doc["Hostname"] = host
    doc["Logger"] = f"openstack.{project or service.split('-')[0]}"
    doc["programname"] = service
    doc[TIME_FIELD] = fluentd_timestamp(ts)
    return doc


_SCALARS = (int, float)


def _text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None or type(value) is str:
        return value
    if isinstance(value, _SCALARS):  # an index template that maps Pid as a number
        return str(value)
    raise ShapeError(f"field {key!r} is a {type(value).__name__}, expected text")


def _timestamp_from(doc: Mapping[str, Any]) -> str | None:
    """`Timestamp` if kept (`keep_time_key true`), else rebuilt from `@timestamp` (UTC)."""
    kept = _text(doc, "Timestamp")
    if kept:
        return kept
    at = _text(doc, TIME_FIELD)
    if not at:
        return None
    try:
        dt = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise ShapeError(f"{TIME_FIELD} {at!r} is not an ISO 8601 time") from exc
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def _req(value: str | None) -> str:
    """The regex ate `req-` (or the literal `None`): put back what oslo.log wrote."""
    if value is None or value == "":
        return "None"
    return value if value.startswith("req-") else f"req-{value}"


def to_raw(doc: Mapping[str, Any]) -> str:
    """Rebuild the oslo.log text of a document; exact for lines the kolla regex matched."""
    payload = _text(doc, "Payload")
    if payload is not None and _text(doc, "python_module") is not None:
        stamp = _timestamp_from(doc)
        pid = _text(doc, "Pid")
        level = _text(doc, "log_level")
        module = _text(doc, "python_module")
        if stamp is None or pid is None or level is None:
            missing = [k for k, v in (("Timestamp", stamp), ("Pid", pid), ("log_level", level)) if v is None]
            raise ShapeError(f"oslo.log document without {', '.join(missing)}")
        head = f"{stamp} {pid} {level} {module} "
        rid = _text(doc, "request_id")
        if rid is None:
            return head + payload
        ctx = [_req(_text(doc, "global_request_id")), _req(rid)]
        ctx += [_text(doc, f) or "-" for f in CONTEXT_FIELDS]
        return head + "[" + " ".join(ctx) + "]" + payload
    message = _text(doc, "message")
    if message is not None:
        return message
    raise ShapeError(
        "neither the oslo.log fields (Timestamp, Pid, log_level, python_module, Payload) nor message"
    )


def read_document(doc: Mapping[str, Any], *, index: str, doc_id: str) -> RawRecord:
    """A search hit's `_source` -> the raw record and where it came from.

    Documents `kansoku ship` wrote carry the original file, byte offset and line; for
    Fluentd's documents the hit itself (`index/id`) is the place to point an operator at.
    """
    raw = to_raw(doc)
    shape = "kolla" if "Payload" in doc else "message"
    service = _text(doc, "programname") or ""
    if not service:
        logger = _text(doc, "Logger") or ""
        service = logger.removeprefix("openstack.")
    host = _text(doc, "Hostname") or _text(doc, "host") or ""
    path = _text(doc, PATH_FIELD)
    try:
        offset = int(doc.get(OFFSET_FIELD, 0) or 0)
        line_no = int(doc.get(LINE_FIELD, 1) or 1)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"{OFFSET_FIELD}/{LINE_FIELD} not integers: {exc}") from exc
    file = path if path else f"{index}/{doc_id}"
    return RawRecord(
        raw=raw, host=host, service=service, file=file, offset=offset, line_no=line_no, shape=shape
    )
