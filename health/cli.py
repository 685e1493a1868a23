"""`kansoku check` and `kansoku collect serve`: thin wrappers over library functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kansoku.options import DEFAULT_BIND, DEFAULT_INVENTORY, bind_option, inventory_option

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
    ) -> None:
        """One round of checks, one line per cluster; exit 0 all ok, 1 any failing, 2 any unknown.

        Example: kansoku check --inventory examples/inventory.yaml prod-fra-001
        """
        from kansoku.health.runner import run_check
        from kansoku.health.summary import render_summary
        from kansoku.health.table import exit_code, render, to_json
        from rich.console import Console

        statuses = run_check(inventory, clusters or [])
        if as_json:
            typer.echo(to_json(statuses))
        else:
            show = render if wide else render_summary
            show(statuses, Console(), all_rows=all_rows or bool(clusters))
        raise typer.Exit(exit_code(statuses))

    collect = typer.Typer(help="collect fleet and OpenStack metrics", no_args_is_help=True)
    app.add_typer(collect, name="collect")

    @collect.command("serve")
    def serve(
        inventory: InventoryOpt = DEFAULT_INVENTORY,
        port: Annotated[int, typer.Option("--port", help="exporter port on /metrics")] = 9478,
        host: Annotated[str, bind_option()] = DEFAULT_BIND,
    ) -> None:
        """Run the check loop and the collectors; expose everything on /metrics.

        Example: kansoku collect serve --inventory examples/inventory.yaml --port 9478
        """
        from kansoku.health.serve import serve_forever

        serve_forever(inventory, host, port)
