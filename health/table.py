"""Render check states for people (a rich table) and machines (JSON), and the exit code.

Why the shape: an operator must see in one glance which clusters are red, whether the fault
is the cluster or the management path, how long it has been so, and which OpenStack request
id to open with `kansoku trace`; healthy clusters are summarised, not listed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kansoku.models import CheckState

from .fleet import by_cluster, fault_domain, fleet_shared_dependency_down
from .model import CheckStatus, cluster_level

_STYLE = {CheckState.OK: "green", CheckState.FAILING: "bold red", CheckState.UNKNOWN: "yellow"}


def exit_code(statuses: Sequence[CheckStatus]) -> int:
    """0 when all ok, 1 when any check fails, else 2 when any is unknown."""
    states = {s.state for s in cluster_level(statuses)}
    if CheckState.FAILING in states:
        return 1
    if CheckState.UNKNOWN in states:
        return 2
    return 0


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    secs = max(0, int(now - ts))
    if secs < 120:
        return f"{secs}s ago"
    if secs < 7200:
        return f"{secs // 60}m ago"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _state_text(s: CheckStatus, now: float) -> str:
    text = f"[{_STYLE[s.state]}]{s.state}[/]"
    if s.state is CheckState.UNKNOWN:
        text += f" (stale since {_ago(s.stale_since, now)})"
    if s.pending is not None:
        text += f" [dim]→{s.pending} {s.pending_count}/?[/]"
    return text


def render(
    statuses: Sequence[CheckStatus], console: Console, *, all_rows: bool = False, title: str = ""
) -> None:
    """Per-check rows for non-ok checks (all rows with `all_rows`), one line per cluster fault.

    One row per (cluster, check): per-node/member statuses are left out, the check's reason
    names the failing ones.
    """
    statuses = cluster_level(statuses)
    now = time.time()
    clusters = by_cluster(statuses)
    table = Table(title=title or "fleet health", show_lines=False, expand=False)
    with_rid = any(s.request_id for s in statuses)
    for col in ("cluster", "region/az", "check", "state", "reason", *(["request id"] if with_rid else [])):
        table.add_column(col, overflow="fold")
    for cid in sorted(clusters):
        items = [s for s in clusters[cid] if isinstance(s, CheckStatus)]
        fault = fault_domain(items)
        shown = items if all_rows else [s for s in items if s.state is not CheckState.OK]
        for i, s in enumerate(sorted(shown, key=lambda s: s.check)):
            name = f"{cid}\n[magenta]{fault}[/]" if (i == 0 and fault) else (cid if i == 0 else "")
            table.add_row(
                name,
                f"{s.region}/{s.az}" if (i == 0 and s.az) else (s.region if i == 0 else ""),
                s.check,
                _state_text(s, now),
                escape(s.reason),
                *([f"[cyan]{s.request_id}[/]" if s.request_id else ""] if with_rid else []),
            )
    if table.row_count:
        console.print(table)
    print_footer(statuses, console)


def print_footer(statuses: Sequence[CheckStatus], console: Console) -> None:
    """Totals, a shared outage if any, and the `kansoku trace` command for a failing request id
    (shared by this table and the one-line-per-cluster summary)."""
    statuses = cluster_level(statuses)
    clusters = by_cluster(statuses)
    n_ok = sum(1 for items in clusters.values() if fault_domain(items) is None)
    counts = {st: sum(1 for s in statuses if s.state is st) for st in CheckState}
    console.print(
        f"{len(clusters)} clusters, {n_ok} fully healthy; checks: [green]{counts[CheckState.OK]} ok[/], "
        f"[red]{counts[CheckState.FAILING]} failing[/], [yellow]{counts[CheckState.UNKNOWN]} unknown[/]"
    )
    shared = fleet_shared_dependency_down(statuses)
    if shared:
        console.print(f"[bold magenta]shared dependency:[/] {escape(shared)}")
    rids = sorted({s.request_id for s in statuses if s.request_id and s.state is not CheckState.OK})
    if rids:
        console.print(f"open a request: [bold]kansoku trace {rids[0]}[/]")


def to_json(statuses: Sequence[CheckStatus]) -> str:
    """Cluster-level checks (as the table), plus per-node/member ones under `subjects`."""
    subjects = [s.to_dict() for s in statuses if s.subject is not None]
    statuses = cluster_level(statuses)
    clusters = by_cluster(statuses)
    return json.dumps(
        {
            "checks": [s.to_dict() for s in statuses],
            **({"subjects": subjects} if subjects else {}),
            "faults": {cid: fault_domain(items) for cid, items in sorted(clusters.items())},
            "shared_dependency_down": fleet_shared_dependency_down(statuses),
            "exit_code": exit_code(statuses),
        },
        indent=2,
    )
