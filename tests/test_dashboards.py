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


def _variables(dash: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v for v in dash.get("templating", {}).get("list", [])}


def test_every_dashboard_selects_datasource_and_cluster_by_variable() -> None:
    """One copy per region serves every cluster: panels read `${datasource}`, queries
    `$cluster`; no cluster id or datasource uid is written into a panel."""
    for name, (_, build) in DASHBOARDS.items():
        dash = build(CTX)
        variables = _variables(dash)
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["current"]["value"] == "prom-fra", name
        panels = [p for p in dash["panels"] if p["type"] != "row"]
        assert panels and all(p["datasource"]["uid"] == "${datasource}" for p in panels), name
        exprs = _exprs(dash)
        assert not any("fra-prod-01" in e for e in exprs), name
        if name == "heal-journal":  # the healer's series are all cluster="fleet"
            assert "cluster" not in variables
            continue
        # inventory clusters (selectable while down), kube-state-metrics clusters, or clouds
        want = {
            "openstack-control-plane": "label_values(kansoku_openstack_service_up, cluster)",
            **{
                k: "label_values(kube_node_info, cluster)"
                for k in ("k8s-kubelet", "k8s-resources", "k8s-pv", "k8s-nodes")
            },
        }.get(name, "label_values(kansoku_check_state, cluster)")
        assert variables["cluster"]["query"] == want, name
        # every query selects the cluster; only the healer's fleet-wide series are fixed
        assert all("$cluster" in e or 'cluster="fleet"' in e for e in exprs), name


def test_component_dashboards_have_their_variables_and_rows_of_panels() -> None:
    wants = {
        "k8s-kubelet": {"instance"},
        "k8s-nodes": {"instance"},
        "k8s-resources": {"namespace"},
        "k8s-pv": {"namespace"},
        "k8s-apiserver": set(),
        "k8s-etcd": set(),
        "k8s-cluster": set(),
    }
    for name, extra in wants.items():
        scope, build = DASHBOARDS[name]
        dash = build(CTX)
        assert scope == "fleet", name
        assert set(_variables(dash)) == {"datasource", "cluster", *extra}, name
        assert len([p for p in dash["panels"] if p["type"] != "row"]) >= 7, name
        assert dash["uid"] == f"ks-{name}-eu-fra"
    pv = " ".join(_exprs(DASHBOARDS["k8s-pv"][1](CTX)))
    assert 'namespace=~"$namespace"' in pv and "kubelet_volume_stats_inodes_used" in pv


def test_cluster_dashboard_is_rendered_for_its_cluster_and_metric_names() -> None:
    dash = DASHBOARDS["cluster"][1](CTX)
    exprs = _exprs(dash)
    assert all('cluster="$cluster"' in e for e in exprs if "kansoku_" in e or "kube" in e)
    assert _variables(dash)["cluster"]["current"]["value"] == "fra-prod-01"  # opens on its cluster
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


def test_every_panel_query_runs_in_a_real_prometheus(
    tmp_path: Path, procs: list[Any], need_prometheus: None
) -> None:
    """With the variables filled in as Grafana does, every panel query of every dashboard is
    accepted by a real Prometheus (Debian `prometheus`, loopback): no query a panel would
    show as an error."""
    import urllib.parse
    import urllib.request

    from kansoku.servers import start_prometheus

    prom = start_prometheus(tmp_path / "prom", {"global": {"scrape_interval": "15s"}})
    procs.append(prom)
    fill = {"$cluster": "c1", "$namespace": ".*", "$instance": ".*"}
    checked = 0
    for name, (_, build) in DASHBOARDS.items():
        for expr in _exprs(build(CTX)):
            for var, value in fill.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, (name, expr)
            url = f"http://127.0.0.1:{prom.ports['http']}/api/v1/query?" + urllib.parse.urlencode(
                {"query": expr}
            )
            with urllib.request.urlopen(url, timeout=10) as resp:
                assert json.load(resp)["status"] == "success", (name, expr)
            checked += 1
    assert checked >= 98  # every dashboard of DASHBOARDS, all targets
