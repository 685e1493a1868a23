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
import time
from pathlib import Path
from typing import Annotated

import typer

from kansoku.config import store_dir
from kansoku.options import deprecated, hidden_option, log_host_option, rule_option, store_option
from kansoku.tracing import ship_cli

MAX_PROBLEMS_SHOWN = 20


def index_command(
    paths: list[Path] = typer.Argument(
        ..., help="log files or directories (rotated .1 and .gz files included)"
    ),
    store: Annotated[Path | None, store_option()] = None,
    rule: Annotated[str | None, rule_option()] = None,
    log_host: Annotated[str | None, log_host_option()] = None,
    host: Annotated[str | None, hidden_option("--host")] = None,
) -> None:
    """Index log files (incremental: a second run reads only new bytes).

    Example: kansoku index /var/log/nova /var/log/neutron --store /srv/kansoku
    """
    from rich.console import Console

    from kansoku.progress import progress_bar
    from kansoku.tracing.files import make_rule
    from kansoku.tracing.index import IndexProgress, build_index

    console = Console(highlight=False)
    path_rule = make_rule(rule, deprecated(log_host, host, "--host", "--log-host"))
    with progress_bar("indexing", unit="bytes", rate_field="lines/s") as update:
        t0 = time.perf_counter()

        def on_file(p: IndexProgress) -> None:
            rate = p.lines / max(time.perf_counter() - t0, 1e-6)
            update(
                total=p.bytes_total,
                completed=p.bytes_done,
                detail=f"{p.files_done}/{p.files_total} files",
                rate=f"{rate:,.0f}",
            )

        report = build_index(paths, store_dir(store), path_rule, progress=on_file)
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
        help="Trace one request across services and hosts and name the failing service (`trace stats`: fleet table). Options: kansoku trace --help. Example: kansoku trace req-6f1c...",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(_trace_entry)
    ship_cli.register(app)
