"""`NovaIaas`: what Nova (and neutron, when there is one) says about a cluster's VMs.

Node name = server name (Magnum, Cluster API OpenStack and Rancher's node drivers name them
so; `replace_node` relies on it too). The calls are those of `openstack server list --name`,
`server show`, `hypervisor list --long`, `compute service list` and `network agent list`.

Why a fallback for `server show`: Nova builds a server's detail view with its security
groups, asked from neutron; when nova cannot reach neutron (an outage, or the lab, which has
none) every detail is a 500. The hypervisors' server lists (microversion 2.53,
`with_servers`) still say where each server runs, and a brief list filtered by status says
its status, so the verdict can still be made, which is exactly when it matters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kansoku.health.crosslayer import AgentView, IaasError, ServerView
from kansoku.health.crosslayer.sources import _ts
from kansoku.models import Cluster

#: Seconds before a call to Nova gives up (openstacksdk's `api_timeout`; none by default).
API_TIMEOUT_S = 10.0
#: Agents are asked at most this often: one round judges many clusters against one answer.
AGENTS_TTL_S = 20.0
#: Statuses tried, in order, when a server's detail cannot be read.
STATUSES = ("ACTIVE", "ERROR", "SHUTOFF", "BUILD", "PAUSED", "SUSPENDED", "SHELVED_OFFLOADED")
HYPERVISORS_MICROVERSION = "2.53"

T = TypeVar("T")


@dataclass
class _Hypervisor:
    hostname: str
    host: str  # its nova-compute service's host (what agents are keyed by)
    state: str | None
    status: str | None
    servers: set[str] = field(default_factory=set)


class NovaIaas:
    """An `IaasSource` over openstacksdk; a failure to ask is an `IaasError`."""

    def __init__(self, cloud: str | None, region: str | None = None, connection: Any = None) -> None:
        self.cloud, self.region = cloud, region
        self._conn = connection
        self._agents: list[AgentView] | None = None
        self._agents_at = 0.0
        self._down: tuple[float, IaasError] | None = None

    def conn(self) -> Any:
        if self._conn is None:
            import openstack

            try:
                self._conn = openstack.connect(
                    cloud=self.cloud, region_name=self.region, api_timeout=API_TIMEOUT_S
                )
            except Exception as exc:  # openstacksdk raises config errors of several types
                raise IaasError(f"openstacksdk cloud {self.cloud!r}: {exc}") from None
        return self._conn

    def _ask(self, what: str, call: Callable[[], T]) -> T:
        """Run one call; a failure to ask is an IaasError, remembered for AGENTS_TTL_S so that
        judging a hundred failing clusters against a Nova that is down costs one timeout, not
        a hundred."""
        import keystoneauth1.exceptions
        import openstack.exceptions

        if self._down is not None and time.monotonic() - self._down[0] < AGENTS_TTL_S:
            raise self._down[1]
        try:
            return call()
        except (openstack.exceptions.SDKException, keystoneauth1.exceptions.ClientException, OSError) as exc:
            error = IaasError(f"{what}: {type(exc).__name__}: {exc}")
            if isinstance(
                exc, keystoneauth1.exceptions.ConnectionError | keystoneauth1.exceptions.EndpointNotFound
            ):
                self._down = (time.monotonic(), error)
            raise error from None

    def _get(self, path: str, microversion: str | None = None) -> Any:
        conn = self.conn()

        def call() -> Any:
            resp = conn.compute.get(path, microversion=microversion)
            if resp.status_code >= 400:
                raise IaasError(f"nova GET {path}: HTTP {resp.status_code}")
            return resp.json()

        return self._ask(f"nova GET {path}", call)

    def _brief(self, name_filter: str, keep: Callable[[str], bool]) -> list[tuple[str, str]]:
        doc = self._get(f"/servers?name={name_filter}&all_tenants=1")
        return [(s["id"], s["name"]) for s in doc.get("servers", []) if keep(s["name"])]

    def _hypervisors(self) -> list[_Hypervisor]:
        doc = self._get("/os-hypervisors/detail?with_servers=true", HYPERVISORS_MICROVERSION)
        return [
            _Hypervisor(
                h.get("hypervisor_hostname", ""),
                (h.get("service") or {}).get("host") or h.get("hypervisor_hostname", ""),
                h.get("state"),
                h.get("status"),
                {s["uuid"] for s in h.get("servers") or []},
            )
            for h in doc.get("hypervisors", [])
        ]

    def _status(self, server_id: str) -> str:
        for status in STATUSES:
            if self._get(f"/servers?uuid={server_id}&status={status}").get("servers"):
                return status
        return "UNKNOWN"

    def servers(self, cluster: Cluster, nodes: Sequence[str]) -> list[ServerView]:
        import openstack.exceptions

        if nodes:
            wanted = set(nodes)
            brief = [b for n in sorted(wanted) for b in self._brief(n, lambda s: s in wanted)]
        else:
            brief = self._brief(cluster.id, lambda s: s.startswith(cluster.id + "-"))
        if not brief:
            return []
        hyps = self._hypervisors()
        conn = self.conn()
        out = []
        for sid, name in brief:
            try:
                s = conn.compute.get_server(sid)
                status, az = s.status, s.availability_zone
                hyp = next((h for h in hyps if h.hostname == s.hypervisor_hostname), None)
                host = hyp.host if hyp else s.compute_host
            except openstack.exceptions.HttpException as exc:
                if exc.status_code is None or exc.status_code < 500:
                    raise IaasError(f"nova server {name}: {exc}") from None
                # the detail view needs neutron; where it runs and its status still answer
                hyp = next((h for h in hyps if sid in h.servers), None)
                host, status, az = (hyp.host if hyp else None), self._status(sid), None
            except (openstack.exceptions.SDKException, OSError) as exc:
                raise IaasError(f"nova server {name}: {type(exc).__name__}: {exc}") from None
            out.append(
                ServerView(
                    name, sid, status, host, hyp.state if hyp else None, hyp.status if hyp else None, az
                )
            )
        return out

    def agents(self) -> list[AgentView]:
        """nova-compute services and neutron agents, asked at most every AGENTS_TTL_S."""
        if self._agents is None or time.monotonic() - self._agents_at > AGENTS_TTL_S:
            conn = self.conn()
            rows = [
                AgentView(s.binary, s.host, s.availability_zone, s.state == "up", s.status != "disabled",
                          _ts(s.updated_at))
                for s in self._ask("nova services", lambda: list(conn.compute.services()))
            ]  # fmt: skip
            try:
                agents = list(conn.network.agents())
            except Exception:  # no neutron endpoint in this cloud (the lab): compute services alone
                agents = []
            rows += [
                AgentView(a.binary, a.host, a.availability_zone, bool(a.is_alive), bool(a.is_admin_state_up),
                          _ts(getattr(a, "last_heartbeat_at", None)))
                for a in agents
            ]  # fmt: skip
            self._agents, self._agents_at = rows, time.monotonic()
        return self._agents

    def describe(self) -> str:
        return f"Nova (cloud {self.cloud or 'default'})"
