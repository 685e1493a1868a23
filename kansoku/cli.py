"""The `kansoku` command: a thin shell over library functions.

Each area registers its own commands (`register(app)` in its `cli` module); every command
calls one library function that the tests call too. Area modules import only typer at
module level and keep heavy imports (pandas, OpenTelemetry, FastAPI) inside the command,
so `kansoku trace ID` starts fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from kansoku.errors import KansokuError

#: Modules that each define `register(app: typer.Typer) -> None`.
COMMAND_MODULES = (
    "kansoku.tracing.cli",  # index, trace, trace stats, ship
    "kansoku.lab",  # lab up|traffic|down
    "kansoku.health.cli",  # check, collect serve
    "kansoku.addon_bundles.cli",  # bundle ...
    "kansoku.alerts.cli",  # rules check|test, heal serve|history|pause|resume
    "kansoku.ship_cli",  # ship (files -> Elasticsearch)
    "kansoku.demo",  # demo
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="kansoku",
        help="Request tracing, fleet health and careful self-healing for OpenStack + Kubernetes.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # While the areas are being built in parallel, a module may not exist yet.
            if exc.name != name:
                raise
            continue
        module.register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one clear message and exit non-zero, never a traceback."""
    app = build_app()
    try:
        app(args=argv, prog_name="kansoku")
    except KansokuError as exc:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(1)
