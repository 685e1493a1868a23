"""`kansoku bundle list|show|render|diff|install|upgrade|uninstall`.

Thin: each command calls one function of `kansoku.addon_bundles.ops` and prints its result.
Only typer and stdlib at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kansoku.alerts.cli import CONFIG_OPT, heal_app, rules_app
from kansoku.config import store_dir
from kansoku.options import DEFAULT_BIND, DEFAULT_INVENTORY, bind_option, inventory_option, store_option

bundle_app = typer.Typer(
    help="Add-on bundles: dashboards and alert rules per Kubernetes version.", no_args_is_help=True
)

Inventory = Annotated[Path, inventory_option()]
Store = Annotated[Path | None, store_option()]
Grafana = Annotated[
    str | None,
    typer.Option(
        "--grafana",
        help="file:///DIR (directory sink) or http(s)://HOST:3000 (token: KANSOKU_GRAFANA_TOKEN); "
        "default: file://STORE/grafana",
    ),
]
RulesDir = Annotated[
    Path | None,
    typer.Option("--rules-dir", help="rule store: DIR/<cluster>/*.rules.yaml; default STORE/rules"),
]
StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="what was installed, per cluster; default STORE/bundle-state"),
]
Reload = Annotated[
    bool, typer.Option("--reload/--no-reload", help="POST /-/reload to the cluster's Prometheus")
]
BundleDirs = Annotated[
    list[Path] | None, typer.Option("--bundles", help="bundle directories (default: shipped)")
]


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _targets(
    grafana: str | None, rules_dir: Path | None, state_dir: Path | None, reload: bool, store: Path | None
) -> Any:
    """Where install/diff/upgrade write; each default is a folder of the state directory."""
    from kansoku.addon_bundles.ops import Targets

    root = store_dir(store)
    return Targets(
        grafana or "file://" + str((root / "grafana").resolve()),
        rules_dir or root / "rules",
        state_dir or root / "bundle-state",
        reload,
    )


@bundle_app.command("list")
def list_cmd(bundles: BundleDirs = None) -> None:
    """Every bundle version with its Kubernetes range and contents.

    Example: kansoku bundle list --bundles addon-bundles/bundles --bundles examples/bundle
    """
    from rich.table import Table

    from kansoku.addon_bundles.ops import catalog

    table = Table(
        "bundle", "kubernetes", "depends on", "dashboards", "rules", "hooks", box=None, padding=(0, 1)
    )
    for key, b in sorted(catalog(bundles).bundles.items()):
        m = b.manifest
        deps = ", ".join(f"{d.name} {d.version}" for d in m.dependencies)
        table.add_row(
            key, m.kubernetes, deps, ", ".join(m.dashboards), str(len(m.rule_files)), str(len(m.heal_hooks))
        )
    _console().print(table)


@bundle_app.command("show")
def show_cmd(key: str, bundles: BundleDirs = None) -> None:
    """One bundle's manifest, alerts and heal hooks.

    Example: kansoku bundle show kansoku-k8s-2.1.0
    """
    import yaml

    from kansoku.addon_bundles.ops import catalog

    b = catalog(bundles).get(key)
    console = _console()
    console.print(yaml.safe_dump(b.manifest.model_dump(exclude_defaults=True), sort_keys=False))
    console.print(f"alerts: {', '.join(sorted(b.alerts)) or '-'}")


@bundle_app.command("render")
def render_cmd(
    inventory: Inventory = DEFAULT_INVENTORY,
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("bundles-out"),
    bundles: BundleDirs = None,
    fleet_datasource: Annotated[
        str, typer.Option("--fleet-datasource", help="default of the fleet dashboards' $datasource")
    ] = "prometheus-fleet",
) -> None:
    """Render each inventory cluster's bundle (rule files, PrometheusRule, manifests, dashboards)
    and each region's fleet dashboards.

    Example: kansoku bundle render -i inventory.yaml -o out/
    """
    from kansoku.addon_bundles.ops import (
        catalog,
        load_clusters,
        render_fleet_dashboards_to,
        render_fleet_to,
        unversioned,
    )
    from kansoku.progress import progress_bar

    clusters = load_clusters(inventory)
    cat = catalog(bundles)
    with progress_bar("rendering bundles", unit="steps") as update:
        rendered = render_fleet_to(
            cat,
            clusters,
            out,
            lambda done, total: update(completed=done, total=total, detail="render + write per cluster"),
        )
    for r in rendered:
        _console().print(f"{r.cluster_id}: {r.key} -> {out / r.cluster_id} ({r.pushed_bytes()} bytes)")
    for region, folder in render_fleet_dashboards_to(cat, clusters, out, fleet_datasource).items():
        count = len(list(folder.glob("*.json")))
        _console().print(f"region {region}: {count} fleet dashboards -> {folder}")
    for c in unversioned(clusters):
        _console().print(
            f"{c.id}: skipped: field k8s_version is not set in {inventory}, so no bundle can be "
            "chosen (set it, or list the cluster through a Rancher/Magnum source, which reports it)",
            markup=False,
        )


@bundle_app.command("diff")
def diff_cmd(
    cluster: str,
    inventory: Inventory = DEFAULT_INVENTORY,
    to: Annotated[str | None, typer.Option("--to", help="bundle key, default: chosen by version")] = None,
    grafana: Grafana = None,
    rules_dir: RulesDir = None,
    state_dir: StateDir = None,
    store: Store = None,
    bundles: BundleDirs = None,
) -> None:
    """What install would change, and drift between Grafana and the bundle. Exit 1 when not clean.

    Example: kansoku bundle diff prod-fra-001 -i inventory.yaml --grafana https://grafana:3000
    """
    from kansoku.addon_bundles.ops import catalog, diff, find_cluster, load_clusters

    report = diff(
        catalog(bundles),
        find_cluster(load_clusters(inventory), cluster),
        _targets(grafana, rules_dir, state_dir, False, store),
        to,
    )
    console = _console()
    console.print(f"{report.cluster}: installed {report.installed or '-'} -> bundle {report.target}")
    d = report.dashboards
    for uid in d.missing:
        console.print(f"dashboard {uid}: missing in Grafana")
    for uid, changes in d.changed.items():
        console.print(f"dashboard {uid}: {'; '.join(changes)}")
    for uid in d.extra:
        console.print(f"dashboard {uid}: in the folder but not in the bundle")
    for name, text in report.rules.items():
        console.print(f"rule file {name}:\n{text}", markup=False)
    if report.clean:
        console.print("no difference")
    raise typer.Exit(0 if report.clean else 1)


@bundle_app.command("install")
def install_cmd(
    cluster: Annotated[str | None, typer.Argument(help="inventory cluster id")] = None,
    inventory: Inventory = DEFAULT_INVENTORY,
    bundle: Annotated[
        str | None, typer.Option("--bundle", help="bundle key, default: chosen by version")
    ] = None,
    fleet: Annotated[
        str | None, typer.Option("--fleet", help="REGION: install the fleet, heal and OpenStack dashboards")
    ] = None,
    datasource: Annotated[str, typer.Option("--datasource", help="with --fleet")] = "prometheus-fleet",
    openstack_cloud: Annotated[str, typer.Option("--openstack-cloud", help="with --fleet")] = "openstack",
    grafana: Grafana = None,
    rules_dir: RulesDir = None,
    state_dir: StateDir = None,
    store: Store = None,
    reload: Reload = False,
    bundles: BundleDirs = None,
) -> None:
    """Install the matching bundle into the cluster's Grafana folder and rule store (idempotent).

    Example: kansoku bundle install prod-fra-001 -i inventory.yaml --grafana https://grafana:3000 --reload
    """
    from kansoku.addon_bundles.ops import catalog, find_cluster, install, install_fleet, load_clusters
    from kansoku.errors import KansokuError

    targets = _targets(grafana, rules_dir, state_dir, reload, store)
    if fleet is not None:
        prov = install_fleet(catalog(bundles), targets, fleet, datasource, openstack_cloud)
        _console().print(
            f"fleet {fleet}: created {len(prov.created)}, updated {len(prov.updated)}, unchanged {len(prov.unchanged)}"
        )
        return
    if cluster is None:
        raise KansokuError("name a CLUSTER to install, or --fleet REGION for the fleet dashboards")
    result = install(catalog(bundles), find_cluster(load_clusters(inventory), cluster), targets, bundle)
    verb = "installed" if result.changed else "already up to date:"
    _console().print(
        f"{result.cluster}: {verb} {result.bundle} (created {len(result.created)}, "
        f"updated {len(result.updated)}, removed {len(result.removed)})"
    )


@bundle_app.command("uninstall")
def uninstall_cmd(
    cluster: str,
    inventory: Inventory = DEFAULT_INVENTORY,
    grafana: Grafana = None,
    rules_dir: RulesDir = None,
    state_dir: StateDir = None,
    store: Store = None,
    reload: Reload = False,
) -> None:
    """Remove exactly what `install` recorded for the cluster.

    Example: kansoku bundle uninstall prod-fra-001 -i inventory.yaml
    """
    from kansoku.addon_bundles.ops import find_cluster, load_clusters, uninstall

    removed = uninstall(
        find_cluster(load_clusters(inventory), cluster),
        _targets(grafana, rules_dir, state_dir, reload, store),
    )
    _console().print(
        f"{cluster}: removed {len(removed)} item(s)" if removed else f"{cluster}: nothing installed"
    )


@bundle_app.command("upgrade")
def upgrade_cmd(
    to: Annotated[str, typer.Option("--to", help="target bundle key, e.g. kansoku-k8s-2.1.0")],
    alerts: Annotated[
        str, typer.Option("--alerts", help="alertmanager+http://HOST:PORT or prometheus+http://...")
    ],
    inventory: Inventory = DEFAULT_INVENTORY,
    steps: Annotated[str, typer.Option("--steps", help="cumulative fractions per partition")] = "0.1,1.0",
    soak: Annotated[float, typer.Option("--soak", help="seconds to wait before checking alerts")] = 0.0,
    grafana: Grafana = None,
    rules_dir: RulesDir = None,
    state_dir: StateDir = None,
    store: Store = None,
    reload: Reload = False,
    bundles: BundleDirs = None,
) -> None:
    """Move the fleet to a bundle version in partitions; stop on a firing kansoku alert (exit 1).

    Example: kansoku bundle upgrade --to kansoku-k8s-2.1.0 --alerts alertmanager+http://am:9093 --steps 0.1,1.0
    """
    from kansoku.addon_bundles.ops import catalog, load_clusters, upgrade
    from kansoku.errors import KansokuError

    try:
        fractions = tuple(float(x) for x in steps.split(","))
    except ValueError:
        raise KansokuError(f"--steps {steps!r}: expected fractions like 0.1,1.0") from None
    report = upgrade(
        catalog(bundles),
        load_clusters(inventory),
        to,
        _targets(grafana, rules_dir, state_dir, reload, store),
        alerts,
        fractions,
        soak,
    )
    console = _console()
    console.print(
        f"{report.target}: {report.partitions_done}/{report.partitions_total} partitions, upgraded {len(report.upgraded)}"
    )
    for cid, why in report.skipped.items():
        console.print(f"skipped {cid}: {why}")
    for cid, alert in report.stopped_by:
        console.print(f"[red]stopped[/]: {alert} firing on {cid}")
    raise typer.Exit(0 if report.completed else 1)


# -- commands of the alerts area that read every bundle ----------------------------------------
# The bundles are built from the alerts area's rule files, so they sit above it: `rules test`
# (every bundle's rules) and `heal serve` (the healer, with the bundles' heal hooks wired in
# through `kansoku.alerts.heal.base.HookSource`) are added to its command groups from here.


@rules_app.command("test")
def rules_test_cmd(bundles: BundleDirs = None) -> None:
    """promtool check + test on every rule file and unit test of every bundle; print coverage.

    Example: kansoku rules test --bundles addon-bundles/bundles --bundles examples/bundle
    """
    from rich.table import Table

    from kansoku.addon_bundles.ops import catalog
    from kansoku.alerts.rules.check import run_rule_tests

    cat = catalog(bundles)
    rule_paths = sorted({p for b in cat.bundles.values() for p in b.rule_paths})
    test_paths = sorted({p for b in cat.bundles.values() for p in b.test_paths})
    report = run_rule_tests(rule_paths, test_paths)
    console = _console()
    for result in report.check.promtool + report.tests:
        console.print(
            f"{'ok  ' if result.ok else 'FAIL'} promtool {result.command} {result.target}", markup=False
        )
        if not result.ok:
            console.print(result.output, markup=False)
    for finding in report.check.findings:
        console.print(str(finding), markup=False)
    table = Table("alert", "source", "fires", "stays silent")
    for alert in report.alerts:
        table.add_row(
            alert,
            "vendored" if alert in report.vendored else "kansoku",
            str(len(report.coverage.fires.get(alert, []))),
            "n/a (always fires)"
            if alert in report.always_firing
            else str(len(report.coverage.silent.get(alert, []))),
        )
    console.print(table)
    own = [a for a in report.alerts if a not in report.vendored]
    vendored = sorted(report.vendored)
    untested = set(report.untested)
    lacking = [a for a in vendored if a in untested]
    console.print(
        f"coverage: {sum(a not in untested for a in own)}/{len(own)} kansoku alerts have a firing "
        f"and a silent test; vendored: {len(vendored) - len(lacking)}/{len(vendored)}"
        + (f" (without both: {', '.join(lacking)}; rules/README.md says why)" if lacking else "")
    )
    raise typer.Exit(0 if report.ok else 1)


@heal_app.command("serve")
def heal_serve_cmd(
    config: Path = CONFIG_OPT,
    host: Annotated[str, bind_option()] = DEFAULT_BIND,
    port: int = typer.Option(9095, help="listen port"),
    dry_run: bool = typer.Option(False, "--dry-run", help="decide and journal, never act"),
) -> None:
    """Receive Alertmanager webhooks on POST /alertmanager and heal (token: $KANSOKU_HEAL_TOKEN).

    Example: kansoku heal serve --config examples/heal.yaml --dry-run
    """
    from kansoku.addon_bundles.ops import CatalogHooks
    from kansoku.alerts.heal.serve import serve

    def ready() -> None:  # after the whole config (bundle hooks included) was checked, before bind
        typer.echo(
            f"kansoku heal: listening on http://{host}:{port}/alertmanager{' (dry-run)' if dry_run else ''}",
            err=True,
        )

    serve(config, host, port, dry_run, hook_sources=CatalogHooks, on_ready=ready)


def register(app: typer.Typer) -> None:
    app.add_typer(bundle_app, name="bundle")
