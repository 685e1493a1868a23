"""Bundles: version matching, bad input, install/upgrade/uninstall, rollback, rollout, hook."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from kansoku.addon_bundles.catalog import BUNDLES_DIR, load_catalog
from kansoku.addon_bundles.install import install_cluster, read_state, uninstall_cluster
from kansoku.addon_bundles.ops import Targets, install, upgrade
from kansoku.addon_bundles.render import render_cluster
from kansoku.addon_bundles.rollout import partitions
from kansoku.addon_bundles.rulestore import DirectoryRuleStore
from kansoku.dashboards.sinks import DirectorySink
from kansoku.errors import ConfigError, KansokuError
from kansoku.models import Cluster
from kansoku.process import ManagedProcess, free_port
from kansoku.servers import start_alertmanager
from tests.support.alertmanager import post_alerts


def cluster(cid: str, version: str) -> Cluster:
    return Cluster(
        id=cid, api_url=f"https://{cid}:6443", k8s_version=version, labels={"grafana_datasource": "prom"}
    )


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_bundle_is_chosen_by_kubernetes_version(catalog) -> None:
    assert catalog.select(cluster("a", "1.18.20")).key == "kansoku-k8s-1.0.0"
    assert catalog.select(cluster("b", "v1.19.0")).key == "kansoku-k8s-1.1.0"
    assert catalog.select(cluster("c", "1.29.4-gke.100")).key == "kansoku-k8s-2.1.0"
    old = catalog.select(cluster("d", "1.18.1")).manifest.metrics["kubelet_running_pods"]
    assert old == "kubelet_running_pod_count"  # renamed to kubelet_running_pods in 1.19
    assert [b.key for b in catalog.closure(catalog.get("kansoku-k8s-2.0.0"))] == [
        "kansoku-core-1.0.0",
        "kansoku-k8s-2.0.0",
    ]


def test_unsupported_version_is_refused_naming_field_and_manifests(catalog, tmp_path: Path) -> None:
    targets = Targets(f"file://{tmp_path / 'g'}", tmp_path / "rules", tmp_path / "state")
    with pytest.raises(KansokuError) as err:
        install(catalog, cluster("ancient", "1.12.3"), targets)
    assert "k8s_version '1.12.3'" in str(err.value) and "kansoku-k8s-2.1.0/manifest.yaml" in str(err.value)
    assert not (tmp_path / "rules").exists() and not (tmp_path / "state").exists()


def _copy_bundles(tmp_path: Path) -> Path:
    root = tmp_path / "bundles"
    shutil.copytree(BUNDLES_DIR, root)
    return root


def test_bad_manifest_names_file_line_and_field(tmp_path: Path) -> None:
    root = _copy_bundles(tmp_path)
    manifest = root / "kansoku-k8s-2.0.0" / "manifest.yaml"
    good = manifest.read_text()
    manifest.write_text(good.replace('kubernetes: ">=1.21,<1.35"', 'kubernetes: "1.21 or newer"'))
    with pytest.raises(ConfigError) as err:
        load_catalog(root)
    assert f"{manifest}:6: kubernetes: " in str(err.value) and "not a version range" in str(err.value)
    manifest.write_text(good.replace("dashboards: [cluster]", "dashboards: [cluster, nodes-v2]"))
    with pytest.raises(ConfigError) as err:
        load_catalog(root)
    assert f"{manifest}:13: dashboards[1]: unknown dashboard 'nodes-v2'" in str(err.value)


def test_invalid_promql_in_bundle_rules_is_refused(tmp_path: Path) -> None:
    root = _copy_bundles(tmp_path)
    rules = root / "kansoku-k8s-2.0.0" / "rules" / "kubernetes.rules.yaml"
    rules.write_text(rules.read_text().replace("max by (cluster, resource)", "max by (resource)"))
    with pytest.raises(ConfigError) as err:
        load_catalog(root)
    assert f"{rules}:" in str(err.value)
    assert "cluster_resource:apiserver_storage_objects:max" in str(err.value)
    assert "max by (resource) drops cluster" in str(err.value)


def test_missing_datasource_refused_before_anything_is_installed(catalog, tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path / "g", datasources={"prom-other"})
    store = DirectoryRuleStore(tmp_path / "rules")
    with pytest.raises(ConfigError) as err:
        install_cluster(catalog, cluster("c1", "1.20.4"), sink, store, tmp_path / "state")
    assert "kansoku-k8s-1.1.0/manifest.yaml: dashboards[0] cluster" in str(err.value)
    assert "datasource 'prom'" in str(err.value)
    assert sink.list_dashboards("kansoku-c1") == [] and store.names("c1") == []


def test_install_is_idempotent_upgrade_replaces_and_uninstall_removes_exactly(
    catalog, tmp_path: Path
) -> None:
    sink = DirectorySink(tmp_path / "g", datasources={"prom"})
    store = DirectoryRuleStore(tmp_path / "rules")
    state = tmp_path / "state"
    c1 = cluster("c1", "1.29.4")
    first = install_cluster(catalog, c1, sink, store, state, catalog.get("kansoku-k8s-2.0.0"))
    assert first.changed and "ks-cluster-c1" in first.created
    assert store.names("c1") == [
        "kansoku-core-1.0.0--kansoku.rules.yaml",
        "kansoku-k8s-2.0.0--kubernetes.rules.yaml",
    ]
    version = sink.get_dashboard("ks-cluster-c1").version
    again = install_cluster(catalog, c1, sink, store, state, catalog.get("kansoku-k8s-2.0.0"))
    assert not again.changed and sink.get_dashboard("ks-cluster-c1").version == version
    # a human adds a dashboard to the cluster folder: never touched by kansoku
    sink.put_dashboard("kansoku-c1", {"uid": "human-notes", "title": "notes", "panels": []}, None)
    up = install_cluster(catalog, c1, sink, store, state)  # newest fitting: 2.1.0
    assert up.bundle == "kansoku-k8s-2.1.0"
    assert "kansoku-k8s-2.0.0--kubernetes.rules.yaml" in up.removed
    assert "kansoku-k8s-2.1.0--kubernetes.rules.yaml" in up.created
    # 2.1.0's dashboards are fleet scope (one copy per region, `$cluster`): the per-cluster
    # copy goes, the human's dashboard stays
    assert "ks-cluster-c1" in up.removed and sink.get_dashboard("ks-cluster-c1") is None
    assert "kansoku-k8s-2.1.0--vendored-kubernetes-mixin.rules.yaml" in up.created
    assert read_state(state, "c1").bundles == ["kansoku-core-1.0.0", "kansoku-k8s-2.1.0"]
    removed = uninstall_cluster("c1", sink, store, state)
    assert "kansoku-k8s-2.1.0--kubernetes.rules.yaml" in removed and store.names("c1") == []
    assert sink.list_dashboards("kansoku-c1") == ["human-notes"]  # folder kept: not empty
    assert read_state(state, "c1") is None
    assert uninstall_cluster("c1", sink, store, state) == []


def test_install_failing_half_way_rolls_back(catalog, tmp_path: Path) -> None:
    """Prometheus reload fails (nothing listens): dashboards and rule files are removed again."""
    sink = DirectorySink(tmp_path / "g", datasources={"prom"})
    store = DirectoryRuleStore(tmp_path / "rules", {"c1": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(KansokuError, match="reload for c1 failed"):
        install_cluster(catalog, cluster("c1", "1.29.4"), sink, store, tmp_path / "state")
    assert store.names("c1") == []
    assert sink.get_dashboard("ks-cluster-c1") is None
    assert not (tmp_path / "g" / "folders" / "kansoku-c1").exists()
    assert read_state(tmp_path / "state", "c1") is None


def test_partitions_are_ten_percent_then_the_rest() -> None:
    fleet = [cluster(f"c{i:02d}", "1.29.4") for i in range(20)]
    parts = partitions(fleet, (0.1, 1.0))
    assert [len(p) for p in parts] == [2, 18]
    assert [c.id for c in parts[0]] == ["c00", "c01"]


def test_rollout_stops_on_firing_kansoku_alert_from_real_alertmanager(
    catalog, tmp_path: Path, procs: list[ManagedProcess], need_alertmanager: None
) -> None:
    am = start_alertmanager(tmp_path / "am", {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
    procs.append(am)
    port = am.ports["http"]
    fleet = [cluster(f"c{i:02d}", "1.29.4") for i in range(10)] + [cluster("legacy", "1.18.2")]
    targets = Targets(f"file://{tmp_path / 'g'}", tmp_path / "rules", tmp_path / "state")
    DirectorySink(tmp_path / "g", datasources={"prom"})
    for c in fleet:
        install(catalog, c, targets, "kansoku-k8s-2.0.0" if c.id != "legacy" else None)
    # c00 (first partition) has a firing kansoku alert; a foreign alert on c05 must not matter
    post_alerts(
        port,
        [
            {
                "labels": {
                    "alertname": "KubeNodeNotReady",
                    "cluster": "c00",
                    "node": "n1",
                    "severity": "critical",
                }
            },
            {"labels": {"alertname": "SomeoneElsesAlert", "cluster": "c05"}},
        ],
    )
    report = upgrade(catalog, fleet, "kansoku-k8s-2.1.0", targets, f"alertmanager+http://127.0.0.1:{port}")
    assert report.upgraded == ["c00"]
    assert report.stopped_by == [("c00", "KubeNodeNotReady")]
    assert not report.completed and report.partitions_done == 1 and report.partitions_total == 2
    assert "legacy" in report.skipped
    assert read_state(tmp_path / "state", "c01").bundles[-1] == "kansoku-k8s-2.0.0"  # not touched
    assert read_state(tmp_path / "state", "c00").bundles[-1] == "kansoku-k8s-2.1.0"


def test_rollout_completes_when_partitions_are_healthy(
    catalog, tmp_path: Path, procs: list[ManagedProcess], need_alertmanager: None
) -> None:
    am = start_alertmanager(tmp_path / "am", {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
    procs.append(am)
    from typer.testing import CliRunner

    from kansoku.cli import build_app

    inv = _inventory(tmp_path / "inventory.yaml", [cluster(f"c{i:02d}", "1.29.4") for i in range(10)])
    DirectorySink(tmp_path / "g", datasources={"prom"})
    args = [
        "bundle", "upgrade", "--to", "kansoku-k8s-2.1.0", "-i", str(inv), "--steps", "0.1,0.5,1.0",
        "--alerts", f"alertmanager+http://127.0.0.1:{am.ports['http']}", "--grafana", f"file://{tmp_path / 'g'}",
        "--rules-dir", str(tmp_path / "rules"), "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert "3/3 partitions, upgraded 10" in result.output
    assert read_state(tmp_path / "state", "c09").bundles[-1] == "kansoku-k8s-2.1.0"


def test_provisioning_hook_installs_and_deprovisioning_removes(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from kansoku.addon_bundles.hook import make_router

    DirectorySink(tmp_path / "g", datasources={"prom"})
    targets = Targets(f"file://{tmp_path / 'g'}", tmp_path / "rules", tmp_path / "state")
    app = FastAPI()
    app.include_router(make_router(targets))
    client = TestClient(app)
    body = cluster("new-1", "1.30.2").model_dump()
    resp = client.post("/bundles/clusters", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["bundle"] == "kansoku-k8s-2.1.0" and resp.json()["changed"]
    assert client.post("/bundles/clusters", json=body).json()["changed"] is False
    bad = client.post("/bundles/clusters", json=cluster("old-1", "1.10.0").model_dump())
    assert bad.status_code == 422 and "k8s_version" in bad.json()["detail"]
    gone = client.delete("/bundles/clusters/new-1")
    assert gone.status_code == 200 and "kansoku-k8s-2.1.0--kubernetes.rules.yaml" in gone.json()["removed"]
    assert DirectoryRuleStore(tmp_path / "rules").names("new-1") == []
    # the provisioning API may also name a cluster that is already in the inventory
    inv = _inventory(tmp_path / "inventory.yaml", [cluster("inv-1", "1.19.4")])
    app2 = FastAPI()
    app2.include_router(make_router(targets, inventory=inv))
    by_id = TestClient(app2).post("/bundles/clusters/inv-1")
    assert by_id.status_code == 200 and by_id.json()["bundle"] == "kansoku-k8s-1.1.0"
    assert TestClient(app2).post("/bundles/clusters/nope").status_code == 404


def test_demo_renders_the_demo_fleet(tmp_path: Path) -> None:
    from rich.console import Console

    from kansoku.addon_bundles.demo import run_demo

    console = Console(record=True, width=160)
    run_demo(console, tmp_path)
    out = tmp_path / "bundles"
    assert (out / "ams-legacy-02" / "rules" / "kansoku-k8s-1.0.0--kubernetes.rules.yaml").exists()
    text = (out / "ams-legacy-02" / "dashboards" / "ks-cluster-ams-legacy-02.json").read_text()
    assert "kubelet_running_pod_count" in text
    assert "kansoku-k8s-2.1.0" in console.export_text()
    # fleet overview, heal journal, OpenStack, and 2.1.0's seven Kubernetes dashboards, once
    assert len(list((out / "_fleet" / "dashboards").glob("*.json"))) == 10
    assert (out / "_fleet" / "dashboards" / "ks-k8s-apiserver-eu.json").exists()


EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "bundle"


def test_example_bundle_loads_with_the_shipped_ones_and_its_tests_pass(need_prometheus: None) -> None:
    from kansoku.alerts.rules.check import run_rule_tests

    cat = load_catalog(BUNDLES_DIR, EXAMPLES)
    example = cat.get("ingress-nginx-1.0.0")
    assert [b.key for b in cat.closure(example)] == ["kansoku-core-1.0.0", "ingress-nginx-1.0.0"]
    report = run_rule_tests(example.rule_paths, example.test_paths)
    assert report.ok and report.alerts == ["IngressNginx5xxRatioHigh"]
    rendered = render_cluster(cat, cluster("c1", "1.30.0"), example)
    assert "namespace: ingress-nginx" in rendered.prometheus_rules["ingress-nginx-1.0.0--ingress.rules.yaml"]


def test_heal_hook_must_match_the_rules_heal_action(tmp_path: Path) -> None:
    root = _copy_bundles(tmp_path)
    manifest = root / "kansoku-core-1.0.0" / "manifest.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "{alert: ManagementAgentDisconnected, action: restart_agent,",
            "{alert: ManagementAgentDisconnected, action: replace_node,",
        )
    )
    with pytest.raises(ConfigError) as err:
        load_catalog(root)
    assert f"{manifest}:" in str(err.value) and "heal_hooks[1].action" in str(err.value)
    assert "heal_action='restart_agent'" in str(err.value)


def test_heal_hooks_of_a_cluster_are_healhook_objects(catalog) -> None:
    from kansoku.addon_bundles.ops import heal_hooks
    from kansoku.models import HealHook

    hooks = heal_hooks(catalog, cluster("c1", "1.29.4"))
    assert all(isinstance(h, HealHook) for h in hooks)
    assert {h.alert: h.action for h in hooks}["KubeNodeNotReady"] == "replace_node"


def test_install_reloads_a_real_prometheus_which_then_serves_the_rules(
    catalog, tmp_path: Path, procs: list[ManagedProcess], need_prometheus: None
) -> None:
    from kansoku.servers import start_prometheus

    rules_dir = tmp_path / "rules"
    (rules_dir / "c1").mkdir(parents=True)
    config: dict[str, object] = {
        "global": {"evaluation_interval": "1s"},
        "rule_files": [str(rules_dir / "c1" / "*.yaml")],
    }
    prom = start_prometheus(tmp_path / "prom", config)
    procs.append(prom)
    base = f"http://127.0.0.1:{prom.ports['http']}"

    def rule_names() -> set[str]:
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as resp:
            data = json.loads(resp.read())["data"]
        return {r["name"] for g in data["groups"] for r in g["rules"]}

    assert rule_names() == set()
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from kansoku.addon_bundles.hook import make_router

    DirectorySink(tmp_path / "g", datasources={"prom"})
    targets = Targets(f"file://{tmp_path / 'g'}", rules_dir, tmp_path / "state", reload=True)
    c1 = cluster("c1", "1.18.3").model_copy(update={"prometheus": base})
    install(catalog, c1, targets)
    names = rule_names()  # /-/reload answers once the rules are loaded
    assert "KubeNodeNotReady" in names and "cluster_node:kubelet_running_pods:sum" in names
    # deprovisioning through the hook: the cluster is already gone from any inventory, the
    # state file says which Prometheus to reload
    app = FastAPI()
    app.include_router(make_router(targets))
    resp = TestClient(app).delete("/bundles/clusters/c1")
    assert resp.status_code == 200, resp.text
    assert rule_names() == set()


def _inventory(path: Path, clusters: list[Cluster]) -> Path:
    import yaml

    data = {
        "clusters": [c.model_dump(exclude_none=True, exclude_defaults=True) | {"id": c.id} for c in clusters]
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_install_diff_uninstall_and_unsupported_version(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kansoku.cli import build_app

    inv = _inventory(tmp_path / "inventory.yaml", [cluster("c1", "1.29.4"), cluster("old", "1.14.0")])
    DirectorySink(tmp_path / "g", datasources={"prom"})
    opts = [
        "-i", str(inv), "--grafana", f"file://{tmp_path / 'g'}",
        "--rules-dir", str(tmp_path / "rules"), "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip
    runner, app = CliRunner(), build_app()
    before = runner.invoke(app, ["bundle", "diff", "c1", *opts])
    assert before.exit_code == 1 and "rule file kansoku-core-1.0.0--kansoku.rules.yaml:" in before.output
    # 2.1.0's dashboards are fleet scope: nothing per cluster to be missing
    assert "missing in Grafana" not in before.output
    first = runner.invoke(app, ["bundle", "install", "c1", *opts])
    assert first.exit_code == 0 and "installed kansoku-k8s-2.1.0" in first.output
    again = runner.invoke(app, ["bundle", "install", "c1", *opts])
    assert "already up to date" in again.output
    clean = runner.invoke(app, ["bundle", "diff", "c1", *opts])
    assert clean.exit_code == 0 and "no difference" in clean.output
    older = runner.invoke(app, ["bundle", "diff", "c1", "--to", "kansoku-k8s-2.0.0", *opts])
    assert older.exit_code == 1
    restarts = [
        line[0]
        for line in older.output.splitlines()
        if "kube_pod_container_status_restarts:increase1h" in line
    ]
    assert restarts == ["-"]  # the 2.1.0 recording rule would go, nothing adds it back
    assert "+++ bundle/kansoku-k8s-2.0.0--kubernetes.rules.yaml" in older.output
    assert "ks-cluster-c1: missing in Grafana" in older.output  # 2.0.0 renders it per cluster
    gone = runner.invoke(app, ["bundle", "uninstall", "c1", *opts])
    assert gone.exit_code == 0 and "removed" in gone.output
    from kansoku.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bundle", "install", "old", *opts])
    assert exit_info.value.code == 2


def test_rollout_gate_reads_firing_alerts_from_a_real_prometheus(
    catalog, tmp_path: Path, procs: list[ManagedProcess], need_prometheus: None
) -> None:
    import time

    from kansoku.addon_bundles.rollout import PrometheusAlerts
    from kansoku.servers import start_prometheus

    rules = (
        "groups:\n  - name: t\n    rules:\n"
        "      - alert: KubeAPIServerDown\n        expr: vector(1)\n"
        "        labels: {cluster: c00, severity: critical}\n"
        "      - alert: KubeletDown\n        expr: vector(1)\n        for: 1h\n"  # stays pending
        "        labels: {cluster: c01, severity: critical}\n"
    )
    config: dict[str, object] = {"global": {"evaluation_interval": "1s"}, "rule_files": ["t.rules.yaml"]}
    prom = start_prometheus(tmp_path / "prom", config, {"t.rules.yaml": rules})
    procs.append(prom)
    source = PrometheusAlerts(f"http://127.0.0.1:{prom.ports['http']}")
    deadline = time.monotonic() + 15
    while not source.firing() and time.monotonic() < deadline:
        time.sleep(0.2)
    firing = source.firing()
    assert [(a["alertname"], a["cluster"]) for a in firing] == [("KubeAPIServerDown", "c00")]
    fleet = [cluster(f"c{i:02d}", "1.29.4") for i in range(10)]
    targets = Targets(f"file://{tmp_path / 'g'}", tmp_path / "rules", tmp_path / "state")
    DirectorySink(tmp_path / "g", datasources={"prom"})
    url = f"prometheus+http://127.0.0.1:{prom.ports['http']}"
    report = upgrade(catalog, fleet, "kansoku-k8s-2.1.0", targets, url, fractions=(0.2, 1.0))
    assert report.upgraded == ["c00", "c01"]  # the pending alert on c01 does not stop it
    assert report.stopped_by == [("c00", "KubeAPIServerDown")]


def test_concurrent_installs_of_one_cluster_are_serialised(catalog, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sink = DirectorySink(tmp_path / "g", datasources={"prom"})
    store = DirectoryRuleStore(tmp_path / "rules")
    c1 = cluster("c1", "1.29.4")
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: install_cluster(catalog, c1, sink, store, tmp_path / "state"), range(4))
        )
    assert sum(r.changed for r in results) == 1
    assert len(store.names("c1")) == 6  # core + k8s recording rules + four vendored files, once


def test_fleet_dashboards_install_into_the_region_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kansoku.cli import build_app

    sink = DirectorySink(tmp_path / "g", datasources={"prom-fleet"})
    args = [
        "bundle",
        "install",
        "--fleet",
        "eu",
        "--datasource",
        "prom-fleet",
        "--grafana",
        f"file://{tmp_path / 'g'}",
    ]
    first = CliRunner().invoke(build_app(), args)
    assert first.exit_code == 0 and "created 10" in first.output, first.output
    assert sink.list_dashboards("kansoku-fleet-eu") == [
        "ks-fleet-eu", "ks-heal-eu", "ks-k8s-apiserver-eu", "ks-k8s-cluster-eu", "ks-k8s-etcd-eu",
        "ks-k8s-kubelet-eu", "ks-k8s-nodes-eu", "ks-k8s-pv-eu", "ks-k8s-resources-eu", "ks-openstack-openstack",
    ]  # fmt: skip
    openstack = sink.get_dashboard("ks-openstack-openstack")
    assert openstack is not None
    exprs = [t["expr"] for p in openstack.dashboard["panels"] for t in p.get("targets") or []]
    assert all('cluster="$cluster"' in e for e in exprs)
    # `$cluster` opens on the cloud name, as the exporter labels it
    variables = {v["name"]: v for v in openstack.dashboard["templating"]["list"]}
    assert variables["cluster"]["current"]["value"] == "openstack"
    assert variables["datasource"]["current"]["value"] == "prom-fleet"
    assert "unchanged 10" in CliRunner().invoke(build_app(), args).output
    missing = CliRunner().invoke(build_app(), [*args[:5], "prom-nope", *args[6:]])
    assert isinstance(missing.exception, ConfigError)
    assert "datasource 'prom-nope' is not in Grafana" in str(missing.exception)


def test_readme_render_of_the_example_inventory_skips_the_unversioned_cluster_by_name(tmp_path: Path) -> None:
    """`kansoku bundle render -i examples/inventory.yaml -o out/` as the README shows: the
    versioned cluster is rendered, dev-fra-017 (no k8s_version) is skipped and named."""
    from typer.testing import CliRunner

    from kansoku.cli import build_app

    inventory = Path(__file__).parent.parent / "examples" / "inventory.yaml"
    out = tmp_path / "out"
    result = CliRunner().invoke(build_app(), ["bundle", "render", "-i", str(inventory), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "prod-fra-001: kansoku-k8s-2.1.0" in result.output
    assert "dev-fra-017: skipped: field k8s_version is not set" in " ".join(result.output.split())
    assert sorted(p.name for p in out.iterdir()) == ["_fleet-fra", "prod-fra-001"]
    assert (out / "prod-fra-001" / "rules" / "kansoku-core-1.0.0--kansoku.rules.yaml").is_file()
    # the dashboards once for the region, `$cluster` picks prod-fra-001 (or any other)
    assert "region fra: 10 fleet dashboards" in result.output
    assert (out / "_fleet-fra" / "dashboards" / "ks-k8s-cluster-fra.json").is_file()


def test_vendored_mixins_ship_for_1_29_once_per_name_and_keep_cluster() -> None:
    """A 1.29 cluster gets the mixin alerts; no alert name comes from two files; none drops cluster."""
    from kansoku.alerts.rules.model import load_rule_file
    from kansoku.alerts.rules.promql import cluster_drops

    catalog = load_catalog()
    chain = catalog.closure(catalog.select(cluster("c1", "1.29.4")))
    names: dict[str, set[str]] = {}
    for b in chain:
        for path in b.rule_paths:
            for rule in load_rule_file(path).rules:
                assert cluster_drops(rule.expr) == [], (path.name, rule.name)
                if rule.kind == "alert":
                    names.setdefault(rule.name, set()).add(path.name)
    assert {n for n, files in names.items() if len(files) > 1} == set()
    for anchor in ("KubePodCrashLooping", "KubePersistentVolumeFillingUp", "KubeAPIErrorBudgetBurn",
                   "KubeCPUOvercommit", "KubeStatefulSetReplicasMismatch", "KubeClientCertificateExpiration",
                   "NodeFilesystemSpaceFillingUp", "NodeClockNotSynchronising", "etcdHighFsyncDurations",
                   "etcdDatabaseQuotaLowSpace", "etcdHighNumberOfLeaderChanges", "KubeletDown", "TargetDown",
                   "PrometheusRuleFailures", "PrometheusNotConnectedToAlertmanagers", "AlertmanagerClusterDown",
                   "PrometheusOperatorReconcileErrors"):  # fmt: skip
        assert anchor in names, anchor
    assert names["KubeNodeNotReady"] == {"kansoku.rules.yaml"}
    assert names["Watchdog"] == {"kansoku.rules.yaml"}


def test_an_alert_name_from_two_rule_files_refuses_the_bundle(tmp_path: Path) -> None:
    shutil.copytree(BUNDLES_DIR / "kansoku-core-1.0.0", tmp_path / "kansoku-core-1.0.0")
    bundle = tmp_path / "kansoku-k8s-2.1.0"
    shutil.copytree(BUNDLES_DIR / "kansoku-k8s-2.1.0", bundle)
    rules = bundle / "rules" / "kubernetes.rules.yaml"
    rules.write_text(
        rules.read_text()
        + "  - name: copy\n    rules:\n      - alert: KubeNodeNotReady\n        expr: vector(1)\n"
        + "        labels: {severity: warning}\n        annotations: {summary: s, description: d, runbook_url: u}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_catalog(tmp_path)
    assert "alert KubeNodeNotReady is defined in 2 files" in str(err.value)


def test_vendor_rewrite_adds_cluster_and_makes_absent_per_cluster() -> None:
    from kansoku.addon_bundles.vendor import multi_cluster

    assert (
        multi_cluster("sum(x) BY (instance) / on(node) y")
        == "sum(x) by (cluster, instance) / on (cluster, node) y"
    )
    assert multi_cluster("sum by (cluster, namespace) (x)") == "sum by (cluster, namespace) (x)"
    absent = multi_cluster('absent(up{job="kube-scheduler"})\n')
    assert "unless on (cluster)" in absent and 'count by (cluster) (up{job="kube-scheduler"} == 1)' in absent


def test_a_1_29_cluster_gets_the_anchor_alert_names_that_apply_to_a_managed_fleet() -> None:
    """kube-prometheus's 125 and etcd-mixin's 13 alert names (tests/data/anchors), but
    GrafanaRequestsFailing (grafana-mixin is AGPL-3.0) and InfoInhibitor (severity none)."""
    from kansoku.alerts.rules.model import load_rule_file

    data = Path(__file__).parent / "data" / "anchors"
    anchors = set((data / "kube-prometheus-alert-names.txt").read_text().split())
    anchors |= set((data / "etcd-mixin-alert-names.txt").read_text().split())
    assert len(anchors) == 138
    catalog = load_catalog()
    chain = catalog.closure(catalog.select(cluster("c1", "1.29.4")))
    ours = {r.name for b in chain for p in b.rule_paths for r in load_rule_file(p).rules if r.kind == "alert"}
    assert anchors - ours == {"GrafanaRequestsFailing", "InfoInhibitor"}


def test_generated_vendored_tests_follow_from_the_rules() -> None:
    """The committed generated promtool tests are what the generator derives from the shipped
    rule files today (only the golden annotations come from promtool), and a simple rule's
    synthetic series sit on either side of its threshold for longer than `for`."""
    import yaml

    from kansoku.addon_bundles.vendor.generated_tests import case_of, cases, generated_name, promtool_document

    bundle = BUNDLES_DIR / "kansoku-k8s-2.1.0"
    siblings = sorted((bundle / "rules").glob("vendored-*.rules.yaml"))
    total = 0
    for rule_path in siblings:
        committed = yaml.safe_load((bundle / "tests" / generated_name(rule_path)).read_text())
        own = {
            r["alert"]
            for g in yaml.safe_load(rule_path.read_text())["groups"]
            for r in g["rules"]
            if "alert" in r
        }
        generated = [c for c in cases(siblings) if c.alert in own]
        golden = {
            t["alert_rule_test"][0]["alertname"]: t["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"]
            for t in committed["tests"]
            if t["alert_rule_test"][0]["exp_alerts"]
        }
        assert committed == promtool_document([f"../rules/{rule_path.name}"], generated, golden), (
            rule_path.name
        )
        total += len(generated)
    assert total == 42
    gauge = case_of(
        {"alert": "A", "expr": 'x{job="j",fstype!=""} > 5', "for": "10m", "labels": {"severity": "warning"}}
    )
    assert gauge is not None and gauge.firing.startswith("10x") and gauge.healthy.startswith("0x")
    assert gauge.series == 'x{cluster="c1",job="j",fstype="synthetic"}' and gauge.eval_minutes == 20
    counter = case_of({"alert": "B", "expr": "increase(y_total[5m]) > 0", "labels": {}})
    assert counter is not None and counter.firing.startswith("0+0.2x") and counter.healthy.startswith("0+0x")
    assert case_of({"alert": "C", "expr": "sum by (cluster) (x) > 1"}) is None  # not the simple shape


def test_heal_hooks_name_shipped_alerts_and_destructive_ones_wait_as_long_as_the_mixins() -> None:
    """Every hook of the bundles and of examples/heal.yaml names an alert a 1.29 cluster gets;
    an alert feeding replace_node waits >= 15m (kubernetes-mixin's KubeNodeNotReady), one
    feeding etcd_restore >= 10m, and neither fires on an unknown (unreachable) check."""
    from kansoku.alerts.heal.config import load_heal_config
    from kansoku.alerts.rules.model import load_rule_file

    catalog = load_catalog()
    chain = catalog.closure(catalog.select(cluster("c1", "1.29.4")))
    rules = {
        r.name: r for b in chain for p in b.rule_paths for r in load_rule_file(p).rules if r.kind == "alert"
    }
    example = load_heal_config(Path(__file__).parent.parent / "examples" / "heal.yaml").config
    hooks = [h for b in chain for h in b.manifest.heal_hooks] + list(example.hooks)
    minimum = {"replace_node": 15, "etcd_restore": 10}

    def minutes(text: str | None) -> float:
        units = {"s": 1 / 60, "m": 1, "h": 60}
        return float(text[:-1]) * units[text[-1]] if text else 0.0

    for hook in hooks:
        assert hook.alert in rules, hook.alert
        rule = rules[hook.alert]
        for action in (hook.action, hook.escalate_to):
            if action in minimum:
                assert minutes(rule.for_) >= minimum[action], (hook.alert, rule.for_)
        if hook.action in minimum:  # an escalation follows a first action that did not help
            assert 'state="unknown"' not in rule.expr and "state!=" not in rule.expr, hook.alert
