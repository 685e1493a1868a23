"""A real `kansoku heal serve` subprocess for the crash tests: started on a journal, killed with -9.

Both kill-9 tests (tests/test_heal_crash.py, tests/faults/test_receiver_kill.py) run the same
receiver: a `run_command` action that appends its request id to a file (the record of what
really ran), started again and again on the same journal and port.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from kansoku.alerts.heal.journal import Journal
from kansoku.process import ManagedProcess, http_ok
from tests.support.heal import TOKEN

#: heal.yaml with no rail in the way and one action, `run_command`, that appends
#: `$KANSOKU_REQUEST_ID` to `{runs}` (format it with the file's path).
RUN_COMMAND_CONFIG = """
journal: journal.sqlite
workers: 4
safety: {{max_unhealthy: 100000, fleet_budget_per_hour: 100000, storm_clusters: 100000, cooldown_seconds: 0}}
hooks:
  - alert: KubeNodeNotReady
    action: run_command
    params:
      argv: ["/bin/sh", "-c", "echo \\"$KANSOKU_REQUEST_ID\\" >> {runs}; sleep 0.05"]
"""


def serve_receiver(tmp_path: Path, port: int, name: str, ready_timeout: float = 60.0) -> ManagedProcess:
    """`kansoku heal serve` with `tmp_path/heal.yaml` on `port`, once `/healthz` answers."""
    proc = ManagedProcess(
        name,
        [
            sys.executable,
            "-m",
            "kansoku",
            "heal",
            "serve",
            "--config",
            str(tmp_path / "heal.yaml"),
            "--port",
            str(port),
        ],
        tmp_path,
        env={"KANSOKU_HEAL_TOKEN": TOKEN},
    )
    proc.start()
    proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), ready_timeout)
    return proc


def kill_9(proc: ManagedProcess) -> None:
    """SIGKILL the receiver's whole process group and reap it (its actions' commands run in
    their own session and live on, as a real remediation would)."""
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.proc is not None
    proc.proc.wait()


def backlog_done(journal: Journal) -> bool:
    """Every journaled alert decided and no action pending or running."""
    return not journal.query("SELECT 1 FROM alerts WHERE decided_at IS NULL") and not journal.query(
        "SELECT 1 FROM actions WHERE state IN ('pending','running')"
    )
