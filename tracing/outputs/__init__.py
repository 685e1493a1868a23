"""`kansoku trace ID`: find the lines, stitch, isolate, then hand the result to each output asked for.

Outputs are a registry (terminal, json, html, otlp), each one `TraceOutput`; the CLI only
says which ones and where. Heavy outputs (OpenTelemetry) import their libraries inside, so
the common path (terminal) stays fast. rich is imported only when something is printed
through it (the terminal waterfall, a "wrote FILE" note): `--json` to stdout never loads it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kansoku.errors import KansokuError
from kansoku.tracing.model import LogSource, Trace, Verdict

if TYPE_CHECKING:
    from rich.console import Console


def escape(text: str) -> str:
    """rich's markup escape, imported when a message is printed (not on the `--json` path)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class TraceOutput(Protocol):
    """One way to show a trace; `target` is the output's argument (a path, a URL) or None."""

    def __call__(self, trace: Trace, verdict: Verdict, console: Console, target: str | None) -> None: ...


def _terminal(trace: Trace, verdict: Verdict, console: Console, target: str | None) -> None:
    from kansoku.tracing.outputs.terminal import render_terminal

    render_terminal(trace, verdict, console)


def _json(trace: Trace, verdict: Verdict, console: Console, target: str | None) -> None:
    from kansoku.tracing.outputs.json_doc import render_json

    if target is None or target == "-":
        _json_stdout(trace, verdict)
    else:
        text = render_json(trace, verdict)
        _write(Path(target), text)
        console.print(f"wrote {escape(target)}", highlight=False, soft_wrap=True)


def _json_stdout(trace: Trace, verdict: Verdict) -> None:
    from kansoku.tracing.outputs.json_doc import render_json

    sys.stdout.write(render_json(trace, verdict) + "\n")
    sys.stdout.flush()


def _html(trace: Trace, verdict: Verdict, console: Console, target: str | None) -> None:
    from kansoku.tracing.outputs.html_page import render_html

    assert target is not None
    _write(Path(target), render_html(trace, verdict))
    console.print(f"wrote {escape(target)} ({len(trace.spans)} spans)", highlight=False, soft_wrap=True)


def _otlp(trace: Trace, verdict: Verdict, console: Console, target: str | None) -> None:
    from kansoku.tracing.outputs.otlp import export_otlp

    assert target is not None
    result = export_otlp(trace, verdict, target)
    console.print(
        f"exported {result.spans} spans to {escape(result.endpoint)} (trace id {result.trace_id})",
        highlight=False,
        soft_wrap=True,
    )


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise KansokuError(f"{path}: cannot write ({err.strerror})") from None


OUTPUTS: dict[str, TraceOutput] = {"terminal": _terminal, "json": _json, "html": _html, "otlp": _otlp}


def _check_targets(html: Path | None, otlp: str | None) -> None:
    """Refuse a bad --html path or --otlp URL before the work, not after the terminal output."""
    if html is not None:
        parent = html.expanduser().resolve().parent
        if not parent.is_dir():
            raise KansokuError(f"--html {html}: directory {parent} does not exist")
    if otlp is not None:
        from kansoku.tracing.outputs.otlp import endpoint_url

        endpoint_url(otlp)


def find_trace(source: LogSource, query: str, include_instance: bool = False) -> Trace:
    """The trace of `query`, or a KansokuError (exit 1) saying where we looked."""
    from kansoku.tracing.stitch import build_trace

    files = getattr(source, "files_searched", 0)
    trace = build_trace(source, query, include_instance, files_searched=int(files or 0))
    if not trace.spans:
        raise KansokuError(f"no lines for {query} in {source.describe()}", exit_code=1)
    return trace


def run_trace(
    query: str,
    source: str | LogSource,
    *,
    as_json: bool = False,
    html: Path | None = None,
    otlp: str | None = None,
    include_instance: bool = False,
    console: Console | None = None,
    open_source: Callable[[str], LogSource] | None = None,
    explain: bool = False,
) -> int:
    """Open the source, trace `query`, isolate the fault, run the outputs asked for; the exit code.

    `explain` prints why each span is a caller or callee and why the root cause was chosen
    (on stderr with --json, whose document always carries `verdict.reasons`)."""
    from kansoku.tracing.isolate import isolate

    if isinstance(source, str):
        if open_source is None:
            from kansoku.tracing.sources import open_source as default_open

            open_source = default_open
        source = open_source(source)
    _check_targets(html, otlp)
    trace = find_trace(source, query, include_instance)
    manifest = getattr(source, "manifest", None)  # the index store can search by time; ES cannot yet
    nearby = None
    if manifest is not None:
        from kansoku.tracing.nearby import NearbyErrors

        nearby = NearbyErrors(manifest.files, source.block_table)  # type: ignore[attr-defined]
    from kansoku.tracing.chain import follow_chain

    trace, verdict = follow_chain(source, trace, isolate(trace, nearby))
    if as_json and html is None and otlp is None and not explain:
        _json_stdout(trace, verdict)  # the whole output: no console (nor rich) needed
        return 0
    if console is None:
        from rich.console import Console

        # emoji=False: log text is printed as written (`:x:` in a message is not an emoji),
        # and rich does not load its 4,000 emoji codes (~2 ms) for it.
        console = Console(highlight=False, soft_wrap=True, emoji=False)
    wanted: list[tuple[str, str | None]] = [("json", None) if as_json else ("terminal", None)]
    if html is not None:
        wanted.append(("html", str(html)))
    if otlp is not None:
        wanted.append(("otlp", otlp))
    # With --json, stdout carries only the JSON document; other outputs report on stderr.
    side = console
    if as_json:
        from rich.console import Console

        side = Console(stderr=True, highlight=False, emoji=False)
    for name, target in wanted:
        OUTPUTS[name](trace, verdict, console if name in ("terminal", "json") else side, target)
    if explain:
        from kansoku.tracing.explain import explain_lines

        for text in explain_lines(trace, verdict):
            side.print(escape(text), highlight=False, soft_wrap=True)
    return 0
