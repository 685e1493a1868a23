"""OpenStack pollers: RabbitMQ management API (recorded and real), compute services and
network agents through openstacksdk against a loopback API serving recorded bodies, and
oslo.messaging notifications published to a real RabbitMQ."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from kansoku.collectors.notifications import NotificationListener, parse_envelope
from kansoku.collectors.openstack import (
    ComputeServices,
    NetworkAgents,
    OpenStackState,
    PollError,
    RabbitMQQueues,
    build_pollers,
    parse_queues,
)
from kansoku.inventory import OpenStackSettings
from kansoku.servers import RabbitMQ
from tests.support.loopback import LoopbackServer


def _nova_services_sample() -> bytes:
    """nova 34's own API sample for `GET /os-services` (microversion 2.53), as installed."""
    import nova

    tpl = (
        Path(nova.__file__).parent
        / "tests/functional/api_sample_tests/api_samples/os-services/v2.53/services-list-get-resp.json.tpl"
    )
    text = tpl.read_text()
    n = iter(range(1, 100))
    text = re.sub(r'"%\(id\)s"', lambda _m: f'"4c8ae8d4-7e6b-4f3a-9b1e-00000000000{next(n)}"', text)
    return text.replace("%(strtime)s", "2026-11-23T17:00:00.000000").encode()


#: neutron api-ref "List all agents" response shape (GET /v2.0/agents), two agents, one dead.
NEUTRON_AGENTS = {
    "agents": [
        {"admin_state_up": True, "agent_type": "Open vSwitch agent", "alive": True, "availability_zone": None,
         "binary": "neutron-openvswitch-agent", "configurations": {"bridge_mappings": {"public": "br-ex"}},
         "created_at": "2026-11-01 09:00:00", "description": None, "heartbeat_timestamp": "2026-11-23 17:00:01",
         "host": "compute-1", "id": "04c62b91-b799-48b7-9cd5-2982db6df9c6", "resources_synced": None,
         "started_at": "2026-11-20 08:00:00", "topic": "N/A"},
        {"admin_state_up": True, "agent_type": "DHCP agent", "alive": False, "availability_zone": "nova",
         "binary": "neutron-dhcp-agent", "configurations": {"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq"},
         "created_at": "2026-11-01 09:00:00", "description": None, "heartbeat_timestamp": "2026-11-23 16:41:12",
         "host": "net-2", "id": "840d5d68-5759-4e9e-812f-f3bd19214c7f", "resources_synced": None,
         "started_at": "2026-11-20 08:00:00", "topic": "dhcp_agent"},
    ]
}  # fmt: skip


@pytest.fixture(scope="module")
def openstack_api() -> Iterator[str]:
    services = _nova_services_sample()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://{self.headers.get('Host')}"
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/v2.1":  # nova version document (keystoneauth discovery)
                doc: object = {"version": {"id": "v2.1", "status": "CURRENT", "version": "2.95", "min_version": "2.1",
                                           "links": [{"rel": "self", "href": f"{base}/v2.1/"}]}}  # fmt: skip
                body = json.dumps(doc).encode()
            elif path in ("", "/v2.0"):
                doc = {
                    "versions": [
                        {
                            "id": "v2.0",
                            "status": "CURRENT",
                            "links": [{"rel": "self", "href": f"{base}/v2.0/"}],
                        }
                    ]
                }
                body = json.dumps(doc).encode()
            elif path == "/v2.1/os-services":
                body = services
            elif path == "/v2.0/agents":
                body = json.dumps(NEUTRON_AGENTS).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-openstack-request-id", "req-0f0e0d0c-0b0a-4909-8807-060504030201")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    with LoopbackServer(Handler) as server:
        yield server.url


def _conn(url: str) -> object:
    import openstack

    return openstack.connect(
        auth_type="none", compute_endpoint_override=f"{url}/v2.1", network_endpoint_override=f"{url}/",
        load_yaml_config=False, load_envvars=False,
    )  # fmt: skip


def test_compute_services_from_nova_sample(openstack_api: str) -> None:
    settings = OpenStackSettings(cloud="c1", compute_services=True)
    state = OpenStackState("c1", "r1")
    poller = ComputeServices(settings, _conn(openstack_api))
    with pytest.raises(PollError) as err:
        poller.poll(state)
    # nova's sample: host2's nova-scheduler is enabled and down; disabled services do not count
    assert str(err.value) == "1 down: nova-scheduler@host2"
    assert err.value.unknown is False
    rows = {(r.service, r.host): r for r in state.services["compute_services"]}
    assert len(rows) == 4
    assert rows[("nova-compute", "host1")].zone == "nova" and rows[("nova-compute", "host1")].enabled is False
    assert rows[("nova-scheduler", "host2")].up is False


def test_network_agents_heartbeats(openstack_api: str) -> None:
    state = OpenStackState("c1", "r1")
    with pytest.raises(PollError) as err:
        NetworkAgents(OpenStackSettings(network_agents=True), _conn(openstack_api)).poll(state)
    assert str(err.value) == "1 down: neutron-dhcp-agent@net-2"
    rows = state.services["network_agents"]
    assert [(r.service, r.up, r.zone) for r in rows] == [
        ("neutron-openvswitch-agent", True, "-"),
        ("neutron-dhcp-agent", False, "nova"),
    ]


def test_unconfigured_cloud_is_unknown_not_a_crash() -> None:
    settings = OpenStackSettings(cloud="no-such-cloud-in-clouds-yaml", compute_services=True)
    with pytest.raises(PollError) as err:
        ComputeServices(settings).poll(OpenStackState("x", "y"))
    assert err.value.unknown is True
    assert "no-such-cloud-in-clouds-yaml" in str(err.value)


def test_pollers_chosen_by_settings() -> None:
    assert [p.name for p in build_pollers(OpenStackSettings())] == []
    names = [p.name for p in build_pollers(OpenStackSettings(rabbitmq_url="http://x", network_agents=True))]
    assert names == ["rabbitmq", "network_agents"]


def test_parse_recorded_rabbitmq_queues(shared_sample: Callable[[str], Path]) -> None:
    doc = json.loads(shared_sample("rabbitmq-3.10-api-queues.json").read_text())
    queues = parse_queues(doc)
    assert len(queues) == len(doc)
    by = {q.queue: q for q in queues}
    assert by["empty_q"].messages == 0 and by["empty_q"].vhost == "/"
    with pytest.raises(PollError):
        parse_queues({"error": "not_authorised"})


@pytest.mark.real
def test_real_rabbitmq_queues_and_notifications(rabbitmq: RabbitMQ) -> None:
    import oslo_messaging
    from oslo_config import cfg

    amqp, mgmt = rabbitmq.ports["amqp"], rabbitmq.ports["management"]
    transport_url = f"rabbit://guest:guest@127.0.0.1:{amqp}/"
    state = OpenStackState("cloud-fra", "fra")
    listener = NotificationListener(state, transport_url, ["notifications"], pool="kansoku-test")
    listener.start()
    conf = cfg.ConfigOpts()
    conf([], project="test")
    transport = oslo_messaging.get_notification_transport(conf, url=transport_url)
    notifier = oslo_messaging.Notifier(transport, publisher_id="nova-compute:compute-7", driver="messagingv2",
                                       topics=["notifications"])  # fmt: skip
    try:
        poller = RabbitMQQueues(OpenStackSettings(rabbitmq_url=f"http://127.0.0.1:{mgmt}"))
        for _ in range(3):
            notifier.error(
                {}, "compute.instance.create.error", {"instance_id": "5f1c", "message": "NoValidHost"}
            )
        notifier.info({}, "compute.instance.create.start", {"instance_id": "5f1c"})
        notifier.error({}, "volume.attach.error", {"volume_id": "v1"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(state.notification_errors.values()) < 4:
            time.sleep(0.2)
        assert state.notification_errors == {
            ("compute.instance.create.error", "nova-compute"): 3,
            ("volume.attach.error", "nova-compute"): 1,
        }
        # the listener's pool queue has our consumer; the Notifier's own topic queues
        # (notifications.error/.info, nobody consumes them here) hold what was published
        by: dict[str, object] = {}
        while time.monotonic() < deadline:
            poller.poll(state)
            by = {q.queue: q for q in state.queues}
            pool, errors = by.get("kansoku-test"), by.get("notifications.error")
            if pool and errors and pool.consumers >= 1 and errors.messages == 4:  # type: ignore[attr-defined]
                break
            time.sleep(0.5)
        assert by["kansoku-test"].consumers == 1, state.queues  # type: ignore[attr-defined]
        assert by["notifications.error"].messages == 4, state.queues  # type: ignore[attr-defined]
        assert by["notifications.info"].messages == 1, state.queues  # type: ignore[attr-defined]
    finally:
        listener.stop()
        transport.cleanup()


@pytest.mark.real
def test_real_rabbitmq_bad_credentials_is_unknown(rabbitmq: RabbitMQ, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    settings = OpenStackSettings(
        rabbitmq_url=f"http://127.0.0.1:{rabbitmq.ports['management']}", rabbitmq_password_file=str(pw)
    )
    with pytest.raises(PollError) as err:
        RabbitMQQueues(settings).poll(OpenStackState("c", "r"))
    assert err.value.unknown and "HTTP 401" in str(err.value)


def test_parse_oslo_envelope() -> None:
    inner = {"message_id": "1b7c", "publisher_id": "cinder-volume:stor-1", "event_type": "volume.create.error",
             "priority": "ERROR", "payload": {"volume_id": "v"}, "timestamp": "2026-11-23 17:00:00.000000"}  # fmt: skip
    note = parse_envelope(json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(inner)}))
    assert note.event_type == "volume.create.error" and note.publisher == "cinder-volume" and note.is_error
    with pytest.raises(ValueError, match=r"oslo\.version"):
        parse_envelope(json.dumps({"oslo.version": "3.0", "oslo.message": "{}"}))
    with pytest.raises(ValueError, match="event_type"):
        parse_envelope('{"hello": 1}')
