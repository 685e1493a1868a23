"""Elasticsearch as a `LogSource`: the lines of a request, straight from Fluentd's indices.

Clouds that already ship logs with Fluentd should not have to copy them back to disk to
trace a request. `ElasticsearchSource` asks an index pattern (`flog-*`) for every document
that carries one of the ids, rebuilds each document's oslo.log text (`es_shape.to_raw`)
and hands it to the same parser the file index uses, so a trace reads the same whichever
source it came from.

The query: a `terms` query on the id fields (`request_id`, `global_request_id`, and their
`.keyword` sub-fields that Elasticsearch's dynamic mapping adds) with both spellings of each
id (kolla's regex strips `req-`), OR a `match_phrase` on the text (`Payload`, `message`)
for ids that only appear in the message (callee ids, instance UUIDs); all inside the time
window on `@timestamp`. Paging: a point in time (PIT) + `search_after`, sorted on
`@timestamp` with the PIT's `_shard_doc` tiebreaker, the newest PIT id sent each time and
the PIT closed at the end. Without PIT (a cluster or role that refuses `_pit`), `_shard_doc`
does not exist, so the fallback pages by `@timestamp` keyset: `gte` the last time seen and
`must_not` the `_id`s already returned at that time, which neither skips nor repeats hits.

Versions: elasticsearch-py 9 sends `compatible-with=9` media types, which Elasticsearch 8
rejects. `connect` first asks `GET /` with plain `application/json` (every version accepts
it), reads `version.number`, then pins the compatibility header to the server's major
(8 or 9) in a transport node subclass, which also covers the bulk API's own NDJSON header.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from kansoku.errors import KansokuError
from kansoku.tracing import es_shape
from kansoku.tracing.model import LogLine, ParseProblem

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

#: Server majors we talk to; the client is 9.x and Elasticsearch 9 accepts `compatible-with=8`
#: requests too, but we pin to the server's own major so responses are native.
SUPPORTED_MAJORS = (8, 9)
PIT_KEEP_ALIVE = "2m"
_COMPAT_RE = re.compile(r"application/vnd\.elasticsearch\+([\w-]+); compatible-with=\d+")
_REQ_PREFIX = "req-"
#: `unmapped_type`: an index of the pattern without any document yet has no `@timestamp`
#: mapping, and sorting on it would fail the whole search.
_TIME_SORT = {es_shape.TIME_FIELD: {"order": "asc", "unmapped_type": "date"}}


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Seconds since the epoch (UTC); None leaves that side open."""

    start: float | None = None
    end: float | None = None

    def describe(self) -> str:
        def fmt(ts: float | None) -> str:
            return "…" if ts is None else datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")

        if self.start is None and self.end is None:
            return "all time"
        return f"{fmt(self.start)} to {fmt(self.end)}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where Elasticsearch is and how to log in, taken apart from one URL."""

    url: str  # scheme://host:port[/path], no credentials
    basic_auth: tuple[str, str] | None = None


@dataclass(slots=True)
class SourceStats:
    """What one `lines_for` saw: kept in the open so nothing is dropped silently."""

    hits: int = 0
    lines: int = 0
    pages: int = 0
    paging: str = ""
    problems: list[ParseProblem] = field(default_factory=list)


def endpoint(url: str) -> Endpoint:
    """`https://user:pass@host:9200/prefix` -> URL without credentials + basic auth."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KansokuError(f"Elasticsearch URL {url!r}: expected http(s)://host:port")
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return Endpoint(urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), auth)


def _compat_node_class() -> Any:
    """A urllib3 node that rewrites the client's `compatible-with=9` to the server's major.

    The class attribute `major` starts as None (plain `application/json`, accepted by
    every version, used for the `GET /` probe) and is pinned once the server answered.
    """
    from elastic_transport import HttpHeaders, Urllib3HttpNode
    from elastic_transport._models import DEFAULT
    from elastic_transport._node._base import NodeApiResponse

    class CompatNode(Urllib3HttpNode):  # type: ignore[misc]
        major: int | None = None

        def perform_request(
            self,
            method: str,
            target: str,
            body: bytes | None = None,
            headers: HttpHeaders | None = None,
            request_timeout: Any = DEFAULT,
        ) -> NodeApiResponse:
            if headers:
                fixed = HttpHeaders(headers)
                for key in ("accept", "content-type"):
                    if key in fixed:
                        fixed[key] = self._rewrite(fixed[key])
                headers = fixed
            return super().perform_request(
                method, target, body=body, headers=headers, request_timeout=request_timeout
            )

        @classmethod
        def _rewrite(cls, value: str) -> str:
            if cls.major is None:
                return _COMPAT_RE.sub(r"application/\1", value)
            return _COMPAT_RE.sub(rf"application/vnd.elasticsearch+\1; compatible-with={cls.major}", value)

    return CompatNode


def connect(url: str, *, request_timeout: float = 30.0) -> tuple[Elasticsearch, int]:
    """A client pinned to the server's major version, and that version; clear errors otherwise.

    Credentials: `user:password@` in the URL, or an API key in `KANSOKU_ES_API_KEY`; a CA
    bundle in `KANSOKU_ES_CA_CERTS`.
    """
    from elasticsearch import Elasticsearch

    ep = endpoint(url)
    node_class = _compat_node_class()
    kwargs: dict[str, Any] = {"node_class": node_class, "request_timeout": request_timeout, "max_retries": 1}
    if ep.basic_auth:
        kwargs["basic_auth"] = ep.basic_auth
    if api_key := os.environ.get("KANSOKU_ES_API_KEY"):
        kwargs["api_key"] = api_key
    if ca := os.environ.get("KANSOKU_ES_CA_CERTS"):
        kwargs["ca_certs"] = ca
    client = Elasticsearch(ep.url, **kwargs)
    with es_errors(ep.url, "GET /"):
        info = client.info()
    number = str(info.get("version", {}).get("number", ""))
    try:
        major = int(number.split(".")[0])
    except ValueError:
        raise KansokuError(f"{ep.url}: GET / gave no Elasticsearch version number") from None
    if major not in SUPPORTED_MAJORS:
        raise KansokuError(
            f"{ep.url} runs Elasticsearch {number}; kansoku talks to Elasticsearch "
            f"{' and '.join(map(str, SUPPORTED_MAJORS))} (client elasticsearch-py 9)"
        )
    node_class.major = major
    return client, major


class es_errors:
    """Turn the client's exceptions into one-line `KansokuError`s naming the server and step."""

    def __init__(self, url: str, what: str, index: str | None = None) -> None:
        self.url, self.what, self.index = url, what, index

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        from elasticsearch import (
            ApiError,
            AuthenticationException,
            AuthorizationException,
            NotFoundError,
            TransportError,
            UnsupportedProductError,
        )

        where = f"Elasticsearch at {self.url} ({self.what})"
        if isinstance(exc, UnsupportedProductError):
            raise KansokuError(
                f"{self.url} is not Elasticsearch (no 'X-Elastic-Product: Elasticsearch' header); "
                "OpenSearch and other look-alikes are not supported"
            ) from None
        if isinstance(exc, AuthenticationException):
            raise KansokuError(
                f"{where}: 401 unauthenticated ({_reason(exc)}); put user:password@ in the URL "
                "or an API key in KANSOKU_ES_API_KEY"
            ) from None
        if isinstance(exc, AuthorizationException):
            raise KansokuError(f"{where}: 403 forbidden ({_reason(exc)})") from None
        if isinstance(exc, NotFoundError) and _error_type(exc) == "index_not_found_exception":
            raise KansokuError(f"{where}: index {self.index or _reason(exc)!r} does not exist") from None
        if isinstance(exc, ApiError):
            raise KansokuError(
                f"{where}: HTTP {exc.meta.status} {_error_type(exc)}: {_reason(exc)}"
            ) from None
        if isinstance(exc, TransportError):
            reason = re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>: ", "", str(exc.message))
            raise KansokuError(f"cannot reach Elasticsearch at {self.url}: {reason}") from None


def _error_type(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("type", ""))
    return ""


def _reason(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("reason", ""))
    return str(getattr(exc, "message", exc))


def id_terms(ids: Iterable[str]) -> list[str]:
    """Each id in both spellings: as oslo.log writes it and as kolla's regex stores it."""
    out: list[str] = []
    for i in ids:
        for v in (i, i.removeprefix(_REQ_PREFIX)):
            if v not in out:
                out.append(v)
    return out


def build_query(ids: Iterable[str], window: TimeWindow) -> dict[str, Any]:
    """The bool query: ids in the id fields or as phrases in the text, within the window."""
    wanted = list(dict.fromkeys(ids))
    terms = id_terms(wanted)
    should: list[dict[str, Any]] = []
    for f in es_shape.ID_FIELDS:
        should.append({"terms": {f: terms}})
        should.append({"terms": {f"{f}.keyword": terms}})
    for f in es_shape.TEXT_FIELDS:
        should.extend({"match_phrase": {f: i}} for i in wanted)
    query: dict[str, Any] = {"bool": {"should": should, "minimum_should_match": 1}}
    if window.start is not None or window.end is not None:
        rng: dict[str, Any] = {"format": "epoch_millis"}
        if window.start is not None:
            rng["gte"] = int(window.start * 1000)
        if window.end is not None:
            rng["lte"] = int(window.end * 1000)
        query["bool"]["filter"] = [{"range": {es_shape.TIME_FIELD: rng}}]
    return query


class ElasticsearchSource:
    """A `LogSource` over an index pattern of Fluentd-shaped oslo.log documents."""

    def __init__(
        self,
        url: str,
        index_pattern: str = "flog-*",
        time_window: TimeWindow | None = None,
        *,
        page_size: int = 1000,
        use_pit: bool = True,
    ) -> None:
        self.url = endpoint(url).url
        self._raw_url = url
        self.index_pattern = index_pattern
        self.window = time_window or TimeWindow()
        self.page_size = page_size
        self.use_pit = use_pit
        self.stats = SourceStats()
        self._client: Elasticsearch | None = None

    def _es(self) -> Elasticsearch:
        if self._client is None:
            self._client, _ = connect(self._raw_url)
        return self._client

    def describe(self) -> str:
        return f"Elasticsearch {self.url} index {self.index_pattern} ({self.window.describe()})"

    def lines_for(self, ids: Iterable[str]) -> Iterator[LogLine]:
        """Every document carrying one of `ids`, parsed, oldest first, each exactly once."""
        from kansoku.tracing.ingest.parse import parse_record, unparsed_line

        wanted = [i for i in dict.fromkeys(ids) if i]
        if not wanted:
            return
        self.stats = SourceStats()
        query = build_query(wanted, self.window)
        for hit in self._hits(query):
            self.stats.hits += 1
            index, doc_id = str(hit.get("_index", "")), str(hit.get("_id", ""))
            try:
                rec = es_shape.read_document(hit.get("_source") or {}, index=index, doc_id=doc_id)
            except es_shape.ShapeError as exc:
                self.stats.problems.append(ParseProblem(f"{index}/{doc_id}", 1, f"malformed document: {exc}"))
                continue
            if not any(i in rec.raw or i.removeprefix(_REQ_PREFIX) in rec.raw for i in wanted):
                continue  # a phrase match on analysed text that is not really this id
            line = parse_record(rec.raw, rec.file, rec.line_no, rec.offset, rec.service, rec.host)
            if line is None:
                self.stats.problems.append(ParseProblem(rec.file, rec.line_no, "not an oslo.log record"))
                line = unparsed_line(rec.raw, rec.file, rec.line_no, rec.offset, rec.service, rec.host)
            self.stats.lines += 1
            yield line

    def _hits(self, query: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        es = self._es()
        if self.use_pit:
            with es_errors(self.url, "open point in time", self.index_pattern):
                pit_id = self._open_pit(es)
            if pit_id is not None:
                self.stats.paging = "pit+search_after"
                yield from self._pit_pages(es, pit_id, query)
                return
        self.stats.paging = "timestamp keyset"
        yield from self._keyset_pages(es, query)

    def _open_pit(self, es: Elasticsearch) -> str | None:
        """A PIT id, or None when the cluster refuses PITs (then the keyset fallback runs)."""
        from elasticsearch import ApiError, AuthorizationException, NotFoundError

        try:
            resp = es.open_point_in_time(index=self.index_pattern, keep_alive=PIT_KEEP_ALIVE)
        except NotFoundError as exc:
            if _error_type(exc) == "index_not_found_exception":
                raise
            return None
        except AuthorizationException:
            return None
        except ApiError as exc:
            if exc.meta.status in (400, 405, 501):
                return None
            raise
        return str(resp["id"])

    def _check_shards(self, resp: Mapping[str, Any]) -> None:
        shards = resp.get("_shards") or {}
        if shards.get("total") == 0:
            raise KansokuError(f"no index on {self.url} matches {self.index_pattern!r}")
        if shards.get("failed"):
            failures = shards.get("failures") or [{}]
            reason = (failures[0].get("reason") or {}).get("reason", "unknown")
            raise KansokuError(
                f"Elasticsearch at {self.url}: {shards['failed']} of {shards.get('total')} shards "
                f"failed for {self.index_pattern!r}: {reason}; refusing an incomplete trace"
            )

    def _pit_pages(
        self, es: Elasticsearch, pit_id: str, query: dict[str, Any]
    ) -> Iterator[Mapping[str, Any]]:
        sort = [_TIME_SORT, {"_shard_doc": "asc"}]
        after: list[Any] | None = None
        try:
            while True:
                kwargs: dict[str, Any] = {
                    "pit": {"id": pit_id, "keep_alive": PIT_KEEP_ALIVE},
                    "query": query,
                    "sort": sort,
                    "size": self.page_size,
                    "track_total_hits": False,
                }
                if after is not None:
                    kwargs["search_after"] = after
                with es_errors(self.url, "search", self.index_pattern):
                    resp = es.search(**kwargs)
                self.stats.pages += 1
                self._check_shards(resp.body)
                pit_id = str(resp.get("pit_id") or pit_id)
                hits = resp["hits"]["hits"]
                yield from hits
                if len(hits) < self.page_size:
                    return
                after = list(hits[-1]["sort"])
        finally:
            from elasticsearch import ApiError, TransportError

            with contextlib.suppress(ApiError, TransportError):  # else it expires after PIT_KEEP_ALIVE
                es.close_point_in_time(id=pit_id)

    def _keyset_pages(self, es: Elasticsearch, query: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        sort = [_TIME_SORT]
        last_ts: int | None = None
        seen_at_last: list[str] = []
        while True:
            q = query
            if last_ts is not None:
                q = {
                    "bool": {
                        "must": [query],
                        "filter": [
                            {"range": {es_shape.TIME_FIELD: {"gte": last_ts, "format": "epoch_millis"}}}
                        ],
                        "must_not": [{"ids": {"values": seen_at_last}}],
                    }
                }
            with es_errors(self.url, "search", self.index_pattern):
                resp = es.search(index=self.index_pattern, query=q, sort=sort, size=self.page_size)
            self.stats.pages += 1
            self._check_shards(resp.body)
            hits = resp["hits"]["hits"]
            yield from hits
            if len(hits) < self.page_size:
                return
            for hit in hits:
                ts = int(hit["sort"][0])
                if ts != last_ts:
                    last_ts, seen_at_last = ts, []
                seen_at_last.append(str(hit["_id"]))
