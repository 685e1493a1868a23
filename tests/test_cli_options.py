"""The shared options have one name and one environment variable in every command, and each
command's --help shows an example.

Walks the real typer app (as click builds it), so a command added without the shared
options, or with its own spelling of them, fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from kansoku.cli import build_app, main
from kansoku.options import INVENTORY_ENV, STORE_ENV, STORE_HELP
from kansoku.tracing.index import Store
from kansoku.tracing.trace_cmd import trace_parser

#: Parameter name -> (flags shown in --help, environment variable).
SHARED = {
    "store": (["--store"], STORE_ENV),
    "inventory": (["--inventory", "-i"], INVENTORY_ENV),
    "rule": (["--rule"], None),
    "log_host": (["--log-host"], None),
}


def _leaves(group: Any, prefix: str = "kansoku") -> list[tuple[str, Any]]:
    """Every leaf command (typer 0.29 vendors click, so groups are recognised by `commands`)."""
    if hasattr(group, "commands"):
        out = []
        for name, cmd in group.commands.items():
            out += _leaves(cmd, f"{prefix} {name}")
        return out
    return [(prefix, group)]


COMMANDS = _leaves(typer.main.get_command(build_app()))


def test_every_command_is_walked() -> None:
    names = {name for name, _ in COMMANDS}
    assert {
        "kansoku index",
        "kansoku ship",
        "kansoku check",
        "kansoku bundle install",
        "kansoku heal serve",
    } <= names


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_shared_options_and_example(name: str, command: Any) -> None:
    if name == "kansoku trace":  # argparse (fast path), checked below
        return
    assert f"Example: {name}" in (command.help or ""), f"{name} --help shows no example"
    for param in command.params:
        if param.param_type_name != "option":
            continue
        if param.name in SHARED:
            flags, env = SHARED[param.name]
            assert param.opts + param.secondary_opts == flags, name
            assert param.envvar == env, name
        if "--host" in param.opts and not param.hidden:
            # --host is a listen address (servers, with --bind); the log host is --log-host
            assert param.opts == ["--host", "--bind"], name
        assert "--path-rule" not in param.opts or param.hidden, name


def test_trace_fast_path_shares_the_store_option() -> None:
    parser = trace_parser()
    store = next(a for a in parser._actions if "--store" in a.option_strings)
    assert store.help == STORE_HELP
    assert "kansoku trace req-" in (parser.epilog or "")


def test_index_host_still_works_with_a_deprecation_note(tmp_path: Path, capsys) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "nova-api.log").write_text(
        "2026-11-23 16:18:11.057 1234 INFO nova.api.openstack.requestlog "
        '[req-6f1c0a5e-1111-4222-8333-444455556666 - - - - -] 10.0.0.1 "GET /v2.1/servers" status: 200\n'
    )
    with pytest.raises(SystemExit) as done:
        main(["index", "--store", str(tmp_path / "old"), "--host", "ctl-9", str(logs)])
    assert done.value.code in (0, None)
    assert "--host is deprecated here, use --log-host" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["index", "--store", str(tmp_path / "new"), "--log-host", "ctl-9", str(logs)])
    assert "deprecated" not in capsys.readouterr().err
    for store in ("old", "new"):
        assert [f.host for f in Store(tmp_path / store).load().files] == ["ctl-9"]
