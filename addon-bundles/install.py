"""Install, upgrade and uninstall a bundle on one cluster, with a state file and rollback.

Why a state file: deprovisioning must remove exactly what was installed (never a
dashboard a human added to the folder); upgrading must remove what the old bundle had and
the new one has not. Why rollback: an install that fails half-way (Grafana refuses a
dashboard, Prometheus fails to reload) must leave the cluster as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from kansoku.addon_bundles.catalog import Bundle, Catalog
from kansoku.addon_bundles.render import RenderedBundle, folder_uid, render_cluster
from kansoku.addon_bundles.rulestore import RuleStore
from kansoku.alerts.rules.promtool import check_rules
from kansoku.dashboards.provision import provision
from kansoku.dashboards.sinks import GrafanaSink
from kansoku.errors import ConfigError, FieldProblem, KansokuError
from kansoku.models import Cluster


@dataclass
class InstallState:
    """What kansoku installed on a cluster (`<state_dir>/<cluster>.json`)."""

    cluster: str
    bundles: list[str]
    folder: str
    folder_created: bool
    dashboards: list[str]
    rule_files: list[str]
    installed_at: str
    #: the Prometheus that loads the rule files: deprovisioning reloads it even when the
    #: cluster is already gone from the inventory
    prometheus: str | None = None


def state_path(state_dir: Path, cluster_id: str) -> Path:
    return state_dir / f"{cluster_id}.json"


def read_state(state_dir: Path, cluster_id: str) -> InstallState | None:
    path = state_path(state_dir, cluster_id)
    if not path.exists():
        return None
    try:
        return InstallState(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise KansokuError(f"{path}: unreadable install state ({exc}); remove it to reinstall") from None


def _write_state(state_dir: Path, state: InstallState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(state_dir, state.cluster)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1), encoding="utf-8")
    tmp.replace(path)


@dataclass
class InstallResult:
    cluster: str
    bundle: str
    changed: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _promtool_check(rendered: RenderedBundle) -> None:
    with tempfile.TemporaryDirectory(prefix="kansoku-install-") as tmp:
        problems = []
        for name, text in rendered.rule_files.items():
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            result = check_rules(path)
            if not result.ok:
                problems.append(FieldProblem(name, None, "", f"promtool check rules: {result.output}"))
        if problems:
            raise ConfigError(problems)


@contextlib.contextmanager
def cluster_lock(state_dir: Path, cluster_id: str) -> Iterator[None]:
    """One install/uninstall per cluster at a time (the hook and the CLI may race)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / f".{cluster_id}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_cluster(
    catalog: Catalog,
    cluster: Cluster,
    sink: GrafanaSink,
    store: RuleStore,
    state_dir: Path,
    bundle: Bundle | None = None,
) -> InstallResult:
    """Install (or upgrade to) the cluster's bundle; idempotent; rolls back on failure."""
    rendered = render_cluster(catalog, cluster, bundle, datasources=sink.datasource_uids())
    _promtool_check(rendered)  # everything validated before the first write
    with cluster_lock(state_dir, cluster.id):
        return _install_rendered(rendered, cluster, sink, store, state_dir)


def _install_rendered(
    rendered: RenderedBundle, cluster: Cluster, sink: GrafanaSink, store: RuleStore, state_dir: Path
) -> InstallResult:
    previous = read_state(state_dir, cluster.id)
    folder = folder_uid(cluster.id)
    undo: list[Callable[[], None]] = []
    result = InstallResult(cluster.id, rendered.key, False)
    try:
        old_dash = {uid: sink.get_dashboard(uid) for uid in rendered.dashboards}
        prov = provision(sink, folder, f"kansoku: {cluster.id}", list(rendered.dashboards.values()))
        if prov.folder_created:
            undo.append(lambda: sink.delete_folder(folder))
        for uid in prov.created:
            undo.append(partial(sink.delete_dashboard, uid))
        for uid in prov.updated:
            old = old_dash[uid]
            if old is not None:
                undo.append(partial(_restore_dashboard, sink, folder, uid, old.dashboard))
        result.created += prov.created
        result.updated += prov.updated
        for name, text in rendered.rule_files.items():
            before = store.read(cluster.id, name)
            if before == text:
                continue
            store.write(cluster.id, name, text)
            if before is None:
                undo.append(partial(store.remove, cluster.id, name))
                result.created.append(name)
            else:
                undo.append(partial(store.write, cluster.id, name, before))
                result.updated.append(name)
        stale_rules = [n for n in (previous.rule_files if previous else []) if n not in rendered.rule_files]
        stale_dash = [u for u in (previous.dashboards if previous else []) if u not in rendered.dashboards]
        for name in stale_rules:
            before = store.read(cluster.id, name)
            store.remove(cluster.id, name)
            if before is not None:
                undo.append(partial(store.write, cluster.id, name, before))
            result.removed.append(name)
        for uid in stale_dash:
            old = sink.get_dashboard(uid)
            sink.delete_dashboard(uid)
            if old is not None:
                undo.append(partial(_restore_dashboard, sink, folder, uid, old.dashboard))
            result.removed.append(uid)
        result.changed = bool(result.created or result.updated or result.removed)
        if result.changed:
            store.reload(cluster.id)
    except Exception:
        for step in reversed(undo):
            with contextlib.suppress(Exception):
                step()
        with contextlib.suppress(Exception):
            store.reload(cluster.id)
        raise
    folder_created = prov.folder_created or (previous.folder_created if previous else False)
    _write_state(
        state_dir,
        InstallState(
            cluster.id,
            rendered.bundles,
            folder,
            folder_created,
            sorted(rendered.dashboards),
            sorted(rendered.rule_files),
            previous.installed_at if previous and not result.changed else datetime.now(UTC).isoformat(),
            cluster.prometheus,
        ),
    )
    return result


def _restore_dashboard(sink: GrafanaSink, folder: str, uid: str, dashboard: dict[str, Any]) -> None:
    current = sink.get_dashboard(uid)
    sink.put_dashboard(folder, dashboard, current.version if current else None)


def uninstall_cluster(cluster_id: str, sink: GrafanaSink, store: RuleStore, state_dir: Path) -> list[str]:
    """Remove exactly what the state file says was installed; returns what was removed."""
    if not state_path(state_dir, cluster_id).exists():
        return []
    with cluster_lock(state_dir, cluster_id):
        return _uninstall_locked(cluster_id, sink, store, state_dir)


def _uninstall_locked(cluster_id: str, sink: GrafanaSink, store: RuleStore, state_dir: Path) -> list[str]:
    state = read_state(state_dir, cluster_id)
    if state is None:
        return []
    removed = []
    for uid in state.dashboards:
        if sink.get_dashboard(uid) is not None:
            sink.delete_dashboard(uid)
            removed.append(uid)
    for name in state.rule_files:
        if store.read(cluster_id, name) is not None:
            store.remove(cluster_id, name)
            removed.append(name)
    if state.folder_created and not sink.list_dashboards(state.folder):
        sink.delete_folder(state.folder)
        removed.append(f"folder {state.folder}")
    store.reload(cluster_id)
    state_path(state_dir, cluster_id).unlink()
    return removed
