"""Issue 11 item 16: `kansoku rules check` on a huge expression stays within bounds and
never dies; promtool (real, /usr/bin/promtool) still gives its verdict on the file."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

from kansoku.alerts.rules.guard import IN_PROCESS_TERMS, terms
from kansoku.alerts.rules.promql import cluster_drops

RULE = """groups:
  - name: huge
    rules:
      - alert: ManyJobsDown
        expr: {expr}
        labels: {{severity: warning}}
        annotations: {{summary: s, runbook_url: https://runbooks.invalid/x}}
"""


def _expr(n: int, by: str = "cluster") -> str:
    return " or ".join(f'sum by ({by}) (rate(http_requests_total{{job="j{i}"}}[5m]))' for i in range(n))


def test_a_320kb_expression_is_not_label_checked_but_never_kills_the_command(tmp_path: Path) -> None:
    expr = _expr(5000)
    path = tmp_path / "huge.rules.yaml"
    path.write_text(RULE.format(expr=expr))
    assert path.stat().st_size > 300_000  # the reported files were 134-389 KB

    def cap() -> None:  # the command as a whole gets 2 GiB: before, the parser wanted 6-7.5 GB
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run(
        [sys.executable, "-m", "kansoku", "rules", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=cap,
        env={**os.environ, "KANSOKU_PROMQL_MAX_MB": "384", "COLUMNS": "300"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out  # promtool accepts the file; the label check says why it skipped
    assert "not label-checked" in out and "promtool's verdict" in out and "ManyJobsDown" in out
    assert "Traceback" not in out


def test_a_large_but_feasible_expression_is_checked_in_the_child(tmp_path: Path) -> None:
    expr = _expr(450, by="namespace")
    assert terms(expr) > IN_PROCESS_TERMS
    problems = cluster_drops(expr)
    assert len(problems) == 450 and "sum by (namespace) drops cluster" in problems[0]
    assert cluster_drops(_expr(450)) == []
