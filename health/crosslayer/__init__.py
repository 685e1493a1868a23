"""The cross-layer verdict: is a failing cluster's fault in Kubernetes or in the IaaS below it?

Why: the first question an operator asks when a cluster goes red is "is it Kubernetes or
OpenStack?". A NotReady node whose hypervisor is down, or whose nova-compute or neutron agent
stopped reporting, is not fixed by restarting kubelets or replacing the node (the new VM
lands in the same failure). So for a failing cluster we join, in the same time window, what
the IaaS says about the node VMs:

- the node VM's server state and its hypervisor's state/status (Nova),
- nova-compute and neutron agents up/down on that hypervisor (and in the cluster's AZ),
- failed requests in nova/neutron/cinder logs for that hypervisor, those servers or the
  cluster's project (the log index),

and answer "IaaS suspected: nova-compute on hv-12 down since T; 3 failed requests (req-...)"
or "Kubernetes fault: IaaS healthy". When the IaaS cannot be asked the verdict says so
(never "healthy" by default).

Sources are Protocols (`IaasSource`, `FailureSource`); implementations (Nova through
openstacksdk, a snapshot file, the log index) are in `crosslayer/sources.py`. Heal decisions
may consult `judge_cluster` later (replace_node already refuses hypervisor faults itself).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from kansoku.health.fleet import MANAGEMENT_FAULT, fault_domain
from kansoku.health.model import CheckStatus
from kansoku.models import CheckState, Cluster

IAAS = "iaas"
KUBERNETES = "kubernetes"
UNKNOWN = "unknown"

#: What each verdict kind is called on a page, in the table and in the metric label.
LABELS = {IAAS: "IaaS suspected", KUBERNETES: "Kubernetes fault", UNKNOWN: "IaaS not judged"}

#: How far before the first failure we look for IaaS trouble (a hypervisor that died five
#: minutes before kubelet's NotReady grace period ran out is the cause, not a coincidence).
LOOKBACK_S = 15 * 60

#: Server statuses that are an IaaS problem for a node (BUILD and UNKNOWN are not a verdict).
BAD_SERVER_STATUSES = frozenset({"ERROR", "SHUTOFF", "PAUSED", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED"})

#: Projects whose failed requests speak about compute hosts and VMs.
IAAS_PROJECTS = ("nova", "neutron", "cinder")


class IaasError(Exception):
    """The IaaS could not be asked (Nova down, no credentials): the verdict is unknown."""


@dataclass(frozen=True, slots=True)
class ServerView:
    """A node's VM as Nova sees it."""

    name: str
    id: str
    status: str  # ACTIVE, ERROR, SHUTOFF, ...
    hypervisor: str | None
    hypervisor_state: str | None = None  # up / down
    hypervisor_status: str | None = None  # enabled / disabled
    az: str | None = None


@dataclass(frozen=True, slots=True)
class AgentView:
    """One nova-compute or neutron agent on one host; `since` is its last heartbeat."""

    binary: str
    host: str
    zone: str | None
    up: bool
    enabled: bool = True
    since: float | None = None


@dataclass(frozen=True, slots=True)
class FailedRequest:
    """One failed request in the OpenStack logs (an ERROR record or a 5xx answer)."""

    request_id: str  # the id to open with `kansoku trace` (global when known)
    ts: float | None
    service: str
    host: str
    message: str
    status: int | None = None
    instance: str | None = None
    project: str | None = None
    location: str = ""


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    end: float

    def __contains__(self, ts: float | None) -> bool:
        return ts is not None and self.start <= ts <= self.end


class IaasSource(Protocol):
    """What the IaaS says about a cluster's VMs and the agents on the hypervisors."""

    def servers(self, cluster: Cluster, nodes: Sequence[str]) -> list[ServerView]:
        """The VMs of `nodes` (node name = server name); all of the cluster's when empty."""
        ...

    def agents(self) -> list[AgentView]:
        """nova-compute and neutron agents of the cloud, up or down."""
        ...

    def describe(self) -> str: ...


class FailureSource(Protocol):
    """Failed requests in the OpenStack logs, found by host, server id or project."""

    def failed(
        self, window: Window, *, hosts: Iterable[str], instances: Iterable[str], projects: Iterable[str]
    ) -> list[FailedRequest]: ...


@dataclass(frozen=True)
class CrossVerdict:
    """The answer for one failing cluster, with the evidence that makes it."""

    cluster: str
    kind: str  # IAAS | KUBERNETES | UNKNOWN
    summary: str
    evidence: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    hypervisors: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()
    failed: tuple[FailedRequest, ...] = field(default=(), compare=False)

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["label"] = self.label
        out["failed"] = [asdict(f) for f in self.failed]
        return out


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts)) if ts is not None else "an unknown time"


def failing_nodes(statuses: Iterable[CheckStatus]) -> tuple[list[str], list[str]]:
    """(failing or unknown nodes, all known nodes) from the per-node kubelet_ready statuses."""
    nodes = [s for s in statuses if s.check == "kubelet_ready" and s.subject]
    bad = sorted(s.subject for s in nodes if s.subject and s.state is not CheckState.OK)
    return bad, sorted(s.subject for s in nodes if s.subject)


def window_for(statuses: Iterable[CheckStatus], now: float | None = None) -> Window:
    """From LOOKBACK_S before the earliest failure of the cluster to now."""
    now = time.time() if now is None else now
    since = [s.since for s in statuses if s.state is not CheckState.OK]
    return Window(min(since, default=now) - LOOKBACK_S, now)


def _agent_signals(agents: Iterable[AgentView], hosts: set[str], az: str | None) -> list[str]:
    out = []
    for a in sorted(agents, key=lambda a: (a.host, a.binary)):
        if a.up or not a.enabled:
            continue
        if a.host in hosts:
            out.append(f"{a.binary} on {a.host} down since {_when(a.since)}")
        elif not hosts and az and a.zone == az and a.binary == "nova-compute":
            out.append(f"{a.binary} on {a.host} (AZ {az}) down since {_when(a.since)}")
    return out


def _server_signals(servers: Iterable[ServerView]) -> list[str]:
    out = []
    for s in servers:
        if s.hypervisor_state == "down":
            out.append(f"hypervisor {s.hypervisor} of {s.name} is down")
        elif s.hypervisor_status == "disabled":
            out.append(f"hypervisor {s.hypervisor} of {s.name} is disabled")
        if s.status.upper() in BAD_SERVER_STATUSES:
            out.append(f"server {s.name} is {s.status}")
    return out


def judge_cluster(
    cluster: Cluster,
    statuses: Sequence[CheckStatus],
    iaas: IaasSource | None,
    failures: FailureSource | None = None,
    window: Window | None = None,
) -> CrossVerdict | None:
    """The verdict for one cluster (its cluster-level and per-node statuses), or None when it
    is healthy or its fault is the management plane (Rancher, the agent: neither layer here).
    """
    level = [s for s in statuses if s.subject is None]
    domain = fault_domain(level)
    if domain is None or domain == MANAGEMENT_FAULT:
        return None
    if iaas is None:
        return CrossVerdict(cluster.id, UNKNOWN, "IaaS not judged: no OpenStack source configured")
    bad, known = failing_nodes(statuses)
    looked = bad or known
    window = window or window_for(statuses)
    try:
        servers = iaas.servers(cluster, looked)
        agents = iaas.agents()
    except IaasError as exc:
        return CrossVerdict(cluster.id, UNKNOWN, f"IaaS not judged: {exc}", nodes=tuple(looked))
    hosts = {s.hypervisor for s in servers if s.hypervisor}
    found = {s.name for s in servers}
    signals = _server_signals(servers) + _agent_signals(agents, hosts, cluster.az)
    evidence = [
        f"{s.name}: server {s.id} {s.status} on {s.hypervisor or '?'} "
        f"(hypervisor {s.hypervisor_state or '?'}/{s.hypervisor_status or '?'})"
        for s in servers
    ]
    evidence += [f"{n}: no Nova server of that name" for n in looked if n not in found]
    failed: list[FailedRequest] = []
    if failures is not None:
        projects = [cluster.openstack_project] if cluster.openstack_project else []
        failed = failures.failed(window, hosts=hosts, instances=[s.id for s in servers], projects=projects)
    rids = tuple(dict.fromkeys(f.request_id for f in failed))
    evidence += [
        f"failed request {f.request_id}: {f.service}@{f.host} {_when(f.ts)}: {f.message[:160]}"
        for f in failed[:10]
    ]

    def verdict(kind: str, summary: str) -> CrossVerdict:
        return CrossVerdict(
            cluster.id,
            kind,
            summary,
            tuple(evidence),
            tuple(looked),
            tuple(sorted(hosts)),
            rids,
            tuple(failed),
        )

    if signals or failed:
        parts = list(dict.fromkeys(signals))[:3]
        if failed:
            shown = ", ".join(rids[:2]) + (", ..." if len(rids) > 2 else "")
            parts.append(f"{len(rids)} failed request{'s' if len(rids) != 1 else ''} ({shown})")
        return verdict(IAAS, "IaaS suspected: " + "; ".join(parts))
    if not servers and not agents:
        return verdict(UNKNOWN, f"IaaS not judged: {iaas.describe()} knows no VM of {cluster.id}")
    where = f"{len(servers)} VM(s) ACTIVE on {', '.join(sorted(hosts))}" if servers else "no VM found"
    return verdict(
        KUBERNETES, f"Kubernetes fault: IaaS healthy ({where}; agents up; no failed requests in the window)"
    )


def judge_fleet(
    clusters: Iterable[Cluster],
    statuses: Sequence[CheckStatus],
    iaas: IaasSource | None,
    failures: FailureSource | None = None,
    window: Window | None = None,
) -> dict[str, CrossVerdict]:
    """Verdicts for every failing cluster of the fleet (healthy ones are left out)."""
    per: dict[str, list[CheckStatus]] = {}
    for s in statuses:
        per.setdefault(s.cluster, []).append(s)
    out = {}
    for cluster in clusters:
        items = per.get(cluster.id)
        if not items:
            continue
        verdict = judge_cluster(cluster, items, iaas, failures, window)
        if verdict is not None:
            out[cluster.id] = verdict
    return out


def fault_label(statuses: Sequence[CheckStatus], verdict: CrossVerdict | None) -> str | None:
    """What a cluster is labelled on `/` and in the table: IaaS suspected, or its fault domain."""
    if verdict is not None and verdict.kind == IAAS:
        return LABELS[IAAS]
    return fault_domain([s for s in statuses if s.subject is None])
