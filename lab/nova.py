"""nova scenarios of the lab's traffic: server creates that must fail in known ways, and compute RPC."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError
from kansoku.lab.client import LabClient
from kansoku.lab.records import TrafficRecord
from kansoku.lab.services import LabState
from kansoku.models import new_request_id


def compute_scenarios(client: LabClient, state: LabState) -> list[TrafficRecord]:
    """Real nova RPC: nova-api calls nova-compute; once it raises, once it is stuck (SIGSTOP)."""
    nova = state.nova_url
    compute = next((s for s in state.services if s.name == "nova-compute"), None)
    if compute is None:
        raise KansokuError("the lab has no nova-compute: start it with `kansoku lab up`")
    hdr = {"X-OpenStack-Nova-API-Version": "2.87"}
    status, _, payload = client.call(f"{nova}/v2.1/os-hypervisors", headers=hdr)
    hypervisors = payload.get("hypervisors", []) if isinstance(payload, dict) else []
    if status != 200 or not hypervisors:
        raise KansokuError(f"nova-api lists no hypervisor ({status}): is nova-compute mapped to a cell?")
    path = f"/v2.1/os-hypervisors/{hypervisors[0]['id']}/uptime"

    def uptime(
        name: str, description: str, sent: tuple[str, str | None, int], expected: int, **kw: Any
    ) -> TrafficRecord:
        """The record of one uptime call that reached nova-compute; `sent` is (global id, local id, status)."""
        gid, local, status = sent
        return TrafficRecord(
            name=name,
            description=description,
            service="nova-api",
            method="GET",
            path=path,
            sent_global_request_id=gid,
            local_request_id=local,
            status=status,
            expected_status=expected,
            services=["nova-api", "nova-compute"],
            failing_service="nova-compute",
            **kw,
        )

    out: list[TrafficRecord] = []
    gid = new_request_id()
    status, local, _ = client.call(f"{nova}{path}", global_id=gid, headers=hdr)
    out.append(
        uptime(
            "compute-rpc-raises",
            "hypervisor uptime: nova-api calls nova-compute over RabbitMQ, the fake driver "
            "raises NotImplementedError, nova-api answers 501",
            (gid, local, status),
            501,
            exception="NotImplementedError",
        )
    )
    gid = new_request_id()
    os.kill(compute.pid, signal.SIGSTOP)
    try:
        status, local, _ = client.call(f"{nova}{path}", global_id=gid, headers=hdr)
    finally:
        os.kill(compute.pid, signal.SIGCONT)
    # Let the resumed compute log its late handling before anyone indexes the logs.
    compute_log = Path(state.log_files()["nova-compute"])
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and gid not in compute_log.read_text(errors="replace"):
        time.sleep(0.2)
    out.append(
        uptime(
            "compute-rpc-timeout",
            "hypervisor uptime while nova-compute is stopped (SIGSTOP): MessagingTimeout "
            "in nova-api after rpc_response_timeout (5 s), 500; RabbitMQ had already delivered the "
            "message, so the resumed compute handles it late, after nova-api gave up",
            (gid, local, status),
            500,
        )
    )
    return out


#: Microversion for server creates: `networks: "none"` needs >= 2.37 (no neutron in the lab).
CREATE_MICROVERSION = "2.37"


#: Boots of the small flavor before giving up: on SQLite, nova-compute now and then reverts a
#: build before its first log line, the exception lost in its native thread pool (likely a
#: refused SQLite write in the conductor; docs/openstack-odd-cases.md case 21); a fresh
#: create then succeeds.
CREATE_ATTEMPTS = 3


#: The fake driver's host has 800,000 MB of RAM at ratio 1.0: this flavor fits nowhere.
OVERSIZED_RAM_MB = 2_000_000


def image_and_flavors(client: LabClient, state: LabState, rams: dict[str, int]) -> tuple[str, dict[str, str]]:
    """A tiny raw image in glance and one flavor per name (RAM in MB), made without a global id.

    Setup runs without a global id, so the only lines under a create's global id are its own.
    """
    if not state.glance_url:
        raise KansokuError(
            "the lab has no glance: `kansoku lab down` then `kansoku lab up` with this version"
        )
    glance, nova = state.glance_url, state.nova_url
    status, _, image = client.call(
        f"{glance}/v2/images",
        "POST",
        body={"name": "kansoku-lab-tiny", "disk_format": "raw", "container_format": "bare"},
    )
    if status != 201 or not isinstance(image, dict):
        raise KansokuError(f"glance refused the lab image: {status} {image}")
    status, _, payload = client.call(
        f"{glance}/v2/images/{image['id']}/file",
        "PUT",
        headers={"Content-Type": "application/octet-stream"},
        data=b"kansoku lab image: the fake driver never reads it\n",
    )
    if status != 204:
        raise KansokuError(f"glance refused the lab image data: {status} {payload}")
    flavors: dict[str, str] = {}
    for name, ram in rams.items():
        status, _, payload = client.call(
            f"{nova}/v2.1/flavors",
            "POST",
            body={"flavor": {"name": f"{name}-{uuid.uuid4().hex[:6]}", "ram": ram, "vcpus": 1, "disk": 1}},
        )
        if status != 200 or not isinstance(payload, dict):
            raise KansokuError(f"nova-api refused flavor {name}: {status} {payload}")
        flavors[name] = str(payload["flavor"]["id"])
    return str(image["id"]), flavors


def server_create_scenarios(client: LabClient, state: LabState) -> list[TrafficRecord]:
    """POST /servers twice: a small flavor boots ACTIVE, an oversized one ends in NoValidHost.

    Setup (the image in glance, two flavors) runs without a global id, so the only lines
    under each create's global id are the create's own.
    """
    image_id, flavors = image_and_flavors(client, state, {"lab.tiny": 64, "lab.huge": OVERSIZED_RAM_MB})
    nova = state.nova_url
    hdr = {"X-OpenStack-Nova-API-Version": CREATE_MICROVERSION}
    out: list[TrafficRecord] = []
    plan = (
        ("server-create", "lab.tiny", "ACTIVE"),
        ("server-create-no-valid-host", "lab.huge", "ERROR"),
    )
    for name, flavor, expected in plan:
        body = {
            "server": {
                "name": name,
                "imageRef": image_id,
                "flavorRef": flavors[flavor],
                "networks": "none",
            }
        }
        retried: list[str] = []
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            gid = new_request_id()
            status, local, payload = client.call(f"{nova}/v2.1/servers", "POST", gid, headers=hdr, body=body)
            server_id = payload["server"]["id"] if status == 202 and isinstance(payload, dict) else None
            final = wait_server(client, nova, server_id, hdr) if server_id else None
            if final == expected or attempt == CREATE_ATTEMPTS:
                break
            # SQLite lab only: a build that nova-compute silently dropped (odd case 21) stays in
            # BUILD; boot another one, keeping the dropped attempt's global id on the record.
            retried.append(gid)
        if expected == "ACTIVE":
            description = (
                f"POST /servers (flavor {flavor}, image in glance, networks none): nova-api reads the "
                "image from glance and counts usage in placement, conductor asks the scheduler, which "
                "claims in placement, and nova-compute's fake driver boots it: ACTIVE"
            )
            extra: dict[str, Any] = {}
        else:
            description = (
                f"POST /servers with flavor {flavor} ({OVERSIZED_RAM_MB} MB RAM, more than the fake "
                "host has): placement returns no allocation candidates, the scheduler raises "
                "NoValidHost back to the conductor, which sets the instance to ERROR"
            )
            extra = {"failing_service": "nova-scheduler", "exception": "NoValidHost"}
        out.append(
            TrafficRecord(
                name=name,
                description=description,
                service="nova-api",
                method="POST",
                path="/v2.1/servers",
                sent_global_request_id=gid,
                local_request_id=local,
                status=status,
                expected_status=202,
                services=(
                    ["nova-api", "glance", "placement", "nova-conductor", "nova-scheduler", "nova-compute"]
                    if expected == "ACTIVE"
                    else ["nova-api", "glance", "placement", "nova-conductor", "nova-scheduler"]
                ),
                resource_id=server_id,
                retried_global_request_ids=retried,
                final_state=final,
                expected_final_state=expected,
                **extra,
            )
        )
    return out


def wait_server(
    client: LabClient, nova: str, server_id: str, hdr: dict[str, str], timeout: float = 45.0
) -> str:
    """Poll until the server is ACTIVE or ERROR; its last status is what the record keeps.

    Polled through the brief list filtered by uuid and status, not `GET /servers/{id}`:
    showing one server asks neutron for its security groups, and the lab has no neutron
    (every show would be a 500 with a traceback in nova-api's log).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in ("ACTIVE", "ERROR"):
            status, _, payload = client.call(
                f"{nova}/v2.1/servers?uuid={server_id}&status={state}", headers=hdr
            )
            if status == 200 and isinstance(payload, dict) and payload.get("servers"):
                return state
        time.sleep(0.5)
    return f"neither ACTIVE nor ERROR after {timeout:.0f}s"
