"""Traffic scenarios for the lab, each with the outcome it must show in the logs.

Why: a trace test is only meaningful if we know, independently of the tracer, which ids
went where and which service failed how. Every scenario sends a real request through
keystoneauth (the transport openstacksdk uses) with or without an
`X-OpenStack-Request-ID`, and records the ids sent and returned, the HTTP status, which
services must log the request and which service/exception a failure must be isolated to.
The record goes to `<lab>/traffic.json`; tests and users read it back.

The scenarios of keystone, placement, nova's API and RPC are here; nova's server creates
and compute RPC are `nova`; the client and the running lab `client`; the records `records`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError
from kansoku.lab.client import LabClient, running_lab
from kansoku.lab.nova import compute_scenarios, server_create_scenarios
from kansoku.lab.records import TrafficRecord, TrafficReport
from kansoku.lab.services import ADMIN_PASSWORD, ADMIN_USER, LabPaths
from kansoku.models import new_request_id


def _rpc_calls(paths: LabPaths, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the RPC client in its own process (oslo.log and nova's CONF are process-global)."""
    plan = paths.service("rpc") / "plan.json"
    plan.write_text(json.dumps(calls))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kansoku.lab.rpc",
            "client",
            str(paths.service("rpc") / "rpc-client.conf"),
            str(plan),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise KansokuError(f"the lab's RPC client failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    result: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_traffic(root: Path) -> TrafficReport:
    """Drive every scenario against the lab in `root` and write `traffic.json`."""
    paths, state = running_lab(root)
    client = LabClient(state)
    ks, pl, nova = state.auth_url, state.placement_url, state.nova_url
    records: list[TrafficRecord] = []
    pl_hdr = {"OpenStack-API-Version": "placement 1.20"}

    def record(name: str, description: str, service: str, method: str, path: str, **kw: Any) -> None:
        records.append(
            TrafficRecord(name=name, description=description, service=service, method=method, path=path, **kw)
        )

    def send(
        name: str,
        description: str,
        service: str,
        method: str,
        path: str,
        url: str,
        call: dict[str, Any] | None = None,
        **kw: Any,
    ) -> tuple[str, Any]:
        """`record` of one request sent to `url` under a fresh global id (`call`: the rest of
        `LabClient.call`'s arguments); returns that global id and the answer's body."""
        gid = new_request_id()
        status, local, payload = client.call(url, method, gid, **(call or {}))
        record(
            name, description, service, method, path,
            sent_global_request_id=gid, local_request_id=local, status=status, **kw,
        )  # fmt: skip
        return gid, payload

    # keystone: token issue with a global id, then a bad password.
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": ADMIN_USER, "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}
                },
            },
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }
    }
    send(
        "token-issue",
        "password token issue at keystone, sent with a global id",
        "keystone", "POST", "/v3/auth/tokens", f"{ks}/auth/tokens", {"body": body, "auth": False},
        expected_status=201, services=["keystone"],
    )  # fmt: skip
    bad = json.loads(json.dumps(body))
    bad["auth"]["identity"]["password"]["user"]["password"] = "wrong-password"
    send(
        "bad-password",
        "token request with a wrong password: keystone answers 401",
        "keystone", "POST", "/v3/auth/tokens", f"{ks}/auth/tokens", {"body": bad, "auth": False},
        expected_status=401, services=["keystone"], failing_service="keystone", exception="Unauthorized",
    )  # fmt: skip

    # placement: an invalid token is refused by keystonemiddleware inside placement.
    send(
        "invalid-token",
        "placement call with an invalid token: keystonemiddleware in placement answers 401",
        "placement", "GET", "/resource_providers", f"{pl}/resource_providers",
        {"token": "gAAAAA-not-a-token", "headers": pl_hdr},
        expected_status=401, services=["placement"], failing_service="placement", exception="InvalidToken",
    )  # fmt: skip

    # nova-api builds its RequestContext only after keystonemiddleware: a refused token is
    # logged with `[-]`, so nothing in nova's log carries this request's ids.
    send(
        "nova-invalid-token",
        "nova-api call with an invalid token: 401 from keystonemiddleware, logged without any id",
        "nova-api", "GET", "/v2.1/limits", f"{nova}/v2.1/limits", {"token": "gAAAAA-not-a-token"},
        expected_status=401, services=[],
    )  # fmt: skip

    # client -> nova-api -> placement (usages) and then the same global id over RPC.
    chain_gid, _ = send(
        "limits-chain",
        "GET /v2.1/limits: nova-api counts usage in placement, forwarding the global id; "
        "the same global id then crosses RPC (ping)",
        "nova-api", "GET", "/v2.1/limits", f"{nova}/v2.1/limits",
        expected_status=200, services=["nova-api", "placement", "rpc-client", "rpc-server"],
    )  # fmt: skip
    status, local, _ = client.call(f"{nova}/v2.1/limits")
    record(
        "limits-no-global",
        "GET /v2.1/limits without a global id: nova forwards its own local id as placement's global id",
        "nova-api", "GET", "/v2.1/limits",
        local_request_id=local, status=status, expected_status=200, services=["nova-api", "placement"],
    )  # fmt: skip

    missing = str(uuid.uuid4())
    send(
        "server-not-found",
        "GET a server that does not exist: nova-api answers 404",
        "nova-api", "GET", f"/v2.1/servers/{missing}", f"{nova}/v2.1/servers/{missing}",
        expected_status=404, services=["nova-api"], failing_service="nova-api",
    )  # fmt: skip

    send(
        "nova-bad-microversion",
        "nova-api asked for microversion 9.99: 406",
        "nova-api", "GET", "/v2.1/flavors", f"{nova}/v2.1/flavors",
        {"headers": {"X-OpenStack-Nova-API-Version": "9.99"}},
        expected_status=406, services=["nova-api"], failing_service="nova-api",
    )  # fmt: skip

    # nova-api -> RabbitMQ -> nova-compute: hypervisor uptime (microversion < 2.88) is an RPC
    # call; the fake driver does not implement it, so nova-compute raises NotImplementedError
    # back to nova-api, which answers 501.
    records.extend(compute_scenarios(client, state))
    # the five-service path: nova-api -> glance, placement; conductor -> scheduler -> placement
    # -> compute, once to ACTIVE and once into NoValidHost.
    records.extend(server_create_scenarios(client, state))

    # placement: create, duplicate (409), allocation conflict (409), 404, 406.
    rp_name = f"lab-rp-{uuid.uuid4().hex[:8]}"
    _, payload = send(
        "rp-create",
        "create a resource provider",
        "placement", "POST", "/resource_providers", f"{pl}/resource_providers",
        {"headers": pl_hdr, "body": {"name": rp_name}},
        expected_status=200, services=["placement"],
    )  # fmt: skip
    rp_uuid = payload["uuid"] if isinstance(payload, dict) and "uuid" in payload else None
    send(
        "rp-duplicate",
        "create a resource provider whose name exists: placement answers 409",
        "placement", "POST", "/resource_providers", f"{pl}/resource_providers",
        {"headers": pl_hdr, "body": {"name": rp_name}},
        expected_status=409, services=["placement"], failing_service="placement",
    )  # fmt: skip
    if rp_uuid is None:
        raise KansokuError(f"placement did not create resource provider {rp_name}: {payload}")
    status, _, _ = client.call(
        f"{pl}/resource_providers/{rp_uuid}/inventories",
        "PUT",
        headers=pl_hdr,
        body={"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 1}}},
    )
    if status != 200:
        raise KansokuError(f"placement refused the lab inventory: {status}")
    alloc = {"allocations": {rp_uuid: {"resources": {"VCPU": 1}}}, "project_id": "lab", "user_id": "lab"}
    status, _, _ = client.call(f"{pl}/allocations/{uuid.uuid4()}", "PUT", headers=pl_hdr, body=alloc)
    if status != 204:
        raise KansokuError(f"placement refused the first lab allocation: {status}")
    consumer = uuid.uuid4()
    send(
        "allocation-conflict",
        "allocate a VCPU on a provider whose only VCPU is taken: placement answers 409",
        "placement", "PUT", f"/allocations/{consumer}", f"{pl}/allocations/{consumer}",
        {"headers": pl_hdr, "body": alloc},
        expected_status=409, services=["placement"], failing_service="placement",
    )  # fmt: skip
    missing = str(uuid.uuid4())
    send(
        "rp-not-found",
        "GET a resource provider that does not exist: 404",
        "placement", "GET", f"/resource_providers/{missing}", f"{pl}/resource_providers/{missing}",
        {"headers": pl_hdr},
        expected_status=404, services=["placement"], failing_service="placement",
    )  # fmt: skip
    send(
        "placement-bad-microversion",
        "placement asked for microversion 9.99: 406",
        "placement", "GET", "/resource_providers", f"{pl}/resource_providers",
        {"headers": {"OpenStack-API-Version": "placement 9.99"}},
        expected_status=406, services=["placement"], failing_service="placement",
    )  # fmt: skip
    status, local, _ = client.call(f"{pl}/resource_providers", raw_header="not-a-request-id", headers=pl_hdr)
    record(
        "invalid-global-id",
        "an X-OpenStack-Request-ID that is not req-<uuid>: placement drops it (logs None)",
        "placement", "GET", "/resource_providers",
        sent_header="not-a-request-id", local_request_id=local, status=status, expected_status=200,
        services=["placement"],
    )  # fmt: skip

    # RPC over RabbitMQ with nova's RequestContext: answered, raising, timing out.
    rpc_plan: list[tuple[str, str, dict[str, Any], str, float, str, str | None, str]] = [
        ("limits-chain", "ping", {"payload": "hello"}, chain_gid, 10.0, "ok", None, ""),
        (
            "rpc-remote-error",
            "fail",
            {"instance_uuid": str(uuid.uuid4())},
            new_request_id(),
            10.0,
            "remote_error",
            "InstanceNotFound",
            "RPC call whose server raises InstanceNotFound; the caller gets it re-raised",
        ),
        (
            "rpc-timeout",
            "slow",
            {"seconds": 4.0},
            new_request_id(),
            2.0,
            "timeout",
            "MessagingTimeout",
            "RPC call that outlives the caller's 2 s timeout: MessagingTimeout at the caller",
        ),
    ]
    calls = [
        {"name": n, "method": m, "arguments": a, "global_request_id": g, "timeout": t}
        for n, m, a, g, t, *_ in rpc_plan
    ]
    outcomes = {o["name"]: o for o in _rpc_calls(paths, calls)}
    # The slow call ends on the server after the caller's timeout: wait for its last line, so
    # whoever indexes the logs next sees the whole story.
    slow = outcomes["rpc-timeout"]["request_id"]
    server_log = paths.log("rpc-server")
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and not any(
        slow in line and "slow call done" in line
        for line in server_log.read_text(errors="replace").splitlines()
    ):
        time.sleep(0.2)
    for name, method, _args, gid_rpc, _t, expected, exception, description in rpc_plan:
        got = outcomes[name]
        if name == "limits-chain":
            # Same global id as the HTTP chain: recorded as its own hop.
            record(
                "limits-chain-rpc", "the chain's RPC hop (ping) under the same global id",
                "rpc-client", "CALL", method,
                sent_global_request_id=gid_rpc, local_request_id=got["request_id"],
                status=got["outcome"], expected_status=expected, services=["rpc-client", "rpc-server"],
            )  # fmt: skip
            continue
        # A callee that raised is the root cause; a callee that was only slow (it finished,
        # without trouble, after the caller's timeout) leaves it at the caller's timeout.
        failing = "rpc-server" if expected == "remote_error" else "rpc-client"
        record(
            name, description, "rpc-client", "CALL", method,
            sent_global_request_id=gid_rpc, local_request_id=got["request_id"],
            status=got["outcome"], expected_status=expected, services=["rpc-client", "rpc-server"],
            failing_service=failing, exception=exception,
        )  # fmt: skip

    report = TrafficReport(lab=str(paths.root), requests=records)
    paths.traffic.write_text(json.dumps(report.model_dump(), indent=2) + "\n")
    return report
