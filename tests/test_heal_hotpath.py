"""Issue 14: the receiver's CPU per alert. One commit per batch covers the webhooks and their
decisions, batches gather for a few milliseconds, and the journal writes no unused index.

Real SQLite journals and the real receiver on loopback (uvicorn in a thread), webhooks in
Alertmanager 0.25's recorded shape (tests/data/alertmanager-webhook-v4.json).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kansoku.alerts.heal import commit
from kansoku.alerts.heal.commit import GroupCommitter
from kansoku.alerts.heal.journal import Journal
from kansoku.alerts.heal.journal.schema import UNUSED_INDEXES
from tests.support.heal import message
from tests.test_heal_rails import node, start  # noqa: F401 (the fixture)
from tests.test_heal_receiver import Heal


def _reject(journal: Journal, reason: str) -> Callable[[sqlite3.Connection], int]:
    return lambda db: journal.reject_in(db, 400, reason, "127.0.0.1", None, 0)


def test_the_decide_step_runs_inside_the_group_transaction_and_its_follow_up_after_the_commit(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    seen: list[tuple[str, Any]] = []

    def committed_elsewhere() -> int:
        other = sqlite3.connect(tmp_path / "journal.sqlite")
        try:
            return int(other.execute("SELECT count(*) FROM deliveries").fetchone()[0])
        finally:
            other.close()

    def decide(db: sqlite3.Connection) -> Callable[[], None]:
        rows = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        seen.append(("decide", (db.in_transaction, rows, committed_elsewhere())))
        return lambda: seen.append(("after", committed_elsewhere()))

    committer = GroupCommitter(journal, decide)
    try:
        delivery = asyncio.run(committer.write(_reject(journal, "one")))
    finally:
        committer.close()
        journal.close()
    assert delivery == 1
    # inside the still open transaction: it sees the write, nobody else does yet
    assert seen[0] == ("decide", (True, 1, 0))
    assert seen[1] == ("after", 1)


def test_writes_queued_within_the_commit_delay_share_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commit, "COMMIT_DELAY_SECONDS", 0.2)  # generous: no scheduling luck needed
    journal = Journal(tmp_path / "journal.sqlite")
    batches: list[int] = []

    def decide(db: sqlite3.Connection) -> Callable[[], None]:
        batches.append(int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0]))
        return lambda: None

    committer = GroupCommitter(journal, decide)

    async def first_then_five() -> list[int]:
        # a lone write is committed at once; the five right behind it are "under load"
        first = await committer.write(_reject(journal, "first"))
        rest = await asyncio.gather(*(committer.write(_reject(journal, f"w{i}")) for i in range(5)))
        return [first, *rest]

    try:
        ids = asyncio.run(first_then_five())
    finally:
        committer.close()
        journal.close()
    assert sorted(ids) == [1, 2, 3, 4, 5, 6]
    assert batches == [1, 6], f"five writes within the delay took {len(batches) - 1} commits"


def test_a_200_comes_with_the_alert_already_decided_and_its_action_planned(
    start: Callable[..., Heal],  # noqa: F811 (the fixture)
) -> None:
    h = start()
    r = h.post(message(node(1), node(2)))
    assert r.status_code == 200
    rows = h.built.journal.query("SELECT decision, decided_at FROM alerts ORDER BY id")
    assert [(row["decision"], row["decided_at"] is not None) for row in rows] == [("act", True)] * 2
    actions = h.built.journal.query("SELECT count(*) FROM actions")[0][0]
    assert actions == 2
    h.settle()
    assert len(h.ran()) == 2


def test_an_older_journal_loses_its_unused_indexes_and_the_rails_keep_theirs(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    old = sqlite3.connect(path)
    old.execute("CREATE INDEX alerts_fp ON alerts(fingerprint)")
    old.execute("CREATE INDEX firing_cluster ON firing(cluster, target)")
    old.execute("CREATE INDEX firing_since ON firing(since, cluster)")
    old.commit()
    old.close()
    journal = Journal(path)
    try:
        names = {r[0] for r in journal.query("SELECT name FROM sqlite_master WHERE type='index'")}
        assert not names & set(UNUSED_INDEXES)

        def plan(sql: str, args: tuple[Any, ...]) -> str:
            return " ".join(str(r[3]) for r in journal.query(f"EXPLAIN QUERY PLAN {sql}", args))

        # max-unhealthy, is-firing, resolve, replay, undecided and cooldown still use an index
        assert "firing_kind" in plan(
            "SELECT count(*) FROM (SELECT DISTINCT target FROM firing WHERE cluster=? AND kind=? LIMIT ?)",
            ("c1", "node", 5),
        )
        assert "INDEX" in plan("SELECT 1 FROM firing WHERE fingerprint=?", ("f",))
        assert "deliveries_sha" in plan("SELECT id FROM deliveries WHERE body_sha256=?", ("s",))
        assert "alerts_undecided" in plan("SELECT * FROM alerts WHERE decided_at IS NULL ORDER BY id", ())
        assert "sqlite_autoindex_actions" in plan(
            "UPDATE actions SET state='healed' WHERE idem_key >= ? AND idem_key < ? AND fingerprint=?",
            ("f|", "f}", "f"),
        )
        assert "actions_target" in plan(
            "SELECT id FROM actions WHERE cluster=? AND target=? AND planned_at>=?", ("c", "t", 0.0)
        )
    finally:
        journal.close()


TWO_HOOKS = """
  - alert: KubeNodeNotReady
    action: run_command
    match: {{cluster: c2}}
    params:
      argv: ["/bin/sh", "-c", "echo \\"c2-hook {{node}}\\" >> {runs}"]
  - alert: KubeNodeNotReady
    action: run_command
    params:
      argv: ["/bin/sh", "-c", "echo \\"any-hook {{node}}\\" >> {runs}"]
"""


def test_hooks_are_found_by_name_first_matching_in_config_order_and_get_still_gets_405(
    start: Callable[..., Heal],  # noqa: F811 (the fixture)
) -> None:
    h = start(hooks=TWO_HOOKS)
    assert h.post(message(node(1, cluster="c2"), node(2, cluster="c1"))).status_code == 200
    h.settle()
    assert sorted(h.ran()) == ["any-hook c1-node-2", "c2-hook c2-node-1"]
    engine = h.built.engine
    assert engine.hook_for({"alertname": "NoSuchAlert", "cluster": "c2"}) is None
    # the POST fast path leaves every other method and path to the router
    assert httpx.get(h.base + "/alertmanager").status_code == 405
    assert httpx.get(h.base + "/healthz").json()["status"] == "ok"


def test_resolving_heals_only_the_alerts_own_actions_even_when_fingerprints_share_a_prefix(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        with journal.tx() as db:
            for fp in ("ab", "a|b", "a", "a}", "b"):
                db.execute(
                    "INSERT INTO actions(idem_key, alert_id, fingerprint, action, cluster, region, target,"
                    " params, request_id, state, dry_run, plan, planned_at, timeout)"
                    " VALUES (?, 1, ?, 'run_command', 'c1', 'r1', 'n1', '{}', 'req-x', 'verifying', 0, '[]', 0, 60)",
                    (f"{fp}|run_command|2026-11-23T16:18:11Z", fp),
                )
            healed = journal.mark_healed(db, "a")
        assert len(healed) == 1
        states = {
            r["fingerprint"]: r["state"] for r in journal.query("SELECT fingerprint, state FROM actions")
        }
        assert states == {
            "ab": "verifying",
            "a|b": "verifying",
            "a": "healed",
            "a}": "verifying",
            "b": "verifying",
        }
    finally:
        journal.close()


def test_the_one_pass_parse_accepts_only_what_the_checked_path_accepts() -> None:
    """The receiver validates a body straight from its bytes (pydantic-core) and sends
    anything that fails there down the old path (json.loads, body checks, model), which
    names the problem. So the fast path must refuse every body the old path refuses."""
    from kansoku.alerts.heal.app import _validate
    from kansoku.alerts.heal.body import parse_body

    good = json.dumps(message(node(1))).encode()
    assert _validate(good) is not None
    assert parse_body(good)[1] is None
    bad = {
        "lone surrogate escape": good.replace(b'"c1-node-1"', b'"\\ud800"'),
        "UTF-8 encoded surrogate": good.replace(b'"c1-node-1"', b'"\xed\xa0\x80"'),
        "not UTF-8": good.replace(b'"c1-node-1"', b'"\xff"'),
        "5,000-digit integer": good.replace(b'"version"', b'"x": ' + b"9" * 5000 + b', "version"'),
        "nested too deeply": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "trailing garbage": good + b" x",
    }
    for why, body in bad.items():
        assert _validate(body) is None, why
        assert parse_body(body)[1] is not None, why
    # valid JSON the receiver still refuses, with its own status and reason
    assert _validate(good.replace(b'"version": "4"', b'"version": "3"')) is None
    assert _validate(good.replace(b'"fingerprint"', b'"fingerprint_"')) is None
    paired = good.replace(b'"c1-node-1"', b'"\\ud83d\\ude00"')  # a real character: both accept
    validated = _validate(paired)
    assert validated is not None and validated.alerts[0].labels["node"] == "\U0001f600"


def test_the_writer_decides_from_memory_what_it_just_journaled_but_never_a_rolled_back_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alerts ingested in the group transaction are decided from memory, not read back; a
    write rolled back to its savepoint gives its alert ids away again, and the next write's
    alerts (same ids) must be decided as themselves, not as the rolled-back ones."""
    from kansoku.alerts.heal.model import AMMessage

    monkeypatch.setattr(commit, "COMMIT_DELAY_SECONDS", 0.2)
    journal = Journal(tmp_path / "journal.sqlite")
    seen: list[list[tuple[int, str, dict[str, str]]]] = []

    def decide(db: sqlite3.Connection) -> Callable[[], None]:
        seen.append([(a.id, a.target, a.labels) for a in journal.undecided(db, 64)])
        db.execute("UPDATE alerts SET decided_at=1 WHERE decided_at IS NULL")
        return lambda: None

    def ingest(n: int, fail: bool = False) -> Callable[[sqlite3.Connection], int]:
        msg = AMMessage.model_validate(message(node(n)))

        def write(db: sqlite3.Connection) -> int:
            delivery = journal.ingest_in(db, msg, f"sha{n}", "127.0.0.1", 1)
            if fail:
                raise sqlite3.IntegrityError("refused after the insert")
            return delivery

        return write

    committer = GroupCommitter(journal, decide)

    async def writes() -> list[Any]:
        await committer.write(_reject(journal, "first"))  # the next ones gather behind it
        return await asyncio.gather(
            committer.write(ingest(1, fail=True)), committer.write(ingest(2)), return_exceptions=True
        )

    try:
        first, second = asyncio.run(writes())
    finally:
        committer.close()
        journal.close()
    assert isinstance(first, sqlite3.IntegrityError) and second == 2
    assert seen[0] == []
    (only,) = seen[1]
    assert only[0] == 1 and only[1] == "c1-node-2"  # alert id 1 again, and node 2's
    assert only[2] == dict(sorted(message(node(2))["alerts"][0]["labels"].items()))
