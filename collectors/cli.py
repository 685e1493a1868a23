"""`kansoku collect serve`: the check loop, the OpenStack collectors and the exporter.

Thin on purpose: the work is `kansoku.collectors.serve.serve_forever`. Only typer and the
stdlib at module level so `kansoku --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kansoku.options import DEFAULT_BIND, DEFAULT_INVENTORY, bind_option, inventory_option


def register(app: typer.Typer) -> None:
    collect = typer.Typer(help="collect fleet and OpenStack metrics", no_args_is_help=True)
    app.add_typer(collect, name="collect")

    @collect.command("serve")
    def serve(
        inventory: Annotated[Path, inventory_option()] = DEFAULT_INVENTORY,
        port: Annotated[int, typer.Option("--port", help="exporter port on /metrics")] = 9478,
        host: Annotated[str, bind_option()] = DEFAULT_BIND,
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

        Example: kansoku collect serve --inventory examples/inventory.yaml --port 9478 --shard 0/2
        """
        from kansoku.collectors.serve import serve_forever
        from kansoku.collectors.shard import Shard

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
