"""`kansoku ship`: bulk-load OpenStack log files into Elasticsearch in Fluentd's shape.

For clouds without Fluentd (or to load a support bundle into a lab Elasticsearch), this
writes the very documents kolla-ansible's Fluentd would have written (`es_shape`), so
Kibana dashboards, `ElasticsearchSource` and the file index all see the same thing.

Files are read with the file index's reader (rotation suffixes, transparent gzip, path ->
service/host) and grouped into records by its parser, so a traceback stays one document
as in Fluentd's multiline parser. Each document's `_id` is a hash of (host, file path, byte
offset) and the bulk action is `create`: shipping the same files again answers 409 for
every line already there, counted as `already_present`, never a duplicate. Every failed
document is counted and the first few are reported with file:line and Elasticsearch's
reason; nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError
from kansoku.tracing import es_shape

DEFAULT_PREFIX = "flog"
MAX_REPORTED_ERRORS = 20
#: `(files_done, files_total, bytes_done, bytes_total, records)`, for a progress bar.
ShipProgress = Callable[[int, int, int, int, int], None]


@dataclass(slots=True)
class ShipReport:
    """What a ship run did, for the CLI and the tests."""

    files: int = 0
    records: int = 0
    created: int = 0
    already_present: int = 0
    failed: int = 0
    unparsed: int = 0  # records kept whole in `message` (the regex did not match)
    indices: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)  # first MAX_REPORTED_ERRORS, file:line: reason
    problems: list[str] = field(default_factory=list)  # unreadable paths and files
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.problems


def doc_id(host: str, path: str, offset: int) -> str:
    """Stable id of a record: re-shipping the same file offsets hits the same documents."""
    return hashlib.sha1(f"{host}\0{path}\0{offset}".encode()).hexdigest()


def index_namer(index: str | None) -> Callable[[float], str]:
    """`None` -> logstash daily `flog-YYYY.MM.DD`; a name with `%` -> strftime (UTC); else fixed."""

    def name(ts: float) -> str:
        if index is None:
            return es_shape.logstash_index(DEFAULT_PREFIX, ts)
        if "%" in index:
            return datetime.fromtimestamp(ts, tz=UTC).strftime(index).lower()
        return index.lower()  # Elasticsearch refuses upper case; fluent-plugin-elasticsearch lowers too

    return name


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Physical lines with their newline (the parser counts byte offsets from their sizes)."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            yield data[start : nl + 1]
            start = nl + 1
        rest = data[start:]
    if rest:
        yield rest


@dataclass(slots=True)
class _Origin:
    file: str
    line_no: int


def actions(
    paths: Iterable[str | Path],
    report: ShipReport,
    origins: dict[str, _Origin],
    *,
    index: str | None = None,
    path_rule: str | None = None,
    host: str | None = None,
    progress: ShipProgress | None = None,
) -> Iterator[dict[str, Any]]:
    """Bulk `create` actions for every record of every log file under `paths`.

    `progress(files_done, files_total, bytes_done, bytes_total, records)` is called before
    each file and after the last (on-disk bytes; the CLI draws a bar with it)."""
    from kansoku.tracing.ingest.files import LogReadError, discover, make_rule, read_chunks
    from kansoku.tracing.ingest.records import iter_records
    from kansoku.tracing.model import LogLine

    name = index_namer(index)
    files, problems = discover(paths, make_rule(path_rule, host))
    report.problems.extend(problems)
    now = time.time()
    sizes = [_size(lf.path) for lf in files] if progress is not None else []
    for n, lf in enumerate(files):
        if progress is not None:
            progress(n, len(files), sum(sizes[:n]), sum(sizes), report.records)
        report.files += 1
        try:
            for rec in iter_records(_lines(read_chunks(lf.path)), lf.path, lf.service, lf.host):
                if not isinstance(rec, LogLine):
                    continue  # its unparsed LogLine follows and is shipped whole
                ts = rec.ts if rec.ts is not None else now
                doc = es_shape.to_document(rec.raw, host=lf.host, service=lf.service, ts=ts)
                if "Payload" not in doc:
                    report.unparsed += 1
                doc[es_shape.PATH_FIELD] = lf.path
                doc[es_shape.OFFSET_FIELD] = rec.offset
                doc[es_shape.LINE_FIELD] = rec.line_no
                _id = doc_id(lf.host, lf.path, rec.offset)
                origins[_id] = _Origin(lf.path, rec.line_no)
                report.records += 1
                target = name(ts)
                report.indices.add(target)
                yield {"_op_type": "create", "_index": target, "_id": _id, "_source": doc}
        except LogReadError as exc:
            report.problems.append(str(exc))
    if progress is not None:
        progress(len(files), len(files), sum(sizes), sum(sizes), report.records)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def ship(
    paths: Iterable[str | Path],
    es_url: str,
    *,
    index: str | None = None,
    path_rule: str | None = None,
    host: str | None = None,
    chunk_size: int = 500,
    progress: ShipProgress | None = None,
) -> ShipReport:
    """Load `paths` into Elasticsearch at `es_url`; returns counts and the first errors."""
    from elasticsearch.helpers import streaming_bulk

    from kansoku.tracing.sources.es import connect, es_errors

    started = time.monotonic()
    report = ShipReport()
    client, _ = connect(es_url)
    origins: dict[str, _Origin] = {}
    stream = actions(paths, report, origins, index=index, path_rule=path_rule, host=host, progress=progress)
    with es_errors(es_url, "bulk"):
        for ok, item in streaming_bulk(
            client,
            stream,
            chunk_size=chunk_size,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=2,
        ):
            _count(report, ok, item, origins)
    report.elapsed = time.monotonic() - started
    if report.records == 0 and not report.problems:
        raise KansokuError("no log records found in the given paths")
    return report


def _count(report: ShipReport, ok: bool, item: dict[str, Any], origins: dict[str, _Origin]) -> None:
    """One bulk item: created, already there (409 on `create`), or failed with a reason."""
    result: dict[str, Any] = item.get("create") or next(iter(item.values()), {})
    status = int(result.get("status", 0) or 0)
    if ok or status == 409:
        origins.pop(str(result.get("_id", "")), None)
    if ok:
        report.created += 1
        return
    error = result.get("error")
    etype = error.get("type", "") if isinstance(error, dict) else str(error or "")
    if status == 409 and etype == "version_conflict_engine_exception":
        report.already_present += 1
        return
    report.failed += 1
    origin = origins.pop(str(result.get("_id", "")), None)
    if len(report.errors) < MAX_REPORTED_ERRORS:
        where = f"{origin.file}:{origin.line_no}" if origin else f"{result.get('_index')}/{result.get('_id')}"
        reason = error.get("reason", "") if isinstance(error, dict) else ""
        report.errors.append(f"{where}: HTTP {status} {etype}: {reason}".rstrip(": "))
