"""The receiver: FastAPI app with POST /alertmanager, GET /healthz, GET /metrics.

Why the order of checks: authentication first (an unauthenticated caller learns nothing
and costs one small journal row), then the size limit while reading (a huge body is cut
off, never buffered whole), then JSON, version and schema, then labels the matched hooks
need, then replay. Only then is the webhook journaled (committed, fsynced) and answered 200;
deciding and acting happen in the worker. Every rejection is journaled with its reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from kansoku.alerts.heal.auth import Authenticator
from kansoku.alerts.heal.body import parse_body
from kansoku.alerts.heal.commit import GroupCommitter
from kansoku.alerts.heal.engine import Engine
from kansoku.alerts.heal.journal import Journal
from kansoku.alerts.heal.metrics import registry_for
from kansoku.alerts.heal.model import WEBHOOK_VERSION, AMMessage
from kansoku.alerts.heal.refusals import Refusals, Summary
from kansoku.alerts.heal.worker import Healer
from kansoku.models import HealHook


def _summary_row(
    journal: Journal, summary: Summary, status: int, n: int
) -> Callable[[sqlite3.Connection], int]:
    def write(db: sqlite3.Connection) -> int:
        return journal.reject_in(db, status, summary.reason(), summary.remote, None, 0, requests=n)

    return write


#: bodies larger than this are examined in a thread, off the event loop
OFFLOAD_BYTES = 256 * 1024
#: how often closed refusal windows are written to the journal (one row per client and window)
REFUSAL_FLUSH_SECONDS = 15.0


class HotRoute:
    """ASGI middleware: POST `path` goes straight to `handler`, everything else on to the app.

    Why: the receiver's every request is that one POST, and the exception middleware, the
    router's matching and FastAPI's per-request bookkeeping below this point cost about a
    tenth of the receiver's CPU per alert while doing nothing for it (the handler answers
    every error itself). It sits inside Starlette's ServerErrorMiddleware, so a bug still
    gets a 500 and a logged traceback.
    """

    def __init__(self, app: ASGIApp, path: str, handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.app, self.path, self.handler = app, path, handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            response = await self.handler(Request(scope, receive))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(journal: Journal, engine: Engine, healer: Healer, auth: Authenticator) -> FastAPI:
    config = engine.config
    app = FastAPI(title="kansoku heal", docs_url=None, redoc_url=None, openapi_url=None)
    registry = registry_for(journal, engine)
    committer = GroupCommitter(journal, healer.decide_in)
    refusals = Refusals()
    counters = journal.counters
    flusher: list[asyncio.Task[None]] = []

    async def flush_refusals(everything: bool = False) -> None:
        for summary in refusals.closed(everything=everything):
            for status, n in ((401, summary.refused - summary.limited), (429, summary.limited)):
                if n:
                    await committer.write(_summary_row(journal, summary, status, n))

    async def flush_loop() -> None:
        while True:
            await asyncio.sleep(REFUSAL_FLUSH_SECONDS)
            await flush_refusals()

    async def start_flusher() -> None:
        flusher.append(asyncio.create_task(flush_loop()))

    async def stop() -> None:
        for task in flusher:
            task.cancel()
        await flush_refusals(everything=True)
        committer.close()

    app.router.on_startup.append(start_flusher)
    app.router.on_shutdown.append(stop)

    async def reject(
        status: int, reason: str, remote: str, sha: str | None, size: int, n: int = 0
    ) -> JSONResponse:
        await committer.write(lambda db: journal.reject_in(db, status, reason, remote, sha, size, n))
        counters.add_webhook(status)
        return JSONResponse({"error": reason}, status_code=status)

    async def refuse(remote: str) -> JSONResponse:
        status, journal_it = refusals.refuse(remote)
        reason = "unauthorized: missing or wrong credentials"
        if journal_it:
            await committer.write(lambda db: journal.reject_in(db, 401, reason, remote, None, 0))
        counters.add_webhook(status)
        if status == 429:
            return JSONResponse(
                {"error": "too many refused requests from this client; try again later"},
                status_code=429,
                headers={"Retry-After": str(int(REFUSAL_FLUSH_SECONDS))},
            )
        return JSONResponse(
            {"error": reason}, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="kansoku"'}
        )

    def examine(
        body: bytes,
    ) -> tuple[str, AMMessage | None, list[HealHook | None], tuple[int, str, int] | None]:
        """The body's SHA-256, the validated message and each alert's hook, or why it is
        rejected (status, reason, number of alerts): JSON, version, schema, then the labels
        the matched hooks need."""
        sha = hashlib.sha256(body).hexdigest()
        data, problem = parse_body(body)
        if problem is not None:
            return sha, None, [], (400, problem, 0)
        if not isinstance(data, dict):
            return sha, None, [], (422, "body must be a JSON object (Alertmanager webhook message)", 0)
        if data.get("version") != WEBHOOK_VERSION:
            why = f"unsupported webhook version {data.get('version')!r}; expected {WEBHOOK_VERSION!r}"
            return sha, None, [], (400, why, 0)
        try:
            message = AMMessage.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
            )
            return sha, None, [], (422, f"not an Alertmanager webhook: {problems}", 0)
        n = len(message.alerts)
        hooks: list[HealHook | None] = []
        for i, alert in enumerate(message.alerts):
            if not alert.labels.get("alertname"):
                return sha, None, [], (422, f"alerts[{i}] ({alert.fingerprint}) has no alertname label", n)
            hook = engine.hook_for(alert.labels)
            missing = engine.missing_labels(alert.labels, hook) if hook is not None else []
            if missing:
                why = (
                    f"alerts[{i}] {alert.labels['alertname']} ({alert.fingerprint}) lacks "
                    f"label(s) {', '.join(missing)} that its heal hook needs"
                )
                return sha, None, [], (422, why, n)
            hooks.append(hook)
        return sha, message, hooks, None

    async def alertmanager(request: Request) -> Response:
        remote = request.client.host if request.client else "?"
        if not auth.check(request.headers.get("authorization")):
            return await refuse(remote)
        limit = config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return await reject(
                413, f"body of {declared} bytes exceeds max_body_bytes {limit}", remote, None, int(declared)
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return await reject(413, f"body exceeds max_body_bytes {limit}", remote, None, size)
            chunks.append(chunk)
        body = b"".join(chunks)
        # a large body is hashed, parsed and validated in a thread: the event loop keeps
        # answering other senders meanwhile (10k alerts took ~0.8 s of it)
        if size > OFFLOAD_BYTES:
            sha, message, hooks, rejection = await asyncio.to_thread(examine, body)
        else:
            sha, message, hooks, rejection = examine(body)
        if rejection is not None:
            status, reason, n = rejection
            return await reject(status, reason, remote, sha, size, n)
        assert message is not None
        window = config.safety.replay_window_seconds

        def accept(db: sqlite3.Connection) -> tuple[int, int | None]:
            replay = journal.replay_in(db, sha, window)
            if replay is not None:
                reason = f"replay: an identical webhook was accepted as delivery {replay}"
                return journal.reject_in(db, 409, reason, remote, sha, size, len(message.alerts)), replay
            return journal.ingest_in(db, message, sha, remote, size), None

        delivery, replay = await committer.write(accept)
        counters.add_webhook(200 if replay is None else 409)
        if replay is not None:
            return JSONResponse(
                {"error": f"replay: an identical webhook was accepted as delivery {replay}"}, status_code=409
            )
        notes = []
        for alert, hook in zip(message.alerts, hooks, strict=True):
            name = alert.labels["alertname"]
            if alert.status == "resolved":
                note = "resolved: closes earlier actions"
            elif hook is None:
                note = "ignored: no heal hook (journaled)"
            else:
                note = "queued"
            notes.append({"fingerprint": alert.fingerprint, "alertname": name, "note": note})
        return JSONResponse({"delivery": delivery, "alerts": notes})

    # A plain Starlette route, not @app.post: the handler reads the raw request itself, so
    # FastAPI's dependency solving and endpoint wrapper only cost CPU. The route stays for
    # what the router answers (405 to a GET); a POST is taken before the router by HotRoute.
    app.add_route("/alertmanager", alertmanager, methods=["POST"])
    app.add_middleware(HotRoute, path="/alertmanager", handler=alertmanager)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        problem = healer.not_deciding()
        body = {
            "status": problem or "ok",
            "paused": journal.paused_reason(),
            "dry_run": engine.dry_run,
        }
        return JSONResponse(body, status_code=200 if problem is None else 503)

    @app.get("/metrics")
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
