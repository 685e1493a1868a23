"""Dashboards as code: schema validation, cluster label in every query, per-cluster render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kansoku.alerts.rules.promql import cluster_drops
from kansoku.dashboards.context import DashboardContext
from kansoku.dashboards.defs import DASHBOARDS, uid_for
from kansoku.dashboards.provision import drift, provision
from kansoku.dashboards.schema import validate_dashboard
from kansoku.dashboards.sinks import DirectorySink, VersionConflict

CTX = DashboardContext(
    "fra-prod-01", "eu-fra", "prom-fra", "kansoku-k8s-2.1.0", {"kubelet_running_pods": "kubelet_running_pods"}
)


def _exprs(dash: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dash["panels"] for t in p.get("targets") or []]


def test_every_dashboard_validates_against_the_sdk_schema_and_keeps_cluster() -> None:
    for name, (_, build) in DASHBOARDS.items():
        dash = build(CTX)
        check = validate_dashboard(dash, name)
        assert check.problems == [], name
        assert check.datasource_uids == {"prom-fra"}
        for expr in _exprs(dash):
            assert cluster_drops(expr) == [], (name, expr)


def test_cluster_dashboard_is_rendered_for_its_cluster_and_metric_names() -> None:
    dash = DASHBOARDS["cluster"][1](CTX)
    exprs = _exprs(dash)
    assert all('cluster="fra-prod-01"' in e for e in exprs if "kansoku_" in e or "kube" in e)
    old = DASHBOARDS["cluster"][1](
        DashboardContext(
            "old", "r", "p", "kansoku-k8s-1.0.0", {"kubelet_running_pods": "kubelet_running_pod_count"}
        )
    )
    assert any("kubelet_running_pod_count" in e for e in _exprs(old))
    assert {"API server", "Nodes", "etcd", "Workloads"} <= {
        p["title"] for p in dash["panels"] if p["type"] == "row"
    }


def test_schema_validation_reports_unknown_fields_and_bad_grid() -> None:
    dash = DASHBOARDS["cluster"][1](CTX)
    dash["refreshInterval"] = "1m"  # not a Grafana dashboard field
    dash["panels"][2]["gridPos"]["x"] = 20
    problems = [str(p) for p in validate_dashboard(dash, "cluster.json").problems]
    assert "cluster.json: refreshInterval: not in the schema" in problems[0]
    assert any("panels[2].gridPos: wider than 24 columns" in p for p in problems)


def test_uid_stays_within_grafana_limit_for_long_cluster_ids() -> None:
    uid = uid_for("cluster", "a-very-long-cluster-identifier-from-magnum-0001")
    assert len(uid) <= 40 and uid == uid_for("cluster", "a-very-long-cluster-identifier-from-magnum-0001")


def test_directory_sink_is_idempotent_version_checked_and_reports_drift(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path, datasources={"prom-fra"})
    dashboards = [DASHBOARDS["cluster"][1](CTX)]
    assert provision(sink, "f1", "F1", dashboards).created == ["ks-cluster-fra-prod-01"]
    assert not provision(sink, "f1", "F1", dashboards).changed
    stored = sink.get_dashboard("ks-cluster-fra-prod-01")
    assert stored is not None and stored.version == 1
    path = tmp_path / "folders" / "f1" / "ks-cluster-fra-prod-01.json"
    data = json.loads(path.read_text())
    data["dashboard"]["title"] = "renamed by hand"
    data["version"] = 2
    path.write_text(json.dumps(data))
    assert drift(sink, "f1", dashboards).changed == {"ks-cluster-fra-prod-01": ["title"]}
    try:
        sink.put_dashboard("f1", dashboards[0], 1)
        raise AssertionError("stale version accepted")
    except VersionConflict:
        pass
    assert provision(sink, "f1", "F1", dashboards).updated == ["ks-cluster-fra-prod-01"]
    assert drift(sink, "f1", dashboards).clean
