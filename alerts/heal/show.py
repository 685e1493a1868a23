"""Rich rendering of `kansoku heal history` (the data comes from heal.serve.history)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def print_history(text: str, console: Console | None = None) -> None:
    data = json.loads(text)
    console = console or Console()
    if data["paused"]:
        console.print(f"[bold red]healing PAUSED[/]: {escape(data['paused'])}")
    else:
        console.print("[green]healing active[/]")
    rates = Table(title="success rate per action (verified healed / finished)")
    for col in ("action", "success", "failed", "skipped", "open", "rate"):
        rates.add_column(col)
    for name, c in data["per_action"].items():
        rate = "-" if c["success_rate"] is None else f"{c['success_rate'] * 100:.0f}%"
        rates.add_row(name, str(c["success"]), str(c["failed"]), str(c["skipped"]), str(c["open"]), rate)
    console.print(rates)
    decisions = Table(title="recent decisions")
    for col in ("received", "alert", "cluster/target", "decision", "reason"):
        decisions.add_column(col, overflow="fold")
    for d in data["decisions"]:
        decisions.add_row(
            d["received_at"],
            d["alert"],
            f"{d['cluster']}/{d['target']}",
            d["decision"] or "queued",
            escape(d["reason"] or ""),
        )
    console.print(decisions)
    actions = Table(title="recent actions")
    for col in ("id", "action", "target", "state", "request id", "detail"):
        actions.add_column(col, overflow="fold")
    for a in data["actions"]:
        actions.add_row(
            str(a["id"]),
            a["action"] + (" (dry-run)" if a["dry_run"] else ""),
            f"{a['cluster']}/{a['target']}",
            a["state"],
            a["request_id"],
            escape(a["detail"] or ""),
        )
    console.print(actions)
    for e in data["events"][-10:]:
        console.print(f"{e['ts']} [bold]{e['kind']}[/] {escape(e['message'])}")
