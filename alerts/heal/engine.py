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
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kansoku.alerts.heal.base import Action, ActionContext, ActionFailed, HookSources, Services
from kansoku.alerts.heal.config import HealConfig, LoadedConfig
from kansoku.alerts.heal.journal import AlertRow, Journal, kind_of
from kansoku.alerts.heal.model import SKIPPED, ActionState, Decision
from kansoku.alerts.heal.params import hook_problems, label_placeholders, label_problem, number
from kansoku.alerts.heal.rails import max_unhealthy, storm_reason, unhealthy
from kansoku.models import Cluster, HealHook, new_request_id

#: a decision slice stops after this long (then commits and lets webhooks in)
SLICE_SECONDS = 0.02


class DependencyProbe(Protocol):
    """Says whether a dependency shared by many clusters is down (then: heal nothing)."""

    def shared_dependency_down(self) -> str | None: ...


class CheckProbe:
    """kansoku's own health checks (kansoku.health) through a callable returning a reason."""

    def __init__(self, check: Callable[[], str | None]) -> None:
        self.check = check

    def shared_dependency_down(self) -> str | None:
        return self.check()


class FleetRails(Protocol):
    """HA (heal.ha.EtcdRails): leadership, claims and the action-counting rails, fleet-wide.

    Why a seam: without `ha` the journal alone is the truth (one replica); with it, the budget,
    cooldowns, pause switch and "who acts" must be read from and written to etcd.
    """

    def leader(self) -> bool: ...
    def paused_reason(self) -> str | None: ...
    def pause(self, reason: str) -> None: ...
    def used_last_hour(self) -> int: ...
    def last_action_on(self, cluster: str, target: str, idem_key: str) -> float | None: ...
    def start(self, idem_key: str, action: str, request_id: str, at: float) -> str | None: ...
    def existing_claim(self, idem_key: str) -> tuple[bool, str] | None: ...
    def claim(
        self, idem_key: str, cluster: str, target: str, action: str, request_id: str, now: float
    ) -> FleetClaim: ...


class FleetClaim(Protocol):
    @property
    def outcome(self) -> str: ...
    @property
    def detail(self) -> str: ...


@dataclass
class _Batch:
    """Fleet-wide state for one decision transaction."""

    paused: str | None
    down: str | None
    used: int
    #: unhealthy targets per (cluster, kind): nothing is ingested while a batch holds the
    #: lock, so one count per batch (a 10k-node storm counted per decision was quadratic)
    unhealthy: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class Slice:
    """What one decision slice did; the counters and the worker act on it after its commit."""

    to_run: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    healed: list[tuple[str, str, str, bool]] = field(default_factory=list)
    #: the slice stopped at its limit or time budget: more may be undecided
    full: bool = False


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
            problems = hook_problems(hook)
            if problems:
                raise KansokuError(
                    f"bundle heal hook for {hook.alert} (cluster {cluster.id}): "
                    + "; ".join(f"params.{k}: {m}" if k else f"params: {m}" for k, m in problems)
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
        self._index_hooks()
        self._batch: _Batch | None = None
        #: set by heal.serve.build when heal.yaml has `ha` (heal.ha)
        self.fleet: FleetRails | None = None
        self._needed: dict[int, list[str]] = {}
        self._label_cache: dict[tuple[str, int], tuple[Mapping[str, object], list[str]]] = {}
        self._json_cache: dict[int, tuple[Mapping[str, object], str]] = {}
        # planned times of the last hour's actions, for the fleet budget: loaded once, then
        # kept here (the engine is the only writer of actions) so the budget costs O(1)
        self._planned: deque[float] = deque(journal.planned_times(time.time() - 3600, self.dry_run))
        self.last_batch_full = False
        #: actions a resolved alert closed in the current batch, counted after its commit
        self._healed: list[tuple[str, str, str, bool]] = []

    # -- used by the receiver, before journaling -------------------------------------------

    def hook_for(self, labels: dict[str, str]) -> HealHook | None:
        """The first hook (in config order, then the cluster's bundle hooks) whose alert name
        and matchers fit. Hooks are indexed by alert name (see `_index_hooks`): the receiver
        asks for every alert it accepts, and scanning every hook each time showed in its CPU."""
        name = labels.get("alertname", "")
        for hook in self._hooks_by_name.get(name, ()):
            if all(labels.get(k) == v for k, v in hook.match.items()):
                return hook
        for hook in self._cluster_hooks_by_name.get((labels.get("cluster", ""), name), ()):
            if all(labels.get(k) == v for k, v in hook.match.items()):
                return hook
        return None

    def _index_hooks(self) -> None:
        """Hooks by alert name, each list in config order (bundle hooks: by cluster too)."""
        self._hooks_by_name: dict[str, list[HealHook]] = {}
        for hook in self.config.hooks:
            self._hooks_by_name.setdefault(hook.alert, []).append(hook)
        self._cluster_hooks_by_name: dict[tuple[str, str], list[HealHook]] = {}
        for cluster, hooks in self.cluster_hooks.items():
            for hook in hooks:
                self._cluster_hooks_by_name.setdefault((cluster, hook.alert), []).append(hook)

    def missing_labels(self, labels: dict[str, str], hook: HealHook | None = None) -> list[str]:
        """Labels the alert's hook (`hook`, else looked up) needs and the alert lacks."""
        hook = hook or self.hook_for(labels)
        if hook is None:
            return []
        return [k for k in self._needed_labels(hook) if not labels.get(k)]

    def _needed_labels(self, hook: HealHook) -> list[str]:
        """Labels a hook needs, computed once per hook: the receiver asks for every alert,
        and parsing the parameters' format strings each time was a visible share of its CPU."""
        cached = self._needed.get(id(hook))
        if cached is not None:
            return cached
        needed = set(self.actions[hook.action].required_labels) | label_placeholders(hook.params)
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

    def decide_pending(self, limit: int = 64, budget: float = SLICE_SECONDS) -> list[int]:
        """Decide every undecided alert (oldest first) in a decision transaction of its own;
        returns the action ids to execute."""
        with self.journal.decision_tx() as db:
            done = self.decide_in(db, limit, budget)
        return self.committed(done)

    def decide_in(self, db: sqlite3.Connection, limit: int = 64, budget: float = SLICE_SECONDS) -> Slice:
        """Decide up to `limit` undecided alerts (oldest first) for at most `budget` seconds,
        inside the caller's open transaction; pass the result to `committed` once it commits.

        The fleet-wide state (pause switch, shared-dependency probes, budget used) is read
        once per batch and then kept up to date in memory: the engine is the only writer
        of actions, so this is exact, and it keeps a decision O(log n) in journal size.
        """
        done = Slice()
        self._batch = None
        alerts = self.journal.undecided(db, limit)
        done.full = self.last_batch_full = len(alerts) == limit
        if not alerts:
            return done
        try:
            self._batch = self._fresh_batch(db)
            self._healed = done.healed
            started = time.monotonic()
            for n, alert in enumerate(alerts, 1):
                if n > 1 and time.monotonic() - started > budget:
                    # the rest in the next slice: the lock is released in between
                    done.full = self.last_batch_full = True
                    break
                decision, hook_action, reason, action_id = self._decide(db, alert)
                self.journal.record_decision(db, alert.id, decision.value, hook_action, reason)
                if action_id is not None and decision is Decision.ACT:
                    done.to_run.append(action_id)
                if decision in SKIPPED and hook_action is not None:
                    done.skipped.append((alert.cluster, alert.region, hook_action))
        finally:
            self._batch = None
        return done

    def committed(self, done: Slice) -> list[int]:
        """The slice's transaction committed: count it (the counters follow the journal) and
        return the action ids to execute."""
        counters = self.journal.counters
        for cluster, region, action in done.skipped:
            counters.add_action(cluster, region, action, "skipped")
        for cluster, region, action, dry in done.healed:
            counters.add_state(cluster, region, action, ActionState.HEALED.value, dry)
        return done.to_run

    def _decide(
        self, db: sqlite3.Connection, alert: AlertRow
    ) -> tuple[Decision, str | None, str, int | None]:
        if alert.status == "resolved":
            healed = self.journal.mark_healed(db, alert.fingerprint)
            self._healed.extend(healed)
            return Decision.RESOLVED, None, f"alert resolved; {len(healed)} action(s) verified healed", None
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
        if self.fleet is not None and not self.fleet.leader():
            return Decision.STANDBY, action_name, "standby: another replica leads (heal.ha)", None
        batch = self._batch if self._batch is not None else self._fresh_batch(db)
        if batch.paused is not None:
            return Decision.PAUSED, action_name, f"healing is paused: {batch.paused}", None
        if batch.down is not None:
            self.journal.pause(batch.down, db, kind="shared_dependency_down")
            if self.fleet is not None:
                self.fleet.pause(batch.down)
            batch.paused = batch.down
            return Decision.SHARED_DEPENDENCY, action_name, batch.down, None
        used = batch.used
        adopt = False  # HA: a claim another replica made and never started is in the budget already
        if used >= self.safety.fleet_budget_per_hour and self.fleet is not None and not self.dry_run:
            existing = self.fleet.existing_claim(key)  # read only here: a decision costs no extra read
            if existing is not None and not existing[0]:
                return Decision.DUPLICATE, action_name, existing[1], None
            adopt = existing is not None
        if used >= self.safety.fleet_budget_per_hour and not adopt:
            why = (
                f"fleet budget exhausted: {used} remediations in the last hour "
                f"(budget {self.safety.fleet_budget_per_hour}); all healing paused until "
                "`kansoku heal resume`"
            )
            self.journal.pause(why, db, kind="budget_exhausted")
            if self.fleet is not None:
                self.fleet.pause(why)
            batch.paused = why
            return Decision.BUDGET, action_name, why, None
        if alert.cluster:
            kind = kind_of(alert.labels)
            limit, how = max_unhealthy(self.config, alert.cluster)
            count = batch.unhealthy.get((alert.cluster, kind), -1)
            if count < 0:
                count = unhealthy(self.journal, db, alert.cluster, kind, (limit or 0) + 1)
                batch.unhealthy[(alert.cluster, kind)] = count
            if limit is None or count > limit:
                why = (
                    how
                    if limit is None
                    else (
                        f"{count} unhealthy {kind or 'cluster'} targets in cluster {alert.cluster} > "
                        f"max_unhealthy {how}: a bigger fault than one target; not remediating"
                    )
                )
                return Decision.MAX_UNHEALTHY, action_name, why, None
        if escalated_from is None and self.safety.cooldown_seconds > 0:
            recent = self.journal.last_action_on(
                db, alert.cluster, alert.target, now - self.safety.cooldown_seconds, self.dry_run
            )
            last: tuple[float, str] | None = (
                (float(recent["planned_at"]), f"action {recent['id']}") if recent else None
            )
            if last is None and self.fleet is not None:  # the fleet's cooldown (heal.ha)
                at = self.fleet.last_action_on(alert.cluster, alert.target, key)
                if at is not None and at >= now - self.safety.cooldown_seconds:
                    last = (at, "claimed in etcd")
            if last is not None:
                return (
                    Decision.COOLDOWN,
                    action_name,
                    f"target {alert.cluster}/{alert.target} was remediated {now - last[0]:.0f}s"
                    f" ago ({last[1]}); cooldown {self.safety.cooldown_seconds:.0f}s",
                    None,
                )
        for name in self._labels_for(action_name, params):
            problem = label_problem(name, alert.labels.get(name, ""))
            if problem is not None and name in alert.labels:
                return Decision.INVALID, action_name, problem, None
        timeout = number(params, "timeout_seconds", self.safety.action_timeout_seconds)
        request_id = new_request_id()
        ctx = self.context(action_name, alert, params, request_id, timeout)
        try:
            steps = self.actions[action_name].plan(ctx)
        except ActionFailed as exc:
            return Decision.INVALID, action_name, str(exc), None
        except Exception as exc:  # an action's plan bug refuses this alert only, never the batch
            return Decision.INVALID, action_name, f"{action_name} plan: {type(exc).__name__}: {exc}", None
        adopted = ""
        if self.fleet is not None and not self.dry_run:  # a dry run claims nothing: it never acts
            claim = self.fleet.claim(key, alert.cluster, alert.target, action_name, request_id, now)
            if claim.outcome == "taken":
                return Decision.DUPLICATE, action_name, claim.detail, None
            if claim.outcome != "claimed":
                return Decision.STANDBY, action_name, f"standby: {claim.detail}", None
            adopted = f"; {claim.detail}" if claim.detail.startswith("adopted") else ""
        state = ActionState.DRY_RUN if self.dry_run else ActionState.PENDING
        action_id = self.journal.insert_action(
            db,
            key,
            alert,
            action_name,
            self._params_json(params),
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
            f"{action_name} planned as action {action_id}{via} ({request_id}){adopted}",
            action_id,
        )

    def budget_used(self) -> int:
        """Remediations planned in the last hour, for /metrics (any thread; no journal read)."""
        horizon = time.time() - 3600
        return sum(1 for t in list(self._planned) if t >= horizon)

    def _used_last_hour(self) -> int:
        horizon = time.time() - 3600
        while self._planned and self._planned[0] < horizon:
            self._planned.popleft()
        return len(self._planned)

    def _fresh_batch(self, db: sqlite3.Connection) -> _Batch:
        """Fleet-wide state read in this decision transaction (see heal.rails for why)."""
        batch = _Batch(paused=self.journal.paused_reason(db), down=None, used=self._used_last_hour())
        if self.fleet is not None and self.fleet.leader():
            batch.paused = batch.paused or self.fleet.paused_reason()
            batch.used = self.fleet.used_last_hour()
        if batch.paused is None:
            batch.down = storm_reason(
                self.journal, db, self.safety.storm_clusters, self.safety.storm_window_seconds
            )
            for probe in self.probes:
                if batch.down is not None:
                    break
                batch.down = probe.shared_dependency_down()
        return batch

    def _labels_for(self, action_name: str, params: Mapping[str, object]) -> list[str]:
        """Labels an action places into paths, argv or URLs: checked before it is planned.

        Cached by the parameters' identity (hook parameters live as long as the engine; the
        object is kept in the cache so its id cannot be reused)."""
        key = (action_name, id(params))
        cached = self._label_cache.get(key)
        if cached is None or cached[0] is not params:
            needed = set(self.actions[action_name].required_labels) | label_placeholders(params)
            cached = self._label_cache[key] = (params, sorted(needed - {"request_id"}))
        return cached[1]

    def _params_json(self, params: Mapping[str, object]) -> str:
        """The action row's `params` column: a hook's parameters, serialized once per hook
        (cached by identity like `_labels_for`; the object is kept so its id stays its own)."""
        cached = self._json_cache.get(id(params))
        if cached is None or cached[0] is not params:
            cached = self._json_cache[id(params)] = (params, json.dumps(params, sort_keys=True))
        return cached[1]
