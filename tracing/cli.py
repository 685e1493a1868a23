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
from typing import TYPE_CHECKING, Annotated

import typer

from kansoku.config import store_dir
from kansoku.options import deprecated, hidden_option, log_host_option, rule_option, store_option
from kansoku.tracing import ship_cli

if TYPE_CHECKING:
    from rich.console import Console

MAX_PROBLEMS_SHOWN = 20


def index_command(
    paths: list[Path] | None = typer.Argument(
        None, help="log files or directories (rotated .1 and .gz files included)"
    ),
    store: Annotated[Path | None, store_option()] = None,
    rule: Annotated[str | None, rule_option()] = None,
    log_host: Annotated[str | None, log_host_option()] = None,
    host: Annotated[str | None, hidden_option("--host")] = None,
    verify: bool = typer.Option(
        False, "--verify", help="check every store file against its checksums; exit 1 naming the damaged ones"
    ),
    repair: bool = typer.Option(
        False, "--repair", help="drop damaged store files and re-index the log files they covered"
    ),
    follow_links: bool = typer.Option(
        False, "--follow-links", help="follow symbolic links that lead outside the given paths"
    ),
) -> None:
    """Index log files (incremental: a second run reads only new bytes).

    Example: kansoku index /var/log/nova /var/log/neutron --store /srv/kansoku
    """
    from rich.console import Console

    from kansoku.errors import KansokuError
    from kansoku.progress import progress_bar
    from kansoku.tracing.index import IndexProgress, build_index
    from kansoku.tracing.ingest.files import make_rule
    from kansoku.tracing.safe_text import visible

    console = Console(highlight=False)
    if verify:
        _verify(console, store_dir(store))
        return
    if not paths and not repair:
        raise KansokuError("give the log files or directories to index (or --verify / --repair)")
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

        report = build_index(
            paths or [],
            store_dir(store),
            path_rule,
            progress=on_file,
            repair=repair,
            follow_links=follow_links,
        )
    console.print(visible(report.summary()), soft_wrap=True, markup=False)
    for note in report.repaired:
        console.print(f"  repaired: {visible(note)}", soft_wrap=True, markup=False)
    if report.problems_count:
        shown = report.problems[:MAX_PROBLEMS_SHOWN]
        console.print(f"[yellow]{report.problems_count} line(s) or file(s) could not be parsed or read[/]:")
        for problem in shown:
            console.print(f"  {visible(problem)}", soft_wrap=True, markup=False)
        if report.problems_count > len(shown):
            console.print(f"  … and {report.problems_count - len(shown)} more (they stay findable by id)")
    if report.files_seen == 0:
        where = ", ".join(str(p) for p in paths or [])
        raise KansokuError(f"no log files found in {where}", exit_code=1)


def _verify(console: Console, store: Path) -> None:
    """`kansoku index --verify`: every damaged store file, or that all checksums hold."""
    from kansoku.errors import KansokuError
    from kansoku.tracing.safe_text import visible
    from kansoku.tracing.store_check import verify_store

    if not (store / "manifest.json").is_file():
        raise KansokuError(f"{store}: no index here; run `kansoku index PATH...` first (or give --store)")
    damaged = verify_store(store)
    if damaged:
        for line in damaged:
            console.print(visible(line), soft_wrap=True, markup=False)
        raise KansokuError(
            f"{len(damaged)} damaged file(s) in {store}; `kansoku index --repair [PATH...]` rebuilds what they held",
            exit_code=1,
        )
    console.print(
        f"{store}: every segment page, block table and .gz copy matches its checksum", soft_wrap=True
    )


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
