"""Render rule groups as a Prometheus rule file and as a `PrometheusRule` object.

Why: clusters whose Prometheus is run by prometheus-operator read `PrometheusRule`
objects; the others (and promtool) read plain rule files. Both are rendered from the same
parsed groups, so they cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import yaml

from kansoku.alerts.rules.model import RuleFile, RuleGroup


def _rule_dict(rule: Any) -> dict[str, Any]:
    out: dict[str, Any] = {rule.kind: rule.name, "expr": rule.expr}
    if rule.for_:
        out["for"] = rule.for_
    if rule.labels:
        out["labels"] = dict(rule.labels)
    if rule.annotations:
        out["annotations"] = dict(rule.annotations)
    return out


def groups_data(groups: list[RuleGroup]) -> list[dict[str, Any]]:
    out = []
    for group in groups:
        entry: dict[str, Any] = {"name": group.name}
        if group.interval:
            entry["interval"] = group.interval
        entry["rules"] = [_rule_dict(r) for r in group.rules]
        out.append(entry)
    return out


def to_plain(groups: list[RuleGroup]) -> str:
    """A rule file Prometheus and promtool load."""
    return yaml.safe_dump({"groups": groups_data(groups)}, sort_keys=False, width=1000)


def to_prometheus_rule(
    groups: list[RuleGroup], name: str, namespace: str, labels: dict[str, str] | None = None
) -> str:
    """A `monitoring.coreos.com/v1` PrometheusRule manifest with the same groups."""
    manifest = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"groups": groups_data(groups)},
    }
    return yaml.safe_dump(manifest, sort_keys=False, width=1000)


def to_plain_file(rule_file: RuleFile) -> str:
    """Any parsed rule file (also a PrometheusRule manifest) as a plain file for promtool."""
    return to_plain(rule_file.groups)
