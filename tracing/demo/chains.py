"""Two-step faults for the demo cloud: an earlier request breaks a resource, the user's later one is refused.

Why: in real clouds the request a user reports is often not the one that broke:
a build failed in nova-compute and left the instance in ERROR, a volume create failed in
cinder-volume and left the volume in `error`; the user only sees the next call refused
("409 Conflict: Cannot 'reboot' instance ... while it is in vm_state error"). The two
requests share only the resource's UUID. These scenarios write both requests with upstream
texts (nova's `Failure prepping block device` / `Build of instance ... aborted`, nova's
InstanceInvalidState, cinder's reserve check) and a ground truth naming the earlier request.

They draw from their own `random.Random` (seeded by the demo's seed and the kind), so adding
them leaves every other request of the demo cloud byte for byte as before.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kansoku.tracing.demo.catalog import S_CINDER_SCHED, S_COMPUTE, S_KSA, S_SCHED, code_at
from kansoku.tracing.demo.cloud import Cloud
from kansoku.tracing.demo.generate import Injector, generate
from kansoku.tracing.demo.truth import FaultRecord, GroundTruth, Tracker
from kansoku.tracing.demo.writer import Ctx

PY = "/usr/lib/python3/dist-packages"
S_API = code_at("_provision_instances", "nova/compute/api.py", 1120)
S_COND = code_at("schedule_and_build_instances", "nova/conductor/manager.py", 1580)

#: kind -> fraction of the traffic where the first step starts.
CHAIN_KINDS: dict[str, float] = {
    "build_failed_then_reboot_refused": 0.3,
    "volume_error_then_attach_refused": 0.62,
    "build_failed_then_attach_refused": 0.9,
}
#: Seconds between the failure and the user's next call on the resource.
GAP = 45.0


def build_fails_in_compute(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    """POST /servers (boot from volume) accepted; nova-compute cannot prep the block devices
    nova-api recorded (AttributeError in nova/virt/block_device.py), aborts the build and sets
    the instance to ERROR (no reschedule: BuildAbortException)."""
    api = cloud.pick(cloud.controllers)
    cmp = cloud.computes[-1]
    iid = cloud.uuid()
    image = cloud.images[0]
    body = (
        f'{{"server": {{"name": "db-{iid[:6]}", "flavorRef": "m1.medium", "networks": "none", '
        f'"block_device_mapping_v2": [{{"boot_index": 0, "uuid": "{image}", "source_type": "image", '
        f'"destination_type": "volume", "volume_size": 20}}]}}}}'
    )
    cloud.nova_action(
        api, t, ctx, ("create", "ServersController.create", "nova.api.openstack.compute.servers"), body
    )
    cloud.emit(
        api,
        "nova-api",
        t + 0.05,
        "DEBUG",
        "nova.compute.api",
        ctx,
        "Going to run 1 instances...",
        inst=iid,
        src=S_API,
    )
    cloud.access(api, "nova-api", t + 0.3, ctx, "10.30.0.15", "POST", "/v2.1/servers", 202, 412, 0.3, "2.79")
    cond, sched = cloud.pick(cloud.controllers), cloud.pick(cloud.controllers)
    cloud.emit(
        sched,
        "nova-scheduler",
        t + 0.4,
        "DEBUG",
        "nova.scheduler.manager",
        ctx,
        f"Starting to schedule for instances: ['{iid}']",
        src=S_SCHED,
    )
    _, t2 = cloud.http(
        t + 0.42,
        (sched, "nova-scheduler"),
        ctx,
        "placement-api",
        cloud.pick(cloud.controllers),
        "PUT",
        f"/allocations/{iid}",
        204,
        0,
        mv="1.36",
        logger="nova.scheduler.client.report",
    )
    cloud.emit(
        sched,
        "nova-scheduler",
        t2,
        "INFO",
        "nova.scheduler.manager",
        ctx,
        f"Selected host: (host: {cmp}, node: {cmp}) ram: 4096MB disk: 40960MB io_ops: 0 instances: 2",
    )
    cloud.emit(
        cond,
        "nova-conductor",
        t2 + 0.01,
        "DEBUG",
        "nova.conductor.manager",
        ctx,
        f"Building instance {iid}",
        src=S_COND,
    )
    tc = t2 + 0.05
    cloud.emit(
        cmp,
        "nova-compute",
        tc,
        "INFO",
        "nova.compute.claims",
        ctx,
        f"Claim successful on node {cmp}",
        inst=iid,
    )
    cloud.emit(
        cmp,
        "nova-compute",
        tc + 0.02,
        "DEBUG",
        "nova.compute.manager",
        ctx,
        "Start building block device mappings for instance.",
        inst=iid,
        src=S_COMPUTE,
    )
    final = "AttributeError: 'NoneType' object has no attribute 'get'"
    tb = [
        "Traceback (most recent call last):",
        f'  File "{PY}/nova/compute/manager.py", line 2929, in _build_resources',
        "    block_device_info = self._prep_block_device(context, instance,",
        f'  File "{PY}/nova/compute/manager.py", line 2256, in _prep_block_device',
        "    driver_block_device.attach_block_devices(",
        f'  File "{PY}/nova/virt/block_device.py", line 946, in attach_block_devices',
        "    _log_and_attach(device)",
        f'  File "{PY}/nova/virt/block_device.py", line 943, in _log_and_attach',
        "    bdm.attach(*attach_args, **attach_kwargs)",
        f'  File "{PY}/nova/virt/block_device.py", line 838, in attach',
        "    volume_size = self.get('volume_size') or image_meta.get('size')",
        final,
    ]
    cloud.emit(
        cmp,
        "nova-compute",
        tc + 0.3,
        "ERROR",
        "nova.compute.manager",
        ctx,
        "Failure prepping block device",
        inst=iid,
        summary=final,
        tb=tb,
    )
    cloud.emit(
        cmp,
        "nova-compute",
        tc + 0.35,
        "ERROR",
        "nova.compute.manager",
        ctx,
        f"Build of instance {iid} aborted: Failure prepping block device.",
        inst=iid,
    )
    cloud.http(
        tc + 0.4,
        (cmp, "nova-compute"),
        ctx,
        "placement-api",
        cloud.pick(cloud.controllers),
        "DELETE",
        f"/allocations/{iid}",
        204,
        0,
        mv="1.36",
        logger="nova.scheduler.client.report",
    )
    return {"root": ("nova-compute", cmp), "instance": iid, "api": api, "t_fail": tc + 0.3}


def instance_action_refused(cloud: Cloud, t: float, ctx: Ctx, iid: str, action: str) -> dict[str, Any]:
    """The user's next call on the ERROR instance: nova-api's InstanceInvalidState check, 409."""
    api = cloud.pick(cloud.controllers)
    if action == "reboot":
        what = ("action", "ServersController._action_reboot", "nova.api.openstack.compute.servers")
        body, uri = '{"reboot": {"type": "SOFT"}}', f"/v2.1/servers/{iid}/action"
    else:
        what = ("create", "VolumeAttachmentController.create", "nova.api.openstack.compute.volumes")
        body, uri = (
            f'{{"volumeAttachment": {{"volumeId": "{cloud.uuid()}"}}}}',
            f"/v2.1/servers/{iid}/os-volume_attachments",
        )
    cloud.nova_action(api, t, ctx, what, body)
    msg = f"Cannot '{action}' instance {iid} while it is in vm_state error"
    cloud.emit(
        api, "nova-api", t + 0.02, "INFO", "nova.api.openstack.wsgi", ctx, f"HTTP exception thrown: {msg}"
    )
    cloud.access(api, "nova-api", t + 0.025, ctx, "10.30.0.15", "POST", uri, 409, 160, 0.025, "2.79")
    return {"api": api, "evidence": msg}


def volume_create_fails(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    """POST /v3/{project}/volumes straight to cinder: 202; cinder-volume's lvcreate fails, the
    volume is left in `error`."""
    ch = cloud.pick(cloud.controllers)
    vol = cloud.uuid()
    sv = cloud.storage[0]
    cloud.emit(
        ch,
        "cinder-api",
        t + 0.04,
        "INFO",
        "cinder.volume.api",
        ctx,
        "Create volume request issued successfully.",
    )
    cloud.access(
        ch, "cinder-api", t + 0.05, ctx, "10.30.0.15", "POST", f"/v3/{ctx.project}/volumes", 202, 780, 0.05
    )
    cloud.emit(
        ch,
        "cinder-scheduler",
        t + 0.1,
        "DEBUG",
        "cinder.scheduler.filter_scheduler",
        ctx,
        f"Choosing stor-1@lvm#LVM for volume {vol}",
        src=S_CINDER_SCHED,
    )
    cloud.emit(
        sv,
        "cinder-volume",
        t + 0.2,
        "INFO",
        "cinder.volume.flows.manager.create_volume",
        ctx,
        f"Volume {vol}: being created as raw with specification: {{'status': 'creating', "
        f"'volume_name': 'volume-{vol}', 'volume_size': 500}}",
    )
    # oslo's message spans lines (Command/Exit code/Stdout/Stderr); kept on one line here because
    # the parser takes a traceback's last `Type: message` line as its exception
    final = (
        "oslo_concurrency.processutils.ProcessExecutionError: Unexpected error while running command. "
        f"Command: sudo cinder-rootwrap /etc/cinder/rootwrap.conf lvcreate -n volume-{vol} cinder-volumes -L 500g "
        'Exit code: 5 Stderr: \'  Volume group "cinder-volumes" has insufficient free space (1023 extents): '
        "128000 required.'"
    )
    tb = [
        "Traceback (most recent call last):",
        f'  File "{PY}/cinder/volume/flows/manager/create_volume.py", line 1228, in _create_raw_volume',
        "    ret = self.driver.create_volume(volume)",
        f'  File "{PY}/cinder/volume/drivers/lvm.py", line 472, in create_volume',
        "    self._create_volume(volume['name'],",
        f'  File "{PY}/oslo_concurrency/processutils.py", line 438, in execute',
        "    raise ProcessExecutionError(exit_code=_returncode,",
        final,
    ]
    cloud.emit(
        sv,
        "cinder-volume",
        t + 0.9,
        "ERROR",
        "cinder.volume.manager",
        ctx,
        f"Volume {vol}: create failed",
        summary=final,
        tb=tb,
    )
    return {"root": ("cinder-volume", sv), "volume": vol, "t_fail": t + 0.9}


def attach_refused(cloud: Cloud, t: float, ctx: Ctx, vol: str) -> dict[str, Any]:
    """nova-api -> cinder-api attachment create: cinder's reserve check refuses (400), nova-api 400."""
    api, ch = cloud.pick(cloud.controllers), cloud.pick(cloud.controllers)
    iid = cloud.uuid()
    cloud.nova_action(
        api,
        t,
        ctx,
        ("create", "VolumeAttachmentController.create", "nova.api.openstack.compute.volumes"),
        f'{{"volumeAttachment": {{"volumeId": "{vol}"}}}}',
    )
    msg = "Invalid volume: Volume status must be available to reserve, but the status is error."
    cctx = cloud.callee_ctx(ctx)
    cloud.emit(
        ch, "cinder-api", t + 0.03, "INFO", "cinder.api.openstack.wsgi", cctx, f"HTTP exception thrown: {msg}"
    )
    uri = f"/v3/{ctx.project}/attachments"
    cloud.access(ch, "cinder-api", t + 0.035, cctx, cloud.ips[api], "POST", uri, 400, 140, 0.02)
    cloud.emit(
        api,
        "nova-api",
        t + 0.036,
        "DEBUG",
        "keystoneauth.session",
        ctx,
        f"POST call to volumev3 for http://{cloud.ips[ch]}:8776{uri} used request id {cctx.request_id}",
        src=S_KSA,
    )
    cloud.emit(
        api, "nova-api", t + 0.04, "INFO", "nova.api.openstack.wsgi", ctx, f"HTTP exception thrown: {msg}"
    )
    cloud.access(
        api,
        "nova-api",
        t + 0.045,
        ctx,
        "10.30.0.15",
        "POST",
        f"/v2.1/servers/{iid}/os-volume_attachments",
        400,
        160,
        0.045,
        "2.79",
    )
    return {"api": api, "evidence": "status must be available to reserve"}


def inject_chain(cloud: Cloud, kind: str, t: float, seed: int) -> tuple[FaultRecord, Tracker]:
    """Write both steps of a two-step fault of `kind` and return the ground truth for the later one."""

    saved = cloud.rng
    cloud.rng = random.Random(f"{seed}-{kind}")
    try:
        first = cloud.ctx_user()
        tracker = Tracker(cloud.req())
        later = cloud.ctx_user(tracker, tracker.request_id)
        if kind.startswith("build_failed"):
            broke = build_fails_in_compute(cloud, t, first)
            action = "reboot" if kind.endswith("reboot_refused") else "attach_volume"
            refused = instance_action_refused(cloud, t + GAP, later, broke["instance"], action)
            exception, evidence = "AttributeError", "Failure prepping block device"
            resource = broke["instance"]
            note = (
                f"nova-compute on {broke['root'][1]} failed to prep the block devices nova-api recorded and "
                f"left instance {resource} in ERROR; {GAP:.0f} s later the user's {action} is refused (409)"
            )
        else:
            broke = volume_create_fails(cloud, t, first)
            refused = attach_refused(cloud, t + GAP, later, broke["volume"])
            exception = "oslo_concurrency.processutils.ProcessExecutionError"
            evidence = "create failed"
            resource = broke["volume"]
            note = (
                f"cinder-volume could not create volume {resource} (lvcreate: no space) and left it in error; "
                f"{GAP:.0f} s later the user's attach is refused by cinder's reserve check (400)"
            )
    finally:
        cloud.rng = saved
    service, host = broke["root"]
    rec = FaultRecord(
        kind=kind,
        request_id=later.request_id,
        root_service=service,
        root_host=host,
        exception=exception,
        status=None,
        evidence=evidence,
        propagated=["nova-api"],
        time=datetime.fromtimestamp(t + GAP, UTC).isoformat(),
        note=note + f" ({refused['evidence']})",
        earlier_request_id=first.request_id,
        resource=resource,
    )
    return rec, tracker


#: nova-api losing the request context mid-request (7 % of the misses before causal chains).
SWITCH_KIND = "api_request_id_switch"


def request_id_switch(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    """nova-api logs the create under the user's id, then the ERROR, its traceback and the 500
    under a new id with an empty context (`[None req-Y - - - - - -]`), in the same process."""
    api = cloud.pick(cloud.controllers)
    cloud.nova_action(
        api,
        t,
        ctx,
        ("create", "ServersController.create", "nova.api.openstack.compute.servers"),
        f'{{"server": {{"name": "web-2", "imageRef": "{cloud.images[1]}", "networks": "auto"}}}}',
    )
    lost = Ctx(cloud.req(), None, None, None)
    final = "KeyError: 'flavorRef'"
    tb = [
        "Traceback (most recent call last):",
        f'  File "{PY}/nova/api/openstack/wsgi.py", line 658, in wrapped',
        "    return f(*args, **kwargs)",
        f'  File "{PY}/nova/api/openstack/compute/servers.py", line 780, in create',
        "    flavor_id = self._flavor_id_from_req_data(body)",
        f'  File "{PY}/nova/api/openstack/compute/servers.py", line 1105, in _flavor_id_from_req_data',
        "    flavor_ref = data['server']['flavorRef']",
        final,
    ]
    cloud.emit(
        api,
        "nova-api",
        t + 0.12,
        "ERROR",
        "nova.api.openstack.wsgi",
        lost,
        "Unexpected exception in API method",
        summary=final,
        tb=tb,
    )
    cloud.emit(
        api,
        "nova-api",
        t + 0.125,
        "INFO",
        "nova.api.openstack.wsgi",
        lost,
        "HTTP exception thrown: Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ "
        "and attach the Nova API log if possible. <class 'KeyError'>",
    )
    cloud.access(
        api, "nova-api", t + 0.13, lost, "10.30.0.15", "POST", "/v2.1/servers", 500, 217, 0.13, "2.79"
    )
    return {"root": ("nova-api", api), "lost": lost.request_id}


def inject_switch(cloud: Cloud, kind: str, t: float, seed: int) -> tuple[FaultRecord, Tracker]:
    """The request-id switch, with the user's id as the reported one (its own random stream)."""
    saved = cloud.rng
    cloud.rng = random.Random(f"{seed}-{kind}")
    try:
        tracker = Tracker(cloud.req())
        ctx = cloud.ctx_user(tracker, tracker.request_id)
        info = request_id_switch(cloud, t, ctx)
    finally:
        cloud.rng = saved
    service, host = info["root"]
    rec = FaultRecord(
        kind=kind,
        request_id=ctx.request_id,
        root_service=service,
        root_host=host,
        exception="KeyError",
        status=None,
        evidence="Unexpected exception in API method",
        propagated=[],
        time=datetime.fromtimestamp(t, UTC).isoformat(),
        note=(
            f"nova-api logged one line under {ctx.request_id}; the ERROR, its traceback and the 500 followed "
            f"in the same process under {info['lost']} with an empty context"
        ),
    )
    return rec, tracker


#: kind -> (fraction of the traffic, injector): what `generate_cloud` adds to the demo cloud.
CHAINS: dict[str, tuple[float, Injector]] = {
    **{kind: (f, inject_chain) for kind, f in CHAIN_KINDS.items()},
    SWITCH_KIND: (0.75, inject_switch),
}


def generate_cloud(out_dir: Path | str, **kwargs: Any) -> GroundTruth:
    """The demo cloud with its two-step faults (`generate.generate` arguments otherwise)."""
    return generate(out_dir, extra=CHAINS, **kwargs)
