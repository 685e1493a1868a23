"""The demo's dry-run heal, the shipped example config, and the CLI commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from kansoku.alerts.demo import run_demo
from kansoku.alerts.heal.config import load_heal_config
from kansoku.alerts.heal.journal import Journal
from kansoku.cli import build_app

REPO = Path(__file__).resolve().parent.parent


def test_demo_runs_a_dry_run_heal_through_the_receiver(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    run_demo(console, tmp_path)
    out = console.export_text()
    for expected in (
        "would run replace_node",
        "duplicate",
        "would run restart_agent",
        "would run etcd_snapshot",
        "max_unhealthy 40% of 8 nodes",
        "no heal hook",
        "unauthorized",
    ):
        assert expected in out, expected
    journal = Journal(tmp_path / "heal" / "journal.sqlite")
    assert {a.state for a in journal.actions()} == {"dry_run"}
    assert [r[0] for r in journal.query("SELECT http_status FROM deliveries ORDER BY id")][-1] == 401


def test_example_config_is_valid() -> None:
    loaded = load_heal_config(REPO / "examples" / "heal.yaml")
    assert [h.action for h in loaded.config.hooks] == [
        "restart_agent",
        "replace_node",
        "etcd_snapshot",
        "etcd_restore",
        "run_command",
    ]
    assert loaded.config.safety.max_unhealthy == "40%"


def test_cli_pause_resume_history(tmp_path: Path) -> None:
    run_demo(Console(file=io.StringIO()), tmp_path)
    config = str(tmp_path / "heal" / "heal.yaml")
    runner = CliRunner()
    app = build_app()
    paused = runner.invoke(app, ["heal", "pause", "--config", config])
    assert paused.exit_code == 0 and "healing paused" in paused.output
    hist = runner.invoke(app, ["heal", "history", "--config", config, "--json"])
    data = json.loads(hist.output)
    assert data["paused"].startswith("paused by")
    assert any(d["decision"] == "max_unhealthy" for d in data["decisions"])
    assert runner.invoke(app, ["heal", "resume", "--config", config]).exit_code == 0
    table = runner.invoke(app, ["heal", "history", "--config", config])
    assert table.exit_code == 0 and "healing active" in table.output and "replace_node" in table.output
    missing = runner.invoke(app, ["heal", "history", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code != 0
