"""`kansoku heal serve|history|pause|resume`: thin commands over kansoku.alerts.heal_serve."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from kansoku.options import DEFAULT_BIND, bind_option

CONFIG_OPT = typer.Option(
    Path("heal.yaml"), "--config", "-c", help="heal configuration (see examples/heal.yaml)"
)


def register(app: typer.Typer) -> None:
    heal = typer.Typer(
        help="Alert-driven, careful auto-heal (Alertmanager webhook receiver).", no_args_is_help=True
    )
    app.add_typer(heal, name="heal")

    @heal.command("serve")
    def serve_cmd(
        config: Path = CONFIG_OPT,
        host: Annotated[str, bind_option()] = DEFAULT_BIND,
        port: int = typer.Option(9095, help="listen port"),
        dry_run: bool = typer.Option(False, "--dry-run", help="decide and journal, never act"),
    ) -> None:
        """Receive Alertmanager webhooks on POST /alertmanager and heal (token: $KANSOKU_HEAL_TOKEN).

        Example: kansoku heal serve --config examples/heal.yaml --dry-run
        """
        from kansoku.alerts.heal_serve import serve

        typer.echo(
            f"kansoku heal: listening on http://{host}:{port}/alertmanager{' (dry-run)' if dry_run else ''}",
            err=True,
        )
        serve(config, host, port, dry_run)

    @heal.command("history")
    def history_cmd(
        config: Path = CONFIG_OPT,
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
        limit: int = typer.Option(30, help="how many recent actions and decisions"),
    ) -> None:
        """Recent decisions and actions, success rate per action, pause state.

        Example: kansoku heal history --config examples/heal.yaml --limit 10
        """
        from kansoku.alerts.heal_serve import history_json

        text = history_json(config, limit)
        if json_out:
            typer.echo(text)
            return
        from kansoku.alerts.heal_show import print_history

        print_history(text)

    @heal.command("pause")
    def pause_cmd(config: Path = CONFIG_OPT) -> None:
        """Stop all healing now (persisted; the running server obeys at its next decision).

        Example: kansoku heal pause --config /etc/kansoku/heal.yaml
        """
        from kansoku.alerts.heal_serve import set_paused

        typer.echo(set_paused(config, True, getpass.getuser()))

    @heal.command("resume")
    def resume_cmd(config: Path = CONFIG_OPT) -> None:
        """Resume healing (also after the fleet budget or a shared-dependency pause).

        Example: kansoku heal resume --config /etc/kansoku/heal.yaml
        """
        from kansoku.alerts.heal_serve import set_paused

        typer.echo(set_paused(config, False, getpass.getuser()))
