"""Retention (part of the journal: it speaks SQL on its tables): drop journal rows older than a horizon that no rail or promise still needs.

Why these rows and not others: the journal is also the exactly-once record and the rails'
memory. Never pruned: alerts not yet decided; actions not in a final state; the action and
alert rows of a fingerprint that is still firing (Alertmanager re-notifies a firing alert
with the same startsAt for as long as it fires; without its action row the same action
would run again); anything inside the replay window, the cooldown or the budget hour (the
horizon may not be shorter than any of them). Deliveries go once none of their alerts is
left. What the pruned rows had contributed to /metrics is added to a settings row first, in
the same transaction, so the counters do not drop after a restart.

Deletes run in chunks of `CHUNK` rows per transaction, so a large first prune does not hold
the journal lock (and the receiver's 200s) for long.
"""

from __future__ import annotations

import json
import time

from kansoku.alerts.heal.counters import PRUNED_KEY, Counters
from kansoku.alerts.heal.journal import Journal
from kansoku.alerts.heal.model import RESULT_OF_STATE, SKIPPED, ActionState
from kansoku.errors import KansokuError

CHUNK = 5000
FINAL = tuple(
    s.value
    for s in (
        ActionState.HEALED,
        ActionState.NOT_HEALED,
        ActionState.FAILED,
        ActionState.REFUSED,
        ActionState.DRY_RUN,
    )
)

_ACTIONS = (
    "planned_at < :h AND state IN ({final}) AND fingerprint NOT IN (SELECT fingerprint FROM firing)"
).format(final=",".join(f"'{s}'" for s in FINAL))
_ALERTS = (
    "received_at < :h AND decided_at IS NOT NULL AND fingerprint NOT IN (SELECT fingerprint FROM firing)"
    " AND id NOT IN (SELECT alert_id FROM actions)"
)
_DELIVERIES = "received_at < :h AND id NOT IN (SELECT delivery_id FROM alerts)"


def prune(journal: Journal, older_than_days: float, keep_seconds: float = 3600.0) -> dict[str, int]:
    """Delete closed rows older than `older_than_days`; returns rows deleted per table.

    `keep_seconds` is the shortest horizon allowed (the server passes the longest of the
    replay window, the cooldown and the budget hour).
    """
    if older_than_days * 86400 < keep_seconds:
        raise KansokuError(
            f"retention of {older_than_days:g} days is shorter than {keep_seconds:.0f}s (the replay "
            "window, cooldown or budget hour): the rails would forget what they must remember"
        )
    horizon = time.time() - older_than_days * 86400
    done = {"actions": 0, "alerts": 0, "deliveries": 0, "events": 0}
    for table, where in (("actions", _ACTIONS), ("alerts", _ALERTS), ("deliveries", _DELIVERIES)):
        while True:
            n = _chunk(journal, table, where, horizon)
            done[table] += n
            if n < CHUNK:
                break
    with journal.tx() as db:
        done["events"] = db.execute("DELETE FROM events WHERE ts < ?", (horizon,)).rowcount
        if any(done.values()):
            journal.event(db, "pruned", f"retention {older_than_days:g} days: {json.dumps(done)}")
    return done


def _chunk(journal: Journal, table: str, where: str, horizon: float) -> int:
    """Delete up to CHUNK rows of `table` matching `where`, counting them out of /metrics first."""
    args = {"h": horizon}
    with journal.tx() as db:
        ids = [r[0] for r in db.execute(f"SELECT id FROM {table} WHERE {where} LIMIT {CHUNK}", args)]
        if not ids:
            return 0
        db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_ids(id INTEGER PRIMARY KEY)")
        db.execute("DELETE FROM prune_ids")
        db.executemany("INSERT INTO prune_ids(id) VALUES (?)", [(i,) for i in ids])
        gone = Counters()
        selected = "id IN (SELECT id FROM prune_ids)"
        if table == "actions":
            for row in db.execute(
                "SELECT cluster, region, action, state, count(*) FROM actions"
                f" WHERE dry_run=0 AND {selected} GROUP BY cluster, region, action, state"
            ):
                result = RESULT_OF_STATE.get(row[3])
                if result is not None:
                    gone.add_action(row[0], row[1], row[2], result, int(row[4]))
        elif table == "alerts":
            skipped = ",".join(f"'{d.value}'" for d in SKIPPED)
            for row in db.execute(
                "SELECT cluster, region, hook_action, count(*) FROM alerts"
                f" WHERE decision IN ({skipped}) AND hook_action IS NOT NULL AND {selected}"
                " GROUP BY cluster, region, hook_action"
            ):
                gone.add_action(row[0], row[1], row[2], "skipped", int(row[3]))
        else:
            for row in db.execute(
                f"SELECT http_status, sum(requests) FROM deliveries WHERE {selected} GROUP BY http_status"
            ):
                gone.add_webhook(int(row[0]), int(row[1]))
        row = db.execute("SELECT value FROM settings WHERE key=?", (PRUNED_KEY,)).fetchone()
        total = Counters()
        if row:
            total.merge(json.loads(row[0]))
        total.merge(gone.snapshot())
        db.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (PRUNED_KEY, json.dumps(total.snapshot())),
        )
        db.execute(f"DELETE FROM {table} WHERE {selected}")
        return len(ids)
