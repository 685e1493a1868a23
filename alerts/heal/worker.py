"""Runs what the engine decided: executes action rows exactly once, verifies, escalates.

Why a compare-and-set from `pending` to `running` before anything acts: that committed
transition is the line between "may run" and "may have run". After a crash (`kill -9`),
rows still `pending` are executed (they never started: an accepted alert is never
forgotten) and rows found `running` are marked failed and never re-run (the action may
have acted: running it again could delete a second server).

Why per-action timeouts in two layers: every subprocess and HTTP call inside an action is
bounded by what is left of its timeout, and the worker also stops waiting for an action
that overruns and records it as failed, so one hung action cannot stall healing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from kansoku.alerts.heal.base import Action, ActionFailed
from kansoku.alerts.heal.engine import Engine
from kansoku.alerts.heal.journal import Journal
from kansoku.alerts.heal.model import ActionState, Outcome
from kansoku.alerts.heal.params import number
from kansoku.errors import KansokuError

#: time after an action's own timeout before the worker gives up waiting for its thread
GRACE_SECONDS = 5.0
#: /healthz turns 503 when the decide loop (which wakes at least every second) has not
#: finished a round for this long
STALE_SECONDS = 30.0
#: pause between two decision slices of a backlog, so webhooks are committed in between
SLICE_PAUSE_SECONDS = 0.002


class Healer:
    def __init__(self, journal: Journal, engine: Engine, actions: dict[str, Action], workers: int) -> None:
        self.journal = journal
        self.engine = engine
        self.actions = actions
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heal-action")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: why deciding failed last time (None: it worked), and when it last worked
        self._error: str | None = None
        self._beat = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        for action_id in self.recover():
            self._pool.submit(self.run_action, action_id)
        self._thread = threading.Thread(target=self._loop, name="heal-decide", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=False)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def not_deciding(self) -> str | None:
        """Why the healer is not deciding (for /healthz), or None when it is.

        Why more than "the thread lives": a decision that raises every time (a probe bug, a
        broken journal) kept the thread alive and retrying while nothing was decided.
        """
        if not self.alive():
            return "worker stopped"
        if self._error is not None:
            return f"worker not deciding: {self._error}"
        stale = time.monotonic() - self._beat
        if stale > STALE_SECONDS:
            return f"worker not deciding: no decision round for {stale:.0f}s"
        return None

    def _decided(self) -> None:
        self._error = None
        self._beat = time.monotonic()

    def _failed(self, exc: Exception) -> None:
        self._error = f"{type(exc).__name__}: {exc}"
        try:
            with self.journal.tx() as db:
                self.journal.event(db, "worker_error", self._error)
        except Exception:  # the journal itself may be what fails; /healthz says so
            self._error += " (and the journal refused the event)"

    def notify(self) -> None:
        """Wake the decide thread (an action finished, or a deadline may have passed)."""
        self._wake.set()

    def decide_now(self) -> None:
        """Decide what the receiver just journaled, in the caller's thread (the journal writer).

        Why not wake the decide thread instead: both threads need the journal's lock, so the
        webhook commits and the decision batches handed the lock back and forth, and each
        waited for the other's whole transaction; under 500 alerts/s that wait was most of
        the p99. Deciding right after the group commit, on the same thread, makes the two
        strictly alternate. A failure here is journaled and left to the decide thread.
        """
        try:
            for action_id in self.engine.decide_pending():
                self._pool.submit(self.run_action, action_id)
        except Exception as exc:
            self._failed(exc)
        else:
            self._decided()
        if self.engine.last_batch_full:
            self._wake.set()  # the rest in the decide thread, in slices (see _loop)

    def decide_in(self, db: sqlite3.Connection) -> Callable[[], None]:
        """Decide what the receiver is journaling, inside its group transaction (the journal
        writer's thread); returns what to do once that transaction committed.

        Why in the same transaction: one commit (one WAL write of each page, one fsync) per
        batch instead of two. At 500 alerts/s a batch holds one or two webhooks, and the
        decisions' own commit was about a third of the receiver's CPU per alert. The 200s
        now wait for their batch's decisions too (a slice: at most SLICE_SECONDS), and each
        decision is as durable as its webhook. Why a savepoint: a decision that fails rolls
        back alone; the webhooks still commit and the decide thread retries. With `ha` the
        decisions wait for etcd round trips, which must not hold the 200s: they are made
        after the commit (`decide_now`), as before.
        """
        if self.engine.fleet is not None:
            return self.decide_now
        db.execute("SAVEPOINT decide")
        try:
            done = self.engine.decide_in(db)
        except Exception as exc:
            db.execute("ROLLBACK TO decide")
            db.execute("RELEASE decide")
            return partial(self._retry, exc)
        db.execute("RELEASE decide")

        def after() -> None:
            for action_id in self.engine.committed(done):
                self._pool.submit(self.run_action, action_id)
            self._decided()
            if done.full:
                self._wake.set()  # the rest in the decide thread, in slices (see _loop)

        return after

    def _retry(self, exc: Exception) -> None:
        self._failed(exc)
        self._wake.set()

    def recover(self) -> list[int]:
        """After a restart: interrupted actions fail (never re-run); pending ones are returned."""
        for row in self.journal.actions(ActionState.RUNNING):
            self.journal.set_state(
                row.id,
                ActionState.FAILED,
                "interrupted: kansoku stopped while this action ran; not re-run because it may "
                "have acted; check the target by hand",
                expect=ActionState.RUNNING,
                finished_at=time.time(),
            )
        return [row.id for row in self.journal.actions(ActionState.PENDING)]

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                # small batches: the journal lock is released between them, so webhooks
                # waiting to be committed are not held up by a long decision transaction
                while not self._stop.is_set():
                    with self.journal.decision_tx() as db:
                        done = self.engine.decide_in(db)
                    for action_id in self.engine.committed(done):
                        self._pool.submit(self.run_action, action_id)
                    # this slice's own answer: the journal writer decides slices too, and
                    # `engine.last_batch_full` may already be the writer's
                    if not done.full:
                        break
                    # a short pause between slices: the journal writer waiting for the lock
                    # gets it (a released lock is not handed over, the releaser may retake it)
                    time.sleep(SLICE_PAUSE_SECONDS)
                for action_id in self.check_deadlines():
                    self._pool.submit(self.run_action, action_id)
            except Exception as exc:  # keep trying; the journal's events and /healthz say why
                self._failed(exc)
                time.sleep(1.0)
            else:
                self._decided()

    def drain(self, timeout: float = 30.0) -> None:
        """Decide and run everything queued now, then return (demo and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            for action_id in self.engine.decide_pending():
                self.run_action(action_id)
            if not self.engine.last_batch_full:
                break
        while time.monotonic() < deadline and self.journal.actions(ActionState.PENDING):
            for row in self.journal.actions(ActionState.PENDING):
                self.run_action(row.id)

    # -- one action --------------------------------------------------------------------------

    def run_action(self, action_id: int) -> None:
        if self.engine.fleet is not None and not self._fleet_may_start(action_id):
            return
        if not self.journal.set_state(
            action_id, ActionState.RUNNING, expect=ActionState.PENDING, started_at=time.time()
        ):
            return  # another path already started it: never twice
        try:
            self._run_started(action_id)
        except Exception as exc:  # never leave a row `running` behind a bug of ours
            self.journal.set_state(
                action_id,
                ActionState.FAILED,
                f"kansoku error: {type(exc).__name__}: {exc}",
                expect=ActionState.RUNNING,
                finished_at=time.time(),
            )
        self.notify()

    def _fleet_may_start(self, action_id: int) -> bool:
        """HA (heal.ha): pass the claim's `claimed -> started` gate in etcd; a claim a new
        leader adopted is refused here (that leader runs it), so it runs exactly once."""
        fleet = self.engine.fleet
        row = self.journal.action(action_id)
        if fleet is None or row.state != ActionState.PENDING or row.dry_run:
            return True  # the compare-and-set below decides, as without HA
        deadline = time.monotonic() + min(row.timeout, 30.0)
        while True:
            try:
                why = fleet.start(row.idem_key, row.action, row.request_id, row.planned_at)
                break
            except KansokuError as exc:
                if time.monotonic() > deadline or self._stop.is_set():
                    why = f"not started: etcd did not answer ({exc}); a new leader may adopt the claim"
                    break
                time.sleep(0.5)
        if why is None:
            return True
        self.journal.set_state(
            action_id, ActionState.REFUSED, why, expect=ActionState.PENDING, finished_at=time.time()
        )
        return False

    def _run_started(self, action_id: int) -> None:
        row = self.journal.action(action_id)
        alert = self.journal.alert(row.alert_id)
        action = self.actions[row.action]
        ctx = self.engine.context(row.action, alert, row.params, row.request_id, row.timeout)
        result: list[tuple[Outcome, Outcome | None]] = []
        error: list[str] = []

        def body() -> None:
            try:
                done = action.execute(ctx)
                checked = action.verify(ctx, done) if done.ok else None
                result.append((done, checked))
            except ActionFailed as exc:
                error.append(str(exc))
            except Exception as exc:  # an action bug must not kill the worker; it is journaled
                error.append(f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=body, name=f"heal-{row.action}-{action_id}", daemon=True)
        thread.start()
        thread.join(row.timeout + GRACE_SECONDS)
        now = time.time()
        if thread.is_alive():
            self.journal.set_state(
                action_id, ActionState.FAILED, f"timed out after {row.timeout:.0f}s", finished_at=now
            )
        elif error:
            self.journal.set_state(action_id, ActionState.FAILED, error[0], finished_at=now)
        else:
            done, checked = result[0]
            if not done.ok:
                state = ActionState.REFUSED if done.refused else ActionState.FAILED
                self.journal.set_state(action_id, state, done.detail, finished_at=now)
            elif checked is None or not checked.ok:
                self.journal.set_state(
                    action_id,
                    ActionState.FAILED,
                    f"{done.detail}; own check failed: {checked.detail if checked else '-'}",
                    finished_at=now,
                )
            elif not self.journal.is_firing(row.fingerprint):
                self.journal.set_state(
                    action_id,
                    ActionState.HEALED,
                    f"{done.detail}; {checked.detail}; alert already resolved",
                    finished_at=now,
                )
            else:
                deadline = number(
                    row.params, "verify_deadline_seconds", self.engine.safety.verify_deadline_seconds
                )
                self.journal.set_state(
                    action_id,
                    ActionState.VERIFYING,
                    f"{done.detail}; {checked.detail}",
                    verify_deadline=now + deadline,
                )

    def check_deadlines(self) -> list[int]:
        """Verifying actions past their deadline are not healed; escalate where a hook says so."""
        now = time.time()
        escalations: list[int] = []
        for row in self.journal.actions(ActionState.VERIFYING):
            deadline = self.journal.verify_deadline(row.id)
            if deadline is None or deadline > now:
                continue
            if not self.journal.set_state(
                row.id,
                ActionState.NOT_HEALED,
                f"{row.detail}; alert still firing at the verify deadline",
                expect=ActionState.VERIFYING,
                finished_at=now,
            ):
                continue
            alert = self.journal.alert(row.alert_id)
            hook = self.engine.hook_for(alert.labels)
            if hook is None or not hook.escalate_to or row.escalated_from is not None:
                continue
            with self.journal.tx() as db:
                decision, _, reason, new_id = self.engine.plan(
                    db, alert, hook.escalate_to, hook.params, escalated_from=row.id
                )
                self.journal.event(
                    db,
                    "escalation",
                    f"action {row.id} {row.action} -> {hook.escalate_to}: {decision.value}: {reason}",
                )
            if new_id is not None and not self.engine.dry_run:
                escalations.append(new_id)
        return escalations
