"""`kansoku web`: the FastAPI app (routes, token check) over a `WebState`.

Why a token on every route but /healthz once bound beyond loopback: the pages show raw log
lines (user and project ids, hosts, error texts); on 127.0.0.1 only the local user can reach
them, anywhere else `KANSOKU_WEB_TOKEN` must be presented (bearer header, cookie, or
`?token=` once, which sets the cookie so the page's links keep working).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from kansoku.errors import KansokuError
from kansoku.ids import REQUEST_ID_RE, UUID_RE

from .pages import cluster_page, control_plane_page, message_page, overview
from .pages_trace import heal_page, trace_page
from .state import WebState

COOKIE = "kansoku_token"


def _token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token") or request.cookies.get(COOKIE)


def create_app(state: WebState, token: str | None = None) -> FastAPI:
    app = FastAPI(title="kansoku web", docs_url=None, redoc_url=None, openapi_url=None)

    if token:

        @app.middleware("http")
        async def check_token(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            if request.url.path == "/healthz":
                return await call_next(request)
            given = _token_of(request)
            if given is None or not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse(
                    {"error": "a token is required (Authorization: Bearer, cookie or ?token=)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            response = await call_next(request)
            if request.query_params.get("token"):
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response

    def page(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status_code=status)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        snap = state.snapshot
        return {
            "status": "ok",
            "rounds": snap.rounds,
            "clusters": len(snap.rows),
            "store": state.scan is not None,
        }

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page(overview(state))

    @app.get("/controlplane", response_class=HTMLResponse)
    def controlplane() -> HTMLResponse:
        return page(control_plane_page(state))

    @app.get("/cluster/{cluster_id}", response_class=HTMLResponse)
    def cluster(cluster_id: str) -> HTMLResponse:
        row = next((r for r in state.snapshot.rows if r.cluster.id == cluster_id), None)
        if row is None:
            return page(message_page(state, "not found", f"no cluster {cluster_id!r} in the inventory"), 404)
        return page(cluster_page(state, row))

    @app.get("/trace/{query}", response_class=HTMLResponse)
    def trace(query: str, instance: bool = False) -> HTMLResponse:
        if state.sources.store is None:
            return page(message_page(state, "no log store", "start kansoku web with --store DIR", query), 404)
        from kansoku.tracing.isolate import isolate
        from kansoku.tracing.outputs import find_trace
        from kansoku.tracing.outputs.json_doc import trace_document
        from kansoku.tracing.sources.index import IndexSource

        try:
            source = IndexSource(state.sources.store)
        except KansokuError as exc:
            return page(message_page(state, "no log store", str(exc), query), 404)
        try:
            found = find_trace(
                source, query, include_instance=instance or UUID_RE.fullmatch(query) is not None
            )
            doc = trace_document(found, isolate(found))
        except KansokuError as exc:
            return page(message_page(state, "not found", str(exc), query), 404)
        finally:
            source.close()
        return page(trace_page(state, doc))

    @app.get("/search")
    def search(q: str = "") -> Response:
        q = q.strip()
        if REQUEST_ID_RE.fullmatch(q.lower()):
            return RedirectResponse("/trace/" + quote(q.lower()), status_code=303)
        if UUID_RE.fullmatch(q.lower()):
            return RedirectResponse("/trace/" + quote(q.lower()) + "?instance=true", status_code=303)
        rows = state.snapshot.rows
        exact = [r for r in rows if r.cluster.id == q]
        hits = exact or [r for r in rows if q and q.lower() in r.cluster.id.lower()]
        if len(hits) == 1:
            return RedirectResponse("/cluster/" + quote(hits[0].cluster.id), status_code=303)
        if hits:
            from .pages import fleet_grid, layout

            body = f"<h2>{len(hits)} clusters match</h2>" + fleet_grid(state.snapshot, tuple(hits[:200]))
            return page(layout("kansoku: search", body, state, q))
        return page(
            message_page(
                state, "nothing found", f"{q!r} is not a request id, an instance UUID or a cluster name", q
            ),
            404,
        )

    @app.get("/heal", response_class=HTMLResponse)
    def heal() -> HTMLResponse:
        config = state.sources.heal_config
        if config is None:
            return page(heal_page(state, None, None))
        from kansoku.alerts.heal.config import load_heal_config
        from kansoku.alerts.heal.serve import history, open_journal

        try:
            loaded = load_heal_config(config)
            journal = open_journal(config)
        except KansokuError as exc:
            return page(heal_page(state, None, None, str(exc)))
        try:
            hist = history(journal, limit=100)
            budget = loaded.config.safety.fleet_budget_per_hour
            used = journal.planned_count(time.time() - 3600, loaded.config.dry_run)
        finally:
            journal.close()
        return page(heal_page(state, hist, (max(budget - used, 0), budget)))

    return app
