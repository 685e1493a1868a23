"""`kansoku index PATH...`, `kansoku trace ID`, `kansoku trace stats`, `kansoku ship`: thin shells over the library.

Only typer and the standard library are imported here: `kansoku trace ID` must print its
answer within 300 ms of process start, so the parser, index, pandas and OpenTelemetry are
imported inside the commands that need them.

`trace` takes an id, and `trace stats` must work too; a typer group with a positional
argument would swallow `stats` as the id, so `trace` is one command that treats the literal
`stats` (never a request id or UUID) as the summary. Its arguments are parsed by argparse in
`kansoku.tracing.trace_cmd` (typer would import pydantic), which also has `trace_main(argv)`,
the path the entry point can take without building the typer app.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from kansoku.config import store_dir
from kansoku.tracing import ship_cli

MAX_PROBLEMS_SHOWN = 20

_STORE_HELP = "index store directory (default ./.kansoku, or $KANSOKU_STORE)"


def index_command(
    paths: list[Path] = typer.Argument(
        ..., help="log files or directories (rotated .1 and .gz files included)"
    ),
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    rule: str | None = typer.Option(
        None, "--rule", help="how service/host come from a path: a regex with (?P<service>) and (?P<host>)"
    ),
    host: str | None = typer.Option(None, "--host", help="host name for files whose path does not name one"),
) -> None:
    """Index log files (incremental: a second run reads only new bytes)."""
    from rich.console import Console

    from kansoku.tracing.files import make_rule
    from kansoku.tracing.index import build_index

    console = Console(highlight=False)
    report = build_index(paths, store_dir(store), make_rule(rule, host))
    console.print(report.summary(), soft_wrap=True)
    if report.problems_count:
        shown = report.problems[:MAX_PROBLEMS_SHOWN]
        console.print(f"[yellow]{report.problems_count} line(s) or file(s) could not be parsed or read[/]:")
        for problem in shown:
            console.print(f"  {problem}", soft_wrap=True, markup=False)
        if report.problems_count > len(shown):
            console.print(f"  … and {report.problems_count - len(shown)} more (they stay findable by id)")
    if report.files_seen == 0:
        from kansoku.errors import KansokuError

        where = ", ".join(str(p) for p in paths)
        raise KansokuError(f"no log files found in {where}", exit_code=1)


def _trace_entry(ctx: typer.Context) -> None:
    from kansoku.tracing.trace_cmd import trace_command

    code = trace_command(list(ctx.args))
    if code:
        sys.exit(code)


def register(app: typer.Typer) -> None:
    app.command("index")(index_command)
    app.command(
        "trace",
        help="Trace one request across services and hosts and name the failing service (`trace stats`: fleet table). Options: kansoku trace --help.",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(_trace_entry)
    ship_cli.register(app)
