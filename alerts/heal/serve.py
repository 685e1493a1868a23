"""Wiring: config -> journal, engine, worker, receiver; and the commands' library functions.

Why here and not in the CLI: tests, the demo and the benchmark build the very same healer
(`build`) as `kansoku heal serve`, so what they exercise is what runs in production.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kansoku.alerts.heal.actions import ACTIONS
from kansoku.alerts.heal.auth import Authenticator
from kansoku.alerts.heal.base import Action, HookSources, KubeApi, Services, StorageBackend
from kansoku.alerts.heal.config import TOKEN_ENV, LoadedConfig, load_heal_config
from kansoku.alerts.heal.engine import CheckProbe, DependencyProbe, Engine
from kansoku.alerts.heal.ha import HaNode, ha_node
from kansoku.alerts.heal.journal import Journal
from kansoku.alerts.heal.model import RESULT_OF_STATE, ActionState
from kansoku.alerts.heal.worker import Healer
from kansoku.errors import KansokuError
from kansoku.models import Cluster

#: seconds a thread may hold the GIL while another waits (Python's default: 0.005)
SWITCH_INTERVAL = 0.0005
#: how often `heal serve` applies `retention_days`
PRUNE_EVERY_SECONDS = 3600.0


@dataclass
class Built:
    loaded: LoadedConfig
    journal: Journal
    engine: Engine
    healer: Healer
    #: heal.ha's election and rails when heal.yaml has `ha` (started by `serve`)
    ha: HaNode | None = None


def default_services(loaded: LoadedConfig, openstack_options: dict[str, Any] | None = None) -> Services:
    from kansoku.alerts.heal.kube import KubeClient
    from kansoku.alerts.heal.nova import connect
    from kansoku.alerts.heal.storage import STORAGE_BACKENDS

    settings = loaded.config.storage

    def storage() -> StorageBackend:
        return STORAGE_BACKENDS[settings.backend](loaded.path(settings.path))

    def kube(cluster: Cluster, request_id: str) -> KubeApi:
        return KubeClient(cluster, request_id)

    def openstack(request_id: str) -> Any:
        return connect(request_id, loaded.config.openstack.cloud, openstack_options or {})

    return Services(storage=storage, kube=kube, openstack=openstack)


def build(
    loaded: LoadedConfig,
    dry_run: bool = False,
    services: Services | None = None,
    actions: dict[str, Action] | None = None,
    checks: Callable[[], str | None] | None = None,
    synchronous: str = "FULL",
    hook_sources: HookSources | None = None,
) -> Built:
    """The journal, engine and healer for `loaded`; `hook_sources` reads the bundles' heal hooks."""
    journal = Journal(loaded.path(loaded.config.journal), synchronous=synchronous)
    journal.load_counters()  # once, before anything decides: /metrics never scans the journal
    # the storm rail is the engine's own (heal.rails), read in each decision transaction
    probes: list[DependencyProbe] = []
    if checks is not None:
        probes.append(CheckProbe(checks))
    if loaded.config.health_metrics_url:
        from kansoku.alerts.heal.health import HealthMetricsProbe

        azs = {c.id: c.az for c in loaded.clusters().values()}
        probes.append(HealthMetricsProbe(loaded.config.health_metrics_url, azs))
    registry = actions or ACTIONS
    engine = Engine(
        journal, loaded, registry, services or default_services(loaded), probes, dry_run, hook_sources
    )
    healer = Healer(journal, engine, registry, loaded.config.workers)
    node = None
    if loaded.config.ha is not None:
        where = str(loaded.path(loaded.config.journal).resolve())
        node = ha_node(loaded.config.ha, where, _on_elected(journal, healer), _on_change(journal))
        engine.fleet = node.rails
    return Built(loaded, journal, engine, healer, node)


def _on_elected(journal: Journal, healer: Healer) -> Callable[[], None]:
    """On takeover: what this replica journaled as `standby` and still fires is decided now."""

    def elected() -> None:
        if journal.reopen_standby():
            healer.notify()

    return elected


def _on_change(journal: Journal) -> Callable[[str, str], None]:
    def change(kind: str, message: str) -> None:
        with journal.tx() as db:
            journal.event(db, kind, message)

    return change


def authenticator(loaded: LoadedConfig) -> Authenticator:
    token, basic = loaded.bearer_token(), loaded.basic_credentials()
    if not token and basic is None:
        raise KansokuError(
            f"no webhook credentials: set {TOKEN_ENV}, or token_file / basic_auth in {loaded.source}; "
            "the receiver never runs unauthenticated"
        )
    return Authenticator(token, basic)


def serve(
    config: Path,
    host: str,
    port: int,
    dry_run: bool,
    hook_sources: HookSources | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """`kansoku heal serve`: run the receiver until interrupted (`hook_sources`: the bundles' hooks).

    Everything that can be wrong in the configuration (hooks and their parameters, the
    inventory, bundle hooks, credentials) is checked by `load_heal_config`, `authenticator`
    and `build` before `on_ready` announces the address and before the port is bound.

    Why the short GIL switch interval: the journal writer thread decides in Python between
    commits, and with the default 5 ms interval the event loop waited up to 5 ms for the GIL
    at every wake-up; at 500 alerts/s that put p99 at 35-45 ms, with 0.5 ms at 9-13 ms (same
    machine, bench/bench_heal.py). uvicorn picks uvloop and httptools (dependencies) itself.
    """
    import gc
    import sys

    import uvicorn

    from kansoku.alerts.heal.app import create_app

    loaded = load_heal_config(config)
    auth = authenticator(loaded)
    built = build(loaded, dry_run=dry_run, hook_sources=hook_sources)
    built.healer.start()
    if built.ha is not None:
        built.ha.start()
    app = create_app(built.journal, built.engine, built.healer, auth)
    sys.setswitchinterval(SWITCH_INTERVAL)
    # Everything built so far (modules, the app, the config) lives as long as the server:
    # moved out of the collector's generations, so its full collections do not traverse
    # them again and again under load (a few per cent of the receiver's CPU per alert).
    gc.freeze()
    stop = threading.Event()
    threading.Thread(target=_prune_hourly, args=(built, stop), name="heal-prune", daemon=True).start()
    if on_ready is not None:
        on_ready()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        stop.set()
        if built.ha is not None:
            built.ha.stop()
        built.healer.stop()
        built.journal.close()


def keep_seconds(loaded: LoadedConfig) -> float:
    """The shortest retention the rails allow: what they look back on must stay."""
    safety = loaded.config.safety
    return max(safety.replay_window_seconds, safety.cooldown_seconds, safety.storm_window_seconds, 3600.0)


def prune_journal(config: Path, older_than_days: float | None) -> dict[str, int]:
    """`kansoku heal prune`: apply retention now (the config's `retention_days` by default)."""
    from kansoku.alerts.heal.journal.prune import prune

    loaded = load_heal_config(config)
    days = older_than_days if older_than_days is not None else loaded.config.retention_days
    if days is None:
        raise KansokuError(f"no retention: set retention_days in {config} or pass --older-than-days")
    journal = open_journal(config)
    try:
        return prune(journal, days, keep_seconds(loaded))
    finally:
        journal.close()


def _prune_hourly(built: Built, stop: threading.Event) -> None:
    """The server's own retention, once an hour (chunked: see heal.journal.prune)."""
    from kansoku.alerts.heal.journal.prune import prune

    days = built.loaded.config.retention_days
    while days is not None and not stop.wait(PRUNE_EVERY_SECONDS):
        try:
            prune(built.journal, days, keep_seconds(built.loaded))
            if built.ha is not None and built.ha.rails.leader():
                safety = built.loaded.config.safety
                built.ha.rails.prune(time.time(), days * 86400, safety.cooldown_seconds)
        except Exception as exc:  # retention must never take the receiver down; journaled
            with built.journal.tx() as db:
                built.journal.event(db, "prune_error", f"{type(exc).__name__}: {exc}")


def open_journal(config: Path) -> Journal:
    loaded = load_heal_config(config)
    path = loaded.path(loaded.config.journal)
    if not path.exists():
        raise KansokuError(f"no journal at {path} (from {config}); has `kansoku heal serve` run?")
    return Journal(path)


def set_paused(config: Path, paused: bool, who: str) -> str:
    """`kansoku heal pause|resume`: flip the persisted switch; the server reads it per decision."""
    journal = open_journal(config)
    ha = load_heal_config(config).config.ha
    if ha is not None:  # the fleet's switch (heal.ha) as well as this replica's journal
        from kansoku.alerts.heal.etcd_client import EtcdClient
        from kansoku.alerts.heal.ha import EtcdRails, Leadership, replica_name

        client = EtcdClient(ha.etcd)
        try:
            rails = EtcdRails(client, ha, Leadership(client, ha, replica_name(ha)))
            if paused:
                rails.pause(f"paused by {who}")
            else:
                rails.resume()
        finally:
            client.close()
    try:
        if paused:
            changed = journal.pause(f"paused by {who}")
            return "healing paused" if changed else f"already paused: {journal.paused_reason()}"
        before = journal.paused_reason()
        return f"healing resumed (was: {before})" if journal.resume(who) else "healing was not paused"
    finally:
        journal.close()


def history(journal: Journal, limit: int = 50) -> dict[str, Any]:
    """Recent actions, success rates per action, pause state and events (for `heal history`)."""
    rates: dict[str, dict[str, int]] = {}
    for row in journal.action_counts(by_cluster=False):
        entry = rates.setdefault(row["action"], {"success": 0, "failed": 0, "skipped": 0, "open": 0})
        entry[RESULT_OF_STATE.get(row["state"], "open")] += int(row["n"])
    per_action = {
        name: {
            **c,
            "success_rate": round(c["success"] / (c["success"] + c["failed"]), 3)
            if c["success"] + c["failed"]
            else None,
        }
        for name, c in sorted(rates.items())
    }
    actions = [
        {
            "id": a.id,
            "action": a.action,
            "cluster": a.cluster,
            "target": a.target,
            "state": a.state,
            "dry_run": a.dry_run,
            "request_id": a.request_id,
            "planned_at": _iso(a.planned_at),
            "finished_at": _iso(a.finished_at),
            "detail": a.detail,
            "plan": a.plan,
            "escalated_from": a.escalated_from,
        }
        for a in journal.actions()[-limit:]
    ]
    decisions = [
        {
            "alert": r["alertname"],
            "cluster": r["cluster"],
            "target": r["target"],
            "status": r["status"],
            "decision": r["decision"],
            "reason": r["reason"],
            "received_at": _iso(r["received_at"]),
        }
        for r in journal.recent_alerts(limit)
    ][::-1]
    events = [{"ts": _iso(e["ts"]), "kind": e["kind"], "message": e["message"]} for e in journal.events()]
    return {
        "paused": journal.paused_reason(),
        "per_action": per_action,
        "actions": actions,
        "decisions": decisions,
        "events": events,
        "open_actions": len(journal.actions(ActionState.VERIFYING))
        + len(journal.actions(ActionState.PENDING)),
    }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def history_json(config: Path, limit: int) -> str:
    journal = open_journal(config)
    try:
        return json.dumps(history(journal, limit), indent=2)
    finally:
        journal.close()
