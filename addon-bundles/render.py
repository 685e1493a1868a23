"""Render a bundle (with its dependencies) for one cluster: dashboards, rules, manifests.

Why a pure render step: install, diff, demo and the benchmark all start from the same
`RenderedBundle`; it is validated in full (dashboard schema, datasource, PromQL) before
any of them writes anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kansoku.addon_bundles.catalog import Bundle, Catalog
from kansoku.alerts.rules.model import RuleFile
from kansoku.alerts.rules.render import to_plain, to_prometheus_rule
from kansoku.dashboards.context import DashboardContext
from kansoku.dashboards.defs import DASHBOARDS
from kansoku.dashboards.schema import validate_dashboard
from kansoku.errors import ConfigError, FieldProblem
from kansoku.models import Cluster, HealHook

DATASOURCE_LABEL = "grafana_datasource"


def datasource_of(cluster: Cluster) -> str:
    """The Grafana datasource uid of the cluster's Prometheus (inventory label, else a convention)."""
    return cluster.labels.get(DATASOURCE_LABEL, f"prometheus-{cluster.id}")


def folder_uid(cluster_id: str) -> str:
    return f"kansoku-{cluster_id}"[:40]


@dataclass
class RenderedBundle:
    cluster_id: str
    bundles: list[str]
    datasource: str
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rule_files: dict[str, str] = field(default_factory=dict)
    prometheus_rules: dict[str, str] = field(default_factory=dict)
    manifests: dict[str, str] = field(default_factory=dict)
    heal_hooks: list[HealHook] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.bundles[-1]

    def pushed_bytes(self) -> int:
        """Bytes sent to Grafana and the rule store for this cluster."""
        dash = sum(len(json.dumps(d, separators=(",", ":"))) for d in self.dashboards.values())
        return dash + sum(len(t) for t in self.rule_files.values())


def _manifest_source(bundle: Bundle) -> str:
    return str(bundle.path / "manifest.yaml")


#: Rule files do not depend on the cluster: render each once per (bundle, file) and reuse it.
_RULES_CACHE: dict[tuple[str, str, int], tuple[str, str]] = {}


def _rendered_rules(b: Bundle, rule_file: RuleFile, path: Path) -> tuple[str, str]:
    key = (b.key, str(path), id(rule_file))
    cached = _RULES_CACHE.get(key)
    if cached is None or len(_RULES_CACHE) > 4096:
        cached = (
            to_plain(rule_file.groups),
            to_prometheus_rule(
                rule_file.groups,
                f"{b.key}-{path.stem.replace('.', '-')}",
                b.manifest.prometheus_rule_namespace,
                {"app.kubernetes.io/part-of": "kansoku", "kansoku.io/bundle": b.key},
            ),
        )
        if len(_RULES_CACHE) > 4096:
            _RULES_CACHE.clear()
        _RULES_CACHE[key] = cached
    return cached


def render_cluster(
    catalog: Catalog,
    cluster: Cluster,
    bundle: Bundle | None = None,
    datasources: set[str] | None = None,
    scopes: tuple[str, ...] = ("cluster",),
) -> RenderedBundle:
    """Everything the cluster gets from `bundle` (default: chosen by its Kubernetes version).

    `datasources`, when given, are the uids Grafana has: a dashboard pointing elsewhere is
    refused here, naming the bundle manifest and the dashboard.
    """
    chosen = bundle or catalog.select(cluster)
    if bundle is not None and cluster.k8s_version and not bundle.supports(cluster.k8s_version):
        raise ConfigError(
            [
                FieldProblem(
                    _manifest_source(bundle),
                    None,
                    "kubernetes",
                    f"{bundle.manifest.kubernetes} does not include cluster {cluster.id}'s {cluster.k8s_version}",
                )
            ]
        )
    chain = catalog.closure(chosen)
    ds = datasource_of(cluster)
    out = RenderedBundle(cluster.id, [b.key for b in chain], ds)
    metrics: dict[str, str] = {}
    for b in chain:
        metrics.update(b.manifest.metrics)
    problems: list[FieldProblem] = []
    for b in chain:
        ctx = DashboardContext(cluster.id, cluster.region, ds, b.key, metrics, dict(cluster.labels))
        for i, name in enumerate(b.manifest.dashboards):
            scope, build = DASHBOARDS[name]
            if scope not in scopes:
                continue
            dash = build(ctx)
            check = validate_dashboard(dash, f"{_manifest_source(b)}: dashboards[{i}] {name}")
            problems.extend(check.problems)
            if datasources is not None:
                for missing in sorted(check.datasource_uids - datasources):
                    problems.append(
                        FieldProblem(
                            _manifest_source(b),
                            None,
                            f"dashboards[{i}] {name}",
                            f"refers to datasource {missing!r}, which Grafana does not have "
                            f"(set label {DATASOURCE_LABEL} on cluster {cluster.id})",
                        )
                    )
            out.dashboards[str(dash["uid"])] = dash
        for rule_file, path in zip(b.rule_files, b.rule_paths, strict=True):
            name = f"{b.key}--{path.name.removesuffix('.yaml').removesuffix('.rules')}.rules.yaml"
            out.rule_files[name], out.prometheus_rules[name] = _rendered_rules(b, rule_file, path)
        for manifest in b.k8s_manifests:
            out.manifests[f"{b.key}--{manifest.name}"] = manifest.text
        out.heal_hooks.extend(b.manifest.heal_hooks)
    if problems:
        raise ConfigError(problems)
    return out


def render_fleet(
    catalog: Catalog,
    bundle: Bundle,
    region: str,
    datasource: str,
    openstack_cloud: str = "openstack",
    datasources: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Fleet-scope dashboards (fleet overview, heal journal) for one region, and the OpenStack
    control plane of `openstack_cloud` (its metrics carry the cloud name as `cluster`)."""
    out: dict[str, dict[str, Any]] = {}
    problems: list[FieldProblem] = []
    for b in catalog.closure(bundle):
        for i, name in enumerate(b.manifest.dashboards):
            scope, build = DASHBOARDS[name]
            if scope == "cluster":
                continue
            owner = openstack_cloud if scope == "openstack" else f"fleet-{region}"
            dash = build(DashboardContext(owner, region, datasource, b.key, dict(b.manifest.metrics)))
            where = f"{_manifest_source(b)}: dashboards[{i}] {name}"
            check = validate_dashboard(dash, where)
            problems.extend(check.problems)
            if datasources is not None and datasource not in datasources:
                problems.append(
                    FieldProblem(
                        _manifest_source(b),
                        None,
                        f"dashboards[{i}] {name}",
                        f"datasource {datasource!r} is not in Grafana",
                    )
                )
            out[str(dash["uid"])] = dash
    if problems:
        raise ConfigError(problems)
    return out


def write_rendered(rendered: RenderedBundle, outdir: Path) -> Path:
    """Write one cluster's render under `outdir/<cluster>/` (dashboards, rules, manifests)."""
    base = outdir / rendered.cluster_id
    for sub, files in (
        ("rules", rendered.rule_files),
        ("prometheusrule", rendered.prometheus_rules),
        ("manifests", rendered.manifests),
    ):
        (base / sub).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (base / sub / name).write_text(text, encoding="utf-8")
    (base / "dashboards").mkdir(parents=True, exist_ok=True)
    for uid, dash in rendered.dashboards.items():
        (base / "dashboards" / f"{uid}.json").write_text(json.dumps(dash, indent=1), encoding="utf-8")
    hooks = [h.model_dump(exclude_none=True) for h in rendered.heal_hooks]
    (base / "heal-hooks.json").write_text(json.dumps(hooks, indent=1), encoding="utf-8")
    (base / "bundle.json").write_text(json.dumps({"bundles": rendered.bundles}), encoding="utf-8")
    return base
