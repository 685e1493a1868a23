"""Processes started for tests and the lab are stopped by PID, with their whole group."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from kansoku.errors import KansokuError
from kansoku.process import ManagedProcess, free_port, http_ok, tcp_open


def test_stop_kills_the_process_group(tmp_path: Path) -> None:
    # A parent that starts a child which ignores SIGTERM: stop() must still end both.
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    proc = ManagedProcess("sleeper", [sys.executable, "-c", script], tmp_path).start()
    proc.wait_ready(lambda: (tmp_path / "child.pid").exists(), timeout=10)
    child = int((tmp_path / "child.pid").read_text())
    proc.stop(timeout=1)
    assert not proc.alive()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _exists(child):
        time.sleep(0.05)
    assert not _exists(child), "the SIGTERM-ignoring child survived stop()"


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead, only not yet reaped by its (dead) parent's reaper


def test_exit_before_ready_reports_output(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "fails", [sys.executable, "-c", "print('bad config at line 3'); raise SystemExit(3)"], tmp_path
    )
    proc.start()
    with pytest.raises(KansokuError, match=r"(?s)exited with 3.*bad config at line 3"):
        proc.wait_ready(lambda: False, timeout=10)


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KansokuError, match="not installed"):
        ManagedProcess("x", ["/nonexistent/kansoku-binary"], tmp_path).start()


def test_free_port_is_free_and_probes_say_so() -> None:
    port = free_port()
    assert not tcp_open("127.0.0.1", port)
    assert not http_ok(f"http://127.0.0.1:{port}/", timeout=0.5)
