"""`.ci/system-deps`, which `make test` runs first: cheap when everything is installed, and
for a user who is not root one apt-get command naming exactly what is missing, then exit 1.

The script is run with a fake `id` first on PATH, so it never runs apt-get from a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / ".ci" / "system-deps"


def _fake_bin(tmp_path: Path, keep: list[str]) -> Path:
    """A PATH dir with `id` saying uid 1000 and symlinks to the named real commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    for name in keep:
        found = shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    return bin_dir


def _run(path: str, level: str = "test") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path, "PY": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), level], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_everything_installed_is_silent(tmp_path: Path) -> None:
    proc = _run(f"{_fake_bin(tmp_path, [])}:{os.environ['PATH']}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == proc.stderr == ""


def test_missing_packages_print_the_one_command_and_fail(tmp_path: Path) -> None:
    bin_dir = _fake_bin(tmp_path, ["bash", "prometheus", "promtool", "etcd"])
    proc = _run(str(bin_dir), "bench")
    assert proc.returncode == 1
    command = next(line.strip() for line in proc.stderr.splitlines() if "apt-get install" in line)
    packages = command.split("--no-install-recommends", 1)[1].split()
    assert "prometheus" not in packages and "etcd-server" not in packages  # their binaries exist
    assert {"prometheus-alertmanager", "etcd-client", "chromium", "procps", "git", "ripgrep"} <= set(packages)
    assert command.startswith("sudo apt-get update && sudo apt-get install -y")
