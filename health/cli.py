"""`kansoku check`: a thin wrapper over `kansoku.health.runner.run_check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

InventoryOpt = Annotated[
    Path, typer.Option("--inventory", "-i", envvar="KANSOKU_INVENTORY", help="fleet inventory YAML file")
]


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check(
        clusters: Annotated[list[str] | None, typer.Argument(help="cluster ids (default: all)")] = None,
        inventory: InventoryOpt = Path("inventory.yaml"),
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
        all_rows: Annotated[bool, typer.Option("--all", help="show ok checks too")] = False,
    ) -> None:
        """One round of checks; exit 0 all ok, 1 any failing, 2 any unknown."""
        from rich.console import Console

        from kansoku.health.runner import run_check
        from kansoku.health.table import exit_code, render, to_json

        statuses = run_check(inventory, clusters or [])
        if as_json:
            typer.echo(to_json(statuses))
        else:
            render(statuses, Console(), all_rows=all_rows or bool(clusters))
        raise typer.Exit(exit_code(statuses))
