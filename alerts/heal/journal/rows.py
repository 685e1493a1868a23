"""The journal's rows as typed records: an alert and an action, read back from SQLite.

Why apart from the journal's queries: they are the plain data every reader of the journal
(engine, worker, `heal history`) shares, and the queries module stays under the size limit.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AlertRow:
    id: int
    fingerprint: str
    alertname: str
    status: str
    starts_at: str
    cluster: str
    region: str
    target: str
    labels: dict[str, str]
    annotations: dict[str, str]
    received_at: float


@dataclass(frozen=True)
class ActionRow:
    id: int
    idem_key: str
    alert_id: int
    fingerprint: str
    action: str
    cluster: str
    region: str
    target: str
    params: dict[str, Any]
    request_id: str
    state: str
    dry_run: bool
    plan: list[str]
    planned_at: float
    started_at: float | None
    finished_at: float | None
    detail: str | None
    escalated_from: int | None
    timeout: float


def alert_of(row: sqlite3.Row) -> AlertRow:
    return AlertRow(
        id=row["id"],
        fingerprint=row["fingerprint"],
        alertname=row["alertname"],
        status=row["status"],
        starts_at=row["starts_at"],
        cluster=row["cluster"],
        region=row["region"],
        target=row["target"],
        labels=json.loads(row["labels"]),
        annotations=json.loads(row["annotations"]),
        received_at=row["received_at"],
    )


def action_of(row: sqlite3.Row) -> ActionRow:
    return ActionRow(
        id=row["id"],
        idem_key=row["idem_key"],
        alert_id=row["alert_id"],
        fingerprint=row["fingerprint"],
        action=row["action"],
        cluster=row["cluster"],
        region=row["region"],
        target=row["target"],
        params=json.loads(row["params"]),
        request_id=row["request_id"],
        state=row["state"],
        dry_run=bool(row["dry_run"]),
        plan=json.loads(row["plan"]),
        planned_at=row["planned_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        detail=row["detail"],
        escalated_from=row["escalated_from"],
        timeout=row["timeout"],
    )
