"""The decision engine: journaled alert -> hook -> safety rails -> planned action.

Why decisions happen in one SQLite transaction per batch: the rails (dedupe, cooldown,
max-unhealthy, fleet budget) read what earlier decisions wrote, so fifty alerts of a storm
decided together still see each other, and the planned action row (with its UNIQUE
idempotency key) is committed atomically with the decision that created it. Nothing here
acts: `heal.worker` executes committed action rows.

Order of the rails, and why: a duplicate is never news; the pause switch beats everything
else; a shared dependency down or a spent fleet budget pauses *all* healing (fifty clusters
alerting at once is one fault below them, not fifty); then the cluster's own
max-unhealthy, then the target's cooldown.
"""

from __future__ import annotations

import json
import sqlite3
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from kansoku.alerts.heal.base import Action, ActionContext, ActionFailed, HookSources, Services
from kansoku.alerts.heal.config import HealConfig, LoadedConfig
from kansoku.alerts.heal.journal import AlertRow, Journal, firing_clusters
from kansoku.alerts.heal.model import ActionState, Decision
from kansoku.models import Cluster, HealHook, new_request_id


class DependencyProbe(Protocol):
    """Says whether a dependency shared by many clusters is down (then: heal nothing)."""

    def shared_dependency_down(self) -> str | None: ...


class StormProbe:
    """Many clusters alerting within a short window is one shared fault, not many."""

    def __init__(self, journal: Journal, clusters: int, window: float) -> None:
        self.clusters, self.window = clusters, window
        # its own read connection: the probe runs inside the decision transaction, and the
        # journal's main connection may be waiting for that transaction's write lock
        self._db = sqlite3.connect(journal.path, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        self._at = -1.0
        self._value: str | None = None

    def shared_dependency_down(self) -> str | None:
        """Cached for a second: the window is minutes long, and a storm of webhooks would
        otherwise repeat the same scan for every small decision batch."""
        with self._lock:
            if time.monotonic() - self._at < 1.0:
                return self._value
            rows = firing_clusters(self._db, time.time() - self.window, self.clusters)
            self._value = None
            if len(rows) >= self.clusters:
                names = ", ".join(sorted(rows)[:5])
                self._value = (
                    f"{len(rows)} clusters alerting within {self.window:.0f}s ({names}, ...): "
                    "a shared dependency is likely down"
                )
            self._at = time.monotonic()
            return self._value


class CheckProbe:
    """kansoku's own health checks (kansoku.health) through a callable returning a reason."""

    def __init__(self, check: Callable[[], str | None]) -> None:
        self.check = check

    def shared_dependency_down(self) -> str | None:
        return self.check()


def placeholders(params: Mapping[str, object]) -> set[str]:
    """Label names a hook's parameters fill in ({node}, {cluster}...): the alert must carry them."""
    names: set[str] = set()
    for value in params.values():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                try:
                    names |= {f for _, f, _, _ in string.Formatter().parse(text) if f}
                except ValueError:
                    continue
    return names


def hook_matches(hook: HealHook, labels: dict[str, str]) -> bool:
    return labels.get("alertname") == hook.alert and all(labels.get(k) == v for k, v in hook.match.items())


@dataclass
class _Batch:
    """Fleet-wide state for one decision transaction."""

    paused: str | None
    down: str | None
    used: int


def bundle_hooks(
    loaded: LoadedConfig,
    clusters: dict[str, Cluster],
    known: frozenset[str],
    hook_sources: HookSources | None = None,
) -> dict[str, list[HealHook]]:
    """Each cluster's heal hooks from its add-on bundle chain, read through `hook_sources`.

    Why per cluster: a cluster's bundle version follows its Kubernetes version, and so do
    the hooks it ships. A hook naming an action this healer does not know is a bundle bug:
    refuse to start rather than ignore it. The bundles sit above the healer, so their
    catalog is handed in (`base.HookSource`, wired by `kansoku heal serve`), never imported.
    """
    if not loaded.config.bundle_hooks:
        return {}
    from kansoku.errors import KansokuError

    if hook_sources is None:
        raise KansokuError(
            f"{loaded.source}: bundle_hooks is true but no bundle catalog was given to the healer "
            "(kansoku heal serve wires it; a library caller passes hook_sources=CatalogHooks)"
        )
    source = hook_sources([loaded.path(d) for d in loaded.config.bundle_dirs] or None)
    out: dict[str, list[HealHook]] = {}
    for cluster in clusters.values():
        hooks = source.hooks_for(cluster)
        for hook in hooks:
            for name in (hook.action, hook.escalate_to):
                if name is not None and name not in known:
                    raise KansokuError(
                        f"bundle heal hook for {hook.alert} (cluster {cluster.id}) names unknown "
                        f"action {name!r}"
                    )
        out[cluster.id] = hooks
    return out


class Engine:
    def __init__(
        self,
        journal: Journal,
        loaded: LoadedConfig,
        actions: dict[str, Action],
        services: Services,
        probes: list[DependencyProbe],
        dry_run: bool,
        hook_sources: HookSources | None = None,
    ) -> None:
        self.journal = journal
        self.loaded = loaded
        self.config: HealConfig = loaded.config
        self.safety = loaded.config.safety
        self.actions = actions
        self.services = services
        self.probes = probes
        self.dry_run = dry_run or loaded.config.dry_run
        self.clusters: dict[str, Cluster] = loaded.clusters()
        self.workdir = loaded.path(loaded.config.workdir)
        self.cluster_hooks = bundle_hooks(loaded, self.clusters, frozenset(actions), hook_sources)
        self.alert_names = frozenset(
            [h.alert for h in loaded.config.hooks]
            + [h.alert for hs in self.cluster_hooks.values() for h in hs]
        )
        self._batch: _Batch | None = None
        self._needed: dict[int, list[str]] = {}
        # planned times of the last hour's actions, for the fleet budget: loaded once, then
        # kept here (the engine is the only writer of actions) so the budget costs O(1)
        self._planned: deque[float] = deque(journal.planned_times(time.time() - 3600, self.dry_run))
        self.last_batch_full = False

    # -- used by the receiver, before journaling -------------------------------------------

    def hook_for(self, labels: dict[str, str]) -> HealHook | None:
        """The first hook (in config order) whose alert name and matchers fit."""
        hooks: list[HealHook] = list(self.config.hooks) + self.cluster_hooks.get(
            labels.get("cluster", ""), []
        )
        for hook in hooks:
            if hook_matches(hook, labels):
                return hook
        return None

    def missing_labels(self, labels: dict[str, str]) -> list[str]:
        hook = self.hook_for(labels)
        if hook is None:
            return []
        return [k for k in self._needed_labels(hook) if not labels.get(k)]

    def _needed_labels(self, hook: HealHook) -> list[str]:
        """Labels a hook needs, computed once per hook: the receiver asks for every alert,
        and parsing the parameters' format strings each time was a visible share of its CPU."""
        cached = self._needed.get(id(hook))
        if cached is not None:
            return cached
        needed = set(self.actions[hook.action].required_labels) | placeholders(hook.params)
        if hook.escalate_to:
            needed |= set(self.actions[hook.escalate_to].required_labels)
        needed.discard("request_id")
        # hooks live as long as the engine (config and bundle hooks), so id() stays theirs
        self._needed[id(hook)] = sorted(needed)
        return self._needed[id(hook)]

    # -- decisions ---------------------------------------------------------------------------

    def context(
        self, action: str, alert: AlertRow, params: Mapping[str, object], request_id: str, timeout: float
    ) -> ActionContext:
        return ActionContext(
            action=action,
            labels=alert.labels,
            annotations=alert.annotations,
            params=dict(params),
            cluster=self.clusters.get(alert.cluster),
            request_id=request_id,
            timeout=timeout,
            workdir=self.workdir,
            services=self.services,
        )

    def decide_pending(self, limit: int = 64) -> list[int]:
        """Decide every undecided alert (oldest first); returns the action ids to execute.

        The fleet-wide state (pause switch, shared-dependency probes, budget used) is read
        once per batch and then kept up to date in memory: the engine is the only writer
        of actions, so this is exact, and it keeps a decision O(log n) in journal size.
        """
        to_run: list[int] = []
        self._batch = None
        with self.journal.decision_tx() as db:
            alerts = self.journal.undecided(db, limit)
            self.last_batch_full = len(alerts) == limit
            if not alerts:
                return to_run
            self._batch = _Batch(
                paused=self.journal.paused_reason(db), down=None, used=self._used_last_hour()
            )
            if self._batch.paused is None:
                for probe in self.probes:
                    self._batch.down = probe.shared_dependency_down()
                    if self._batch.down is not None:
                        break
            for alert in alerts:
                decision, hook_action, reason, action_id = self._decide(db, alert)
                self.journal.record_decision(db, alert.id, decision.value, hook_action, reason)
                if action_id is not None and decision is Decision.ACT:
                    to_run.append(action_id)
            self._batch = None
        return to_run

    def _decide(
        self, db: sqlite3.Connection, alert: AlertRow
    ) -> tuple[Decision, str | None, str, int | None]:
        if alert.status == "resolved":
            healed = self.journal.mark_healed(db, alert.fingerprint)
            return Decision.RESOLVED, None, f"alert resolved; {healed} action(s) verified healed", None
        hook = self.hook_for(alert.labels)
        if hook is None:
            why = (
                "no heal hook for this alert name"
                if alert.alertname not in self.alert_names
                else "no heal hook matches these labels"
            )
            return Decision.NO_HOOK, None, why, None
        return self.plan(db, alert, hook.action, hook.params, escalated_from=None)

    def plan(
        self,
        db: sqlite3.Connection,
        alert: AlertRow,
        action_name: str,
        params: Mapping[str, object],
        escalated_from: int | None,
    ) -> tuple[Decision, str | None, str, int | None]:
        """Apply the rails and, if they allow, insert the action row (pending or dry-run)."""
        now = time.time()
        key = f"{alert.fingerprint}|{action_name}|{alert.starts_at}"
        if self.journal.has_action(db, key):
            return Decision.DUPLICATE, action_name, f"already handled: {key}", None
        batch = self._batch if self._batch is not None else self._fresh_batch(db)
        if batch.paused is not None:
            return Decision.PAUSED, action_name, f"healing is paused: {batch.paused}", None
        if batch.down is not None:
            self.journal.pause(batch.down, db, kind="shared_dependency_down")
            batch.paused = batch.down
            return Decision.SHARED_DEPENDENCY, action_name, batch.down, None
        used = batch.used
        if used >= self.safety.fleet_budget_per_hour:
            why = (
                f"fleet budget exhausted: {used} remediations in the last hour "
                f"(budget {self.safety.fleet_budget_per_hour}); all healing paused until "
                "`kansoku heal resume`"
            )
            self.journal.pause(why, db, kind="budget_exhausted")
            batch.paused = why
            return Decision.BUDGET, action_name, why, None
        if alert.cluster:
            limit, how = self._max_unhealthy(alert.cluster)
            unhealthy = self.journal.unhealthy_targets(db, alert.cluster)
            if limit is None or unhealthy > limit:
                why = (
                    how
                    if limit is None
                    else (
                        f"{unhealthy} unhealthy targets in cluster {alert.cluster} > max_unhealthy {how}: "
                        "a bigger fault than one node; not remediating"
                    )
                )
                return Decision.MAX_UNHEALTHY, action_name, why, None
        if escalated_from is None and self.safety.cooldown_seconds > 0:
            recent = self.journal.last_action_on(
                db, alert.cluster, alert.target, now - self.safety.cooldown_seconds, self.dry_run
            )
            if recent:
                return (
                    Decision.COOLDOWN,
                    action_name,
                    f"target {alert.cluster}/{alert.target} was remediated {now - recent['planned_at']:.0f}s"
                    f" ago (action {recent['id']}); cooldown {self.safety.cooldown_seconds:.0f}s",
                    None,
                )
        timeout = float(params.get("timeout_seconds", self.safety.action_timeout_seconds))  # type: ignore[arg-type]
        request_id = new_request_id()
        ctx = self.context(action_name, alert, params, request_id, timeout)
        try:
            steps = self.actions[action_name].plan(ctx)
        except ActionFailed as exc:
            return Decision.INVALID, action_name, str(exc), None
        state = ActionState.DRY_RUN if self.dry_run else ActionState.PENDING
        action_id = self.journal.insert_action(
            db,
            key,
            alert,
            action_name,
            json.dumps(params, sort_keys=True),
            request_id,
            state,
            self.dry_run,
            json.dumps(steps),
            now,
            escalated_from,
            timeout,
        )
        batch.used += 1
        self._planned.append(now)
        if self.dry_run:
            return (
                Decision.DRY_RUN,
                action_name,
                f"dry-run: would run {action_name} ({request_id})",
                action_id,
            )
        via = f" (escalated from action {escalated_from})" if escalated_from else ""
        return (
            Decision.ACT,
            action_name,
            f"{action_name} planned as action {action_id}{via} ({request_id})",
            action_id,
        )

    def _used_last_hour(self) -> int:
        horizon = time.time() - 3600
        while self._planned and self._planned[0] < horizon:
            self._planned.popleft()
        return len(self._planned)

    def _fresh_batch(self, db: sqlite3.Connection) -> _Batch:
        """Fleet-wide state for a plan outside decide_pending (escalations)."""
        batch = _Batch(paused=self.journal.paused_reason(db), down=None, used=self._used_last_hour())
        for probe in self.probes:
            batch.down = batch.down or probe.shared_dependency_down()
        return batch

    def _max_unhealthy(self, cluster: str) -> tuple[int | None, str]:
        value = self.safety.max_unhealthy
        if isinstance(value, int):
            return value, str(value)
        size = self.config.cluster_sizes.get(cluster)
        if size is None:
            return None, (
                f"max_unhealthy is {value} but the size of cluster {cluster} is unknown "
                f"(set cluster_sizes.{cluster}); not remediating blind"
            )
        return size * int(value[:-1]) // 100, f"{value} of {size} nodes"
