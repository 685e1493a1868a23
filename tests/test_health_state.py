"""Flap protection, stale-since for unknown, fault domains and the healer's shared-outage test."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console

from kansoku.health.demo import run_demo
from kansoku.health.fleet import (
    CLUSTER_FAULT,
    MANAGEMENT_FAULT,
    UNREACHABLE,
    fault_domain,
    fleet_shared_dependency_down,
)
from kansoku.health.model import CheckResult
from kansoku.health.state import StateStore
from kansoku.health.table import exit_code, to_json
from kansoku.models import CheckState

OK, FAIL, UNK = CheckState.OK, CheckState.FAILING, CheckState.UNKNOWN


def r(state: CheckState, ts: float, check: str = "apiserver_readyz", cluster: str = "c1",
      region: str = "fra", az: str | None = "fra-a") -> CheckResult:  # fmt: skip
    return CheckResult(cluster, region, az, check, state, f"{state} at {ts}", 0.01, ts)


def test_state_changes_only_after_n_consecutive_results() -> None:
    store = StateStore(flap_threshold=3)
    assert store.update(r(OK, 1)).state is OK
    assert store.update(r(FAIL, 2)).state is OK
    assert store.update(r(FAIL, 3)).state is OK
    s = store.update(r(OK, 4))  # the streak breaks
    assert s.state is OK and s.pending is None
    for ts in (5, 6):
        assert store.update(r(FAIL, ts)).state is OK
    s = store.update(r(FAIL, 7))
    assert s.state is FAIL and s.since == 7 and s.reason == "failing at 7"
    assert s.last_success == 4


def test_unknown_is_stale_since_last_definite_result() -> None:
    store = StateStore(flap_threshold=2)
    store.update(r(OK, 10))
    store.update(r(UNK, 20))
    s = store.update(r(UNK, 30))
    assert s.state is UNK
    assert s.stale_since == 10  # we last knew at t=10
    assert s.since == 30
    s = store.update(r(OK, 40))
    assert s.state is UNK and s.pending is OK  # one ok is not enough to recover


def test_first_unknown_is_stale_since_first_try() -> None:
    store = StateStore(flap_threshold=2)
    s = store.update(r(UNK, 5))
    assert s.state is UNK and s.stale_since == 5


def test_retain_drops_removed_clusters() -> None:
    store = StateStore()
    store.update(r(OK, 1, cluster="a"))
    store.update(r(OK, 1, cluster="b"))
    store.retain({"b"})
    assert [s.cluster for s in store.statuses()] == ["b"]


def test_fault_domains() -> None:
    def rows(**states: CheckState) -> list[CheckResult]:
        return [r(st, 1, check=name) for name, st in states.items()]

    assert fault_domain(rows(apiserver_readyz=OK, apiserver_mgmt_readyz=OK)) is None
    assert (
        fault_domain(rows(apiserver_readyz=OK, apiserver_mgmt_readyz=FAIL, agent_connected=FAIL))
        == MANAGEMENT_FAULT
    )
    assert (
        fault_domain(rows(apiserver_readyz=OK, apiserver_mgmt_readyz=OK, agent_connected=UNK))
        == MANAGEMENT_FAULT
    )
    assert fault_domain(rows(apiserver_readyz=FAIL, apiserver_mgmt_readyz=FAIL)) == CLUSTER_FAULT
    assert fault_domain(rows(apiserver_readyz=OK, kubelet_ready=FAIL)) == CLUSTER_FAULT
    assert fault_domain(rows(apiserver_readyz=UNK, apiserver_mgmt_readyz=UNK)) == UNREACHABLE


def test_shared_dependency_down_by_az_and_openstack() -> None:
    rows = []
    for i in range(10):
        az = "fra-a" if i < 5 else "fra-b"
        down = i < 4  # 4 of 5 in fra-a, none in fra-b
        rows.append(r(UNK if down else OK, 1, cluster=f"c{i}", az=az))
    reason = fleet_shared_dependency_down(rows)
    assert reason is not None and reason.startswith("az fra-a: 4 of 5 clusters")
    # independent faults: 2 of 5 in one AZ is below the 50% default
    calm = [
        r(FAIL if i in (0, 7) else OK, 1, cluster=f"c{i}", az="fra-a" if i < 5 else "fra-b")
        for i in range(10)
    ]
    assert fleet_shared_dependency_down(calm) is None
    # below min_clusters: 2 of 2 is not a shared outage by itself
    assert fleet_shared_dependency_down([r(FAIL, 1, cluster="x"), r(FAIL, 1, cluster="y")]) is None
    os_rows = [*calm, r(FAIL, 1, check="openstack_compute_services", cluster="openstack")]
    reason = fleet_shared_dependency_down(os_rows)
    assert reason == "OpenStack control plane checks failing: openstack/openstack_compute_services"


def test_exit_codes_and_json() -> None:
    store = StateStore(1)
    ok = store.update(r(OK, 1))
    assert exit_code([ok]) == 0
    unk = store.update(r(UNK, 1, cluster="c2"))
    assert exit_code([ok, unk]) == 2
    bad = store.update(r(FAIL, 1, cluster="c3"))
    assert exit_code([ok, unk, bad]) == 1
    assert '"exit_code": 1' in to_json([ok, unk, bad])


def test_demo_reads_every_simulated_fault_right(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    run_demo(console, tmp_path, clusters=70)  # raises KansokuError on any misread cluster
    text = console.export_text()
    assert "management plane fault" in text and "cluster fault" in text and "unreachable" in text
    assert "all 70 simulated clusters read as expected" in text
    assert (tmp_path / "fleet-inventory.yaml").exists()


def _node_round(ts: float, summary: CheckState, nodes: dict[str, CheckState]) -> list[CheckResult]:
    """One kubelet_ready round as the runner emits it: the summary, then one result per node."""
    base = CheckResult("c1", "fra", "fra-a", "kubelet_ready", summary, f"{summary} at {ts}", 0.01, ts,
                       subject_label="node")  # fmt: skip
    return [base] + [
        replace(base, state=st, reason=f"{name} {st}", subject=name) for name, st in nodes.items()
    ]


def _nodes(store: StateStore) -> dict[str, CheckState]:
    return {s.subject: s.state for s in store.statuses() if s.subject is not None}


def test_per_node_status_is_flap_protected_on_its_own() -> None:
    store = StateStore(flap_threshold=2)
    store.update_all(_node_round(1, OK, {"n1": OK, "n2": OK}))
    store.update_all(_node_round(2, FAIL, {"n1": OK, "n2": FAIL}))
    assert _nodes(store) == {"n1": OK, "n2": OK}  # one failing round is not enough
    store.update_all(_node_round(3, FAIL, {"n1": OK, "n2": FAIL}))
    assert _nodes(store) == {"n1": OK, "n2": FAIL}
    summary = [s for s in store.statuses() if s.subject is None]
    assert len(summary) == 1 and summary[0].state is FAIL


def test_replaced_node_disappears_instead_of_failing_forever() -> None:
    """After replace_node the old node object is gone: its failing series must go too, or the
    alert (and the healer) would keep acting on a node that no longer exists."""
    store = StateStore(flap_threshold=1)
    store.update_all(_node_round(1, FAIL, {"n1": OK, "n2": FAIL}))
    store.update_all(_node_round(2, OK, {"n1": OK, "n3": OK}))
    assert _nodes(store) == {"n1": OK, "n3": OK}
    store.retain({"c2"})
    assert store.statuses() == []


def test_api_down_makes_known_nodes_unknown_not_stale_ok() -> None:
    """When the NodeList cannot be read, no node is known to be Ready any more: each node's
    status goes unknown (no kansoku_check_up series) after the same flap protection."""
    store = StateStore(flap_threshold=2)
    store.update_all(_node_round(1, FAIL, {"n1": OK, "n2": FAIL}))
    store.update_all(_node_round(2, UNK, {}))
    assert _nodes(store) == {"n1": OK, "n2": FAIL}
    touched = store.update_all(_node_round(3, UNK, {}))
    assert _nodes(store) == {"n1": UNK, "n2": UNK}
    n2 = next(s for s in touched if s.subject == "n2")
    assert n2.stale_since == 1 and n2.reason == "unknown at 3"


def test_no_nodes_registered_drops_node_statuses() -> None:
    store = StateStore(flap_threshold=1)
    store.update_all(_node_round(1, OK, {"n1": OK}))
    store.update_all(_node_round(2, FAIL, {}))  # "no nodes registered": a definite answer
    assert _nodes(store) == {}
    assert exit_code(store.statuses()) == 1
