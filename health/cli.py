"""`kansoku check` and `kansoku collect serve`: thin wrappers over library functions."""

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
        from kansoku.health.runner import run_check
        from kansoku.health.table import exit_code, render, to_json
        from rich.console import Console

        statuses = run_check(inventory, clusters or [])
        if as_json:
            typer.echo(to_json(statuses))
        else:
            render(statuses, Console(), all_rows=all_rows or bool(clusters))
        raise typer.Exit(exit_code(statuses))

    collect = typer.Typer(help="collect fleet and OpenStack metrics", no_args_is_help=True)
    app.add_typer(collect, name="collect")

    @collect.command("serve")
    def serve(
        inventory: InventoryOpt = Path("inventory.yaml"),
        port: Annotated[int, typer.Option("--port", help="exporter port on /metrics")] = 9478,
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
        shard: Annotated[
            str | None,
            typer.Option(
                "--shard",
                envvar="KANSOKU_SHARD",
                help="i/n: own only the clusters rendezvous hashing gives shard i of n; "
                "every series gets a shard label",
            ),
        ] = None,
    ) -> None:
        """Run the check loop and the collectors; expose everything on /metrics.

        Example: kansoku collect serve -i inventory.yaml --port 9478 --shard 0/3
        """
        from kansoku.collectors.shard import Shard
        from kansoku.health.serve import serve_forever

        serve_forever(inventory, host, port, Shard.parse(shard) if shard else None)

    @collect.command("scrape-config")
    def scrape_config(
        shards: Annotated[int, typer.Option("--shards", help="number of collector shards")] = 2,
        collector: Annotated[
            list[str] | None,
            typer.Option(
                "--collector", help="host:port of each collector, in shard order (default 127.0.0.1:9478+i)"
            ),
        ] = None,
        prometheus: Annotated[
            list[str] | None,
            typer.Option(
                "--prometheus", help="host:port of each shard's Prometheus (default 127.0.0.1:9090+i)"
            ),
        ] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="directory to write the files into")] = Path(
            "kansoku-federation"
        ),
    ) -> None:
        """Write the Prometheus configs of a sharded deployment: one per shard, one global.

        Example: kansoku collect scrape-config --shards 3 -o prom/
        """
        from kansoku.collectors.federation import write_federation

        for path in write_federation(out, shards, collector or [], prometheus or []):
            typer.echo(str(path))
