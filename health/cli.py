"""`kansoku check`: a thin wrapper over `kansoku.health.runner.run_check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kansoku.options import DEFAULT_INVENTORY, inventory_option, store_option

InventoryOpt = Annotated[Path, inventory_option()]


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check(
        clusters: Annotated[list[str] | None, typer.Argument(help="cluster ids (default: all)")] = None,
        inventory: InventoryOpt = DEFAULT_INVENTORY,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
        all_rows: Annotated[
            bool, typer.Option("--all", help="show healthy clusters (or checks) too")
        ] = False,
        wide: Annotated[bool, typer.Option("--wide", help="one row per check with its reason")] = False,
        iaas: Annotated[
            str | None,
            typer.Option("--iaas", help="judge failing clusters against the IaaS: 'nova' or a snapshot JSON"),
        ] = None,
        store: Annotated[Path | None, store_option()] = None,
    ) -> None:
        """One round of checks, one line per cluster; exit 0 all ok, 1 any failing, 2 any unknown.

        Example: kansoku check --inventory examples/inventory.yaml prod-fra-001
        """
        from rich.console import Console

        from kansoku.health.crosslayer.check import print_verdicts, verdicts_for_check, with_verdicts
        from kansoku.health.runner import run_check
        from kansoku.health.summary import render_summary
        from kansoku.health.table import exit_code, render, to_json

        statuses = run_check(inventory, clusters or [])
        verdicts = verdicts_for_check(inventory, statuses, store, iaas)
        if as_json:
            text = to_json(statuses)
            typer.echo(with_verdicts(text, verdicts) if verdicts is not None else text)
        else:
            console = Console()
            show = render if wide else render_summary
            show(statuses, console, all_rows=all_rows or bool(clusters))
            if verdicts:
                print_verdicts(verdicts, console)
        raise typer.Exit(exit_code(statuses))
