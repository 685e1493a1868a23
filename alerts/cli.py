"""`kansoku heal history|pause|resume` and `kansoku rules check`: thin commands.

The work is in `kansoku.alerts.heal.serve` and `kansoku.alerts.rules.check`. `heal serve`
(which reads the bundles' heal hooks) and `rules test` (every bundle's rules) are added to
these groups by the add-on bundles' CLI (`kansoku.addon_bundles.cli`): the bundles sit above
this area, so it never imports them. Only typer and stdlib at module level.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

CONFIG_OPT = typer.Option(
    Path("heal.yaml"), "--config", "-c", help="heal configuration (see examples/heal.yaml)"
)
rules_app = typer.Typer(
    help="Alert rules: multi-cluster label check and promtool unit tests.", no_args_is_help=True
)
heal_app = typer.Typer(
    help="Alert-driven, careful auto-heal (Alertmanager webhook receiver).", no_args_is_help=True
)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@rules_app.command("check")
def rules_check_cmd(
    files: Annotated[list[Path], typer.Argument(help="rule files or PrometheusRule manifests")],
    policy: Annotated[
        bool,
        typer.Option("--policy", help="also require severity, summary, runbook_url, a known heal_action"),
    ] = False,
) -> None:
    """Multi-cluster label check and `promtool check rules`; exit 1 on any finding.

    Example: kansoku rules check --policy alerts/rule-files/kansoku.rules.yaml
    """
    from kansoku.alerts.rules.check import check_files

    report = check_files(files, policy=policy)
    console = _console()
    for finding in report.findings:
        console.print(str(finding), markup=False)
    for finding in report.unchecked:
        console.print(f"note: {finding}", markup=False)
    for name, count in report.skipped.items():
        console.print(
            f"{name}: {count} document(s) that are not PrometheusRule objects skipped", markup=False
        )
    for result in report.promtool:
        if not result.ok:
            console.print(f"{result.target}: promtool check rules failed:\n{result.output}", markup=False)
    console.print(f"{len(files)} file(s), {len(report.findings)} finding(s)")
    raise typer.Exit(0 if report.ok else 1)


@heal_app.command("history")
def history_cmd(
    config: Path = CONFIG_OPT,
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
    limit: int = typer.Option(30, help="how many recent actions and decisions"),
) -> None:
    """Recent decisions and actions, success rate per action, pause state.

    Example: kansoku heal history --config examples/heal.yaml --limit 10
    """
    from kansoku.alerts.heal.serve import history_json

    text = history_json(config, limit)
    if json_out:
        typer.echo(text)
        return
    from kansoku.alerts.heal.show import print_history

    print_history(text)


@heal_app.command("pause")
def pause_cmd(config: Path = CONFIG_OPT) -> None:
    """Stop all healing now (persisted; the running server obeys at its next decision).

    Example: kansoku heal pause --config /etc/kansoku/heal.yaml
    """
    from kansoku.alerts.heal.serve import set_paused

    typer.echo(set_paused(config, True, getpass.getuser()))


@heal_app.command("resume")
def resume_cmd(config: Path = CONFIG_OPT) -> None:
    """Resume healing (also after the fleet budget or a shared-dependency pause).

    Example: kansoku heal resume --config /etc/kansoku/heal.yaml
    """
    from kansoku.alerts.heal.serve import set_paused

    typer.echo(set_paused(config, False, getpass.getuser()))


@heal_app.command("prune")
def prune_cmd(
    config: Path = CONFIG_OPT,
    older_than_days: float = typer.Option(
        None, "--older-than-days", help="default: retention_days from the config"
    ),
) -> None:
    """Drop journal rows closed for longer than the retention (open actions, firing alerts
    and what the rails still look back on are kept).

    Example: kansoku heal prune --config examples/heal.yaml
    """
    from kansoku.alerts.heal.serve import prune_journal

    done = prune_journal(config, older_than_days)
    typer.echo("pruned " + ", ".join(f"{n} {table}" for table, n in done.items()))


def register(app: typer.Typer) -> None:
    app.add_typer(heal_app, name="heal")
    app.add_typer(rules_app, name="rules")
