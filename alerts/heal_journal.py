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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kansoku.alerts.heal_counters import Counters
from kansoku.alerts.heal_model import ActionState, AMMessage

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries(
  id INTEGER PRIMARY KEY, received_at REAL NOT NULL, http_status INTEGER NOT NULL,
  reason TEXT NOT NULL, remote TEXT, group_key TEXT, body_sha256 TEXT, bytes INTEGER,
  n_alerts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS deliveries_sha ON deliveries(body_sha256);
CREATE TABLE IF NOT EXISTS alerts(
  id INTEGER PRIMARY KEY, delivery_id INTEGER NOT NULL, received_at REAL NOT NULL,
  fingerprint TEXT NOT NULL, alertname TEXT NOT NULL, status TEXT NOT NULL,
  starts_at TEXT NOT NULL, cluster TEXT NOT NULL, region TEXT NOT NULL, target TEXT NOT NULL,
  labels TEXT NOT NULL, annotations TEXT NOT NULL,
  decision TEXT, hook_action TEXT, reason TEXT, decided_at REAL);
CREATE INDEX IF NOT EXISTS alerts_undecided ON alerts(id) WHERE decided_at IS NULL;
CREATE INDEX IF NOT EXISTS alerts_fp ON alerts(fingerprint);
CREATE TABLE IF NOT EXISTS actions(
  id INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, alert_id INTEGER NOT NULL,
  fingerprint TEXT NOT NULL, action TEXT NOT NULL, cluster TEXT NOT NULL, region TEXT NOT NULL,
  target TEXT NOT NULL, params TEXT NOT NULL, request_id TEXT NOT NULL, state TEXT NOT NULL,
  dry_run INTEGER NOT NULL, plan TEXT NOT NULL, planned_at REAL NOT NULL, started_at REAL,
  finished_at REAL, verify_deadline REAL, detail TEXT, escalated_from INTEGER,
  timeout REAL NOT NULL);
CREATE INDEX IF NOT EXISTS actions_target ON actions(cluster, target, planned_at);
CREATE INDEX IF NOT EXISTS actions_state ON actions(state);
CREATE INDEX IF NOT EXISTS actions_fp ON actions(fingerprint, state);
CREATE INDEX IF NOT EXISTS actions_budget ON actions(dry_run, planned_at);
CREATE TABLE IF NOT EXISTS firing(
  fingerprint TEXT PRIMARY KEY, alertname TEXT NOT NULL, cluster TEXT NOT NULL,
  target TEXT NOT NULL, since REAL NOT NULL);
CREATE INDEX IF NOT EXISTS firing_cluster ON firing(cluster, target);
CREATE INDEX IF NOT EXISTS firing_since ON firing(since, cluster);
CREATE TABLE IF NOT EXISTS firing_clusters(
  cluster TEXT PRIMARY KEY, n INTEGER NOT NULL, last_since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: how often the background connection checkpoints the WAL into the database file
CHECKPOINT_SECONDS = 1.0

#: Labels that name what an alert is about, most specific first (contracts.md label names).
TARGET_LABELS = ("node", "member", "instance", "pod", "service")


def target_of(labels: dict[str, str]) -> str:
    """The remediation target inside a cluster (the unit cooldowns and max-unhealthy count)."""
    for key in TARGET_LABELS:
        if labels.get(key):
            return labels[key]
    return ""


def kind_of(labels: dict[str, str]) -> str:
    """Which kind of target an alert is about (`node`, `member`, `pod`...; '' for the cluster).

    Why: max-unhealthy compares unhealthy targets of one kind with that kind's count, as
    Cluster API's MachineHealthCheck counts only the machines it selects; 48 pod alerts say
    nothing about how many nodes are unhealthy.
    """
    for key in TARGET_LABELS:
        if labels.get(key):
            return key
    return ""


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


def _alert(row: sqlite3.Row) -> AlertRow:
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


def _action(row: sqlite3.Row) -> ActionRow:
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


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a journal written by an older kansoku up to this schema (inside the open tx).

    `firing.kind` (for max-unhealthy per kind) is filled from each fingerprint's latest
    alert; `firing_clusters` (the storm rail's per-cluster summary) from `firing`.
    """
    columns = {r[1] for r in db.execute("PRAGMA table_info(firing)")}
    if "kind" not in columns:
        db.execute("ALTER TABLE firing ADD COLUMN kind TEXT NOT NULL DEFAULT ''")
        for row in db.execute(
            "SELECT f.fingerprint, (SELECT labels FROM alerts a WHERE a.fingerprint=f.fingerprint"
            " ORDER BY a.id DESC LIMIT 1) FROM firing f"
        ).fetchall():
            kind = kind_of(json.loads(row[1])) if row[1] else ""
            db.execute("UPDATE firing SET kind=? WHERE fingerprint=?", (kind, row[0]))
    db.execute("CREATE INDEX IF NOT EXISTS firing_kind ON firing(cluster, kind, target)")
    db.execute("CREATE INDEX IF NOT EXISTS firing_clusters_since ON firing_clusters(last_since)")
    if "requests" not in {r[1] for r in db.execute("PRAGMA table_info(deliveries)")}:
        # how many requests a row stands for (refused requests are journaled as summaries)
        db.execute("ALTER TABLE deliveries ADD COLUMN requests INTEGER NOT NULL DEFAULT 1")
    if db.execute("SELECT 1 FROM firing_clusters LIMIT 1").fetchone() is None:
        db.execute(
            "INSERT INTO firing_clusters(cluster, n, last_since) SELECT cluster, count(*), max(since)"
            " FROM firing WHERE cluster != '' GROUP BY cluster"
        )


class Journal:
    """One SQLite connection shared by the receiver and the worker, serialized by a lock."""

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        #: /metrics counters; `load_counters` fills them from the journal (the server does)
        self.counters = Counters()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self.tx():
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            _migrate(self._db)
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
                except sqlite3.OperationalError:
                    continue  # busy: the next round catches up; the WAL keeps every frame
        finally:
            db.close()

    def load_counters(self) -> Counters:
        """Count the journal once (server start); from then on the counters follow it."""
        self.counters = Counters()
        self.counters.load(self.query)
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
        for alert in message.alerts:
            labels = alert.labels
            cluster = labels.get("cluster", "")
            target = target_of(labels)
            db.execute(
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
                    json.dumps(labels, sort_keys=True),
                    json.dumps(alert.annotations, sort_keys=True),
                ),
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
        rows = db.execute("SELECT * FROM alerts WHERE decided_at IS NULL ORDER BY id LIMIT ?", (limit,))
        return [_alert(r) for r in rows]

    def alert(self, alert_id: int) -> AlertRow:
        return _alert(self.query("SELECT * FROM alerts WHERE id=?", (alert_id,))[0])

    def action(self, action_id: int) -> ActionRow:
        return _action(self.query("SELECT * FROM actions WHERE id=?", (action_id,))[0])

    def actions(self, state: str | None = None) -> list[ActionRow]:
        if state is None:
            return [_action(r) for r in self.query("SELECT * FROM actions ORDER BY id")]
        return [_action(r) for r in self.query("SELECT * FROM actions WHERE state=? ORDER BY id", (state,))]

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
