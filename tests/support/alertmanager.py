"""Posting alerts to a real Alertmanager's v2 API, as Prometheus does."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def post_alerts(port: int, alerts: list[dict[str, Any]]) -> None:
    """POST `alerts` (Alertmanager's `postableAlerts`) to the Alertmanager on 127.0.0.1:`port`."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
