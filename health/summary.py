"""The fleet table as `kansoku check` and the demo print it: one line per cluster, 80 columns.

Why a second table: the per-check table (`table.render`, `kansoku check --wide`) has a
free-text reason column; at 80 columns rich folded every cell into one-word lines and a
70-cluster fleet became hundreds of lines. Here each cluster is one line that never wraps:
its state, the fault side, since when, and its failing checks summarised (the first one with
its reason); cells that do not fit end in an ellipsis. `--wide` and `--json` give the rest.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kansoku.models import CheckState

from .fleet import CLUSTER_FAULT, MANAGEMENT_FAULT, by_cluster, fault_domain
from .model import CheckStatus, cluster_level
from .table import _ago, print_footer

_STYLE = {CheckState.OK: "green", CheckState.FAILING: "bold red", CheckState.UNKNOWN: "yellow"}
#: The fault sides of `fleet.fault_domain`, shortened on terminals under 100 columns.
_SHORT_FAULT = {MANAGEMENT_FAULT: "mgmt plane", CLUSTER_FAULT: "cluster"}
#: Worst first: a cluster is as bad as its worst check.
_ORDER = {CheckState.FAILING: 0, CheckState.UNKNOWN: 1, CheckState.OK: 2}


def cluster_state(items: Sequence[CheckStatus]) -> CheckState:
    return min((s.state for s in items), key=_ORDER.__getitem__, default=CheckState.OK)


def checks_summary(items: Sequence[CheckStatus]) -> str:
    """`first_check: its reason; +N: other, checks` for the checks that are not ok."""
    bad = sorted((s for s in items if s.state is not CheckState.OK), key=lambda s: (_ORDER[s.state], s.check))
    if not bad:
        return f"all {len(items)} checks ok"
    first = f"{bad[0].check}: {bad[0].reason}" if bad[0].reason else bad[0].check
    if len(bad) == 1:
        return first
    return f"{first}; +{len(bad) - 1}: {', '.join(s.check for s in bad[1:])}"


def render_summary(
    statuses: Sequence[CheckStatus], console: Console, *, all_rows: bool = False, title: str = ""
) -> None:
    """One row per cluster that is not fully ok (every cluster with `all_rows`), then the totals."""
    statuses = cluster_level(statuses)
    now = time.time()
    clusters = by_cluster(statuses)
    rows: list[tuple[int, str, CheckState, str, str, str]] = []
    for cid, all_items in clusters.items():
        items = [s for s in all_items if isinstance(s, CheckStatus)]
        state = cluster_state(items)
        if state is CheckState.OK and not all_rows:
            continue
        bad = [s for s in items if s.state is not CheckState.OK]
        since = _ago(min(s.since for s in bad), now) if bad else ""
        fault = fault_domain(items) or ""
        if console.width < 100:
            fault = _SHORT_FAULT.get(fault, fault)
        rows.append((_ORDER[state], cid, state, fault, since, checks_summary(items)))
    rows.sort(key=lambda r: (r[0], r[1]))
    # Fixed columns as wide as their longest cell (the cluster id at most 24); the checks
    # summary takes what is left of the terminal and ends in "…" when it does not fit.
    table = Table(title=title or "fleet health", box=box.SIMPLE_HEAD, expand=True, padding=(0, 1))
    cells = {"cluster": [r[1] for r in rows], "fault": [r[3] for r in rows], "since": [r[4] for r in rows]}
    widths = {head: max([len(head), *(len(c) for c in column)]) for head, column in cells.items()}
    table.add_column("cluster", no_wrap=True, overflow="ellipsis", width=min(widths["cluster"], 24))
    table.add_column("state", no_wrap=True, width=7)
    table.add_column("fault", no_wrap=True, width=widths["fault"])
    table.add_column("since", no_wrap=True, width=widths["since"])
    table.add_column("checks", no_wrap=True, overflow="ellipsis", ratio=1)
    for _, cid, state, fault, since, summary in rows:
        table.add_row(
            escape(cid),
            f"[{_STYLE[state]}]{state}[/]",
            f"[magenta]{escape(fault)}[/]",
            since,
            escape(summary),
        )
    if table.row_count:
        console.print(table)
    print_footer(statuses, console)
    if table.row_count:
        console.print("[dim]details: --wide (one row per check) or --json[/]")
