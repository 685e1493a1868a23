"""Start, wait for and stop external processes (real servers) by PID.

Why: tests and `kansoku lab` run real Prometheus, Alertmanager, etcd, RabbitMQ and
OpenStack services on loopback. Each must get free ports, its own directory, a readiness
poll with a deadline and a stop that kills the whole process group, even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kansoku.errors import KansokuError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ok(url: str, timeout: float = 1.0, headers: Mapping[str, str] | None = None) -> bool:
    """True when `url` answers with a 2xx status."""
    req = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    name: str
    argv: Sequence[str]
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.out"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise KansokuError(f"{self.name} is not running")
        return self.proc.pid

    def start(self) -> ManagedProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                list(self.argv),
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise KansokuError(
                f"cannot start {self.name}: {self.argv[0]} is not installed (see README: real components)"
            ) from None
        finally:
            log.close()
        (self.workdir / f"{self.name}.pid").write_text(str(self.proc.pid))
        return self

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, probe: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> None:
        """Poll `probe` until it is true; fail with the process's last output otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise KansokuError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n{self.tail()}"
                )
            if probe():
                return
            time.sleep(interval)
        self.stop()
        raise KansokuError(f"{self.name} was not ready within {timeout:.0f}s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after `timeout`."""
        if self.proc is None:
            return
        stop_pid(self.proc.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1)


def pid_exists(pid: int) -> bool:
    """Is there a process `pid`? (Another user's process counts, and so does a zombie.)

    The plain `kill(pid, 0)` check for PIDs a command recorded earlier (`kansoku lab`);
    `stop_pid` waits on the stricter `_alive`, for which a zombie is dead.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """Stop a process group led by `pid` (also one started by an earlier command).

    SIGTERM, then SIGKILL for whatever is left after `timeout`. Done means no live process
    is left in the group, not just that the leader exited: a server's children (or a child
    that ignores SIGTERM) must not outlive a test.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            # Not a group leader (a daemon such as epmd that left our group): signal the PID.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 2.0)
        while True:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap the leader if it is our child
            if not _alive(pid) and not _group_members(pid):
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)


def _state(pid: int) -> tuple[str, int] | None:
    """(state letter, process group) from /proc/PID/stat, or None when there is no such process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[2])


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a zombie is dead, only not yet reaped)."""
    state = _state(pid)
    return state is not None and state[0] not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            state = _state(int(entry.name))
            if state is not None and state[1] == pgid and state[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members
