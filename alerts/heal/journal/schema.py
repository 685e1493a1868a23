"""The heal journal's schema, its migrations, and what an alert's target is.

Why apart from `journal.py`: the journal module holds the queries; the tables, the steps
that bring an older journal up to date and the target/kind rules they store are one
small, separately reviewable piece (and keep both modules under the size limit).
"""

from __future__ import annotations

import json
import sqlite3

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
CREATE INDEX IF NOT EXISTS alerts_standby ON alerts(id) WHERE decision='standby';
CREATE TABLE IF NOT EXISTS actions(
  id INTEGER PRIMARY KEY, idem_key TEXT NOT NULL UNIQUE, alert_id INTEGER NOT NULL,
  fingerprint TEXT NOT NULL, action TEXT NOT NULL, cluster TEXT NOT NULL, region TEXT NOT NULL,
  target TEXT NOT NULL, params TEXT NOT NULL, request_id TEXT NOT NULL, state TEXT NOT NULL,
  dry_run INTEGER NOT NULL, plan TEXT NOT NULL, planned_at REAL NOT NULL, started_at REAL,
  finished_at REAL, verify_deadline REAL, detail TEXT, escalated_from INTEGER,
  timeout REAL NOT NULL);
CREATE INDEX IF NOT EXISTS actions_target ON actions(cluster, target, planned_at);
CREATE INDEX IF NOT EXISTS actions_state ON actions(state);
CREATE INDEX IF NOT EXISTS actions_budget ON actions(dry_run, planned_at);
CREATE TABLE IF NOT EXISTS firing(
  fingerprint TEXT PRIMARY KEY, alertname TEXT NOT NULL, cluster TEXT NOT NULL,
  target TEXT NOT NULL, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS firing_clusters(
  cluster TEXT PRIMARY KEY, n INTEGER NOT NULL, last_since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: indexes of earlier schemas that no query uses (dropped by `migrate`)
UNUSED_INDEXES = ("alerts_fp", "firing_cluster", "firing_since", "actions_fp")

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


def migrate(db: sqlite3.Connection) -> None:
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
    # Indexes no query uses any more (dropped last: the `kind` step above reads alerts by
    # fingerprint). Each one was one more B-tree page written and fsynced per alert, at
    # random places for the fingerprint keys: about a sixth of a webhook's commit. The
    # firing set is read by (cluster, kind) through firing_kind and by fingerprint through
    # its primary key; the storm rail reads firing_clusters, not firing.since; an alert's
    # actions are found by the prefix of their idempotency key (see Journal.mark_healed).
    for unused in UNUSED_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {unused}")
    if db.execute("SELECT 1 FROM firing_clusters LIMIT 1").fetchone() is None:
        db.execute(
            "INSERT INTO firing_clusters(cluster, n, last_since) SELECT cluster, count(*), max(since)"
            " FROM firing WHERE cluster != '' GROUP BY cluster"
        )
