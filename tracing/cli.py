"""`kansoku index PATH...`, `kansoku trace ID`, `kansoku trace stats`: thin shells over the library.

Only typer and the standard library are imported here: `kansoku trace ID` must print its
answer within 300 ms of process start, so the parser, index, pandas and OpenTelemetry are
imported inside the commands that need them.

`trace` takes an id, and `trace stats` must work too; a typer group with a positional
argument would swallow `stats` as the id, so `trace` is one command that treats the literal
`stats` (never a request id or UUID) as the summary.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import typer

DEFAULT_STORE = ".kansoku"
MAX_PROBLEMS_SHOWN = 20

_STORE_HELP = "index store directory (default ./.kansoku, or $KANSOKU_STORE)"


def _store(store: Path | None) -> Path:
    return store if store is not None else Path(os.environ.get("KANSOKU_STORE") or DEFAULT_STORE)


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
    from kansoku.tracing.files import make_rule
    from kansoku.tracing.index import build_index
    from rich.console import Console

    console = Console(highlight=False)
    report = build_index(paths, _store(store), make_rule(rule, host))
    console.print(report.summary(), soft_wrap=True)
    if report.problems_count:
        shown = report.problems[:MAX_PROBLEMS_SHOWN]
        console.print(f"[yellow]{report.problems_count} line(s) or file(s) could not be parsed or read[/]:")
        for problem in shown:
            console.print(f"  {problem}", soft_wrap=True, markup=False)
        if report.problems_count > len(shown):
            console.print(f"  … and {report.problems_count - len(shown)} more (they stay findable by id)")


TRACE_HELP = (
    "Trace one request across services and hosts and name the failing service (`trace stats`: fleet table)."
)


def trace_parser() -> argparse.ArgumentParser:
    """`kansoku trace` options, parsed by argparse: typer coerces every non-flag option through
    pydantic, whose import alone costs ~150 ms of the 300 ms `kansoku trace ID` may take."""
    p = argparse.ArgumentParser(prog="kansoku trace", description=TRACE_HELP)
    p.add_argument("id", metavar="ID", help="a req-... id (local or global), an instance UUID, or `stats`")
    out = p.add_argument_group("outputs (the terminal waterfall unless --json)")
    out.add_argument(
        "--json",
        action="store_true",
        dest="as_json",
        help="print the trace as JSON (docs/trace-json-schema.json)",
    )
    out.add_argument("--html", metavar="FILE", type=Path, help="write a self-contained HTML page")
    out.add_argument(
        "--otlp", metavar="URL", help="export spans to an OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318"
    )
    p.add_argument("--instance", action="store_true", help="also follow instance UUIDs (weak links)")
    p.add_argument("--store", metavar="DIR", type=Path, help=_STORE_HELP)
    p.add_argument(
        "--source",
        metavar="URL",
        help="where the lines are: an index store path (default) or elasticsearch://host:9200/index",
    )
    stats = p.add_argument_group("`kansoku trace stats`")
    stats.add_argument("--csv", metavar="FILE", type=Path, help="also write the table as CSV")
    stats.add_argument("--parquet", metavar="FILE", type=Path, help="also write the table as Parquet")
    return p


def trace_command(argv: list[str]) -> int:
    """Parse `kansoku trace` arguments and run it; the exit code."""
    args = trace_parser().parse_args(argv)
    if args.id == "stats":
        from kansoku.tracing.stats import run_stats

        run_stats(_store(args.store), csv=args.csv, parquet=args.parquet)
        return 0
    from kansoku.tracing.outputs import run_trace

    return run_trace(
        args.id,
        args.source or str(_store(args.store)),
        as_json=args.as_json,
        html=args.html,
        otlp=args.otlp,
        include_instance=args.instance,
    )


def _trace_entry(ctx: typer.Context) -> None:
    code = trace_command(list(ctx.args))
    if code:
        sys.exit(code)


def register(app: typer.Typer) -> None:
    app.command("index")(index_command)
    app.command(
        "trace",
        help=TRACE_HELP + " Options: kansoku trace --help.",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )(_trace_entry)


def trace_main(argv: list[str] | None = None) -> int:
    """`kansoku trace ...` without building the whole typer app: the fast path for `kansoku.cli.main`.

    typer coerces even the group's `--help` flag through pydantic (~150 ms to import), so
    the shared entry point can hand `trace` argv straight here and stay under 300 ms.
    """
    from kansoku.errors import KansokuError

    try:
        return trace_command(sys.argv[2:] if argv is None else argv)
    except KansokuError as exc:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130
