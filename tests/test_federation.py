"""Sharded collectors under Prometheus federation, with real Prometheus servers.

Two `collect serve` shards, a Prometheus next to each, one global Prometheus federating both
with the rules `kansoku collect scrape-config` writes: every cluster appears exactly once
globally, and a stopped collector shows up as a firing `KansokuCollectorDown` and its clusters
as `KansokuClusterStale`, never as silently missing.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kansoku.collectors.exporter import serve_metrics
from kansoku.collectors.federation import (
    federation_rules,
    global_prometheus_config,
    shard_prometheus_config,
    write_federation,
)
from kansoku.collectors.serve import CollectService
from kansoku.collectors.shard import Shard, owner
from kansoku.errors import KansokuError
from kansoku.health.simfleet import SimFleetThread, cluster_id, fleet_inventory
from kansoku.process import ManagedProcess, free_port
from kansoku.servers import start_prometheus

N_CLUSTERS = 12


def test_shard_spec_is_checked() -> None:
    assert Shard.parse("1/3") == Shard(1, 3)
    for bad in ("3/3", "1", "a/b", "-1/2", "0/0"):
        with pytest.raises(KansokuError, match="--shard"):
            Shard.parse(bad)


def test_rendezvous_hashing_splits_evenly_and_moves_about_one_nth() -> None:
    ids = [f"cluster-{i:05d}" for i in range(20_000)]
    per_shard = [sum(1 for c in ids if owner(c, 10) == j) for j in range(10)]
    assert min(per_shard) > 1_800 and max(per_shard) < 2_200, per_shard
    moved = sum(1 for c in ids if owner(c, 10) != owner(c, 11))
    assert 0.07 < moved / len(ids) < 0.12  # about 1/11, not "almost all" as with modulo
    # every cluster that moved went to the new shard
    assert all(owner(c, 11) == 10 for c in ids if owner(c, 10) != owner(c, 11))
    shards = [Shard(j, 4) for j in range(4)]
    assert all(sum(s.owns(c) for s in shards) == 1 for c in ids[:2_000])


def test_scrape_config_files_are_valid_for_promtool(tmp_path: Path, need_prometheus: None) -> None:
    import subprocess

    paths = write_federation(tmp_path, 3, [], [])
    assert [p.name for p in paths] == [
        "shard-0.prometheus.yml",
        "shard-1.prometheus.yml",
        "shard-2.prometheus.yml",
        "global.prometheus.yml",
        "kansoku-federation.rules.yml",
    ]
    for p in paths[:4]:
        run = subprocess.run(["promtool", "check", "config", str(p)], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
    with pytest.raises(KansokuError, match="one per shard"):
        write_federation(tmp_path, 2, ["127.0.0.1:1"], [])


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleetThread]:
    with SimFleetThread(N_CLUSTERS) as sim:
        yield sim


def _query(prom: ManagedProcess, q: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{prom.ports['http']}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=5) as resp:
        result: list[dict[str, Any]] = json.load(resp)["data"]["result"]
    return result


def _alerts(prom: ManagedProcess) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{prom.ports['http']}/api/v1/alerts", timeout=5) as resp:
        alerts: list[dict[str, Any]] = json.load(resp)["data"]["alerts"]
    return alerts


def _wait(what: str, probe: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.real
def test_two_shards_federated_every_cluster_once_and_a_stopped_shard_is_loud(
    fleet: SimFleetThread, tmp_path: Path, procs: list[ManagedProcess], need_prometheus: None
) -> None:
    inv = fleet_inventory(N_CLUSTERS, fleet.port, free_port())
    inv_path = tmp_path / "inventory.yaml"
    inv_path.write_text(yaml.safe_dump(inv.model_dump(mode="json", by_alias=True, exclude_defaults=True)))
    all_ids = {cluster_id(i) for i in range(N_CLUSTERS)}
    shards = [Shard(0, 2), Shard(1, 2)]
    services = [CollectService(inv_path, s) for s in shards]
    servers = []
    try:
        for svc in services:
            asyncio.run(svc.round())
        owned = [{c.id for c in svc.monitor.inventory.clusters} for svc in services]
        assert owned[0] | owned[1] == all_ids and not owned[0] & owned[1]
        assert owned[0] and owned[1], "12 clusters over 2 shards: both own some"
        ports = [free_port() for _ in shards]
        servers = [
            serve_metrics(svc.registry, "127.0.0.1", p)[0] for svc, p in zip(services, ports, strict=True)
        ]
        shard_proms = [
            start_prometheus(
                tmp_path / f"prom-{s.index}",
                shard_prometheus_config(f"127.0.0.1:{p}", s, scrape_interval="1s", scrape_timeout="1s"),
            )
            for s, p in zip(shards, ports, strict=True)
        ]
        procs.extend(shard_proms)
        rules = federation_rules(down_for="3s", stale_after="5s", window="10m")
        glob = start_prometheus(
            tmp_path / "prom-global",
            global_prometheus_config(
                [f"127.0.0.1:{p.ports['http']}" for p in shard_proms],
                scrape_interval="1s",
                scrape_timeout="1s",
            ),
            rule_files={"kansoku-federation.rules.yml": yaml.safe_dump(rules)},
        )
        procs.append(glob)

        once = "count by (cluster) (group by (cluster, shard) (kansoku_check_state))"
        _wait(
            "every cluster federated", lambda: {r["metric"]["cluster"] for r in _query(glob, once)} >= all_ids
        )
        counts = {r["metric"]["cluster"]: r["value"][1] for r in _query(glob, once)}
        assert {c: v for c, v in counts.items() if c in all_ids} == dict.fromkeys(all_ids, "1")
        by_shard = _query(glob, "group by (cluster, shard) (kansoku_check_state)")
        for r in by_shard:
            if r["metric"]["cluster"] in all_ids:
                assert r["metric"]["cluster"] in owned[int(r["metric"]["shard"])]
        info = {r["metric"]["shard"]: r["value"][1] for r in _query(glob, "kansoku_shard_clusters")}
        assert info == {"0": str(len(owned[0])), "1": str(len(owned[1]))}
        assert not [a for a in _alerts(glob) if a["state"] == "firing"]

        # stop collector 0: its Prometheus sees up == 0, the global one fires for it and for
        # each of its clusters
        servers[0].shutdown()
        servers[0].server_close()

        def firing(name: str) -> list[dict[str, Any]]:
            return [a for a in _alerts(glob) if a["labels"]["alertname"] == name and a["state"] == "firing"]

        _wait("KansokuCollectorDown", lambda: bool(firing("KansokuCollectorDown")))
        down = firing("KansokuCollectorDown")
        assert [a["labels"]["shard"] for a in down] == ["0"]
        _wait(
            "stale clusters",
            lambda: {a["labels"]["cluster"] for a in firing("KansokuClusterStale")} >= owned[0],
        )
        stale = {a["labels"]["cluster"] for a in firing("KansokuClusterStale")}
        assert stale == owned[0]
        fresh = "group by (cluster) (time() - timestamp(kansoku_check_state) < 5)"
        live = {r["metric"]["cluster"] for r in _query(glob, fresh)}
        assert live & all_ids == owned[1]
    finally:
        for srv in servers[1:]:
            srv.shutdown()
        for svc in services:
            svc.close()


def test_exactly_one_shard_runs_the_openstack_collectors(fleet: SimFleetThread, tmp_path: Path) -> None:
    log = tmp_path / "nova-api.log"
    log.write_text("")
    doc = fleet_inventory(2, fleet.port, free_port()).model_dump(
        mode="json", by_alias=True, exclude_defaults=True
    )
    doc["openstack"] = {"cloud": "cloud-fra", "region": "fra", "logs": [{"path": str(log)}]}
    inv_path = tmp_path / "inventory.yaml"
    inv_path.write_text(yaml.safe_dump(doc))
    for n in (2, 3, 5):
        services = [CollectService(inv_path, Shard(i, n)) for i in range(n)]
        try:
            assert [svc.owns_cloud for svc in services].count(True) == 1
            assert [bool(svc.tailers) for svc in services] == [svc.owns_cloud for svc in services]
        finally:
            for svc in services:
                svc.close()
