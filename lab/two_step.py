"""A two-step failure on real nova: a build breaks in nova-compute, the user's next call is refused.

Run against a lab started with `compute_driver = fake.FakeBuildAbortDriver` (nova's own fake
driver that raises BuildAbortException from every spawn, so the build ends in ERROR without
a reschedule): `POST /servers` answers 202 and the instance goes to ERROR in nova-compute;
then `POST /servers/{id}/action` with a soft reboot is refused by nova-api with 409
(InstanceInvalidState: "Cannot 'reboot' instance ... while it is in vm_state error"). The
two requests share only the instance's UUID. Written to `<dir>/traffic-two-step.json` in the
shape of `traffic.json`, the reboot's record naming the build as its cause (`caused_by`).
"""

from __future__ import annotations

from pathlib import Path

from kansoku.errors import KansokuError
from kansoku.lab.client import LabClient, running_lab
from kansoku.lab.nova import CREATE_MICROVERSION, image_and_flavors, wait_server
from kansoku.lab.records import TrafficRecord, TrafficReport
from kansoku.lab.services import LabPaths
from kansoku.models import new_request_id

ABORT_DRIVER = "fake.FakeBuildAbortDriver"


def two_step_path(root: Path) -> Path:
    return LabPaths(root.resolve()).root / "traffic-two-step.json"


def run_two_step(root: Path) -> TrafficReport:
    """Boot a server that nova-compute fails to build, then reboot it; write the report."""
    paths, state = running_lab(root)
    client = LabClient(state)
    nova = state.nova_url
    image_id, flavors = image_and_flavors(client, state, {"lab.tiny": 64})
    hdr = {"X-OpenStack-Nova-API-Version": CREATE_MICROVERSION}
    body = {
        "server": {
            "name": "two-step",
            "imageRef": image_id,
            "flavorRef": flavors["lab.tiny"],
            "networks": "none",
        }
    }
    build_gid = new_request_id()
    status, build_local, payload = client.call(
        f"{nova}/v2.1/servers", "POST", build_gid, headers=hdr, body=body
    )
    if status != 202 or not isinstance(payload, dict):
        raise KansokuError(f"nova-api refused the two-step create: {status} {payload}")
    server_id = str(payload["server"]["id"])
    final = wait_server(client, nova, server_id, hdr)
    build = TrafficRecord(
        name="server-create-build-abort",
        description=(
            f"POST /servers on a nova-compute running {ABORT_DRIVER}: 202, then spawn raises "
            "BuildAbortException in nova-compute and the instance goes to ERROR (no reschedule)"
        ),
        service="nova-api",
        method="POST",
        path="/v2.1/servers",
        sent_global_request_id=build_gid,
        local_request_id=build_local,
        status=status,
        expected_status=202,
        services=["nova-api", "glance", "placement", "nova-conductor", "nova-scheduler", "nova-compute"],
        failing_service="nova-compute",
        exception="BuildAbortException",
        resource_id=server_id,
        final_state=final,
        expected_final_state="ERROR",
    )
    reboot_gid = new_request_id()
    status, reboot_local, payload = client.call(
        f"{nova}/v2.1/servers/{server_id}/action",
        "POST",
        reboot_gid,
        headers=hdr,
        body={"reboot": {"type": "SOFT"}},
    )
    reboot = TrafficRecord(
        name="server-reboot-refused",
        description=(
            "soft reboot of the server the build left in ERROR: nova-api refuses it with 409 "
            "(InstanceInvalidState); the fault is the earlier build's, in nova-compute"
        ),
        service="nova-api",
        method="POST",
        path=f"/v2.1/servers/{server_id}/action",
        sent_global_request_id=reboot_gid,
        local_request_id=reboot_local,
        status=status,
        expected_status=409,
        services=["nova-api"],
        failing_service="nova-compute",
        exception="BuildAbortException",
        resource_id=server_id,
        caused_by="server-create-build-abort",
    )
    report = TrafficReport(lab=str(paths.root), requests=[build, reboot])
    two_step_path(root).write_text(report.model_dump_json(indent=2))
    return report
