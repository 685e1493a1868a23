"""Inline SVG drawn on the server: time-series charts and the trace waterfall.

Why server-side SVG and not a JavaScript chart library: no build step, nothing fetched from
the network (logs are sensitive, the page may be opened on an air-gapped jump host), and the
picture is in the HTML the tests read. Every text that comes from data is escaped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

#: Line colours, colour-blind safe (Okabe-Ito).
PALETTE = ("#0072b2", "#e69f00", "#d55e00", "#009e73", "#cc79a7", "#56b4e9")
ERROR_RED = "#c8323c"

Point = tuple[float, float | None]


def _nice_max(value: float) -> float:
    """A round upper bound for an axis (1, 2, 5 x 10^n) at or above `value`."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * exp >= value:
            return float(step * exp)
    return float(10 * exp)


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    return f"{value:g}"


def _clock(ts: float) -> str:
    return time.strftime("%H:%M", time.gmtime(ts))


def line_chart(
    title: str,
    series: Mapping[str, Sequence[Point]],
    *,
    unit: str = "",
    width: int = 320,
    height: int = 150,
    bars: bool = False,
) -> str:
    """One chart: a line per series (or bars for the first series with `bars`), time on x.

    None values are gaps (a bucket with no requests has no latency, not a zero latency).
    """
    left, right, top, bottom = 48, 8, 22, 20
    pw, ph = width - left - right, height - top - bottom
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts if y is not None]
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="14" class="chart-title">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plot"/>',
    ]
    if not xs:
        out.append(f'<text x="{left + 8}" y="{top + ph / 2}" class="muted">no data</text></svg>')
        return "".join(out)
    if not ys and not bars:
        out.append(
            f'<text x="{left + 8}" y="{top + ph / 2}" class="muted">no durations in these access lines</text>'
        )
    x0, x1 = min(xs), max(xs)
    span = (x1 - x0) or 1.0
    ymax = _nice_max(max(ys, default=0.0))

    def px(x: float) -> float:
        return left + (x - x0) / span * pw

    def py(y: float) -> float:
        return top + ph - (y / ymax) * ph

    for frac in (0.0, 0.5, 1.0):
        y = top + ph - frac * ph
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">{_fmt(ymax * frac, unit)}</text>'
        )
    out.append(f'<text x="{left}" y="{height - 5}" class="axis">{_clock(x0)}</text>')
    out.append(
        f'<text x="{left + pw}" y="{height - 5}" class="axis" text-anchor="end">{_clock(x1)} UTC</text>'
    )
    for i, (name, pts) in enumerate(series.items()):
        colour = ERROR_RED if bars else PALETTE[i % len(PALETTE)]
        if bars and i == 0:
            n = max(len(pts), 1)
            bw = max(pw / n - 1, 1)
            for x, val in pts:
                if val:
                    top_y = py(val)
                    out.append(
                        f'<rect x="{px(x) - bw / 2:.1f}" y="{top_y:.1f}" width="{bw:.1f}" '
                        f'height="{top + ph - top_y:.1f}" fill="{colour}"><title>{escape(name)} '
                        f"{_clock(x)}: {_fmt(val, unit)}</title></rect>"
                    )
            continue
        path: list[str] = []
        pen_up = True
        for x, val in pts:
            if val is None:
                pen_up = True
                continue
            path.append(f"{'M' if pen_up else 'L'}{px(x):.1f},{py(val):.1f}")
            pen_up = False
        if path:
            out.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="1.8"><title>{escape(name)}</title></path>'
            )
        lx = left + 6 + i * 54
        out.append(f'<rect x="{lx}" y="{top + 4}" width="10" height="3" fill="{colour}"/>')
        out.append(f'<text x="{lx + 13}" y="{top + 9}" class="legend">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def waterfall(doc: dict[str, Any], width: int = 900) -> str:
    """The trace's spans as bars on one time axis (from `tracing.outputs.json_doc.trace_document`).

    The root-cause span is red and marked, spans with errors are red, weak (instance-only)
    spans grey; each row names service@host and its request id, and links to its lines.
    """
    spans = doc["spans"]
    rc = (doc["verdict"].get("root_cause") or {}).get("span")
    start = doc["start"] if doc["start"] is not None else 0.0
    total = max((doc["end"] or start) - start, 1e-3)
    label_w, row_h = 330, 22
    bar_w = width - label_w - 70
    height = row_h * len(spans) + 26
    out = [
        f'<svg class="waterfall" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="waterfall">',
        f'<text x="{label_w}" y="14" class="axis">0</text>',
        f'<text x="{label_w + bar_w}" y="14" class="axis" text-anchor="end">{_fmt(total, "s")}</text>',
    ]
    for i, s in enumerate(spans):
        y = 22 + i * row_h
        cls = (
            "root-cause" if s["id"] == rc else ("failing" if s["errors"] else ("weak" if s["weak"] else "ok"))
        )
        x = label_w + (s["start"] - start) / total * bar_w
        w = max(s["duration"] / total * bar_w, 2.0)
        name = f"{s['service']}@{s['host']}"
        mark = "◆ " if s["id"] == rc else ""
        out.append(
            f'<g class="span-row {cls}" data-span="{escape(s["id"])}"><a href="#{escape(s["id"])}">'
            f'<rect x="0" y="{y - 2}" width="{width}" height="{row_h - 2}" class="row-bg"/>'
            f'<text x="4" y="{y + 13}" class="name">{mark}{escape(name)}</text>'
            f'<text x="{label_w - 8}" y="{y + 13}" class="rid" text-anchor="end">{escape(s["request_id"][:12])}…</text>'
            f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 10}" class="bar"/>'
            f'<text x="{min(x + w + 4, width - 60):.1f}" y="{y + 13}" class="axis">{_fmt(s["duration"], "s")}</text>'
            "</a></g>"
        )
    out.append("</svg>")
    return "".join(out)
