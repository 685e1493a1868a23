"""The terminal answer: the verdict first, then a waterfall of spans on one time axis, then links.

An operator reading this at 3 a.m. needs the verdict before anything else, then where the
time went (bars per span, failing spans in red), then why each span is in the trace.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kansoku.tracing.isolate import short_location
from kansoku.tracing.model import Span, SpanKey, Trace, Verdict
from kansoku.tracing.stitch import explain_link
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

BAR_WIDTH = 40
MAX_ERROR_LINES = 3


def _depth(span: Span, by_key: dict[SpanKey, Span]) -> int:
    depth, seen = 0, set()
    parent = span.parent
    while parent is not None and parent in by_key and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = by_key[parent].parent
    return depth


def waterfall_bar(
    start: float, end: float, t0: float, total: float, width: int = BAR_WIDTH
) -> tuple[int, int]:
    """(first cell, cell count) of a span's bar on a `width`-cell axis starting at t0."""
    if total <= 0:
        return 0, width
    left = min(width - 1, max(0, int((start - t0) / total * width)))
    right = min(width, max(left + 1, round((end - t0) / total * width)))
    return left, right - left


def _fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _short_id(rid: str) -> str:
    return rid[:12] + "…" if len(rid) > 13 else rid


def render_terminal(trace: Trace, verdict: Verdict, console: Console, show_links: bool = True) -> None:
    """Print the verdict, the waterfall and the links of `trace`."""
    style = "bold red" if verdict.root_cause is not None else "bold green"
    console.print(Text(verdict.explanation, style=style), soft_wrap=True)
    if trace.truncated:
        console.print(f"[yellow]warning:[/] trace incomplete: {escape(trace.truncated)}")
    if not trace.spans:
        return
    t0 = min(s.start for s in trace.spans)
    t1 = max(s.end for s in trace.spans)
    total = t1 - t0
    n_lines = sum(len(s.lines) for s in trace.spans)
    console.print(
        f"[bold]trace {escape(trace.query)}[/]: {len(trace.spans)} spans, {n_lines} lines, "
        f"{len({s.service for s in trace.spans})} services, {total:.3f} s from {_fmt_time(t0)} UTC"
    )
    by_key = {s.key: s for s in trace.spans}
    root = verdict.root_cause.span if verdict.root_cause is not None else None
    names = {
        s.key: "  " * _depth(s, by_key) + f"{s.service}@{s.host}" + (" (weak)" if s.weak else "")
        for s in trace.spans
    }
    name_w = max(len(n) for n in names.values())
    # Narrow terminals drop the request id and start columns before the bars shrink below 12.
    fixed = name_w + 6 + 8 + 13 + 6  # lines, dur, mark, gaps
    show_id = console.width - fixed - 14 >= 24
    show_start = console.width - fixed - (14 if show_id else 0) - 9 >= 16
    width = max(12, min(BAR_WIDTH, console.width - fixed - (14 if show_id else 0) - (9 if show_start else 0)))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("span", no_wrap=True)
    if show_id:
        table.add_column("request id", style="dim", no_wrap=True)
    table.add_column("lines", justify="right", no_wrap=True)
    if show_start:
        table.add_column("start", justify="right", no_wrap=True)
    table.add_column("dur", justify="right", no_wrap=True)
    table.add_column(f"0 … {total:.3f} s", no_wrap=True, min_width=width)
    table.add_column("", no_wrap=True)
    for span in trace.spans:
        failing = bool(span.errors) or span.key == root
        color = "red" if failing else ("grey50" if span.weak else "cyan")
        left, cells = waterfall_bar(span.start, span.end, t0, total, width)
        bar = Text(" " * left) + Text("█" * cells, style=color) + Text(" " * (width - left - cells))
        name = Text(names[span.key], style="red" if failing else ("grey50" if span.weak else ""))
        mark = Text("")
        if span.errors:
            mark = Text(f"✗ {len(span.errors)} error{'s' if len(span.errors) != 1 else ''}", style="red")
        if span.key == root:
            mark = Text("◆ root cause", style="bold red")
        cells_row: list[Text | str] = [name]
        if show_id:
            cells_row.append(_short_id(span.request_id))
        cells_row.append(str(len(span.lines)))
        if show_start:
            cells_row.append(f"+{span.start - t0:.3f}")
        cells_row += [f"{span.end - span.start:.3f}", bar, mark]
        table.add_row(*cells_row)
    console.print(table)
    failing_spans = [s for s in trace.spans if s.errors]
    if failing_spans:
        console.print("[bold]errors[/]")
        for span in failing_spans:
            for line in span.errors[:MAX_ERROR_LINES]:
                first = line.message.split("\n", 1)[0]
                console.print(
                    f"  [red]{escape(span.service)}@{escape(span.host)}[/] {escape(short_location(line))}: "
                    f"{escape(first[:200])}",
                    soft_wrap=True,
                )
            if len(span.errors) > MAX_ERROR_LINES:
                console.print(
                    f"  … {len(span.errors) - MAX_ERROR_LINES} more in {escape(span.service)}@{escape(span.host)}"
                )
    if show_links and trace.links:
        console.print("[bold]links[/]")
        for link in trace.links:
            console.print(f"  {escape(explain_link(link))}", soft_wrap=True, highlight=False)


def render(console: Console, trace: Trace, verdict: Verdict) -> None:
    """The demo's entry point (`kansoku.tracing.demo`): the same output as `kansoku trace ID`."""
    render_terminal(trace, verdict, console)
