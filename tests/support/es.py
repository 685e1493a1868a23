"""A loopback HTTP server that answers like Elasticsearch, from documented response bodies.

No Elasticsearch can run here, so the ES tests talk to this server through the real
elasticsearch-py 9 client over real HTTP. Every body it returns is built from a file in
`tests/data/elasticsearch/` (see its README for the source and version of each), with only
ids, index names and hits filled in. It records every request (method, path, headers,
body) so the tests can check what the client really sent: the query, the PIT id, the
`search_after` values, the bulk NDJSON and the compatibility headers.

It behaves like Elasticsearch where the client depends on it: the `X-Elastic-Product`
header, rejecting a `compatible-with` major it does not speak (as ES 8 rejects 9), `create`
answering 409 for an existing `_id`, PIT ids that change between pages, `search_after` on
the sort values it returned. It does not evaluate queries: search returns every stored
document in sort order, and the source must keep only the lines that carry the ids (which
is the behaviour under test).

Also here: real oslo.log output for the tests, written by oslo.log itself in a subprocess.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import LoopbackServer

DATA = Path(__file__).parent.parent / "data" / "elasticsearch"

GLOBAL_ID = "req-11111111-2222-4333-8444-555555555555"
PLACEMENT_CALLEE_ID = "req-aaaaaaaa-2222-4333-8444-555555555555"
INSTANCE = "0b3c5a9e-1234-4abc-8def-0123456789ab"


def body(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.raw.decode().splitlines() if line.strip()]


@dataclass
class Stored:
    index: str
    id: str
    source: dict[str, Any]
    ts_ms: int
    seq: int


@dataclass
class FakeES:
    """State and switches of the loopback server (set them before the request)."""

    major: int = 8
    version: str = "8.12.1"
    auth_required: bool = False
    pit_supported: bool = True
    missing_index: str | None = None  # a concrete index name answered with index_not_found
    no_product_header: bool = False
    reject_doc_ids: set[str] = field(default_factory=set)  # bulk answers mapper_parsing_exception
    docs: dict[tuple[str, str], Stored] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    pit_ids: list[str] = field(default_factory=list)
    closed_pits: list[str] = field(default_factory=list)
    url: str = ""
    _order: list[Stored] | None = None
    _keys: list[tuple[int, int]] = field(default_factory=list)

    def add(self, index: str, doc_id: str, source: dict[str, Any], ts_ms: int) -> None:
        self.docs[(index, doc_id)] = Stored(index, doc_id, source, ts_ms, len(self.docs))
        self._order = None

    def of(self, method: str, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    # -- request handling -------------------------------------------------------------

    def handle(self, rec: Recorded) -> tuple[int, Any]:
        compat = _compat_error(rec.headers, self.major)
        if compat is not None:
            return 400, compat
        if self.auth_required and "authorization" not in rec.headers:
            return 401, body("error-401.json")
        if rec.method == "GET" and rec.path == "/":
            info = body("info-8.12.1.json")
            info["version"]["number"] = self.version
            return 200, info
        if rec.path.endswith("/_pit") and rec.method == "POST":
            return self._open_pit(rec)
        if rec.path == "/_pit" and rec.method == "DELETE":
            self.closed_pits.append(rec.json()["id"])
            return 200, body("close-pit.json")
        if rec.path.endswith("/_search"):
            return self._search(rec)
        if rec.path.endswith("/_bulk"):
            return self._bulk(rec)
        return 404, {"error": f"no route for {rec.method} {rec.path}"}

    def _missing(self, index: str) -> tuple[int, Any] | None:
        if self.missing_index and index == self.missing_index:
            err = body("error-index-not-found.json")
            text = json.dumps(err).replace("packetbeat", index)
            return 404, json.loads(text)
        return None

    def _open_pit(self, rec: Recorded) -> tuple[int, Any]:
        index = rec.path.strip("/").split("/")[0]
        if (miss := self._missing(index)) is not None:
            return miss
        if not self.pit_supported:
            return 400, {
                "error": {
                    "root_cause": [
                        {"type": "illegal_argument_exception", "reason": "request [/_pit] unsupported"}
                    ],
                    "type": "illegal_argument_exception",
                    "reason": "request [/_pit] unsupported",
                },
                "status": 400,
            }
        resp = body("open-pit.json")
        self.pit_ids.append(resp["id"])
        return 200, resp

    def _sorted(self) -> list[Stored]:
        """Stored documents in sort order, cached until the next write (big bench indices)."""
        if self._order is None or len(self._order) != len(self.docs):
            self._order = sorted(self.docs.values(), key=lambda d: (d.ts_ms, d.seq))
            self._keys = [(d.ts_ms, d.seq) for d in self._order]
        return self._order

    def _search(self, rec: Recorded) -> tuple[int, Any]:
        req = rec.json()
        size = int(req.get("size", 10))
        resp = body("search-pit-page.json")
        template = resp["hits"]["hits"][0]
        if "pit" in req:
            if req["pit"]["id"] != self.pit_ids[-1]:
                return 404, {"error": {"type": "search_context_missing_exception", "reason": "stale pit"}}
            after = req.get("search_after")
            ordered = self._sorted()
            start = 0 if after is None else bisect.bisect_right(self._keys, (after[0], after[1]))
            page = ordered[start : start + size]
            sorts = [[d.ts_ms, d.seq] for d in page]
            # A new PIT id with every page, as the docs say may happen: the client must use the newest.
            new_id = f"{self.pit_ids[-1][:-1]}{len(self.pit_ids) % 10}"
            self.pit_ids.append(new_id)
            resp["pit_id"] = new_id
        else:
            index = rec.path.strip("/").split("/")[0]
            if (miss := self._missing(index)) is not None:
                return miss
            del resp["pit_id"]
            gte, exclude = _keyset_bounds(req["query"])
            docs = [d for d in self._sorted() if (gte is None or d.ts_ms >= gte) and d.id not in exclude]
            page = docs[:size]
            sorts = [[d.ts_ms] for d in page]
        hits = []
        for d, s in zip(page, sorts, strict=True):
            hit = copy.deepcopy(template)
            hit.update({"_index": d.index, "_id": d.id, "_source": d.source, "sort": s})
            hits.append(hit)
        resp["hits"]["hits"] = hits
        resp["hits"]["total"] = {"value": len(hits), "relation": "gte"}
        if not self.docs:
            resp["_shards"] = {"total": 0, "successful": 0, "skipped": 0, "failed": 0}
        return 200, resp

    def _bulk(self, rec: Recorded) -> tuple[int, Any]:
        lines = rec.ndjson()
        items = []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            op, meta = next(iter(action.items()))
            assert op == "create", op
            index, doc_id = meta["_index"], meta["_id"]
            if doc_id in self.reject_doc_ids:
                failed = body("bulk-failed.json")["items"][0]["update"]
                failed.update(
                    {
                        "_index": index,
                        "_id": doc_id,
                        "status": 400,
                        "error": {
                            "type": "mapper_parsing_exception",
                            "reason": f"failed to parse field [Pid] of type [long] in document with id '{doc_id}'",
                        },
                    }
                )
                items.append({"create": failed})
            elif (index, doc_id) in self.docs:
                conflict = body("bulk-conflict-item.json")
                conflict["create"].update({"_index": index, "_id": doc_id})
                conflict["create"]["error"]["index"] = index
                conflict["create"]["error"]["reason"] = (
                    f"[{doc_id}]: version conflict, document already exists (current version [1])"
                )
                items.append(conflict)
            else:
                created = body("bulk-created.json")["items"][0]
                created["create"].update({"_index": index, "_id": doc_id})
                items.append(created)
                self.add(index, doc_id, source, _ts_ms(source))
        resp = body("bulk-created.json")
        resp["items"] = items
        resp["errors"] = any("error" in next(iter(i.values())) for i in items)
        return 200, resp


def _ts_ms(source: dict[str, Any]) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(source["@timestamp"]).timestamp() * 1000)


def _keyset_bounds(query: dict[str, Any]) -> tuple[int | None, set[str]]:
    """The `gte` and `must_not ids` that ElasticsearchSource's keyset fallback adds."""
    b = query.get("bool", {})
    if "must" not in b:
        return None, set()
    gte = int(b["filter"][0]["range"]["@timestamp"]["gte"])
    return gte, set(b["must_not"][0]["ids"]["values"])


def _compat_error(headers: dict[str, str], major: int) -> dict[str, Any] | None:
    """ES 8 accepts compatible-with=7|8 and rejects 9 (RestCompatibleVersionHelper)."""
    for key in ("accept", "content-type"):
        value = headers.get(key, "")
        if "compatible-with=" in value:
            asked = int(value.rsplit("compatible-with=", 1)[1].split(";")[0].strip())
            if asked not in (major, major - 1):
                reason = (
                    f"{'Accept' if key == 'accept' else 'Content-Type'} version must be either version "
                    f"{major} or {major - 1}, but found {asked}. {key.title()}={value}"
                )
                return {
                    "error": {
                        "root_cause": [{"type": "media_type_header_exception", "reason": reason}],
                        "type": "media_type_header_exception",
                        "reason": reason,
                    },
                    "status": 400,
                }
    return None


def _handler(state: FakeES) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("content-encoding") == "gzip":
                import gzip

                raw = gzip.decompress(raw)
            parts = urlsplit(self.path)
            rec = Recorded(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                raw,
            )
            state.requests.append(rec)
            status, payload = state.handle(rec)
            out = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            if not state.no_product_header:
                self.send_header("X-Elastic-Product", "Elasticsearch")
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


@contextlib.contextmanager
def serve_fake_es() -> Iterator[FakeES]:
    """Start the loopback server on a free port; stopped (and its thread joined) on exit."""
    state = FakeES()
    with LoopbackServer(_handler(state)) as server:
        state.url = server.url
        yield state


# -- real oslo.log output ------------------------------------------------------------------

_OSLO_SCRIPT = r"""
import sys
from oslo_config import cfg
from oslo_context import context
from oslo_log import log as oslo_logging

path, project, use_json, gid = sys.argv[1], sys.argv[2], sys.argv[3] == "json", sys.argv[4]
CONF = cfg.ConfigOpts()
oslo_logging.register_options(CONF)
CONF([], project=project)
CONF.set_override("log_file", path)
CONF.set_override("debug", True)
CONF.set_override("use_json", use_json)
oslo_logging.setup(CONF, project)
if project == "nova":
    LOG = oslo_logging.getLogger("nova.api.openstack.compute.servers")
    LOG.info("nova-api WSGI app loaded")  # before any context: [-]
    ctx = context.RequestContext(user_id="u1", project_id="p1", global_request_id=gid)
    LOG.info("Creating server", context=ctx, instance={"uuid": "%(instance)s"})
    LOG.debug("GET call to placement for http://127.0.0.1/placement/allocation_candidates used request id %(callee)s", context=ctx)
    try:
        raise ValueError("No valid host was found")
    except ValueError:
        LOG.exception("Build of instance failed", context=ctx)
    other = context.RequestContext(user_id="u2", project_id="p2")
    LOG.warning("Unrelated request without a global id", context=other)
else:
    LOG = oslo_logging.getLogger("placement.requestlog")
    ctx = context.RequestContext(user_id="u1", project_id="p1", global_request_id=gid, request_id="%(callee)s")
    LOG.info('127.0.0.1 "GET /placement/allocation_candidates" status: 200 len: 52 microversion: 1.39', context=ctx)
"""


def write_oslo_log(path: Path, project: str, fmt: str = "text") -> Path:
    """Let oslo.log itself write a small log (a subprocess: oslo.log setup is process-global)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    script = _OSLO_SCRIPT.replace("%(instance)s", INSTANCE).replace("%(callee)s", PLACEMENT_CALLEE_ID)
    subprocess.run(
        [sys.executable, "-c", script, str(path), project, fmt, GLOBAL_ID],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def make_oslo_tree(root: Path) -> Path:
    """`<host>/<project>/<service>.log` as a collected support bundle lays them out."""
    write_oslo_log(root / "ctl1" / "nova" / "nova-api.log", "nova")
    write_oslo_log(root / "ctl1" / "placement" / "placement-api.log", "placement")
    return root
