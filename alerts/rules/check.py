"""`kansoku rules check` and `kansoku rules test` as library functions.

Why: the CLI commands, the bundle loader and the tests all need the same verdicts; each
finding names file, group, rule (and line) so an operator can fix a third-party rule file
as quickly as one of ours.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kansoku.alerts.rules.model import RuleFile, load_rule_file
from kansoku.alerts.rules.promql import Finding, check_rule_file
from kansoku.alerts.rules.promtool import (
    Coverage,
    PromtoolResult,
    check_rules,
    coverage_of,
    default_rule_files,
    default_test_files,
    run_promtool_tests,
)
from kansoku.alerts.rules.render import to_plain_file

#: Heal action names from docs/contracts.md; a `heal_action` annotation must be one of them.
HEAL_ACTIONS = frozenset(
    {
        "replace_node",
        "restart_agent",
        "etcd_snapshot",
        "etcd_restore",
        "scale_out",
        "storage_acl_sync",
        "run_command",
        "webhook",
    }
)
SEVERITIES = frozenset({"info", "warning", "critical"})


@dataclass
class CheckReport:
    """Findings of the label check and policy, plus promtool's verdict per file."""

    findings: list[Finding] = field(default_factory=list)
    promtool: list[PromtoolResult] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # file -> documents of other kinds
    #: rules the label check could not parse within its limits (promtool's verdict stands)
    unchecked: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and all(r.ok for r in self.promtool)


def policy_findings(rule_file: RuleFile) -> list[Finding]:
    """kansoku's own rules: severity label, summary/description/runbook_url, a known heal_action."""
    out: list[Finding] = []
    for rule in rule_file.rules:
        if rule.kind != "alert":
            continue

        problems: list[str] = []
        severity = rule.labels.get("severity")
        if severity not in SEVERITIES:
            problems.append(f"label severity must be one of {sorted(SEVERITIES)}, got {severity!r}")
        for key in ("summary", "description", "runbook_url"):
            if not rule.annotations.get(key):
                problems.append(f"annotation {key} is mandatory")
        action = rule.annotations.get("heal_action")
        if action is not None and action not in HEAL_ACTIONS:
            problems.append(
                f"annotation heal_action {action!r} is not a heal action ({', '.join(sorted(HEAL_ACTIONS))})"
            )
        out.extend(Finding(rule_file.path, rule.group, rule.name, rule.line, p) for p in problems)
    return out


def check_files(paths: Sequence[Path], policy: bool = False, promtool: bool = True) -> CheckReport:
    """Label check (and optionally kansoku's policy) plus `promtool check rules` per file.

    A PrometheusRule manifest is converted to a plain rule file first, because promtool
    only reads the plain shape.
    """
    report = CheckReport()
    with tempfile.TemporaryDirectory(prefix="kansoku-rules-") as tmp:
        for index, path in enumerate(paths):
            rule_file = load_rule_file(path)
            if rule_file.skipped:
                report.skipped[str(path)] = rule_file.skipped
            for finding in check_rule_file(rule_file):
                (report.unchecked if finding.unchecked else report.findings).append(finding)
            if policy:
                report.findings.extend(policy_findings(rule_file))
            if not promtool:
                continue
            target = path
            if rule_file.shape != "plain":
                target = Path(tmp) / f"{index}-{path.stem}.yaml"
                target.write_text(to_plain_file(rule_file), encoding="utf-8")
            result = check_rules(target)
            report.promtool.append(PromtoolResult(result.command, str(path), result.ok, result.output))
    return report


@dataclass
class RuleTestReport:
    """`kansoku rules test`: promtool results, coverage and alerts lacking a test.

    `always_firing` are heartbeat alerts (`expr: vector(1)`, the Watchdog): no input can
    silence them, so a firing test is all they can have. `vendored` are alerts from
    `vendored-*.rules.yaml` (community mixins): upstream tests them against its own rendering,
    only some of those tests port, so a vendored alert without a test is reported, not failed.
    """

    check: CheckReport
    tests: list[PromtoolResult]
    coverage: Coverage
    alerts: list[str]
    always_firing: frozenset[str] = frozenset()
    vendored: frozenset[str] = frozenset()

    @property
    def untested(self) -> list[str]:
        """Alerts lacking a firing or a silent test (heartbeats need only the firing one)."""
        return [
            a
            for a in self.coverage.missing(self.alerts)
            if not (a in self.always_firing and self.coverage.fires.get(a))
        ]

    @property
    def missing(self) -> list[str]:
        """Untested alerts that fail the run: kansoku's own (and any non-vendored file's)."""
        return [a for a in self.untested if a not in self.vendored]

    @property
    def ok(self) -> bool:
        return self.check.ok and all(t.ok for t in self.tests) and not self.missing


def run_rule_tests(
    rule_files: Iterable[Path] | None = None, test_files: Iterable[Path] | None = None
) -> RuleTestReport:
    """Check every rule file, run every unit test, and report which alerts are covered."""
    rules = list(rule_files) if rule_files is not None else default_rule_files()
    tests = list(test_files) if test_files is not None else default_test_files()
    check = check_files(rules, policy=True)
    loaded = [(path, r) for path in rules for r in load_rule_file(path).rules if r.kind == "alert"]
    alerts = sorted({r.name for _, r in loaded})
    always = frozenset(r.name for _, r in loaded if r.expr.strip() == "vector(1)")
    vendored = frozenset(r.name for p, r in loaded if p.name.startswith("vendored-"))
    results = [run_promtool_tests(path) for path in tests]
    return RuleTestReport(check, results, coverage_of(tests), alerts, always, vendored)
