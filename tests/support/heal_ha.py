"""A heal HA fleet on loopback for tests/test_heal_ha_e2e.py and bench/bench_heal_ha.py.

Real pieces only: one etcd 3.4, an Alertmanager 0.25 HA pair gossiping over
`--cluster.listen-address` (recipe: shared/reference/real-servers.md, "Alertmanager HA pair"),
and N `kansoku heal serve` subprocesses, each with its own directory and journal. Every
replica's action is a `run_command` appending `<request id> <node>` to one shared file: the
record of what really ran, counted per node (one alert per node, so per idempotency key).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from kansoku.alerts.heal.etcd_client import EtcdClient
from kansoku.process import ManagedProcess, free_port, http_ok
from kansoku.servers import ALERTMANAGER_BIN, require_binary
from tests.support.heal import TOKEN

PREFIX = "/kansoku/heal"


def heal_config(etcd_url: str, name: str, runs: Path, lease: int, healable_every: int = 1) -> dict[str, Any]:
    return {
        "journal": "journal.sqlite",
        "workers": 4,
        "safety": {
            "max_unhealthy": 1_000_000,
            "fleet_budget_per_hour": 100_000_000,
            "storm_clusters": 1_000_000,
            "cooldown_seconds": 0,
        },
        "ha": {"etcd": [etcd_url], "lease_seconds": lease, "prefix": PREFIX, "replica": name},
        "hooks": [
            {
                "alert": "KubeNodeNotReady",
                "action": "run_command",
                "params": {"argv": ["/bin/sh", "-c", 'echo "$KANSOKU_REQUEST_ID {node}" >> ' + str(runs)]},
            }
        ],
    }


def start_replica(base: Path, name: str, config: dict[str, Any], port: int | None = None) -> ManagedProcess:
    where = base / name
    where.mkdir(parents=True, exist_ok=True)
    (where / "heal.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = port or free_port()
    proc = ManagedProcess(
        f"heal-{name}",
        [
            sys.executable,
            "-m",
            "kansoku",
            "heal",
            "serve",
            "--config",
            str(where / "heal.yaml"),
            "--port",
            str(port),
        ],
        where,
        env={"KANSOKU_HEAL_TOKEN": TOKEN},
    )
    proc.ports["http"] = port
    proc.start()
    proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 30)
    return proc


def start_alertmanager_pair(base: Path, webhooks: list[str]) -> list[ManagedProcess]:
    """Two gossiping Alertmanagers; each notification goes to every URL in `webhooks`."""
    binary = require_binary(ALERTMANAGER_BIN, "prometheus-alertmanager")
    base.mkdir(parents=True, exist_ok=True)
    (base / "token").write_text(TOKEN)
    hook = {
        "send_resolved": True,
        "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(base / "token")}},
    }
    config = {
        "route": {
            "receiver": "heal",
            "group_by": ["..."],  # one group (and one webhook) per alert
            "group_wait": "0s",
            "group_interval": "1m",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "heal", "webhook_configs": [{"url": url, **hook} for url in webhooks]}],
    }
    (base / "am.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    web = [free_port(), free_port()]
    gossip = [free_port(), free_port()]
    procs = []
    for i in range(2):
        proc = ManagedProcess(
            f"alertmanager-{i}",
            [
                binary,
                f"--config.file={base / 'am.yml'}",
                f"--storage.path={base / f'data{i}'}",
                f"--web.listen-address=127.0.0.1:{web[i]}",
                f"--web.external-url=http://127.0.0.1:{web[i]}",
                f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                f"--cluster.advertise-address=127.0.0.1:{gossip[i]}",
                f"--cluster.peer=127.0.0.1:{gossip[1 - i]}",
                "--cluster.peer-timeout=2s",
            ],
            base,
        )
        proc.ports["http"] = web[i]
        proc.start()
        procs.append(proc)
    for proc in procs:
        port = proc.ports["http"]
        proc.wait_ready(lambda port=port: _cluster_ready(port), 40, 0.25)
    return procs


def _cluster_ready(port: int) -> bool:
    try:
        status = httpx.get(f"http://127.0.0.1:{port}/api/v2/status", timeout=1).json()
    except (httpx.HTTPError, ValueError):
        return False
    cluster = status.get("cluster", {})
    return bool(cluster.get("status") == "ready" and len(cluster.get("peers", [])) == 2)


def am_alert(node: str, healable: bool) -> dict[str, Any]:
    """An alert as Prometheus posts it to Alertmanager (`/api/v2/alerts`)."""
    name = "KubeNodeNotReady" if healable else "KubeletTooManyPods"
    return {
        "labels": {"alertname": name, "severity": "critical", "cluster": "c1", "region": "r1", "node": node},
        "annotations": {"summary": f"{name} on {node}"},
        "startsAt": "2026-12-04T23:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
    }


@dataclass
class Storm:
    """Posts `rate` alerts/s for `seconds` to every Alertmanager, in 20 ms batches."""

    ams: list[str]
    rate: int
    seconds: float
    healable_every: int = 2
    posted: list[str] = field(default_factory=list)
    errors: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        total = int(self.rate * self.seconds)
        step = 0.02
        per = max(1, int(self.rate * step))
        started = time.monotonic()
        with httpx.Client(timeout=5) as client:
            n = 0
            while n < total:
                batch = [
                    am_alert(f"n{n + i:05d}", (n + i) % self.healable_every == 0)
                    for i in range(min(per, total - n))
                ]
                for am in self.ams:  # Prometheus sends to every Alertmanager of the pair
                    try:
                        client.post(f"{am}/api/v2/alerts", json=batch).raise_for_status()
                    except httpx.HTTPError:
                        self.errors += 1
                self.posted.extend(a["labels"]["node"] for a in batch)
                n += len(batch)
                sleep = started + (n / self.rate) - time.monotonic()
                if sleep > 0:
                    time.sleep(sleep)
        self.done.set()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="storm", daemon=True)
        thread.start()
        return thread


def leader(etcd_url: str) -> str | None:
    client = EtcdClient([etcd_url])
    try:
        kv = client.get(f"{PREFIX}/leader")
        return kv.value if kv else None
    finally:
        client.close()


def journal_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read a replica's journal (read-only; the replica may still be writing)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def node_of(labels_json: str) -> str:
    return str(json.loads(labels_json).get("node", ""))
