"""The hand-written scenario tests of the vendored mixin alerts (addon-bundles/vendor/scenarios.py):
the committed promtool files follow from the specs, every firing level fires for cluster c1
only, and with them every vendored alert has a firing and a silent test."""

from __future__ import annotations

from pathlib import Path

import yaml

from kansoku.addon_bundles.catalog import BUNDLES_DIR, load_catalog
from kansoku.addon_bundles.vendor.scenarios import (
    HEALTHY,
    case_name,
    check_golden,
    load,
    promtool_document,
    scenario_of,
    scenario_test_name,
)
from kansoku.alerts.rules.model import load_rule_file
from kansoku.alerts.rules.promtool import coverage_of

BUNDLE = BUNDLES_DIR / "kansoku-k8s-2.1.0"

#: vendored alerts without a firing and a silent test, and why (docs/bundles.md says the same)
NOT_COVERED: dict[str, str] = {}


def _specs() -> list[Path]:
    return sorted((BUNDLE / "tests" / "scenarios").glob("vendored-*.yaml"))


def test_committed_scenario_tests_follow_from_the_specs_and_fire_for_one_cluster() -> None:
    """Only the golden labels and annotations come from promtool; each firing level's golden
    alerts name cluster c1 alone and the severities the level stands for."""
    assert _specs()
    for spec in _specs():
        rule_path = BUNDLE / "rules" / f"{spec.stem}.rules.yaml"
        committed = yaml.safe_load((BUNDLE / "tests" / scenario_test_name(rule_path)).read_text())
        scenarios = load(rule_path, spec)
        golden = {t["name"]: t["alert_rule_test"][0]["exp_alerts"] for t in committed["tests"]}
        assert committed == promtool_document([f"../rules/{rule_path.name}"], scenarios, golden), spec.name
        for sc in scenarios:
            assert check_golden(sc, golden) == [], sc.alert
            assert golden[case_name(sc, HEALTHY)] == []


def test_scenario_expands_values_adds_clusters_and_catches_a_second_cluster() -> None:
    rules = [
        {"alert": "A", "expr": "x > 70", "for": "15m", "labels": {"severity": "warning"}},
        {"alert": "A", "expr": "x > 90", "for": "15m", "labels": {"severity": "critical"}},
    ]
    spec = {"series": {'x{job="j"}': {"healthy": "69", "warning": "80", "critical": "0+1"}}}
    sc = scenario_of("A", spec, rules)
    assert sc.levels == ["warning", "critical"] and sc.fires == {
        "warning": ["warning"],
        "critical": ["critical"],
    }
    assert sc.eval_minutes == 25 and sc.series['x{job="j"}']["critical"] == "0+1x30"
    doc = promtool_document(["r.yaml"], [sc], {})
    first = doc["tests"][0]["input_series"]
    assert first == [
        {"series": 'x{cluster="c1",job="j"}', "values": "80x30"},
        {"series": 'x{cluster="c2",job="j"}', "values": "69x30"},
    ]
    both = {
        case_name(sc, "warning"): [
            {"exp_labels": {"cluster": c, "severity": "warning"}, "exp_annotations": {}} for c in ("c1", "c2")
        ]
    }
    problems = check_golden(sc, both)
    assert any("want c1 only" in p for p in problems)
    assert any("critical" in p for p in problems)  # nothing fired for the critical level


def test_every_vendored_alert_has_a_firing_and_a_silent_test() -> None:
    catalog = load_catalog()
    bundle = catalog.bundles["kansoku-k8s-2.1.0"]
    vendored = {
        r.name
        for p in bundle.rule_paths
        if p.name.startswith("vendored-")
        for r in load_rule_file(p).rules
        if r.kind == "alert"
    }
    cov = coverage_of(bundle.test_paths)
    assert len(vendored) == 134
    assert set(cov.missing(vendored)) == set(NOT_COVERED)


#: severity tiers no input can fire, and why (rules/README.md says the same)
DEAD_TIERS = {
    (
        "AlertmanagerClusterFailedToSendAlerts",
        "warning",
    ): 'selects integration!~".*", which every value matches',
}


def test_every_severity_tier_of_a_vendored_alert_fires_in_some_test() -> None:
    """An alert with several tiers under one name (heal hooks and routes match on name and
    severity) has a firing case per tier, not only per name."""
    bundle = load_catalog().bundles["kansoku-k8s-2.1.0"]
    tiers = {
        (r.name, r.labels.get("severity", ""))
        for p in bundle.rule_paths
        if p.name.startswith("vendored-")
        for r in load_rule_file(p).rules
        if r.kind == "alert"
    }
    fired = {
        (art["alertname"], exp.get("exp_labels", {}).get("severity", ""))
        for path in bundle.test_paths
        for case in yaml.safe_load(path.read_text()).get("tests") or []
        for art in case.get("alert_rule_test") or []
        for exp in art.get("exp_alerts") or []
    }
    assert tiers - fired == set(DEAD_TIERS)
