"""`promtool check rules` / `promtool test rules` and the alert test-coverage report.

Why: the PromQL parser catches syntax and lost labels, but only the real promtool
(Debian `prometheus`, the same code Prometheus runs) proves a rule file loads and that
each alert fires on the input it is meant for and stays silent otherwise. The coverage
report reads the unit-test files themselves: an `alert_rule_test` with expected alerts
proves "fires", one with `exp_alerts: []` proves "stays silent".
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kansoku.errors import KansokuError
from kansoku.servers import PROMTOOL_BIN, require_binary

ALERTS_DIR = Path(__file__).resolve().parent.parent
RULE_FILES_DIR = ALERTS_DIR / "rule-files"
RULE_TESTS_DIR = ALERTS_DIR / "rule-tests"


@dataclass(frozen=True)
class PromtoolResult:
    """One promtool run: what it ran on, whether it passed, and what it printed."""

    command: str
    target: str
    ok: bool
    output: str


@dataclass
class Coverage:
    """Per alert: the test cases that fire it and those that prove it stays silent."""

    fires: dict[str, list[str]] = field(default_factory=dict)
    silent: dict[str, list[str]] = field(default_factory=dict)

    def missing(self, alerts: Iterable[str]) -> list[str]:
        """Alerts lacking a firing test or a silent test."""
        return sorted(a for a in alerts if not self.fires.get(a) or not self.silent.get(a))


def _promtool(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = require_binary(PROMTOOL_BIN, "prometheus")
    try:
        return subprocess.run(
            [binary, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired:
        raise KansokuError(f"promtool {' '.join(args)} did not finish within 120 s") from None


def check_rules(path: Path) -> PromtoolResult:
    """`promtool check rules PATH` (a plain rule file; see `to_plain_file` for manifests)."""
    proc = _promtool(["check", "rules", str(path)])
    return PromtoolResult("check rules", str(path), proc.returncode == 0, (proc.stdout + proc.stderr).strip())


def run_promtool_tests(test_file: Path) -> PromtoolResult:
    """`promtool test rules TEST` run from the test's directory (its rule_files are relative)."""
    proc = _promtool(["test", "rules", test_file.name], cwd=test_file.parent)
    return PromtoolResult(
        "test rules", str(test_file), proc.returncode == 0, (proc.stdout + proc.stderr).strip()
    )


def coverage_of(test_files: Iterable[Path]) -> Coverage:
    """Which alerts each unit-test file fires and proves silent."""
    cov = Coverage()
    for path in test_files:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for case in data.get("tests") or []:
            name = f"{path.name}: {case.get('name', '(unnamed)')}"
            for art in case.get("alert_rule_test") or []:
                target = cov.fires if art.get("exp_alerts") else cov.silent
                target.setdefault(str(art["alertname"]), []).append(name)
    return cov


def default_test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.test.yaml"))


def default_rule_files() -> list[Path]:
    return sorted(RULE_FILES_DIR.glob("*.rules.yaml"))
