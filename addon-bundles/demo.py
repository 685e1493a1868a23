"""`kansoku demo` part for bundles: render the demo fleet's bundles into `workdir/bundles/`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kansoku.models import Cluster

DEMO_FLEET = [
    ("fra-prod-01", "1.29.4", "eu-fra"),
    ("fra-prod-02", "v1.28.9", "eu-fra"),
    ("ams-legacy-01", "1.20.15", "eu-ams"),
    ("ams-legacy-02", "1.18.20", "eu-ams"),
    ("ber-edge-01", "1.31.1+k3s1", "eu-ber"),
]


def demo_clusters() -> list[Cluster]:
    return [
        Cluster(id=cid, api_url=f"https://{cid}.k8s.example:6443", k8s_version=ver, region=region)
        for cid, ver, region in DEMO_FLEET
    ]


def run_demo(console: Any, workdir: Path) -> None:
    """Render every demo cluster's bundle and the fleet dashboards; print a summary table."""
    import json

    from rich.table import Table

    from kansoku.addon_bundles.catalog import DEFAULT_BUNDLE, load_catalog
    from kansoku.addon_bundles.ops import render_fleet_to
    from kansoku.addon_bundles.render import render_fleet

    out = workdir / "bundles"
    catalog = load_catalog()
    rendered = render_fleet_to(catalog, demo_clusters(), out)
    newest = catalog.versions(DEFAULT_BUNDLE)[-1]
    fleet_dir = out / "_fleet" / "dashboards"
    fleet_dir.mkdir(parents=True, exist_ok=True)
    fleet = render_fleet(catalog, newest, "eu", "prometheus-fleet", "openstack")
    for uid, dash in fleet.items():
        (fleet_dir / f"{uid}.json").write_text(json.dumps(dash, indent=1), encoding="utf-8")
    # compact (no box) so it stays readable in an 80-column terminal
    table = Table("cluster", "k8s", "bundle", "dash", "rules", "hooks", "KiB", box=None, padding=(0, 1))
    for cluster, r in zip(demo_clusters(), rendered, strict=True):
        table.add_row(
            cluster.id,
            cluster.k8s_version or "-",
            r.key,
            str(len(r.dashboards)),
            str(len(r.rule_files)),
            str(len(r.heal_hooks)),
            f"{r.pushed_bytes() / 1024:.1f}",
        )
    console.print(table)
    console.print(f"bundles rendered into {out} (fleet dashboards: {len(fleet)} in {fleet_dir})")
