"""OpenStack control-plane pollers: RabbitMQ queues, compute services, network agents.

Why one Protocol (`Poller`) and a registry keyed by inventory setting: `collect serve` builds
exactly the pollers the inventory's `openstack:` section enables; each poll either updates
the shared `OpenStackState` or raises `PollError` with a reason, which becomes an
`openstack_<name>` check result for the cloud (so an unreachable RabbitMQ is visible, and
`fleet_shared_dependency_down` sees the OpenStack control plane failing).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kansoku.inventory import OpenStackSettings


class PollError(Exception):
    """A poll failed; the message is the check result's reason. `unknown` = could not ask."""

    def __init__(self, message: str, unknown: bool = True, request_id: str | None = None) -> None:
        super().__init__(message)
        self.unknown = unknown
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class QueueStat:
    vhost: str
    queue: str
    messages: int
    unacked: int
    consumers: int


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    service: str  # binary, e.g. nova-compute, neutron-openvswitch-agent
    host: str
    zone: str
    up: bool
    enabled: bool = True


@dataclass
class OpenStackState:
    """The latest polled view of the cloud; the exporter reads it under `lock`."""

    cloud: str
    region: str
    queues: list[QueueStat] = field(default_factory=list)
    services: dict[str, list[ServiceStatus]] = field(default_factory=dict)  # by poller name
    notification_errors: dict[tuple[str, str], int] = field(default_factory=dict)  # (event_type, publisher)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Poller(Protocol):
    name: str

    def poll(self, state: OpenStackState) -> str:
        """Update `state`; return a short ok reason, or raise PollError."""
        ...


def parse_queues(doc: Any) -> list[QueueStat]:
    """`GET /api/queues` (RabbitMQ management) -> per-queue stats.

    A queue whose counters are not sampled yet (just declared) has no `messages` key; it is
    left out rather than reported as 0, which would be a made-up number.
    """
    if not isinstance(doc, list):
        raise PollError(f"/api/queues: expected a JSON list, got {type(doc).__name__}")
    out = []
    for q in doc:
        if not isinstance(q, dict) or "messages" not in q:
            continue
        out.append(
            QueueStat(
                str(q.get("vhost", "/")),
                str(q.get("name", "")),
                int(q.get("messages") or 0),
                int(q.get("messages_unacknowledged") or 0),
                int(q.get("consumers") or 0),
            )
        )
    return out


class RabbitMQQueues:
    """Queue depth, unacked and consumers from the management API."""

    name = "rabbitmq"

    def __init__(self, settings: OpenStackSettings, timeout: float = 5.0) -> None:
        self.url = (settings.rabbitmq_url or "").rstrip("/")
        self.user = settings.rabbitmq_user
        self.password_file = settings.rabbitmq_password_file
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        """Basic auth, the password read at each poll: an unreadable (or rotated) file is this
        poller's error, not a crash of the exporter that serves every other metric."""
        password = "guest"
        if self.password_file:
            try:
                password = Path(self.password_file).read_text().strip()
            except OSError as exc:
                raise PollError(
                    f"openstack.rabbitmq_password_file: cannot read {self.password_file}: {exc.strerror}"
                ) from None
        token = base64.b64encode(f"{self.user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def poll(self, state: OpenStackState) -> str:
        import httpx

        url = f"{self.url}/api/queues"
        headers = self._headers()
        try:
            resp = httpx.get(url, headers=headers, timeout=self.timeout, trust_env=False)
        except httpx.HTTPError as exc:
            raise PollError(f"RabbitMQ management API {self.url}: {exc or type(exc).__name__}") from None
        if resp.status_code in (401, 403):
            raise PollError(f"RabbitMQ management API: HTTP {resp.status_code}, credentials rejected")
        if resp.status_code != 200:
            raise PollError(f"RabbitMQ management API: HTTP {resp.status_code}", unknown=False)
        try:
            queues = parse_queues(resp.json())
        except ValueError:
            raise PollError(f"RabbitMQ management API {url}: invalid JSON") from None
        with state.lock:
            state.queues = queues
        return f"{len(queues)} queues"


def _sdk_errors() -> tuple[type[BaseException], ...]:
    import keystoneauth1.exceptions
    import openstack.exceptions

    return (openstack.exceptions.SDKException, keystoneauth1.exceptions.ClientException)


class _SdkPoller:
    """Shared openstacksdk connection handling (clouds.yaml cloud name from the inventory)."""

    name = ""

    def __init__(self, settings: OpenStackSettings, connection: Any = None) -> None:
        self.settings = settings
        self._conn = connection

    def conn(self) -> Any:
        if self._conn is None:
            import openstack

            try:
                self._conn = openstack.connect(cloud=self.settings.cloud, region_name=self.settings.region)
            except Exception as exc:  # openstacksdk raises config errors of several types
                raise PollError(f"openstacksdk cloud {self.settings.cloud!r}: {exc}") from None
        return self._conn

    def _list(self, fetch: Callable[[Any], Any]) -> list[Any]:
        try:
            return list(fetch(self.conn()))
        except _sdk_errors() as exc:
            rid = getattr(exc, "request_id", None)
            raise PollError(f"{self.name}: {exc}", unknown=False, request_id=rid) from None
        except OSError as exc:
            raise PollError(f"{self.name}: {exc}") from None

    def _store(self, state: OpenStackState, rows: list[ServiceStatus]) -> str:
        with state.lock:
            state.services[self.name] = rows
        down = [f"{r.service}@{r.host}" for r in rows if r.enabled and not r.up]
        if down:
            raise PollError(f"{len(down)} down: {', '.join(down[:5])}", unknown=False)
        return f"{len(rows)} up"


class ComputeServices(_SdkPoller):
    """`GET /os-services` through openstacksdk (what `openstack compute service list` shows)."""

    name = "compute_services"

    def poll(self, state: OpenStackState) -> str:
        rows = [
            ServiceStatus(
                s.binary, s.host, s.availability_zone or "-", s.state == "up", s.status != "disabled"
            )
            for s in self._list(lambda c: c.compute.services())
        ]
        return self._store(state, rows)


class NetworkAgents(_SdkPoller):
    """`GET /v2.0/agents` through openstacksdk: neutron agents' heartbeats (`alive`)."""

    name = "network_agents"

    def poll(self, state: OpenStackState) -> str:
        rows = [
            ServiceStatus(
                a.binary, a.host, a.availability_zone or "-", bool(a.is_alive), bool(a.is_admin_state_up)
            )
            for a in self._list(lambda c: c.network.agents())
        ]
        return self._store(state, rows)


#: Pollers by the inventory setting that enables them.
POLLERS: dict[str, Callable[[OpenStackSettings], Poller]] = {
    "rabbitmq_url": RabbitMQQueues,
    "compute_services": ComputeServices,
    "network_agents": NetworkAgents,
}


def build_pollers(settings: OpenStackSettings) -> list[Poller]:
    """The pollers whose setting is truthy in the inventory's `openstack:` section."""
    return [factory(settings) for key, factory in POLLERS.items() if getattr(settings, key)]
