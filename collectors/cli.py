"""`kansoku collect serve`: the check loop, the OpenStack collectors and the exporter.

Thin on purpose: the work is `kansoku.collectors.serve.serve_forever`. Only typer and the
stdlib at module level so `kansoku --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kansoku.health.cli import InventoryOpt


def register(app: typer.Typer) -> None:
    collect = typer.Typer(help="collect fleet and OpenStack metrics", no_args_is_help=True)
    app.add_typer(collect, name="collect")

    @collect.command("serve")
    def serve(
        inventory: InventoryOpt = Path("inventory.yaml"),
        port: Annotated[int, typer.Option("--port", help="exporter port on /metrics")] = 9478,
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    ) -> None:
        """Run the check loop and the collectors; expose everything on /metrics."""
        from kansoku.collectors.serve import serve_forever

        serve_forever(inventory, host, port)
