"""The library functions behind `kansoku bundle ...` (and the provisioning hook).

Why one module: each CLI command is one call here, which the tests call too; targets
(Grafana, rule store, state) are built in one place from the same options.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kansoku.addon_bundles.catalog import DEFAULT_BUNDLE, Bundle, Catalog, load_catalog
from kansoku.addon_bundles.install import InstallResult, install_cluster, read_state, uninstall_cluster
from kansoku.addon_bundles.render import (
    RenderedBundle,
    folder_uid,
    render_cluster,
    render_fleet,
    write_rendered,
)
from kansoku.addon_bundles.rollout import RolloutReport, open_alert_source, upgrade_fleet
from kansoku.addon_bundles.rulestore import DirectoryRuleStore
from kansoku.dashboards.provision import Drift, ProvisionResult, drift, provision
from kansoku.dashboards.sinks import GrafanaSink, open_sink
from kansoku.errors import KansokuError
from kansoku.models import Cluster, HealHook


@dataclass(frozen=True)
class Targets:
    """Where bundles are installed: Grafana (file:// dir or http URL), rule dir, state dir."""

    grafana: str
    rules_dir: Path
    state_dir: Path
    reload: bool = False  # POST /-/reload to each cluster's `prometheus` URL after a change

    def sink(self) -> GrafanaSink:
        return open_sink(self.grafana)

    def store(self, clusters: list[Cluster]) -> DirectoryRuleStore:
        urls = {c.id: c.prometheus for c in clusters if self.reload and c.prometheus}
        return DirectoryRuleStore(self.rules_dir, urls)


def load_clusters(inventory: Path) -> list[Cluster]:
    from kansoku.inventory import load_inventory

    return list(load_inventory(inventory).clusters)


def find_cluster(clusters: list[Cluster], cluster_id: str) -> Cluster:
    for cluster in clusters:
        if cluster.id == cluster_id:
            return cluster
    raise KansokuError(f"cluster {cluster_id!r} is not in the inventory")


def unversioned(clusters: list[Cluster]) -> list[Cluster]:
    """Clusters whose Kubernetes version is not known (hand-written without `k8s_version`).

    Why they are skipped rather than refused or given a default: a bundle is chosen by the
    version, and guessing it would ship rules over metric names the cluster may not have
    (etcd_object_counts vs apiserver_storage_objects). Skipping one cluster must not stop the
    other 699 either; the caller names each skipped cluster. Rancher and Magnum report the
    version themselves.
    """
    return [c for c in clusters if not c.k8s_version]


def render_fleet_to(
    catalog: Catalog,
    clusters: list[Cluster],
    outdir: Path,
    progress: Callable[[int, int], None] | None = None,
) -> list[RenderedBundle]:
    """Render every versioned cluster's bundle into `outdir/<cluster>/`; all validated before
    writing. Clusters without `k8s_version` are left out (see `unversioned`).

    `progress(done, total)` counts rendered then written clusters (2 steps per cluster)."""
    skip = {c.id for c in unversioned(clusters)}
    versioned = [c for c in clusters if c.id not in skip]
    total = 2 * len(versioned)
    rendered = []
    for c in versioned:
        rendered.append(render_cluster(catalog, c))
        if progress is not None:
            progress(len(rendered), total)
    for n, r in enumerate(rendered, len(rendered) + 1):
        write_rendered(r, outdir)
        if progress is not None:
            progress(n, total)
    return rendered


def render_fleet_dashboards_to(
    catalog: Catalog,
    clusters: list[Cluster],
    outdir: Path,
    datasource: str,
    openstack_cloud: str = "openstack",
) -> dict[str, Path]:
    """The fleet-scope dashboards of each region of `clusters` into `outdir/_fleet-<region>/`
    (what `install --fleet` provisions; one copy per region, `$cluster` picks the cluster)."""
    import json

    from kansoku.addon_bundles.render import render_fleet

    newest = catalog.versions(DEFAULT_BUNDLE)[-1]
    written: dict[str, Path] = {}
    for region in sorted({c.region for c in clusters}):
        folder = outdir / f"_fleet-{region}" / "dashboards"
        folder.mkdir(parents=True, exist_ok=True)
        for uid, dash in render_fleet(catalog, newest, region, datasource, openstack_cloud).items():
            (folder / f"{uid}.json").write_text(json.dumps(dash, indent=1), encoding="utf-8")
        written[region] = folder
    return written


def install(
    catalog: Catalog, cluster: Cluster, targets: Targets, bundle_key: str | None = None
) -> InstallResult:
    bundle = catalog.get(bundle_key) if bundle_key else None
    return install_cluster(
        catalog, cluster, targets.sink(), targets.store([cluster]), targets.state_dir, bundle
    )


def fleet_folder(region: str) -> str:
    return f"kansoku-fleet-{region}"[:40]


def install_fleet(
    catalog: Catalog, targets: Targets, region: str, datasource: str, openstack_cloud: str = "openstack"
) -> ProvisionResult:
    """Fleet overview, heal journal and OpenStack dashboards into the region's fleet folder."""
    sink = targets.sink()
    bundle = catalog.versions(DEFAULT_BUNDLE)[-1]
    dashboards = render_fleet(catalog, bundle, region, datasource, openstack_cloud, sink.datasource_uids())
    return provision(sink, fleet_folder(region), f"kansoku fleet: {region}", list(dashboards.values()))


def uninstall(cluster: Cluster, targets: Targets) -> list[str]:
    """Remove what was installed; the Prometheus to reload comes from the state if not given."""
    if cluster.prometheus is None:
        state = read_state(targets.state_dir, cluster.id)
        if state is not None and state.prometheus:
            cluster = cluster.model_copy(update={"prometheus": state.prometheus})
    return uninstall_cluster(cluster.id, targets.sink(), targets.store([cluster]), targets.state_dir)


@dataclass
class BundleDiff:
    cluster: str
    installed: list[str]
    target: list[str]
    dashboards: Drift
    rules: dict[str, str] = field(default_factory=dict)  # file -> unified diff

    @property
    def clean(self) -> bool:
        return self.dashboards.clean and not self.rules


def diff(catalog: Catalog, cluster: Cluster, targets: Targets, bundle_key: str | None = None) -> BundleDiff:
    """What installing the (chosen) bundle would change on the cluster, and drift in Grafana."""
    bundle = catalog.get(bundle_key) if bundle_key else None
    rendered = render_cluster(catalog, cluster, bundle)
    state = read_state(targets.state_dir, cluster.id)
    store = targets.store([cluster])
    report = BundleDiff(
        cluster.id,
        state.bundles if state else [],
        rendered.bundles,
        drift(targets.sink(), folder_uid(cluster.id), list(rendered.dashboards.values())),
    )
    names = set(rendered.rule_files) | set(state.rule_files if state else [])
    for name in sorted(names):
        have = store.read(cluster.id, name) or ""
        want = rendered.rule_files.get(name, "")
        if have != want:
            report.rules[name] = "".join(
                difflib.unified_diff(
                    have.splitlines(keepends=True),
                    want.splitlines(keepends=True),
                    f"installed/{name}",
                    f"bundle/{name}",
                )
            )
    return report


def upgrade(
    catalog: Catalog,
    clusters: list[Cluster],
    target_key: str,
    targets: Targets,
    alerts_url: str,
    fractions: tuple[float, ...] = (0.1, 1.0),
    soak_seconds: float = 0.0,
) -> RolloutReport:
    target = catalog.get(target_key)
    sink, store = targets.sink(), targets.store(clusters)

    def do_install(cluster: Cluster, bundle: Bundle) -> None:
        install_cluster(catalog, cluster, sink, store, targets.state_dir, bundle)

    return upgrade_fleet(clusters, target, do_install, open_alert_source(alerts_url), fractions, soak_seconds)


def heal_hooks(catalog: Catalog, cluster: Cluster) -> list[HealHook]:
    """The heal hooks the cluster's bundle chain enables (read by the healer, kansoku.alerts.heal.engine)."""
    return [hook for b in catalog.closure(catalog.select(cluster)) for hook in b.manifest.heal_hooks]


def catalog(bundle_dirs: list[Path] | None = None) -> Catalog:
    return load_catalog(*(bundle_dirs or []))


class CatalogHooks:
    """The bundle catalog as the healer's `HookSource` (kansoku.alerts.heal.base): the heal
    hooks of each cluster's bundle chain. `CatalogHooks(bundle_dirs)` is its `HookSources`."""

    def __init__(self, bundle_dirs: list[Path] | None = None) -> None:
        self.catalog = catalog(bundle_dirs)

    def hooks_for(self, cluster: Cluster) -> list[HealHook]:
        return heal_hooks(self.catalog, cluster)
