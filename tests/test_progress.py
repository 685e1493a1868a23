"""Long commands show progress on a terminal and print nothing extra when not on one.

The terminal case runs the real command in a pseudo-terminal (os.openpty), as an operator's
shell would; the other case captures its output through pipes, as CI and scripts do.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "tests" / "data" / "real-openstack-create"
#: The bar's own text: "<done>/<total> files" and a lines/s rate.
BAR = re.compile(r"\d+/\d+ files")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "KANSOKU_STORE"}}
    env.update(TERM="xterm-256color", COLUMNS="120")
    env.pop("NO_COLOR", None)
    return env


def run_in_pty(argv: list[str], cwd: Path, timeout: float = 120.0) -> tuple[int, str]:
    """Run `argv` with stdin/stdout/stderr on a new pseudo-terminal; its exit code and output."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=_env(), close_fds=True
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                proc.kill()
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return proc.wait(timeout), b"".join(chunks).decode(errors="replace")


def test_index_shows_files_bytes_rate_on_a_terminal(tmp_path: Path) -> None:
    code, out = run_in_pty(
        [sys.executable, "-m", "kansoku", "index", "--store", str(tmp_path / "store"), str(LOGS)], tmp_path
    )
    assert code == 0, out
    assert BAR.search(out), out
    assert "lines/s" in out and "indexing" in out
    assert re.search(r"[\d.]+/[\d.]+ (kB|MB)", out), out  # bytes done of total


def test_index_prints_only_its_summary_when_piped(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kansoku", "index", "--store", str(tmp_path / "store"), str(LOGS)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert not BAR.search(proc.stdout)
    assert "\x1b[" not in proc.stdout
    assert proc.stdout.startswith("indexed ")


def test_bundle_render_counts_clusters_on_a_terminal(tmp_path: Path) -> None:
    clusters = "".join(
        f"  - {{id: c{i}, api_url: 'https://127.0.0.1:6443', k8s_version: 1.29.4}}\n" for i in range(3)
    )
    (tmp_path / "inventory.yaml").write_text(f"clusters:\n{clusters}")
    argv = [sys.executable, "-m", "kansoku", "bundle", "render", "-i", "inventory.yaml", "-o", "out"]
    code, out = run_in_pty(argv, tmp_path)
    assert code == 0, out
    assert "rendering bundles" in out and "6/6" in out, out  # render + write for 3 clusters
    piped = subprocess.run(
        argv, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert piped.returncode == 0 and piped.stderr == ""
    lines = piped.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["c0", "c1", "c2"]
    assert [line.split(":")[0] for line in lines[3:]] == ["region default"]  # its fleet dashboards


def test_ship_shows_files_and_records_on_a_terminal(fake_es, oslo_tree: Path, tmp_path: Path) -> None:
    """`kansoku ship` into the loopback Elasticsearch (tests/support/es.py) in a terminal."""
    argv = [sys.executable, "-m", "kansoku", "ship", str(oslo_tree), "--es", fake_es.url]
    code, out = run_in_pty(argv, tmp_path)
    assert code == 0, out
    assert "shipping" in out and BAR.search(out) and " records" in out, out
    assert "shipped " in out  # the summary after the bar
