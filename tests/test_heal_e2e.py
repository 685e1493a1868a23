"""End to end with real components: Prometheus evaluates a real rule against a real etcd
member that goes down, real Alertmanager sends the webhook (bearer auth from `http_config`)
to the receiver on loopback, the healer restores the member from a real snapshot of the
healthy member (`etcdctl snapshot save` + `snapshot restore`), the test starts the restored
member, Prometheus sees it up, Alertmanager sends `resolved`, and the journal shows the
action healed, with its request id.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kansoku.alerts.heal.app import create_app
from kansoku.alerts.heal.config import load_heal_config
from kansoku.alerts.heal.serve import authenticator, build, history
from kansoku.ids import REQUEST_ID_RE
from kansoku.process import ManagedProcess, free_port, http_ok
from kansoku.servers import (
    ETCD_BIN,
    ETCDCTL_BIN,
    require_binary,
    start_alertmanager,
    start_etcd,
    start_prometheus,
)
from tests.conftest import require
from tests.support.heal import TOKEN, uvicorn_thread, wait_for

RULES = """
groups:
  - name: etcd
    rules:
      - alert: EtcdMemberDown
        expr: up{job="etcd"} == 0
        for: 0s
        labels: {severity: critical}
        annotations:
          summary: "etcd member {{ $labels.member }} of {{ $labels.cluster }} is down"
          runbook_url: https://runbooks.invalid/etcd-member-down
          heal_action: etcd_restore
"""


def etcd_member(base: Path, name: str, data_dir: Path, client: int, peer: int) -> ManagedProcess:
    binary = require_binary(ETCD_BIN, "etcd-server")
    urls = {"client": f"http://127.0.0.1:{client}", "peer": f"http://127.0.0.1:{peer}"}
    proc = ManagedProcess(
        f"etcd-{name}",
        [
            binary,
            "--name",
            name,
            "--data-dir",
            str(data_dir),
            "--listen-client-urls",
            urls["client"],
            "--advertise-client-urls",
            urls["client"],
            "--listen-peer-urls",
            urls["peer"],
            "--initial-advertise-peer-urls",
            urls["peer"],
            "--initial-cluster",
            f"{name}={urls['peer']}",
        ],
        base,
    )
    proc.start()
    proc.wait_ready(lambda: http_ok(urls["client"] + "/health"), 30)
    return proc


def etcdctl(*args: str) -> str:
    env = {**os.environ, "ETCDCTL_API": "3"}
    return subprocess.run(
        ["etcdctl", *args], env=env, check=True, capture_output=True, text=True, timeout=10
    ).stdout


@pytest.mark.real
def test_prometheus_alertmanager_webhook_restores_etcd_member_and_closes_the_loop(
    tmp_path: Path, procs: list[ManagedProcess], need_prometheus: None, need_alertmanager: None
) -> None:
    require(ETCD_BIN, "etcd-server")
    require(ETCDCTL_BIN, "etcd-client")
    healthy = start_etcd(tmp_path / "e1", name="e1")
    procs.append(healthy)
    e1 = f"http://127.0.0.1:{healthy.ports['client']}"
    etcdctl(f"--endpoints={e1}", "put", "/registry/heal-test", "kept-by-snapshot")
    client, peer = free_port(), free_port()
    doomed = etcd_member(tmp_path / "e2", "e2", tmp_path / "e2" / "data", client, peer)
    procs.append(doomed)

    (tmp_path / "token").write_text(TOKEN)
    config = tmp_path / "heal.yaml"
    config.write_text(f"""
journal: journal.sqlite
token_file: token
clusters:
  - id: c1
    api_url: https://127.0.0.1:6443
    etcd: ["{e1}"]
safety: {{max_unhealthy: 1, cooldown_seconds: 600}}
hooks:
  - alert: EtcdMemberDown
    action: etcd_restore
    params:
      snapshot_dir: snapshots/{{cluster}}
      data_dir: restored/{{member}}-{{request_id}}
      peer_url: http://127.0.0.1:{peer}
      verify_deadline_seconds: 90
      timeout_seconds: 30
""")
    loaded = load_heal_config(config)
    built = build(loaded)
    built.healer.start()
    app = create_app(built.journal, built.engine, built.healer, authenticator(loaded))
    try:
        with uvicorn_thread(app) as receiver:
            am = start_alertmanager(
                tmp_path / "am",
                {
                    "route": {
                        "receiver": "kansoku",
                        "group_by": ["alertname", "cluster", "member"],
                        "group_wait": "0s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "kansoku",
                            "webhook_configs": [
                                {
                                    "url": receiver + "/alertmanager",
                                    "send_resolved": True,
                                    "http_config": {
                                        "authorization": {
                                            "type": "Bearer",
                                            "credentials_file": str(tmp_path / "token"),
                                        }
                                    },
                                }
                            ],
                        }
                    ],
                },
            )
            procs.append(am)
            prom = start_prometheus(
                tmp_path / "prom",
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                    "alerting": {
                        "alertmanagers": [
                            {"static_configs": [{"targets": [f"127.0.0.1:{am.ports['http']}"]}]}
                        ]
                    },
                    "rule_files": ["rules.yml"],
                    "scrape_configs": [
                        {
                            "job_name": "etcd",
                            "static_configs": [
                                {
                                    "targets": [f"127.0.0.1:{client}"],
                                    "labels": {"cluster": "c1", "member": "e2"},
                                }
                            ],
                        }
                    ],
                },
                rule_files={"rules.yml": RULES},
            )
            procs.append(prom)
            wait_for(
                lambda: (
                    http_ok(f"http://127.0.0.1:{prom.ports['http']}/api/v1/query?query=up%3D%3D1")
                    and b'"value"'
                    in _get(f"http://127.0.0.1:{prom.ports['http']}/api/v1/query?query=up%3D%3D1")
                ),
                30,
                "Prometheus to scrape the etcd member",
            )
            doomed.stop()  # the member dies

            action = wait_for(
                lambda: next((a for a in built.journal.actions() if a.state == "verifying"), None),
                60,
                "the restore action to run",
            )
            assert action.action == "etcd_restore" and action.cluster == "c1" and action.target == "e2"
            assert REQUEST_ID_RE.fullmatch(action.request_id)
            restored = tmp_path / "restored" / f"e2-{action.request_id}"
            assert str(restored) in (action.detail or "")
            assert list((tmp_path / "snapshots" / "c1").glob("c1-*.db"))

            # the member's unit starts it on the restored data dir (here: the test)
            back = etcd_member(tmp_path / "e2b", "e2", restored, client, peer)
            procs.append(back)
            assert "kept-by-snapshot" in etcdctl(
                f"--endpoints=http://127.0.0.1:{client}", "get", "/registry/heal-test"
            )
            wait_for(
                lambda: built.journal.action(action.id).state == "healed",
                60,
                "Alertmanager's resolved webhook to close the loop",
            )
    finally:
        built.healer.stop()
    decisions = [r["decision"] for r in built.journal.query("SELECT decision FROM alerts ORDER BY id")]
    assert decisions[0] == "act" and decisions[-1] == "resolved"
    assert set(decisions[1:-1]) <= {"duplicate"}
    deliveries = built.journal.query("SELECT http_status FROM deliveries")
    assert {r[0] for r in deliveries} <= {200, 409}
    rates = history(built.journal)["per_action"]["etcd_restore"]
    assert rates["success"] == 1 and rates["success_rate"] == 1.0
    built.journal.close()


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as resp:
        return bytes(resp.read())
