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
import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

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


#: an answer of the webhook route: status, JSON body, extra headers
Answer = tuple[int, Any, list[tuple[bytes, bytes]]]


class ClientGone(Exception):
    """The sender disconnected before its body was read (nothing to answer)."""


#: json.dumps as Starlette's JSONResponse calls it, with one encoder instead of one per call
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _send_answer(answer: Answer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ASGI messages of an answer (the JSON as Starlette's JSONResponse writes it)."""
    status, content, extra = answer
    body = _encode(content).encode()
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
        *extra,
    ]
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class Receiver:
    """The receiver's ASGI app: POST `path` is answered here, everything else by FastAPI.

    Why in front of FastAPI: every request the receiver gets is that one POST, and FastAPI's
    stack (error and telemetry middlewares, body limit, router, Request and JSONResponse
    objects) cost about as much CPU as the no-op FastAPI endpoint it is measured against
    (issue 14) while doing nothing for it: the handler answers every error itself. A bug in
    it still gets a 500 and a logged traceback (uvicorn's own handler). Lifespan events and
    every other path and method (GET /healthz, /metrics, 405 to a GET here) go to `app`.
    """

    def __init__(
        self, app: FastAPI, path: str, handler: Callable[[Scope, Receive], Awaitable[Answer]]
    ) -> None:
        self.app, self.path, self.handler = app, path, handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            try:
                answer = await self.handler(scope, receive)
            except ClientGone:
                return
            start, body = _send_answer(answer)
            await send(start)
            await send(body)
        else:
            await self.app(scope, receive, send)


def _headers(scope: Scope) -> tuple[str | None, str | None]:
    """The Authorization and Content-Length headers (latin-1, as Starlette decodes them)."""
    auth = length = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            auth = value.decode("latin-1")
        elif name == b"content-length":
            length = value.decode("latin-1")
    return auth, length


def _validate(body: bytes) -> AMMessage | None:
    """The message when the body is a valid version-4 webhook, parsed once from the bytes
    (pydantic-core's JSON parser); None sends it down the slow path (`examine`), which
    names what is wrong exactly as before. The fast path refuses whatever the slow one
    refuses: non-UTF-8 text, lone surrogates and too deep nesting fail both."""
    try:
        message = AMMessage.model_validate_json(body)
    except ValueError:
        return None
    return message if message.version == WEBHOOK_VERSION else None


def create_app(journal: Journal, engine: Engine, healer: Healer, auth: Authenticator) -> Receiver:
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

    async def reject(status: int, reason: str, remote: str, sha: str | None, size: int, n: int = 0) -> Answer:
        await committer.write(lambda db: journal.reject_in(db, status, reason, remote, sha, size, n))
        counters.add_webhook(status)
        return status, {"error": reason}, []

    async def refuse(remote: str) -> Answer:
        status, journal_it = refusals.refuse(remote)
        reason = "unauthorized: missing or wrong credentials"
        if journal_it:
            await committer.write(lambda db: journal.reject_in(db, 401, reason, remote, None, 0))
        counters.add_webhook(status)
        if status == 429:
            return (
                429,
                {"error": "too many refused requests from this client; try again later"},
                [(b"retry-after", str(int(REFUSAL_FLUSH_SECONDS)).encode())],
            )
        return 401, {"error": reason}, [(b"www-authenticate", b'Bearer realm="kansoku"')]

    def examine(
        body: bytes,
    ) -> tuple[str, AMMessage | None, list[HealHook | None], tuple[int, str, int] | None]:
        """The body's SHA-256, the validated message and each alert's hook, or why it is
        rejected (status, reason, number of alerts): JSON, version, schema, then the labels
        the matched hooks need."""
        sha = hashlib.sha256(body).hexdigest()
        message = _validate(body)
        if message is not None:
            return (sha, *hooks_of(message))
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
        return (sha, *hooks_of(message))

    def hooks_of(
        message: AMMessage,
    ) -> tuple[AMMessage | None, list[HealHook | None], tuple[int, str, int] | None]:
        """Each alert's hook, or why the message is rejected (an alert without a name or
        without the labels its hook needs)."""
        n = len(message.alerts)
        hooks: list[HealHook | None] = []
        for i, alert in enumerate(message.alerts):
            if not alert.labels.get("alertname"):
                return None, [], (422, f"alerts[{i}] ({alert.fingerprint}) has no alertname label", n)
            hook = engine.hook_for(alert.labels)
            missing = engine.missing_labels(alert.labels, hook) if hook is not None else []
            if missing:
                why = (
                    f"alerts[{i}] {alert.labels['alertname']} ({alert.fingerprint}) lacks "
                    f"label(s) {', '.join(missing)} that its heal hook needs"
                )
                return None, [], (422, why, n)
            hooks.append(hook)
        return message, hooks, None

    async def alertmanager(scope: Scope, receive: Receive) -> Answer:
        client = scope.get("client")
        remote = client[0] if client else "?"
        authorization, declared = _headers(scope)
        if not auth.check(authorization):
            return await refuse(remote)
        limit = config.max_body_bytes
        if declared and declared.isdigit() and int(declared) > limit:
            return await reject(
                413, f"body of {declared} bytes exceeds max_body_bytes {limit}", remote, None, int(declared)
            )
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            received = await receive()
            if received["type"] == "http.disconnect":
                raise ClientGone
            chunk = received.get("body", b"")
            more = received.get("more_body", False)
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
            return 409, {"error": f"replay: an identical webhook was accepted as delivery {replay}"}, []
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
        return 200, {"delivery": delivery, "alerts": notes}, []

    async def not_here() -> Response:  # never called: Receiver answers every POST first
        raise AssertionError("POST /alertmanager reached the router")

    # the route stays for what the router answers to other methods (405 to a GET)
    app.add_api_route("/alertmanager", not_here, methods=["POST"])

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

    return Receiver(app, "/alertmanager", alertmanager)
