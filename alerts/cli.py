"""`kansoku heal serve|history|pause|resume`: thin commands over kansoku.alerts.heal_serve."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

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
        host: str = typer.Option("127.0.0.1", help="listen address"),
        port: int = typer.Option(9095, help="listen port"),
        dry_run: bool = typer.Option(False, "--dry-run", help="decide and journal, never act"),
    ) -> None:
        """Receive Alertmanager webhooks on POST /alertmanager and heal (token: $KANSOKU_HEAL_TOKEN)."""
        from kansoku.alerts.heal_serve import serve

        def ready() -> None:
            typer.echo(
                f"kansoku heal: listening on http://{host}:{port}/alertmanager"
                f"{' (dry-run)' if dry_run else ''}",
                err=True,
            )

        serve(config, host, port, dry_run, on_ready=ready)

    @heal.command("prune")
    def prune_cmd(
        config: Path = CONFIG_OPT,
        older_than_days: float = typer.Option(
            None, "--older-than-days", help="default: retention_days from the config"
        ),
    ) -> None:
        """Drop journal rows closed for longer than the retention (open actions, firing alerts
        and what the rails still look back on are kept). Example: kansoku heal prune -c heal.yaml"""
        from kansoku.alerts.heal_serve import prune_journal

        done = prune_journal(config, older_than_days)
        typer.echo("pruned " + ", ".join(f"{n} {table}" for table, n in done.items()))

    @heal.command("history")
    def history_cmd(
        config: Path = CONFIG_OPT,
        json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
        limit: int = typer.Option(30, help="how many recent actions and decisions"),
    ) -> None:
        """Recent decisions and actions, success rate per action, pause state."""
        from kansoku.alerts.heal_serve import history_json

        text = history_json(config, limit)
        if json_out:
            typer.echo(text)
            return
        from kansoku.alerts.heal_show import print_history

        print_history(text)

    @heal.command("pause")
    def pause_cmd(config: Path = CONFIG_OPT) -> None:
        """Stop all healing now (persisted; the running server obeys at its next decision)."""
        from kansoku.alerts.heal_serve import set_paused

        typer.echo(set_paused(config, True, getpass.getuser()))

    @heal.command("resume")
    def resume_cmd(config: Path = CONFIG_OPT) -> None:
        """Resume healing (also after the fleet budget or a shared-dependency pause)."""
        from kansoku.alerts.heal_serve import set_paused

        typer.echo(set_paused(config, False, getpass.getuser()))
