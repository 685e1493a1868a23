"""The `kansoku` command: a thin shell over library functions.

Each area registers its own commands (`register(app)` in its `cli` module); every command
calls one library function that the tests call too. Area modules import only typer at
module level and keep heavy imports (pandas, OpenTelemetry, FastAPI) inside the command.
`kansoku trace ...` skips typer altogether (typer pulls in pydantic, ~150 ms): an operator
with a request id waits for nothing but the lookup.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

    from kansoku.errors import KansokuError

#: Modules that each define `register(app: typer.Typer) -> None`.
COMMAND_MODULES = (
    "kansoku.tracing.cli",  # index, trace, trace stats, ship
    "kansoku.lab.cli",  # lab up|traffic|status|down
    "kansoku.health.cli",  # check
    "kansoku.collectors.cli",  # collect serve
    "kansoku.addon_bundles.cli",  # bundle ...
    "kansoku.alerts.cli",  # heal serve|history|pause|resume, rules check|test
    "kansoku.demo",  # demo
    "kansoku.web.cli",  # web
)


def build_app() -> typer.Typer:
    import typer

    app = typer.Typer(
        name="kansoku",
        help="Request tracing, fleet health and careful self-healing for OpenStack + Kubernetes.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", "-V", is_eager=True, help="print the version (kansoku.__version__) and exit"
        ),
    ) -> None:
        """Request tracing, fleet health and careful self-healing for OpenStack + Kubernetes."""
        if version:
            typer.echo(_version_line())
            raise typer.Exit(0)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def _version_line() -> str:
    from kansoku import __version__

    return f"kansoku {__version__}"


def _print_error(exc: KansokuError) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors print one clear message and exit non-zero, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):  # no typer app to build for a version string
        print(_version_line())
        return
    if args[:1] == ["trace"]:
        from kansoku.tracing.trace_cmd import trace_main

        sys.exit(trace_main(args[1:]))
    from kansoku.errors import KansokuError

    app = build_app()
    try:
        app(args=args, prog_name="kansoku")
    except KansokuError as exc:
        _print_error(exc)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(1)
