"""Every README command that uses a file of `examples/` runs as written, on a machine with no
/etc/kansoku and no route off the machine.

The commands are read from the README itself (indented lines starting with `kansoku ` that
name `examples/`), so a README edit is tested as soon as it is made. Optional parts in
brackets are left out; servers get a free port instead of the documented one, are asked one
GET (`/healthz`, `/metrics`) and stopped by PID. The commands run in README order in one copy
of examples/ (state written next to the config stays in the temporary directory) inside a network
namespace where only loopback exists (tests/support/netns.py), so the example fleet's
10.20.x API servers are unreachable at once instead of being contacted.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kansoku.alerts.heal.config import load_heal_config
from kansoku.inventory import load_inventory
from kansoku.process import free_port

REPO = Path(__file__).resolve().parent.parent
HELPER = Path(__file__).resolve().parent / "support" / "netns.py"
#: Where each server answers once it is up.
READY_PATH = {"heal": "/healthz", "collect": "/metrics"}


def readme_example_commands() -> list[str]:
    """Indented README lines `kansoku ... examples/...`, comments and `[optional]` parts removed."""
    commands = []
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("    kansoku ") or "examples/" not in line:
            continue
        command = re.sub(r"\s+#.*$", "", line.strip())
        command = re.sub(r"\s*\[[^\]]*\]", "", command)
        commands.append(command)
    return commands


COMMANDS = readme_example_commands()


def test_readme_has_example_commands() -> None:
    names = " ".join(COMMANDS)
    for expected in ("kansoku check", "kansoku collect serve", "kansoku heal serve", "examples/bundle"):
        assert expected in names, f"README lost its {expected!r} example"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory laid out like the checkout: a copy of examples/ and the shipped bundles.

    One for all the commands, which run in README order: `heal history` reads the journal
    that `heal serve` created, as for a user following the README."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "examples", root / "examples")
    (root / "addon-bundles").symlink_to(REPO / "addon-bundles")
    return root


def _namespaced(args: list[str]) -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is needed to run the README examples without network")
    return [unshare, "-rn", sys.executable, str(HELPER), *args]


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_example_runs(command: str, workdir: Path) -> None:
    argv = shlex.split(command)
    argv[:1] = [sys.executable, "-m", "kansoku"]
    env = {**os.environ, "KANSOKU_HEAL_TOKEN": "example-token", "COLUMNS": "80"}
    server = next((READY_PATH[a] for a in argv[3:5] if a in READY_PATH), None) if "serve" in argv else None
    if server is not None:
        port = free_port()
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(port)
        else:
            argv += ["--port", str(port)]
        args = ["serve", str(port), server, *argv]
    else:
        args = ["run", *argv]
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True, check=False)
    assert probe.returncode == 0, f"unshare -rn cannot create a network namespace here: {probe.stderr}"
    proc = subprocess.run(
        _namespaced(args), cwd=workdir, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert not re.search(r"^error:", out, re.MULTILINE), out
    if server is not None:
        assert proc.returncode == 0 and "HTTP 200" in proc.stdout, out
    else:
        assert proc.returncode in (0, 1, 2), out  # check: 1 failing, 2 unknown (no fleet here)


def test_inventory_paths_follow_the_file_not_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "inv.yaml").write_text(
        "openstack:\n  rabbitmq_password_file: secrets/rabbit\n  logs: [{path: logs/nova-api.log}]\n"
        "settings: {etcd_backup_dir: 'snap/{cluster}'}\n"
        "sources: [{type: rancher, url: 'https://r.example', token_file: rancher.token}]\n"
        "clusters:\n  - id: a\n    api_url: https://127.0.0.1:6443\n"
        "    credentials: {token_file: tokens/a, ca_file: /abs/ca.pem, kubeconfig: '~/kube/a'}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    inv = load_inventory("conf/inv.yaml")
    base = conf.resolve()
    creds = inv.clusters[0].credentials
    assert creds.token_file == str(base / "tokens/a")
    assert creds.ca_file == "/abs/ca.pem"
    assert creds.kubeconfig == str(Path("~/kube/a").expanduser())
    assert inv.openstack.rabbitmq_password_file == str(base / "secrets/rabbit")
    assert inv.openstack.logs[0].path == str(base / "logs/nova-api.log")
    assert inv.settings.etcd_backup_dir == str(base / "snap/{cluster}")
    assert inv.sources[0].token_file == str(base / "rancher.token")  # type: ignore[union-attr]


def test_heal_example_needs_nothing_outside_examples(tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    loaded = load_heal_config(tmp_path / "examples" / "heal.yaml")
    examples = (tmp_path / "examples").resolve()
    assert loaded.path(loaded.config.journal).is_relative_to(examples)
    assert loaded.path(loaded.config.inventory or "").is_relative_to(examples)
    assert list(loaded.clusters())[:2] == ["prod-fra-001", "dev-fra-017"]
