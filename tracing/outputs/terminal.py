"""The terminal answer: the verdict first, then a waterfall of spans on one time axis, then links.

An operator reading this at 3 a.m. needs the verdict before anything else, then where the
time went (bars per span, failing spans in red), then why each span is in the trace.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from kansoku.tracing.isolate import short_location
from kansoku.tracing.model import Span, SpanKey, Trace, Verdict
from kansoku.tracing.safe_text import visible
from kansoku.tracing.stitch import explain_link

BAR_WIDTH = 40
MAX_ERROR_LINES = 3  # per span
MAX_ERRORS = 20  # in all
MAX_ROWS = 60
MAX_LINKS = 25


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


class _Row:
    """One waterfall row: a span, or several quiet sibling spans of one service@host folded."""

    __slots__ = ("depth", "failing", "root", "spans")

    def __init__(self, spans: list[Span], depth: int, failing: bool, root: bool) -> None:
        self.spans = spans
        self.depth = depth
        self.failing = failing
        self.root = root

    @property
    def start(self) -> float:
        return min(s.start for s in self.spans)

    @property
    def end(self) -> float:
        return max(s.end for s in self.spans)

    @property
    def name(self) -> str:
        first = self.spans[0]
        text = visible(f"{first.service}@{first.host}", one_line=True)
        if len(self.spans) > 1:
            text += f" ×{len(self.spans)}"
        return text + (" (weak)" if first.weak else "")


def _rows(trace: Trace, root: SpanKey | None) -> list[_Row]:
    """Rows in causal order; leaf spans without errors that share parent and service@host fold
    into one row, so a request with 300 neutron calls stays readable."""
    by_key = {s.key: s for s in trace.spans}
    has_children = {s.parent for s in trace.spans if s.parent is not None}
    rows: list[_Row] = []
    folded: dict[tuple[SpanKey | None, str, str, bool], _Row] = {}
    for span in trace.spans:
        failing = bool(span.errors) or span.key == root
        quiet_leaf = not failing and span.key not in has_children
        group = (span.parent, span.service, span.host, span.weak)
        if quiet_leaf and group in folded:
            folded[group].spans.append(span)
            continue
        row = _Row([span], _depth(span, by_key), failing, span.key == root)
        if quiet_leaf:
            folded[group] = row
        rows.append(row)
    if len(rows) <= MAX_ROWS:
        return rows
    # Too many: keep the failing rows and their ancestors, then the first rows in causal order.
    keep: set[int] = set()
    index = {s.key: i for i, r in enumerate(rows) for s in r.spans}
    for row in rows:
        if row.failing:
            key: SpanKey | None = row.spans[0].key
            while key is not None and key in index:
                keep.add(index[key])
                key = by_key[key].parent
    for i in range(len(rows)):
        if len(keep) >= MAX_ROWS:
            break
        keep.add(i)
    return [rows[i] for i in sorted(keep)]


def render_terminal(trace: Trace, verdict: Verdict, console: Console, show_links: bool = True) -> None:
    """Print the verdict, the waterfall and the links of `trace`."""
    style = "bold red" if verdict.root_cause is not None else "bold green"
    console.print(Text(visible(verdict.explanation), style=style), soft_wrap=True)
    if trace.truncated:
        console.print(f"[yellow]warning:[/] trace incomplete: {escape(visible(trace.truncated))}")
    if not trace.spans:
        return
    t0 = min(s.start for s in trace.spans)
    t1 = max(s.end for s in trace.spans)
    total = t1 - t0
    n_lines = sum(len(s.lines) for s in trace.spans)
    console.print(
        f"[bold]trace {escape(visible(trace.query, one_line=True))}[/]: {len(trace.spans)} spans, {n_lines} lines, "
        f"{len({s.service for s in trace.spans})} services, {total:.3f} s from {_fmt_time(t0)} UTC"
    )
    root = verdict.root_cause.span if verdict.root_cause is not None else None
    rows = _rows(trace, root)
    names = ["  " * r.depth + r.name for r in rows]
    name_w = max(len("span"), *(len(n) for n in names))
    # Narrow terminals drop the request id and start columns before the bars shrink below 12.
    fixed = name_w + 6 + 8 + 14 + 5  # lines, dur, mark, gaps
    show_id = console.width - fixed - 15 >= 24
    show_start = console.width - fixed - (15 if show_id else 0) - 9 >= 16
    width = max(12, min(BAR_WIDTH, console.width - fixed - (15 if show_id else 0) - (9 if show_start else 0)))
    out = Text()
    header = f"{'span':<{name_w}} " + (f"{'request id':<14} " if show_id else "") + f"{'lines':>5} "
    header += (f"{'start':>8} " if show_start else "") + f"{'dur':>7} " + f"0 … {total:.3f} s".ljust(width)
    out.append(header.rstrip() + "\n", style="bold")
    for row, name in zip(rows, names, strict=True):
        weak = row.spans[0].weak
        color = "red" if row.failing else ("grey50" if weak else "cyan")
        out.append(f"{name:<{name_w}} ", style="red" if row.failing else ("grey50" if weak else ""))
        if show_id:
            rid = (
                _short_id(visible(row.spans[0].request_id, one_line=True))
                if len(row.spans) == 1
                else f"{len(row.spans)} ids"
            )
            out.append(f"{rid:<14} ", style="dim")
        out.append(f"{sum(len(s.lines) for s in row.spans):>5} ")
        if show_start:
            out.append(f"{'+' + format(row.start - t0, '.3f'):>8} ")
        out.append(f"{row.end - row.start:>7.3f} ")
        left, cells = waterfall_bar(row.start, row.end, t0, total, width)
        out.append(" " * left)
        out.append("█" * cells, style=color)
        out.append(" " * (width - left - cells))
        errors = sum(len(s.errors) for s in row.spans)
        if row.root:
            out.append("  ◆ root cause", style="bold red")
        elif errors:
            out.append(f"  ✗ {errors} error{'s' if errors != 1 else ''}", style="red")
        out.append("\n")
    shown = sum(len(r.spans) for r in rows)
    if shown < len(trace.spans):
        out.append(f"… {len(trace.spans) - shown} more spans (--json or --html show all)\n", style="dim")
    console.print(out, end="", soft_wrap=True, no_wrap=True, overflow="ignore", crop=False)
    _print_errors(trace, console)
    if show_links and trace.links:
        _print_links(trace, root, console)


def _print_errors(trace: Trace, console: Console) -> None:
    failing_spans = [s for s in trace.spans if s.errors]
    if not failing_spans:
        return
    console.print("[bold]errors[/]")
    printed = 0
    for span in failing_spans:
        for line in span.errors[:MAX_ERROR_LINES]:
            if printed >= MAX_ERRORS:
                break
            printed += 1
            first = visible(line.message.split("\n", 1)[0][:200], one_line=True)
            where = visible(f"{span.service}@{span.host}", one_line=True)
            console.print(
                f"  [red]{escape(where)}[/] {escape(visible(short_location(line), one_line=True))}: "
                f"{escape(first)}",
                soft_wrap=True,
            )
    total = sum(len(s.errors) for s in failing_spans)
    if total > printed:
        console.print(f"  … {total - printed} more error lines (--json lists them all)")


def _print_links(trace: Trace, root: SpanKey | None, console: Console) -> None:
    """The links that explain the root cause's call path first, then the others up to a limit."""
    by_key = {s.key: s for s in trace.spans}
    path: set[SpanKey] = set()
    key = root
    while key is not None and key in by_key and key not in path:
        path.add(key)
        key = by_key[key].parent
    ordered = [ln for ln in trace.links if ln.target in path] + [
        ln for ln in trace.links if ln.target not in path
    ]
    console.print("[bold]links[/]")
    for link in ordered[:MAX_LINKS]:
        console.print(f"  {escape(visible(explain_link(link)))}", soft_wrap=True, highlight=False)
    rest = ordered[MAX_LINKS:]
    if rest:
        kinds = Counter(ln.kind.value for ln in rest)
        summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        console.print(f"  … {len(rest)} more links ({summary}; --json lists them all)")


def render(console: Console, trace: Trace, verdict: Verdict) -> None:
    """The demo's entry point (`kansoku.tracing.demo`): the same output as `kansoku trace ID`."""
    render_terminal(trace, verdict, console)
