"""Alert rules: promtool on every rule and unit test, the multi-cluster check, real Prometheus."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kansoku.addon_bundles.catalog import load_catalog
from kansoku.addon_bundles.render import render_cluster
from kansoku.alerts.rules.check import check_files, run_rule_tests
from kansoku.alerts.rules.promql import cluster_drops
from kansoku.cli import build_app
from kansoku.errors import ConfigError
from kansoku.models import Cluster
from kansoku.process import ManagedProcess
from kansoku.servers import start_prometheus

CONTRACT_ALERTS = {
    "KubeNodeNotReady", "ManagementAgentDisconnected", "ManagementPathDown", "KubeAPIServerDown",
    "KansokuAPIServerDirectPathDown", "EtcdMemberDown", "EtcdNoQuorum", "EtcdUnreachable",
    "KansokuEtcdProbeBlind", "EtcdBackupStale", "KansokuCheckFailing", "KansokuCheckUnknown",
    "KansokuExporterDown", "KansokuChecksStale", "Watchdog", "OpenStackAPI5xxRatioHigh", "OpenStackAPILatencyHigh",
    "OpenStackRPCQueueGrowing", "OpenStackServiceDown", "KansokuHealBudgetExhausted",
}  # fmt: skip

# kubernetes-mixin style rules (shape of its kubelet and apiserver rules) that lose `cluster`.
MIXIN_STYLE = """\
groups:
  - name: kubernetes-apps
    rules:
      - alert: KubePodCrashLooping
        expr: sum by (namespace, pod) (rate(kube_pod_container_status_restarts_total[10m])) > 0
        labels: {severity: warning}
      - alert: KubeletTooManyPods
        expr: count by (node) (kubelet_running_pods) / on (node) kube_node_status_capacity{resource="pods"} > 0.95
        labels: {severity: info}
      - alert: Fine
        expr: sum by (cluster, namespace) (rate(kube_pod_container_status_restarts_total[10m])) > 0
"""


def test_every_contract_alert_has_promtool_tests_that_fire_and_stay_silent(need_prometheus: None) -> None:
    report = run_rule_tests()
    assert report.check.ok, report.check.findings
    assert all(t.ok for t in report.tests), [t.output for t in report.tests]
    assert set(report.alerts) == CONTRACT_ALERTS
    assert report.missing == []
    assert report.ok


def test_rules_test_command_runs_all_bundles_and_prints_coverage(need_prometheus: None) -> None:
    result = CliRunner().invoke(build_app(), ["rules", "test"])
    assert result.exit_code == 0, result.output
    assert "coverage: 20/20 kansoku alerts have a firing and a silent test" in result.output
    assert "vendored: 134/134" in result.output.replace("\n", "")
    assert "kansoku-k8s-1.0.0/tests/kubernetes.rules.test.yaml" in result.output.replace("\n", "")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("sum(rate(x[5m]))", "sum without `by (cluster)`"),
        ("sum by (namespace) (x)", "sum by (namespace) drops cluster"),
        ("max without (cluster, pod) (x)", "without (..., cluster)"),
        ("a / on (node) b", "on (node) drops cluster"),
        ("a - ignoring (cluster) b", "ignoring (..., cluster)"),
        ('absent(up{job="kubelet"})', "absent() without a cluster"),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))", "sum by (le) drops cluster"),
    ],
)
def test_cluster_check_names_the_dropping_aggregation(expr: str, expected: str) -> None:
    problems = cluster_drops(expr)
    assert len(problems) == 1 and expected in problems[0]


@pytest.mark.parametrize(
    "expr",
    [
        "sum by (cluster, le) (rate(h_bucket[5m]))",
        "topk(3, x)",
        "a and on (node) b",
        "a / on (node) group_left b",
        'absent(up{cluster="c1"})',
        "sum by (cluster) (x) * 2 <= count by (cluster) (x)",
    ],
)
def test_cluster_check_accepts_expressions_that_keep_cluster(expr: str) -> None:
    assert cluster_drops(expr) == []


def test_third_party_plain_and_prometheusrule_files_are_checked(
    tmp_path: Path, need_prometheus: None
) -> None:
    plain = tmp_path / "mixin.yaml"
    plain.write_text(MIXIN_STYLE)
    import yaml

    manifest = tmp_path / "mixin-prometheusrule.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": {"name": "mixin", "namespace": "monitoring"},
                "spec": yaml.safe_load(MIXIN_STYLE),
            }
        )
    )
    report = check_files([plain, manifest])
    assert all(r.ok for r in report.promtool)  # valid for promtool, wrong for 700 clusters
    texts = [str(f) for f in report.findings]
    assert len(texts) == 6  # 3 per file: sum by (namespace, pod), count by (node), on (node)
    assert any(
        t.startswith(f"{plain}:5: group 'kubernetes-apps': rule 'KubePodCrashLooping'")
        and "sum by (namespace, pod)" in t
        for t in texts
    )
    assert any(str(manifest) in t and "KubeletTooManyPods" in t and "on (node)" in t for t in texts)
    assert not any("'Fine'" in t for t in texts)
    result = CliRunner().invoke(build_app(), ["rules", "check", str(plain)])
    assert result.exit_code == 1
    assert "KubePodCrashLooping" in result.output
    assert "runbook_url" not in result.output
    strict = CliRunner().invoke(build_app(), ["rules", "check", "--policy", str(plain)])
    assert "rule 'Fine': label severity must be one of" in strict.output
    assert "rule 'KubeletTooManyPods': annotation runbook_url is mandatory" in strict.output


def test_rules_check_exit_0_on_our_rules(need_prometheus: None) -> None:
    ours = Path(__file__).resolve().parent.parent / "alerts" / "rule-files" / "kansoku.rules.yaml"
    result = CliRunner().invoke(build_app(), ["rules", "check", str(ours)])
    assert result.exit_code == 0, result.output


def test_invalid_promql_and_bad_shape_are_refused_with_file_and_line(
    tmp_path: Path, need_prometheus: None
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: sum by (cluster (x)\n"
    )
    report = check_files([bad])
    assert [f.line for f in report.findings] == [5]
    assert "invalid PromQL" in report.findings[0].problem
    assert not report.promtool[0].ok
    shape = tmp_path / "shape.yaml"
    shape.write_text("groups:\n  - name: g\n    rules:\n      - expr: up\n")
    with pytest.raises(ConfigError) as err:
        check_files([shape])
    assert f"{shape}:4" in str(err.value)


def test_real_prometheus_loads_rendered_rules(
    tmp_path: Path, procs: list[ManagedProcess], need_prometheus: None
) -> None:
    catalog = load_catalog()
    rendered = render_cluster(catalog, Cluster(id="c1", api_url="https://c1", k8s_version="1.29.4"))
    config: dict[str, object] = {
        "global": {"evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "prom" / name) for name in rendered.rule_files],
    }
    prom = start_prometheus(tmp_path / "prom", config, rendered.rule_files)
    procs.append(prom)
    url = f"http://127.0.0.1:{prom.ports['http']}/api/v1/rules"
    deadline = time.monotonic() + 20
    names: set[str] = set()
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.loads(resp.read())
        names = {r["name"] for g in body["data"]["groups"] for r in g["rules"]}
        if names >= CONTRACT_ALERTS:
            break
        time.sleep(0.3)
    assert names >= CONTRACT_ALERTS
    assert "cluster_node:kubelet_running_pods:sum" in names
    health = {r["health"] for g in body["data"]["groups"] for r in g["rules"]}
    assert "err" not in health


def test_real_kube_prometheus_prometheusrule_findings(shared_sample: Any, need_prometheus: None) -> None:
    """kube-prometheus's generated rules are fine for one cluster but merge 700 of them."""
    path = shared_sample("kube-prometheus-kubernetesControlPlane-prometheusRule-excerpt.yaml")
    report = check_files([path])
    assert all(r.ok for r in report.promtool)
    flagged = {f.rule for f in report.findings}
    assert flagged == {
        "KubePodNotReady",
        "KubeContainerWaiting",
        "KubeJobNotCompleted",
        "KubeCPUOvercommit",
        "KubeCPUQuotaOvercommit",
    }
    # `max without (revision)`, set operators, `ignoring(instance, job, type)` and a
    # many-to-one `on(namespace, pod) group_left` keep cluster: not reported
    not_ready = [f.problem for f in report.findings if f.rule == "KubePodNotReady"]
    assert not_ready[0].endswith("sum by (namespace, pod) drops cluster")  # outermost first
    assert len(not_ready) == 3 and not any("group_left" in p for p in not_ready)
    first = report.findings[0]
    assert (first.file, first.group, first.line) == (str(path), "kubernetes-apps", 37)


def test_kubectl_list_and_multi_document_files_are_read(tmp_path: Path, need_prometheus: None) -> None:
    import yaml

    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r"}}
    bad = rule | {"spec": {"groups": [{"name": "a", "rules": [{"alert": "A", "expr": "sum(up) > 0"}]}]}}
    good = rule | {"spec": {"groups": [{"name": "b", "rules": [{"alert": "B", "expr": "up == 0"}]}]}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [namespace, bad, good]}))
    multi = tmp_path / "multi.yaml"
    multi.write_text(yaml.safe_dump_all([namespace, bad, good]))
    for path in (listed, multi):
        report = check_files([path])
        assert [(f.group, f.rule) for f in report.findings] == [("a", "A")], path
        assert report.skipped == {str(path): 1}
        assert report.promtool[0].ok
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all([good, rule | {"spec": {"groups": [{"rules": []}]}}]))
    with pytest.raises(ConfigError) as err:
        check_files([broken])
    assert "spec.groups[0].name" in str(err.value) and f"{broken}:" in str(err.value)


def test_every_kansoku_alert_has_a_description_and_a_runbook_page() -> None:
    """runbook_url ends in the alert name and docs/runbooks/<name>.md exists and says what to do."""
    from kansoku.alerts.rules.model import load_rule_file

    root = Path(__file__).parent.parent
    rules = load_rule_file(root / "alerts" / "rule-files" / "kansoku.rules.yaml").rules
    alerts = [r for r in rules if r.kind == "alert"]
    assert {r.name for r in alerts} == CONTRACT_ALERTS
    for rule in alerts:
        assert rule.annotations.get("description"), rule.name
        assert rule.annotations["runbook_url"].endswith(f"/runbooks/{rule.name}"), rule.name
        page = (root / "docs" / "runbooks" / f"{rule.name}.md").read_text(encoding="utf-8")
        assert page.startswith(f"# {rule.name}\n") and "## Diagnose" in page and "## Fix" in page
        action = rule.annotations.get("heal_action")
        assert (f"`{action}`" in page) if action else ("Heal action: none" in page), rule.name
