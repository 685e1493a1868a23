"""Fleet-level reading of check states: which side is at fault, and is it a shared outage.

Why: with 700 clusters, "red" is not an answer. Comparing the direct API probe with the same
probe through the management path tells a management plane fault (Rancher/agent/tunnel)
from a cluster fault; many clusters of one region or AZ going red together means something
they share (network, storage, the OpenStack control plane) is down, and the healer must not
start replacing nodes one cluster at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from kansoku.models import CheckState

MANAGEMENT_FAULT = "management plane fault"
CLUSTER_FAULT = "cluster fault"
UNREACHABLE = "unreachable"

_API_CHECKS = ("apiserver_readyz", "apiserver_livez")


class HasState(Protocol):
    """Both `CheckResult` and `CheckStatus` fit: a (cluster, region, az, check) with a state."""

    @property
    def cluster(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def az(self) -> str | None: ...
    @property
    def check(self) -> str: ...
    @property
    def state(self) -> CheckState: ...


def fault_domain(results: Iterable[HasState]) -> str | None:
    """For one cluster's results: None when healthy, else which side is at fault.

    Direct API ok but the management path (or the agent TCP check) not ok -> management
    plane fault; any direct API or in-cluster check failing -> cluster fault; nothing
    answers -> unreachable.
    """
    states = {r.check: r.state for r in results}
    if all(s is CheckState.OK for s in states.values()):
        return None
    direct = [states[c] for c in _API_CHECKS if c in states]
    mgmt = [states[c] for c in ("apiserver_mgmt_readyz", "agent_connected") if c in states]
    if direct and all(s is CheckState.OK for s in direct) and any(s is not CheckState.OK for s in mgmt):
        return MANAGEMENT_FAULT
    if any(s is CheckState.FAILING for s in states.values()):
        return CLUSTER_FAULT
    return UNREACHABLE


def by_cluster(results: Iterable[HasState]) -> dict[str, list[HasState]]:
    out: dict[str, list[HasState]] = defaultdict(list)
    for r in results:
        out[r.cluster].append(r)
    return dict(out)


def fleet_shared_dependency_down(
    results: Iterable[HasState], ratio: float = 0.5, min_clusters: int = 3
) -> str | None:
    """Why many clusters are red at once, if it looks like one shared dependency; else None.

    The healer calls this before acting: when it returns a reason, remediating clusters one
    by one would be wrong (and could make things worse), so the healer pauses and pages.
    It returns a reason when
    - any OpenStack control-plane check (`check` starting with ``openstack``) is failing, or
    - in one region, or one availability zone, at least `min_clusters` clusters and at least
      `ratio` of its clusters have their API server failing or unknown in the same round
      (an AZ is reported before its region, as the narrower cause).
    Management plane faults are counted too: a Rancher outage is a shared dependency.
    """
    rows = list(results)
    os_failing = sorted(
        {
            f"{r.cluster}/{r.check}"
            for r in rows
            if r.check.startswith("openstack") and r.state is CheckState.FAILING
        }
    )
    if os_failing:
        return "OpenStack control plane checks failing: " + ", ".join(os_failing)
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    bad: dict[tuple[str, str], set[str]] = defaultdict(set)
    for cluster, items in by_cluster(r for r in rows if not r.check.startswith("openstack")).items():
        first = items[0]
        keys = [("region", first.region)] + ([("az", first.az)] if first.az else [])
        down = any(
            r.check in (*_API_CHECKS, "apiserver_mgmt_readyz") and r.state is not CheckState.OK for r in items
        )
        for key in keys:
            groups[key].add(cluster)
            if down:
                bad[key].add(cluster)
    ranked = sorted(groups, key=lambda k: (k[0] != "az", k[1]))
    for key in ranked:
        n, k = len(groups[key]), len(bad[key])
        if k >= min_clusters and k / n >= ratio:
            return (
                f"{key[0]} {key[1]}: {k} of {n} clusters have their API server failing or unreachable "
                "at once; a shared dependency (network, load balancer, storage, OpenStack, management "
                "plane) is likely down"
            )
    return None
