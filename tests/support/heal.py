"""Helpers for the heal tests: webhook bodies in Alertmanager's shape, a receiver in a thread.

The webhook shape is the real one recorded from Alertmanager 0.25 in
tests/data/alertmanager-webhook-v4.json; `message()` changes only the alerts in it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kansoku.process import free_port, http_ok

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "alertmanager-webhook-v4.json"
TOKEN = "s3cret-heal-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def alert(
    name: str, status: str = "firing", starts: str = "2026-11-23T16:18:11.057605Z", **labels: str
) -> dict[str, Any]:
    full = {"alertname": name, "severity": "critical", **labels}
    fp = hashlib.sha256(json.dumps(sorted(full.items())).encode()).hexdigest()[:16]
    return {
        "status": status,
        "labels": full,
        "annotations": {"summary": f"{name} on {labels}", "runbook_url": "https://runbooks.invalid/x"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-23T17:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": fp,
    }


def message(*alerts: dict[str, Any], group_key: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(json.loads(SAMPLE.read_text()))
    body["alerts"] = list(alerts)
    body["status"] = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    body["commonLabels"] = common
    body["groupLabels"] = {"alertname": common.get("alertname", "")}
    body["groupKey"] = group_key or "{}:" + json.dumps(body["groupLabels"], sort_keys=True)
    return body


@contextmanager
def uvicorn_thread(app: Any) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not http_ok(base + "/healthz") and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(probe: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
