"""Vendor community mixin rules into a bundle, made correct for a fleet of clusters.

Why a module and not a hand edit: kubernetes-mixin, node-mixin and etcd-mixin are released as
rendered rule files (kube-prometheus's `manifests/*-prometheusRule.yaml`; etcd-mixin's jsonnet
rendered once), and they are refreshed with every upstream release. Doing the same rewrite
each time by hand would drift. The rewrite is deliberately small and checked:

- every `by (...)` and one-to-one `on (...)` list gets `cluster` (upstream aggregates by
  `namespace`, `job`, `node`, which merges ~700 clusters into one series in a central
  Prometheus);
- `absent(up{job="X"})` ("target disappeared") becomes a per-cluster test: a cluster that
  kube-state-metrics reports but whose `X` target is gone (`absent()` cannot name a cluster);
- alerts that kansoku defines itself (heal hooks match on names) and the kube-prometheus
  meta alerts kansoku replaces (`Watchdog`, `InfoInhibitor`, severity `none`) are dropped;
- after the rewrite every expression must pass the multi-cluster check
  (`kansoku.alerts.rules.promql.cluster_drops`), or vendoring stops naming the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from kansoku.alerts.rules.promql import cluster_drops
from kansoku.errors import KansokuError

CLUSTER = "cluster"
_BY_ON = re.compile(r"\b(by|on)\s*\(([^()]*)\)", re.IGNORECASE)
_ABSENT_UP = re.compile(r'^\s*absent\(\s*up\{(job="[^"]+")\}\s*(?:==\s*1\s*)?\)\s*$')
#: The clusters that exist, per kube-state-metrics: what a disappeared target is compared to.
_CLUSTERS = 'count by (cluster) (kube_node_info{job="kube-state-metrics"})'


#: Aggregations without any modifier (cluster-wide sums named `cluster:...`): no by-list to
#: extend, so they are patched by name; vendoring fails if the upstream text changed.
PATCHES: dict[str, tuple[str, str]] = {
    "cluster:node_cpu:sum_rate5m": ("sum(rate(", "sum by (cluster) (rate("),
    "cluster:node_cpu:ratio": ("/ count(sum(", "/ on (cluster) count by (cluster) (sum("),
    # `or 0*absent(...)` only gives the subquery a zero baseline when no member exports the
    # counter; absent() cannot name a cluster, and without it the alert simply cannot fire.
    "etcdHighNumberOfLeaderChanges": (
        ' or 0*absent(etcd_server_leader_changes_seen_total{job=~".*etcd.*"})',
        "",
    ),
}


@dataclass
class VendorReport:
    """What the rewrite changed, for the README next to the vendored files."""

    kept: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # alert -> why
    rewritten: list[str] = field(default_factory=list)


def _add_cluster(match: re.Match[str]) -> str:
    keyword, inner = match.group(1).lower(), match.group(2)
    labels = [x.strip() for x in inner.split(",") if x.strip()]
    if CLUSTER in labels:
        return match.group(0)
    return f"{keyword} ({', '.join([CLUSTER, *labels])})"


def multi_cluster(expr: str) -> str:
    """`expr` with `cluster` in every `by`/`on` list and per-cluster `absent(up{...})`."""
    absent = _ABSENT_UP.match(expr)
    if absent:
        return f"{_CLUSTERS}\nunless on (cluster)\ncount by (cluster) (up{{{absent.group(1)}}} == 1)\n"
    return _BY_ON.sub(_add_cluster, expr)


def vendor_groups(
    groups: Iterable[dict[str, Any]],
    own_alerts: set[str],
    drop: dict[str, str],
    runbook_base: str | None = None,
    report: VendorReport | None = None,
) -> list[dict[str, Any]]:
    """The rewritten groups; `own_alerts` and `drop` (name -> why) are left out.

    `runbook_base` fills a missing `runbook_url` with base + lower-cased alert name (etcd-mixin
    renders none; runbooks.prometheus-operator.dev has a page per etcd alert).
    """
    rep = report if report is not None else VendorReport()
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for group in groups:
        rules: list[dict[str, Any]] = []
        for rule in group.get("rules") or []:
            name = str(rule.get("alert") or rule.get("record"))
            if "alert" in rule and name in own_alerts:
                rep.dropped[name] = "defined by kansoku (heal hooks match on the name)"
                continue
            if "alert" in rule and name in drop:
                rep.dropped[name] = drop[name]
                continue
            new = dict(rule)
            expr = str(rule["expr"])
            patched = expr
            if name in PATCHES:
                old_text, new_text = PATCHES[name]
                if old_text not in expr:
                    problems.append(f"rule {name!r}: patch {old_text!r} no longer applies")
                patched = expr.replace(old_text, new_text, 1)
            new["expr"] = multi_cluster(patched)
            if new["expr"] != expr and name not in rep.rewritten:
                rep.rewritten.append(name)
            for problem in cluster_drops(new["expr"]):
                problems.append(f"group {group['name']!r}: rule {name!r}: {problem}")
            if "alert" in rule:
                annotations = dict(rule.get("annotations") or {})
                if runbook_base and not annotations.get("runbook_url"):
                    annotations["runbook_url"] = runbook_base + name.lower()
                new["annotations"] = annotations
                if name not in rep.kept:
                    rep.kept.append(name)
            rules.append(new)
        if rules:
            out.append({**{k: v for k, v in group.items() if k != "rules"}, "rules": rules})
    if problems:
        raise KansokuError("vendored rules still drop cluster:\n" + "\n".join(problems))
    return out


class _Literal(str):
    """A multi-line string written as a YAML block scalar (readable PromQL)."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


def dump_rule_file(groups: list[dict[str, Any]], header: str) -> str:
    """A plain Prometheus rule file with `header` as comment lines."""

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_Literal, _literal)

    def lit(rule: dict[str, Any]) -> dict[str, Any]:
        expr = str(rule["expr"])
        return {**rule, "expr": _Literal(expr if expr.endswith("\n") else expr + "\n")}

    data = {"groups": [{**g, "rules": [lit(r) for r in g["rules"]]} for g in groups]}
    body = yaml.dump(data, Dumper=Dumper, sort_keys=False, width=120, allow_unicode=True)
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + body


#: kube-prometheus meta alerts kansoku replaces or cannot route (severity `none`).
KUBE_PROMETHEUS_DROP = {
    "Watchdog": "kansoku ships its own Watchdog (same expression, severity info)",
    "InfoInhibitor": "severity none is outside kansoku's severities; inhibit info alerts in Alertmanager",
}


def main(argv: list[str] | None = None) -> None:
    """`python -m kansoku.addon_bundles.vendor OUT_DIR KP_MANIFESTS_DIR ETCD_ALERTS_JSON OWN_RULES`.

    KP_MANIFESTS_DIR holds kube-prometheus's `*-prometheusRule.yaml`; ETCD_ALERTS_JSON is
    etcd-mixin's `prometheusAlerts` rendered to JSON; OWN_RULES is kansoku.rules.yaml.
    """
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("kube_prometheus", type=Path)
    parser.add_argument("etcd_json", type=Path)
    parser.add_argument("own_rules", type=Path)
    parser.add_argument("--source", action="append", default=[], help="header line naming the sources")
    args = parser.parse_args(argv)
    own = {
        str(r["alert"])
        for g in yaml.safe_load(args.own_rules.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    header = "\n".join(
        [
            "Vendored, do not edit: regenerate with `python -m kansoku.addon_bundles.vendor`",
            "(sources, licence and every change in README.md next to this file).",
            *args.source,
        ]
    )
    files = {
        "vendored-kubernetes-mixin.rules.yaml": [
            "kubernetesControlPlane",
            "kubeStateMetrics",
            "kubePrometheus",
        ],
        "vendored-node-mixin.rules.yaml": ["nodeExporter"],
        # each cluster's Prometheus, the fleet's Alertmanager and prometheus-operator: when they
        # fail, alerts are lost (grafana-mixin is AGPL-3.0 and stays out)
        "vendored-monitoring-mixins.rules.yaml": ["prometheus", "alertmanager", "prometheusOperator"],
    }
    for name, stems in files.items():
        rep = VendorReport()
        groups: list[dict[str, Any]] = []
        for stem in stems:
            doc = yaml.safe_load((args.kube_prometheus / f"{stem}-prometheusRule.yaml").read_text())
            groups += vendor_groups(doc["spec"]["groups"], own, KUBE_PROMETHEUS_DROP, report=rep)
        (args.out / name).write_text(dump_rule_file(groups, header), encoding="utf-8")
        print(f"{name}: {len(rep.kept)} alerts, rewritten {rep.rewritten}, dropped {rep.dropped}")
    rep = VendorReport()
    etcd = json.loads(args.etcd_json.read_text())["groups"]
    groups = vendor_groups(
        etcd, own, {}, runbook_base="https://runbooks.prometheus-operator.dev/runbooks/etcd/", report=rep
    )
    (args.out / "vendored-etcd-mixin.rules.yaml").write_text(dump_rule_file(groups, header), encoding="utf-8")
    print(
        f"vendored-etcd-mixin.rules.yaml: {len(rep.kept)} alerts, rewritten {rep.rewritten}, dropped {rep.dropped}"
    )
