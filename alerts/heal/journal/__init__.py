"""The healer's durable journal: every webhook, alert, decision and action, in SQLite.

Why SQLite in WAL mode with synchronous=FULL: the receiver answers 200 only after the
alert is committed, and Alertmanager does not resend what it got a 200 for, so a commit
must survive a crash of the process *and* of the machine. WAL+NORMAL survives `kill -9`
but can lose the last commits on power loss; FULL fsyncs the WAL on each commit, which
the benchmark shows is affordable at 500 alerts/s (one commit per webhook, decisions are
batched). WAL also lets `kansoku heal history|pause|resume` read and write from another
process while the server runs.

The journal is the audit log and the source of truth for exactly-once: an action row is
created with a UNIQUE idempotency key (fingerprint, action, startsAt) in the same
transaction as the decision, and moves pending -> running -> verifying -> healed/...;
a row found `running` after a restart is marked failed, never re-run.
Secrets never reach it: only the body's hash and the alert content are stored, no headers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kansoku.alerts.heal.counters import PRUNED_KEY, Counters
from kansoku.alerts.heal.journal.rows import ActionRow, AlertRow, action_of, alert_of
from kansoku.alerts.heal.journal.schema import SCHEMA, kind_of, migrate, target_of
from kansoku.alerts.heal.model import SKIPPED, ActionState, AMMessage

__all__ = ["ActionRow", "AlertRow", "Journal", "kind_of", "target_of"]

#: json.dumps(obj, sort_keys=True), without building an encoder per call
_sorted_json = json.JSONEncoder(sort_keys=True).encode

#: how often the background connection checkpoints the WAL into the database file
CHECKPOINT_SECONDS = 1.0


class Journal:
    """One SQLite connection shared by the receiver and the worker, serialized by a lock."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        #: alerts inserted by `ingest_in` in the open transaction of `tx`, by id (see `undecided`).
        #: One rolled back to its savepoint stays here until its id is given again, which only
        #: `ingest_in` does, replacing it; an id not in the table is never looked up.
        self._fresh: dict[int, AlertRow] = {}
        #: /metrics counters; `load_counters` fills them from the journal (the server does)
        self.counters = Counters()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self.tx():
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            migrate(self._db)
        # Decisions commit on their own connection with synchronous=NORMAL (no fsync per
        # commit). Safe because WAL frames are appended in order: the FULL commit that marks
        # an action `running` fsyncs the WAL, and with it every decision written before it.
        # A decision lost to power failure therefore had no effect yet and is simply made
        # again (its alert is still undecided); a webhook's 200 never depends on it.
        self._decide_db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._decide_db.row_factory = sqlite3.Row
        self._decide_db.execute("PRAGMA synchronous=NORMAL")
        self._decide_db.execute("PRAGMA busy_timeout=30000")
        self._decide_lock = threading.Lock()
        # Checkpoints off the hot path: by default SQLite checkpoints inside whichever commit
        # pushes the WAL past 1000 pages, and that commit then copies pages and fsyncs the
        # database file: 150-190 ms commits every few seconds at 500 alerts/s, which were
        # the p99. A background connection checkpoints PASSIVE (never blocks a writer) instead.
        for conn in (self._db, self._decide_db):
            conn.execute("PRAGMA wal_autocheckpoint=0")
            # Savepoints (one per write of a group commit, one around its decisions) keep
            # their undo pages in a statement journal; past 64 KiB SQLite spilled it to a new
            # temp file (create, write, unlink) inside the commit. Memory only holds the
            # pages of one open transaction; durability is the WAL's, unchanged.
            conn.execute("PRAGMA temp_store=MEMORY")
        self._stop_checkpoints = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="heal-journal-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            while not self._stop_checkpoints.wait(CHECKPOINT_SECONDS):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    # the frames committed meanwhile, with no commit in between: the log is then
                    # wholly checkpointed and the next write starts it again from the top
                    with self._lock:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.OperationalError:
                    continue  # busy: the next round catches up; the WAL keeps every frame
        finally:
            db.close()

    def load_counters(self) -> Counters:
        """Count the journal once (server start); from then on the counters follow it."""
        self.counters = Counters()
        self.counters.load(
            self.action_counts(by_cluster=True),
            self.skipped_counts([d.value for d in SKIPPED]),
            self.delivery_counts(),
            self.setting(PRUNED_KEY),
        )
        return self.counters

    def close(self) -> None:
        self._stop_checkpoints.set()
        self._checkpointer.join(timeout=10)
        with self._lock, self._decide_lock:
            # a last checkpoint, so the database file alone holds what was committed
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self._db.close()
            self._decide_db.close()

    @contextmanager
    def decision_tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction for decisions (synchronous=NORMAL, see __init__).

        It also takes the main lock: two connections of one process contending inside
        SQLite would wait in SQLite's busy handler, which sleeps in steps of up to 100 ms.
        """
        with self._lock, self._decide_lock:
            self._decide_db.execute("BEGIN IMMEDIATE")
            try:
                yield self._decide_db
            except BaseException:
                self._decide_db.execute("ROLLBACK")
                raise
            self._decide_db.execute("COMMIT")

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: no upgrade deadlocks between processes)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._fresh.clear()
            self._db.execute("COMMIT")

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args))

    # -- receiver ---------------------------------------------------------------------------

    def record_rejection(
        self, status: int, reason: str, remote: str, sha: str | None, size: int, n_alerts: int = 0
    ) -> int:
        with self.tx() as db:
            return self.reject_in(db, status, reason, remote, sha, size, n_alerts)

    def reject_in(
        self,
        db: sqlite3.Connection,
        status: int,
        reason: str,
        remote: str,
        sha: str | None,
        size: int,
        n_alerts: int = 0,
        requests: int = 1,
    ) -> int:
        """Journal a rejected request (`requests` > 1: a summary row of refused requests)."""
        cur = db.execute(
            "INSERT INTO deliveries(received_at, http_status, reason, remote, body_sha256, bytes,"
            " n_alerts, requests) VALUES (?,?,?,?,?,?,?,?)",
            (time.time(), status, reason, remote, sha, size, n_alerts, requests),
        )
        return int(cur.lastrowid or 0)

    def replay_in(self, db: sqlite3.Connection, sha: str, window: float) -> int | None:
        row = db.execute(
            "SELECT id FROM deliveries WHERE body_sha256=? AND http_status=200 AND received_at>=?"
            " ORDER BY id DESC LIMIT 1",
            (sha, time.time() - window),
        ).fetchone()
        return int(row["id"]) if row else None

    def ingest(self, message: AMMessage, sha: str, remote: str, size: int) -> int:
        with self.tx() as db:
            return self.ingest_in(db, message, sha, remote, size)

    def ingest_in(self, db: sqlite3.Connection, message: AMMessage, sha: str, remote: str, size: int) -> int:
        """Journal an accepted webhook and each of its alerts; firing state is updated here
        so that a storm delivered in one webhook is counted whole before any decision."""
        now = time.time()
        cur = db.execute(
            "INSERT INTO deliveries(received_at, http_status, reason, remote, group_key, body_sha256,"
            " bytes, n_alerts) VALUES (?,?,?,?,?,?,?,?)",
            (now, 200, "accepted", remote, message.groupKey, sha, size, len(message.alerts)),
        )
        delivery = int(cur.lastrowid or 0)
        fresh = self._fresh if db is self._db else None
        for alert in message.alerts:
            labels = alert.labels
            cluster = labels.get("cluster", "")
            target = target_of(labels)
            cur = db.execute(
                "INSERT INTO alerts(delivery_id, received_at, fingerprint, alertname, status,"
                " starts_at, cluster, region, target, labels, annotations)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    delivery,
                    now,
                    alert.fingerprint,
                    labels["alertname"],
                    alert.status,
                    alert.startsAt,
                    cluster,
                    labels.get("region", ""),
                    target,
                    _sorted_json(labels),
                    _sorted_json(alert.annotations),
                ),
            )
            if fresh is not None:
                alert_id = int(cur.lastrowid or 0)
                fresh[alert_id] = AlertRow(
                    id=alert_id,
                    fingerprint=alert.fingerprint,
                    alertname=labels["alertname"],
                    status=alert.status,
                    starts_at=alert.startsAt,
                    cluster=cluster,
                    region=labels.get("region", ""),
                    target=target,
                    labels=dict(sorted(labels.items())),  # as read back from the JSON column
                    annotations=dict(sorted(alert.annotations.items())),
                    received_at=now,
                )
            if alert.status == "firing":
                new = db.execute(
                    "INSERT OR IGNORE INTO firing(fingerprint, alertname, cluster, target, since, kind)"
                    " VALUES (?,?,?,?,?,?)",
                    (alert.fingerprint, labels["alertname"], cluster, target, now, kind_of(labels)),
                ).rowcount
                if new and cluster:
                    db.execute(
                        "INSERT INTO firing_clusters(cluster, n, last_since) VALUES (?,1,?)"
                        " ON CONFLICT(cluster) DO UPDATE SET n=n+1, last_since=excluded.last_since",
                        (cluster, now),
                    )
            else:
                gone = db.execute("DELETE FROM firing WHERE fingerprint=?", (alert.fingerprint,)).rowcount
                if gone and cluster:
                    db.execute("UPDATE firing_clusters SET n=max(n-1, 0) WHERE cluster=?", (cluster,))
        return delivery

    # -- engine -----------------------------------------------------------------------------

    def undecided(self, db: sqlite3.Connection, limit: int) -> list[AlertRow]:
        """The oldest `limit` undecided alerts.

        Why the ids first: in the journal writer's transaction these are mostly the alerts
        `ingest_in` just inserted, and reading them back meant decoding their labels and
        annotations from JSON again (a tenth of the writer's CPU per alert, issue 14); those
        come from memory, any other (a backlog, a restart) from the table."""
        if db is not self._db or not self._fresh:
            rows = db.execute("SELECT * FROM alerts WHERE decided_at IS NULL ORDER BY id LIMIT ?", (limit,))
            return [alert_of(r) for r in rows]
        sql = "SELECT id FROM alerts WHERE decided_at IS NULL ORDER BY id LIMIT ?"
        ids = [int(r[0]) for r in db.execute(sql, (limit,))]
        missing = [i for i in ids if i not in self._fresh]
        read: dict[int, AlertRow] = {}
        if missing:
            marks = ",".join("?" * len(missing))
            read = {
                r["id"]: alert_of(r)
                for r in db.execute(f"SELECT * FROM alerts WHERE id IN ({marks})", missing)
            }
        return [self._fresh.get(i) or read[i] for i in ids]

    def record_decision(
        self, db: sqlite3.Connection, alert_id: int, decision: str, hook_action: str | None, reason: str
    ) -> None:
        db.execute(
            "UPDATE alerts SET decision=?, hook_action=?, reason=?, decided_at=? WHERE id=?",
            (decision, hook_action, reason, time.time(), alert_id),
        )

    def mark_healed(self, db: sqlite3.Connection, fingerprint: str) -> list[tuple[str, str, str, bool]]:
        """The alert resolved: its verifying actions are healed; their (cluster, region,
        action, dry_run), for the counters."""
        # found through the idempotency key's UNIQUE index ("<fingerprint>|<action>|<startsAt>":
        # the range of keys starting with "<fingerprint>|"), so no index on the fingerprint
        # has to be written for every planned action
        rows = db.execute(
            "UPDATE actions SET state=?, finished_at=? WHERE idem_key >= ? AND idem_key < ?"
            " AND fingerprint=? AND state=? RETURNING cluster, region, action, dry_run",
            (
                ActionState.HEALED.value,
                time.time(),
                fingerprint + "|",
                fingerprint + "}",  # "}" follows "|" in code point order, as SQLite compares
                fingerprint,
                ActionState.VERIFYING.value,
            ),
        ).fetchall()
        return [(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def reopen_standby(self) -> int:
        """HA takeover (heal.ha): alerts this replica decided `standby` and that still fire
        become undecided again, so the new leader decides them (claims skip what the old
        leader already did). Resolved ones stay closed: nothing to heal any more."""
        with self.tx() as db:
            return db.execute(
                "UPDATE alerts SET decision=NULL, hook_action=NULL, reason=NULL, decided_at=NULL"
                " WHERE decision='standby' AND fingerprint IN (SELECT fingerprint FROM firing)"
            ).rowcount

    def has_action(self, db: sqlite3.Connection, idem_key: str) -> bool:
        return db.execute("SELECT 1 FROM actions WHERE idem_key=?", (idem_key,)).fetchone() is not None

    def unhealthy_targets(self, db: sqlite3.Connection, cluster: str, kind: str, upto: int) -> int:
        """Distinct targets of one kind in the cluster with a firing alert, counted up to
        `upto` only (the rail asks "more than the limit?"; see heal.rails)."""
        sql = "SELECT count(*) FROM (SELECT DISTINCT target FROM firing WHERE cluster=? AND kind=? LIMIT ?)"
        return int(db.execute(sql, (cluster, kind, upto)).fetchone()[0])

    def recent_clusters(self, db: sqlite3.Connection, since: float, limit: int) -> tuple[int, list[str]]:
        """How many clusters (up to `limit`) have a firing alert that started since `since`,
        and the first five names; from `firing_clusters` (see heal.rails for why)."""
        ever = db.execute("SELECT max(rowid) FROM firing_clusters").fetchone()[0] or 0
        if ever < limit:  # rows are never deleted: fewer clusters were ever seen
            return ever, []
        where = "FROM firing_clusters WHERE last_since >= ? AND n > 0"
        (count,) = db.execute(f"SELECT count(*) FROM (SELECT 1 {where} LIMIT ?)", (since, limit)).fetchone()
        names = [r[0] for r in db.execute(f"SELECT cluster {where} ORDER BY cluster LIMIT 5", (since,))]
        return int(count), names

    def last_action_on(
        self, db: sqlite3.Connection, cluster: str, target: str, since: float, dry_run: bool
    ) -> sqlite3.Row | None:
        """The newest action on the target planned since `since` (its id and planned_at)."""
        row: sqlite3.Row | None = db.execute(
            "SELECT id, planned_at FROM actions WHERE cluster=? AND target=? AND planned_at>=? AND dry_run=?"
            " ORDER BY id DESC LIMIT 1",
            (cluster, target, since, dry_run),
        ).fetchone()
        return row

    def insert_action(
        self,
        db: sqlite3.Connection,
        idem_key: str,
        alert: AlertRow,
        action: str,
        params: str,
        request_id: str,
        state: ActionState,
        dry_run: bool,
        plan: str,
        planned_at: float,
        escalated_from: int | None,
        timeout: float,
    ) -> int:
        """A new action row for `alert` (params and plan as JSON text); its id."""
        cur = db.execute(
            "INSERT INTO actions(idem_key, alert_id, fingerprint, action, cluster, region, target, params,"
            " request_id, state, dry_run, plan, planned_at, escalated_from, timeout)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                idem_key,
                alert.id,
                alert.fingerprint,
                action,
                alert.cluster,
                alert.region,
                alert.target,
                params,
                request_id,
                state.value,
                dry_run,
                plan,
                planned_at,
                escalated_from,
                timeout,
            ),
        )
        return int(cur.lastrowid or 0)

    def planned_times(self, since: float, dry_run: bool) -> list[float]:
        """When each action (dry-run or not) since `since` was planned, oldest first."""
        sql = "SELECT planned_at FROM actions WHERE dry_run = ? AND planned_at >= ? ORDER BY planned_at"
        return [r[0] for r in self.query(sql, (dry_run, since))]

    def verify_deadline(self, action_id: int) -> float | None:
        value: float | None = self.query("SELECT verify_deadline FROM actions WHERE id=?", (action_id,))[0][0]
        return value

    def alert(self, alert_id: int) -> AlertRow:
        return alert_of(self.query("SELECT * FROM alerts WHERE id=?", (alert_id,))[0])

    def action(self, action_id: int) -> ActionRow:
        return action_of(self.query("SELECT * FROM actions WHERE id=?", (action_id,))[0])

    def actions(self, state: str | None = None) -> list[ActionRow]:
        if state is None:
            return [action_of(r) for r in self.query("SELECT * FROM actions ORDER BY id")]
        return [action_of(r) for r in self.query("SELECT * FROM actions WHERE state=? ORDER BY id", (state,))]

    def is_firing(self, fingerprint: str) -> bool:
        return bool(self.query("SELECT 1 FROM firing WHERE fingerprint=?", (fingerprint,)))

    def set_state(
        self,
        action_id: int,
        state: ActionState,
        detail: str | None = None,
        expect: ActionState | None = None,
        **times: float | None,
    ) -> bool:
        """Move an action to `state`; with `expect`, only from that state (a compare-and-set)."""
        sets = ["state=?"]
        args: list[Any] = [state.value]
        if detail is not None:
            sets.append("detail=?")
            args.append(detail)
        for key, value in times.items():
            if key not in ("started_at", "finished_at", "verify_deadline"):
                raise ValueError(key)
            sets.append(f"{key}=?")
            args.append(value)
        where = "id=?"
        args.append(action_id)
        if expect is not None:
            where += " AND state=?"
            args.append(expect.value)
        with self.tx() as db:
            rows = db.execute(
                f"UPDATE actions SET {', '.join(sets)} WHERE {where} RETURNING cluster, region, action, dry_run",
                args,
            ).fetchall()
        for row in rows:  # after the commit: the counters follow the journal
            self.counters.add_state(row[0], row[1], row[2], state.value, bool(row[3]))
        return len(rows) == 1

    # -- switches and events ----------------------------------------------------------------

    def event(self, db: sqlite3.Connection, kind: str, message: str) -> None:
        db.execute("INSERT INTO events(ts, kind, message) VALUES (?,?,?)", (time.time(), kind, message))

    def paused_reason(self, db: sqlite3.Connection | None = None) -> str | None:
        sql = "SELECT value FROM settings WHERE key='paused'"
        rows = list(db.execute(sql)) if db is not None else self.query(sql)
        return str(rows[0]["value"]) if rows else None

    def pause(self, reason: str, db: sqlite3.Connection | None = None, kind: str = "paused") -> bool:
        """Turn the pause switch on (persisted); False when it already was."""
        if db is None:
            with self.tx() as conn:
                return self.pause(reason, conn, kind)
        if self.paused_reason(db) is not None:
            return False
        db.execute("INSERT INTO settings(key, value) VALUES ('paused', ?)", (reason,))
        self.event(db, kind, reason)
        return True

    def resume(self, who: str = "operator") -> bool:
        with self.tx() as db:
            if self.paused_reason(db) is None:
                return False
            db.execute("DELETE FROM settings WHERE key='paused'")
            self.event(db, "resumed", f"healing resumed by {who}")
            return True

    def events(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM events ORDER BY id")

    # -- reports: metrics, `heal history`, the demo -----------------------------------------

    def action_counts(self, by_cluster: bool) -> list[sqlite3.Row]:
        """Count of real (not dry-run) actions by action and state, also by cluster and region."""
        if by_cluster:
            return self.query(
                "SELECT cluster, region, action, state, count(*) AS n FROM actions WHERE dry_run=0"
                " GROUP BY cluster, region, action, state"
            )
        return self.query(
            "SELECT action, state, count(*) AS n FROM actions WHERE dry_run=0 GROUP BY action, state"
        )

    def skipped_counts(self, decisions: list[str]) -> list[sqlite3.Row]:
        """Alerts with a hook that got one of `decisions`, by cluster, region and hook action."""
        skipped = ",".join(f"'{d}'" for d in decisions)
        return self.query(
            "SELECT cluster, region, hook_action, count(*) AS n FROM alerts"
            f" WHERE decision IN ({skipped}) AND hook_action IS NOT NULL GROUP BY cluster, region, hook_action"
        )

    def planned_count(self, since: float, dry_run: bool) -> int:
        sql = "SELECT count(*) FROM actions WHERE planned_at >= ? AND dry_run = ?"
        return int(self.query(sql, (since, dry_run))[0][0])

    def delivery_counts(self) -> list[sqlite3.Row]:
        """Webhook deliveries by the HTTP status they were answered with."""
        return self.query("SELECT http_status, sum(requests) AS n FROM deliveries GROUP BY http_status")

    def setting(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM settings WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def recent_alerts(self, limit: int) -> list[sqlite3.Row]:
        """The newest `limit` alert rows, newest first."""
        return self.query("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", (limit,))

    def last_alert_id(self) -> int:
        return int(self.query("SELECT max(id) FROM alerts")[0][0] or 0)

    def alerts_after(self, alert_id: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM alerts WHERE id > ? ORDER BY id", (alert_id,))

    def plan_of(self, alert_id: int) -> list[str] | None:
        """The steps planned for the alert's action, or None when no action was planned."""
        rows = self.query("SELECT plan FROM actions WHERE alert_id=?", (alert_id,))
        return list(json.loads(rows[0][0])) if rows else None
