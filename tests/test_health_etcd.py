"""etcd checks against a real etcd 3.4 (Debian etcd-server) on loopback."""

from __future__ import annotations

import asyncio

import pytest

from kansoku.health.model import CheckStatus
from kansoku.health.probes import BINARY_CHECKS
from kansoku.health.runner import Monitor
from kansoku.inventory import HealthSettings, Inventory
from kansoku.models import CheckState, Cluster
from kansoku.process import ManagedProcess, free_port

pytestmark = pytest.mark.real


def _round(cluster: Cluster) -> dict[str, CheckStatus]:
    inv = Inventory(clusters=[cluster], settings=HealthSettings.model_validate({"timeout": 3}))
    checks = [BINARY_CHECKS["etcd_health"], BINARY_CHECKS["etcd_members"]]
    return {s.check: s for s in asyncio.run(Monitor(inv, checks).round())}


def test_real_etcd_health_and_members(etcd: ManagedProcess) -> None:
    url = f"http://127.0.0.1:{etcd.ports['client']}"
    got = _round(Cluster(id="e", api_url="http://127.0.0.1:1", etcd=[url]))
    assert got["etcd_health"].state is CheckState.OK, got["etcd_health"].reason
    assert got["etcd_health"].reason == "1/1 etcd members healthy"
    assert got["etcd_members"].state is CheckState.OK, got["etcd_members"].reason
    assert got["etcd_members"].reason == "1 members: e1"


def test_real_etcd_with_a_missing_member_fails(etcd: ManagedProcess) -> None:
    url = f"http://127.0.0.1:{etcd.ports['client']}"
    dead = f"http://127.0.0.1:{free_port()}"
    got = _round(
        Cluster(
            id="e", api_url="http://127.0.0.1:1", etcd=[url, dead, dead.replace("127.0.0.1", "localhost")]
        )
    )
    assert got["etcd_health"].state is CheckState.FAILING
    assert got["etcd_health"].reason.startswith("2/3 etcd members unhealthy")
    assert got["etcd_members"].state is CheckState.FAILING
    assert got["etcd_members"].reason == "1 voting members, inventory lists 3: e1"


def test_stopped_etcd_is_unknown(etcd: ManagedProcess) -> None:
    url = f"http://127.0.0.1:{etcd.ports['client']}"
    etcd.stop()
    got = _round(Cluster(id="e", api_url="http://127.0.0.1:1", etcd=[url]))
    assert got["etcd_health"].state is CheckState.UNKNOWN
    assert "connection refused" in got["etcd_health"].reason
    assert got["etcd_members"].state is CheckState.UNKNOWN


def test_real_etcd_member_statuses_name_the_dead_members(etcd: ManagedProcess) -> None:
    """One status per etcd endpoint, labelled `member`: the live one ok, the dead ones failing
    (refused while a peer answers), named so EtcdMemberDown says which one to restore."""
    port = etcd.ports["client"]
    dead = free_port()
    cluster = Cluster(
        id="e",
        api_url="http://127.0.0.1:1",
        etcd=[f"http://127.0.0.1:{port}", f"http://127.0.0.1:{dead}", f"http://localhost:{dead}"],
    )
    inv = Inventory(
        clusters=[cluster], settings=HealthSettings.model_validate({"timeout": 3, "flap_threshold": 1})
    )
    monitor = Monitor(inv, [BINARY_CHECKS["etcd_health"]])
    asyncio.run(monitor.round())
    members = {s.subject: s for s in monitor.store.statuses() if s.subject is not None}
    assert {m: s.state for m, s in members.items()} == {
        f"127.0.0.1:{port}": CheckState.OK,
        f"127.0.0.1:{dead}": CheckState.FAILING,
        f"localhost:{dead}": CheckState.FAILING,
    }
    assert all(s.subject_label == "member" for s in members.values())
    assert "connection refused" in members[f"127.0.0.1:{dead}"].reason
    etcd.stop()  # now no member answers: we cannot tell, so every member is unknown
    asyncio.run(monitor.round())
    states = {s.subject: s.state for s in monitor.store.statuses() if s.subject is not None}
    assert states == dict.fromkeys(members, CheckState.UNKNOWN)
