"""examples/alertmanager.yaml in a real Alertmanager: one fault, one active alert.

The alerts a NotReady node, an API server outage and an etcd quorum loss raise from kansoku's
rules and the vendored mixins together are posted to a real Alertmanager (Debian
`prometheus-alertmanager`, on loopback) loaded with the example; only kansoku's alert of each
fault stays active, the mixins' alerts of the same cluster (and node) are inhibited, and the
same alerts of another cluster or node are not.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from kansoku.process import ManagedProcess
from kansoku.servers import start_alertmanager
from tests.support.alertmanager import post_alerts

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "alertmanager.yaml"


def _post(port: int, alerts: list[dict[str, str]]) -> None:
    now = datetime.now(UTC)
    body = [
        {"labels": labels, "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}
        for labels in alerts
    ]
    post_alerts(port, body)


def _states(port: int) -> dict[tuple[str, str, str], str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts", timeout=5) as resp:
        alerts = json.load(resp)
    return {
        (a["labels"]["alertname"], a["labels"]["cluster"], a["labels"].get("node", "")): a["status"]["state"]
        for a in alerts
    }


def test_amtool_accepts_the_example(need_alertmanager: None) -> None:
    proc = subprocess.run(
        ["amtool", "check-config", str(EXAMPLE)], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 inhibit rules" in proc.stdout


def test_one_fault_pages_once(tmp_path: Path, procs: list[ManagedProcess], need_alertmanager: None) -> None:
    am = start_alertmanager(tmp_path / "am", yaml.safe_load(EXAMPLE.read_text()))
    procs.append(am)
    port = am.ports["http"]
    _post(
        port,
        [
            # c1/n1 NotReady: kansoku's page and the mixins' view of the same node
            {"alertname": "KubeNodeNotReady", "cluster": "c1", "node": "n1", "severity": "critical",
             "heal_action": "replace_node"},
            {"alertname": "KubeletInstanceUnreachable", "cluster": "c1", "node": "n1", "severity": "warning"},
            {"alertname": "KubeNodeUnreachable", "cluster": "c1", "node": "n1", "severity": "warning"},
            # another node's kubelet target: not this fault
            {"alertname": "KubeletInstanceUnreachable", "cluster": "c1", "node": "n2", "severity": "warning"},
            # c2: API server down, its component targets gone with it
            {"alertname": "KubeAPIServerDown", "cluster": "c2", "severity": "critical"},
            {"alertname": "KubeAPIDown", "cluster": "c2", "severity": "critical"},
            {"alertname": "KubeletDown", "cluster": "c2", "severity": "critical"},
            {"alertname": "KubeAPIDown", "cluster": "c4", "severity": "critical"},  # no kansoku alert there
            # c3: etcd quorum lost
            {"alertname": "EtcdNoQuorum", "cluster": "c3", "member": "m1", "severity": "critical",
             "heal_action": "etcd_restore"},
            {"alertname": "etcdInsufficientMembers", "cluster": "c3", "severity": "critical"},
            {"alertname": "etcdMembersDown", "cluster": "c3", "severity": "warning"},
        ],
    )  # fmt: skip
    deadline = time.monotonic() + 10
    states = _states(port)
    while time.monotonic() < deadline and "suppressed" not in states.values():
        time.sleep(0.2)
        states = _states(port)
    assert states == {
        ("KubeNodeNotReady", "c1", "n1"): "active",
        ("KubeletInstanceUnreachable", "c1", "n1"): "suppressed",
        ("KubeNodeUnreachable", "c1", "n1"): "suppressed",
        ("KubeletInstanceUnreachable", "c1", "n2"): "active",
        ("KubeAPIServerDown", "c2", ""): "active",
        ("KubeAPIDown", "c2", ""): "suppressed",
        ("KubeletDown", "c2", ""): "suppressed",
        ("KubeAPIDown", "c4", ""): "active",
        ("EtcdNoQuorum", "c3", ""): "active",
        ("etcdInsufficientMembers", "c3", ""): "suppressed",
        ("etcdMembersDown", "c3", ""): "suppressed",
    }
