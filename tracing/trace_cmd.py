"""`kansoku trace ...` without typer: argument parsing and the command, stdlib-only imports.

typer 0.29 coerces every non-flag option (and the app's own `--help` flag) through a pydantic
`TypeAdapter`; importing pydantic alone costs ~150 ms of the 300 ms `kansoku trace ID` may
take from process start to output. So `trace` is parsed here with argparse, and
`trace_main(argv)` runs it without building the typer app at all: the fast path the
`kansoku` entry point can take for `trace` (typer still registers it for `--help` listings).

argparse itself (with gettext and locale, which it loads to translate its messages) costs
~2 ms of a ~30 ms `kansoku trace ID`: the plain command lines (`ID`, `--json`, `--store DIR`,
...) are read by `fast_args`, which hands everything else (`--help`, an unknown or
abbreviated option, a missing value) to argparse, so errors and help read as before.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kansoku.config import store_dir

if TYPE_CHECKING:
    import argparse

TRACE_HELP = (
    "Trace one request across services and hosts and name the failing service (`trace stats`: fleet table)."
)

TRACE_EXAMPLES = """examples:
  kansoku trace req-6f1c...                       verdict + waterfall; exit 1 if unknown
  kansoku trace req-6f1c... --json | jq .
  kansoku trace <instance-uuid> --instance --store /srv/kansoku
  kansoku trace stats --csv stats.csv"""


class TraceArgs:
    """`kansoku trace`'s options, as `fast_args` or argparse read them."""

    __slots__ = ("as_json", "csv", "explain", "html", "id", "instance", "otlp", "parquet", "source", "store")

    def __init__(self, id: str) -> None:
        self.id = id
        self.as_json = False
        self.html: Path | None = None
        self.otlp: str | None = None
        self.instance = False
        self.explain = False
        self.store: Path | None = None
        self.source: str | None = None
        self.csv: Path | None = None
        self.parquet: Path | None = None

    @classmethod
    def of(cls, ns: argparse.Namespace) -> TraceArgs:
        args = cls(ns.id)
        for name in cls.__slots__:
            setattr(args, name, getattr(ns, name))
        return args

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TraceArgs):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self) -> str:
        return "TraceArgs(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"


#: What `fast_args` reads: flags, options with a value (argparse's `dest` names), and which
#: values are paths (argparse's `type=Path`). `trace_parser` is the full definition.
_FLAGS = {"--json": "as_json", "--instance": "instance", "--explain": "explain"}
_VALUES = {
    "--store": "store",
    "--source": "source",
    "--html": "html",
    "--otlp": "otlp",
    "--csv": "csv",
    "--parquet": "parquet",
}
_PATHS = frozenset({"store", "html", "csv", "parquet"})


def fast_args(argv: list[str]) -> TraceArgs | None:
    """The options of a plain `kansoku trace` command line without argparse, or None.

    Plain: one ID not starting with `-`, and options spelt out in full (`--store DIR` or
    `--store=DIR`, flags without values). Anything else is argparse's to read (and to
    explain when it is wrong): None.
    """
    ident: str | None = None
    found: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-"):
            if ident is not None:
                return None  # a second positional: argparse's error
            ident = arg
        elif arg in _FLAGS:
            found[_FLAGS[arg]] = True
        else:
            name, eq, text = arg.partition("=")
            if name not in _VALUES:
                return None  # -h, --help, an abbreviation, an unknown option, `-`, `--`
            if not eq:
                if i == len(argv) or argv[i].startswith("-"):
                    return None  # no value: argparse's error
                text = argv[i]
                i += 1
            found[_VALUES[name]] = text
    if ident is None:
        return None
    args = TraceArgs(ident)
    for name, value in found.items():
        setattr(args, name, Path(value) if name in _PATHS and isinstance(value, str) else value)
    return args


def _formatter_class() -> type[argparse.HelpFormatter]:
    import argparse

    class _Formatter(argparse.RawDescriptionHelpFormatter):
        """argparse's help formatter without `import shutil` (which pulls in bz2 and lzma).

        argparse builds a formatter for every `add_argument`; the default one imports shutil
        for the terminal width, ~2 ms of the `kansoku trace ID` start. The width is read the
        way shutil reads it ($COLUMNS, then the terminal, else 80 columns). Description and
        epilog are printed as written (RawDescriptionHelpFormatter), so examples keep their lines.
        """

        def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24) -> None:
            try:
                columns = int(os.environ.get("COLUMNS", "0"))
                if not columns and sys.__stdout__ is not None:
                    columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (ValueError, OSError):  # a bad $COLUMNS, or stdout is not a terminal
                columns = 0
            columns = columns or 80
            super().__init__(prog, indent_increment, max_help_position, width=max(columns, 20) - 2)

    return _Formatter


def trace_parser() -> argparse.ArgumentParser:
    """`kansoku trace` options, parsed by argparse: typer coerces every non-flag option through
    pydantic, whose import alone costs ~150 ms of the 300 ms `kansoku trace ID` may take."""
    import argparse

    from kansoku.options import STORE_HELP

    p = argparse.ArgumentParser(
        prog="kansoku trace",
        description=TRACE_HELP,
        epilog=TRACE_EXAMPLES,
        formatter_class=_formatter_class(),
    )
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
    p.add_argument(
        "--explain",
        action="store_true",
        help="say why each span is a caller or callee and why the root cause was chosen (evidence lines)",
    )
    p.add_argument("--store", metavar="DIR", type=Path, help=STORE_HELP)
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
    args = fast_args(argv) or TraceArgs.of(trace_parser().parse_args(argv))
    if args.id == "stats":
        from kansoku.tracing.stats import run_stats

        run_stats(store_dir(args.store), csv=args.csv, parquet=args.parquet)
        return 0
    from kansoku.tracing.outputs import run_trace

    return run_trace(
        args.id,
        args.source or str(store_dir(args.store)),
        as_json=args.as_json,
        html=args.html,
        otlp=args.otlp,
        include_instance=args.instance,
        explain=args.explain,
    )


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

        from kansoku.tracing.safe_text import visible

        message = escape(visible(str(exc)))
        Console(stderr=True, highlight=False, emoji=False).print(
            f"[bold red]error:[/] {message}", soft_wrap=True
        )
        return exc.exit_code
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130
