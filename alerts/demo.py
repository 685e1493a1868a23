"""`kansoku demo` section: a dry-run heal of sample Alertmanager webhooks.

Why through the real receiver and engine: the demo posts webhooks in Alertmanager's
version-4 format to the same FastAPI app `kansoku heal serve` runs (in process), so what it
prints (journaled decisions, rails, plans) is what production would decide; dry-run means
no action touches anything.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

DEMO_TOKEN = "demo-token-not-a-secret"

CONFIG = """# written by `kansoku demo`: a dry-run healer for three clusters
journal: journal.sqlite
token_file: token
dry_run: true
clusters:
  - {id: prod-a, api_url: "https://10.20.0.10:6443", etcd: ["https://10.20.0.11:2379"], region: fra}
  - {id: prod-b, api_url: "https://10.21.0.10:6443", region: fra}
  - {id: prod-c, api_url: "https://10.22.0.10:6443", region: ams}
cluster_sizes: {prod-a: 12, prod-b: 20, prod-c: 8}
safety: {max_unhealthy: "40%", cooldown_seconds: 900, fleet_budget_per_hour: 20}
hooks:
  - {alert: KubeNodeNotReady, action: replace_node}
  - {alert: ManagementAgentDisconnected, action: restart_agent, escalate_to: replace_node}
  - {alert: EtcdBackupStale, action: etcd_snapshot, params: {dir: "snapshots/{cluster}"}}
"""


def _alert(name: str, **labels: str) -> dict[str, Any]:
    full = {"alertname": name, "severity": "critical", **labels}
    return {
        "status": "firing",
        "labels": full,
        "annotations": {"summary": f"{name} {labels}", "runbook_url": "https://runbooks.example/" + name},
        "startsAt": "2026-11-23T16:18:11.057605Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph",
        "fingerprint": hashlib.sha256(json.dumps(sorted(full.items())).encode()).hexdigest()[:16],
    }


def _webhook(*alerts: dict[str, Any], group: str) -> dict[str, Any]:
    """Alertmanager 0.25's webhook body (notify/webhook/webhook.go Message, version 4)."""
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    return {
        "receiver": "kansoku-heal",
        "status": "firing",
        "alerts": list(alerts),
        "groupLabels": {"alertname": common.get("alertname", "")},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": f"{{}}:{{group={group!r}}}",
        "truncatedAlerts": 0,
    }


SCENARIOS: list[tuple[str, dict[str, Any], bool]] = [
    (
        "a node is NotReady",
        _webhook(
            _alert("KubeNodeNotReady", cluster="prod-a", region="fra", node="prod-a-worker-3"), group="n1"
        ),
        True,
    ),
    (
        "Alertmanager re-notifies it in another group",
        _webhook(
            _alert("KubeNodeNotReady", cluster="prod-a", region="fra", node="prod-a-worker-3"),
            group="n1-again",
        ),
        True,
    ),
    (
        "the management agent is disconnected",
        _webhook(
            _alert("ManagementAgentDisconnected", cluster="prod-b", region="fra", node="prod-b-worker-1"),
            group="a1",
        ),
        True,
    ),
    (
        "an etcd backup is stale",
        _webhook(_alert("EtcdBackupStale", cluster="prod-a", member="etcd-0"), group="e1"),
        True,
    ),
    (
        "storm: half of prod-c alerts at once",
        _webhook(
            *[
                _alert("KubeNodeNotReady", cluster="prod-c", region="ams", node=f"prod-c-worker-{i}")
                for i in range(4)
            ],
            group="storm",
        ),
        True,
    ),
    (
        "an alert nobody wrote a hook for",
        _webhook(_alert("OpenStackAPILatencyHigh", cluster="openstack", service="nova"), group="x"),
        True,
    ),
    (
        "a caller without the token",
        _webhook(_alert("KubeNodeNotReady", cluster="prod-a", node="n9"), group="evil"),
        False,
    ),
]


def run_demo(console: Console, workdir: Path) -> None:
    import warnings

    with warnings.catch_warnings():  # starlette's note about httpx2; not the demo's concern
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from kansoku.alerts.heal.app import create_app
    from kansoku.alerts.heal.config import load_heal_config
    from kansoku.alerts.heal.serve import authenticator, build

    base = workdir / "heal"
    base.mkdir(parents=True, exist_ok=True)
    (base / "heal.yaml").write_text(CONFIG)
    (base / "token").write_text(DEMO_TOKEN)
    (base / "journal.sqlite").unlink(missing_ok=True)
    loaded = load_heal_config(base / "heal.yaml")
    built = build(loaded)
    app = create_app(built.journal, built.engine, built.healer, authenticator(loaded))
    console.rule("[bold]auto-heal (dry-run)[/]: Alertmanager webhooks -> journal -> rails -> plan")
    table = Table(show_lines=False, expand=False)
    for col in ("#", "webhook", "HTTP", "alert target", "decision"):
        table.add_column(col, overflow="fold")
    notes: list[str] = []
    with TestClient(app) as client:
        for n, (title, body, authed) in enumerate(SCENARIOS, 1):
            before = built.journal.last_alert_id()
            headers = {"Authorization": f"Bearer {DEMO_TOKEN}"} if authed else {}
            resp = client.post("/alertmanager", json=body, headers=headers)
            built.healer.drain()
            rows = built.journal.alerts_after(before)
            if not rows:
                table.add_row(str(n), title, str(resp.status_code), "-", "rejected")
                notes.append(f"{n}. {resp.json()['error']}")
            for i, row in enumerate(rows):
                target = f"{row['alertname']} {row['cluster']}/{row['target']}"
                table.add_row(
                    str(n) if i == 0 else "",
                    title if i == 0 else "",
                    str(resp.status_code),
                    target,
                    row["decision"],
                )
                if i == 0:
                    notes.append(f"{n}. {row['reason']}")
                plan = built.journal.plan_of(row["id"])
                if plan:
                    notes.extend(f"     plan {j + 1}: {step}" for j, step in enumerate(plan))
    console.print(table)
    for note in notes:
        console.print(escape(note), soft_wrap=False, overflow="fold")
    console.print(f"journal: {base / 'journal.sqlite'}  (kansoku heal history --config {base / 'heal.yaml'})")
    built.journal.close()
