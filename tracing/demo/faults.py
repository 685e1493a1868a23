"""The demo cloud's injected faults: one scenario per kind and the table of what each must yield.

Each fault is one request of the traffic at a fixed fraction (`FaultSpec.at`), so some land in
the rotated and gzipped files; its ground truth (root service, host, exception, status,
propagated services) comes from the table, its evidence and hosts from the scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kansoku.tracing.demo.boot import boot
from kansoku.tracing.demo.catalog import (
    PY,
    S_CINDER_VOL,
    S_GLANCE,
    S_KS_APP,
    S_KS_REQ,
    S_KSA,
    S_KSM,
    S_LOCK,
    S_RPC,
    SERVERS_CREATE,
)
from kansoku.tracing.demo.cloud import Cloud
from kansoku.tracing.demo.truth import FaultRecord, Tracker
from kansoku.tracing.demo.writer import Ctx


def attach_volume(cloud: Cloud, t: float, ctx: Ctx | None = None, fault: bool = False) -> dict[str, Any]:
    """POST os-volume_attachments: nova-api -> compute (RPC) -> cinder-api -> cinder-volume (RPC)."""
    api = cloud.pick(cloud.controllers)
    ctx = ctx or cloud.ctx_user()
    sid, cmp = cloud.servers[cloud.rng.randrange(len(cloud.servers))]
    vol = cloud.volumes[cloud.rng.randrange(len(cloud.volumes))]
    ch = cloud.pick(cloud.controllers)
    _, t2 = cloud.http(
        t + 0.01,
        (api, "nova-api"),
        ctx,
        "cinder-api",
        ch,
        "GET",
        f"/v3/{ctx.project}/volumes/{vol}",
        service_type="volumev3",
    )
    cloud.emit(
        cmp,
        "nova-compute",
        t2 + 0.01,
        "DEBUG",
        "oslo_concurrency.lockutils",
        ctx,
        f'Lock "{sid}" acquired by "nova.compute.manager.ComputeManager.reserve_block_device_name'
        '.<locals>.do_reserve" :: waited 0.000s',
        inst=sid,
        src=S_LOCK,
    )
    cloud.access(
        api,
        "nova-api",
        t2 + 0.1,
        ctx,
        "10.30.0.15",
        "POST",
        f"/v2.1/servers/{sid}/os-volume_attachments",
        200,
        178,
        t2 + 0.1 - t,
        "2.79",
    )
    t3 = t2 + 0.2
    cloud.emit(
        cmp,
        "nova-compute",
        t3,
        "INFO",
        "nova.compute.manager",
        ctx,
        f"Attaching volume {vol} to /dev/vdb",
        inst=sid,
    )
    att = cloud.uuid()
    cctx = cloud.callee_ctx(ctx)
    sv = cloud.storage[0]
    cloud.emit(
        sv,
        "cinder-volume",
        t3 + 0.05,
        "DEBUG",
        "cinder.volume.manager",
        cctx,
        f"Initialize connection for volume {vol}",
        src=S_CINDER_VOL,
    )
    uri = f"/v3/{ctx.project}/attachments/{att}"
    url = f"http://{cloud.ips[ch]}:8776{uri}"
    if not fault:
        cloud.emit(
            sv,
            "cinder-volume",
            t3 + 0.4,
            "INFO",
            "cinder.volume.manager",
            cctx,
            "Initialize volume connection completed successfully.",
        )
        cloud.access(ch, "cinder-api", t3 + 0.5, cctx, cloud.ips[cmp], "PUT", uri, 200, 1100, 0.5)
        cloud.emit(
            cmp,
            "nova-compute",
            t3 + 0.51,
            "DEBUG",
            "keystoneauth.session",
            ctx,
            f"PUT call to volumev3 for {url} used request id {cctx.request_id}",
            src=S_KSA,
        )
        return {}
    reason = (
        "Bad or unexpected response from the storage volume backend API: Timed out waiting for iSCSI target "
        f"iqn.2010-10.org.openstack:volume-{vol} to become ready after 60 seconds"
    )
    tb = [
        "Traceback (most recent call last):",
        f'  File "{PY}/cinder/volume/manager.py", line 1805, in initialize_connection',
        "    conn_info = self.driver.initialize_connection(volume, connector)",
        f'  File "{PY}/cinder/volume/drivers/lvm.py", line 873, in initialize_connection',
        "    return self.target_driver.initialize_connection(volume, connector)",
        f'  File "{PY}/cinder/volume/targets/iscsi.py", line 288, in initialize_connection',
        "    raise exception.VolumeBackendAPIException(data=msg)",
        f"cinder.exception.VolumeBackendAPIException: {reason}",
    ]
    t4 = t3 + 60.05
    cloud.emit(
        sv,
        "cinder-volume",
        t4,
        "ERROR",
        "cinder.volume.manager",
        cctx,
        f"Driver initialize connection failed (error: {reason}).",
        summary=f"cinder.exception.VolumeBackendAPIException: {reason}",
        tb=tb,
    )
    cloud.emit(
        ch,
        "cinder-api",
        t4 + 0.02,
        "ERROR",
        "cinder.api.v3.attachments",
        cctx,
        "Unable to update the attachment.",
        summary=f"oslo_messaging.rpc.client.RemoteError: Remote error: VolumeBackendAPIException {reason}",
    )
    cloud.access(ch, "cinder-api", t4 + 0.03, cctx, cloud.ips[cmp], "PUT", uri, 500, 243, 60.3)
    cloud.emit(
        cmp,
        "nova-compute",
        t4 + 0.031,
        "DEBUG",
        "keystoneauth.session",
        ctx,
        f"PUT call to volumev3 for {url} used request id {cctx.request_id}",
        src=S_KSA,
    )
    cmsg = (
        "The server has either erred or is incapable of performing the requested operation. (HTTP 500) "
        f"(Request-ID: {cctx.request_id})"
    )
    tb2 = [
        "Traceback (most recent call last):",
        f'  File "{PY}/nova/virt/block_device.py", line 716, in _do_attach',
        "    self._volume_attach(context, volume, connector, instance,",
        f'  File "{PY}/nova/volume/cinder.py", line 863, in attachment_update',
        "    attachment_ref = cinderclient(",
        f'  File "{PY}/cinderclient/client.py", line 224, in request',
        "    raise exceptions.from_response(resp, body)",
        f"cinderclient.exceptions.ClientException: {cmsg}",
    ]
    cloud.emit(
        cmp,
        "nova-compute",
        t4 + 0.05,
        "ERROR",
        "nova.virt.block_device",
        ctx,
        f"Driver failed to attach volume {vol} at /dev/vdb",
        inst=sid,
        summary=f"cinderclient.exceptions.ClientException: {cmsg}",
        tb=tb2,
    )
    return {
        "root": ("cinder-volume", sv),
        "evidence": "Driver initialize connection failed",
        "compute": cmp,
    }


def image_not_found(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    api = cloud.pick(cloud.controllers)
    gh = cloud.pick(cloud.controllers)
    image = cloud.uuid()
    cloud.nova_action(
        api,
        t,
        ctx,
        SERVERS_CREATE,
        f'{{"server": {{"name": "web-1", "imageRef": "{image}", "flavorRef": "m1.small"}}}}',
    )
    gctx = cloud.callee_ctx(ctx)
    cloud.emit(
        gh,
        "glance-api",
        t + 0.01,
        "DEBUG",
        "glance.db.sqlalchemy.api",
        gctx,
        f"No image found with ID {image}",
        src=S_GLANCE,
    )
    cloud.access(
        gh, "glance-api", t + 0.012, gctx, cloud.ips[api], "GET", f"/v2/images/{image}", 404, 404, 0.011
    )
    url = f"http://{cloud.ips[gh]}:9292/v2/images/{image}"
    cloud.emit(
        api,
        "nova-api",
        t + 0.013,
        "DEBUG",
        "keystoneauth.session",
        ctx,
        f"GET call to image for {url} used request id {gctx.request_id}",
        src=S_KSA,
    )
    cloud.emit(
        api,
        "nova-api",
        t + 0.014,
        "INFO",
        "nova.api.openstack.wsgi",
        ctx,
        f"HTTP exception thrown: Image {image} could not be found.",
    )
    cloud.access(
        api, "nova-api", t + 0.015, ctx, "10.30.0.15", "POST", "/v2.1/servers", 400, 92, 0.015, "2.79"
    )
    return {"root": ("glance-api", gh), "evidence": f"/v2/images/{image}"}


def expired_token(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    """keystonemiddleware in nova-api rejects an expired token; keystone logs its own id only."""
    api = cloud.pick(cloud.controllers)
    kh = cloud.pick(cloud.controllers)
    kctx = Ctx(cloud.req(), None, cloud.users[0], cloud.projects[0], True)
    for k, v in (
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", "/identity"),
        ("PATH_INFO", "/v3/auth/tokens"),
    ):
        cloud.emit(
            kh,
            "keystone",
            t + 0.002,
            "DEBUG",
            "keystone.server.flask.request_processing.req_logging",
            kctx,
            f"{k}: `{v}`",
            src=S_KS_REQ,
        )
    cloud.emit(
        kh,
        "keystone",
        t + 0.006,
        "DEBUG",
        "keystone.server.flask.application",
        kctx,
        "Failed to validate token",
        src=S_KS_APP,
    )
    anon = Ctx(ctx.request_id, None, None, None, False, ctx.track)
    tb = [
        "Traceback (most recent call last):",
        f'  File "{PY}/keystonemiddleware/auth_token/__init__.py", line 760, in fetch_token',
        "    data = self._identity_server.verify_token(",
        f'  File "{PY}/keystonemiddleware/auth_token/_identity.py", line 154, in verify_token',
        "    auth_ref = self._request_strategy.verify_token(",
        f'  File "{PY}/keystonemiddleware/auth_token/_identity.py", line 97, in verify_token',
        "    raise ksm_exceptions.InvalidToken(msg)",
        "keystonemiddleware.auth_token._exceptions.InvalidToken: Token authorization failed",
    ]
    cloud.emit(
        api,
        "nova-api",
        t + 0.008,
        "DEBUG",
        "keystonemiddleware.auth_token",
        anon,
        "Token validation failure.",
        src=S_KSM,
        tb=tb,
    )
    cloud.emit(
        api,
        "nova-api",
        t + 0.0085,
        "WARNING",
        "keystonemiddleware.auth_token",
        anon,
        "Authorization failed for token",
    )
    cloud.access(
        api, "nova-api", t + 0.009, anon, "10.30.0.15", "GET", "/v2.1/servers/detail", 401, 114, 0.009
    )
    return {
        "root": ("nova-api", api),
        "evidence": "InvalidToken: Token authorization failed",
        "keystone": kh,
    }


def rpc_timeout(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    """nova-api calls a compute host that never answers: MessagingTimeout after 60 s."""
    api = cloud.pick(cloud.controllers)
    sid, cmp = cloud.servers[cloud.rng.randrange(len(cloud.servers))]
    cloud.nova_action(
        api,
        t,
        ctx,
        (
            "action",
            "ConsoleOutputController.get_console_output",
            "nova.api.openstack.compute.console_output.ConsoleOutputController",
        ),
        '{"os-getConsoleOutput": {"length": 50}}',
        at="0x7f3a2c0e1f10",
    )
    mid = cloud.hexid()
    cloud.emit(
        api,
        "nova-api",
        t + 0.002,
        "DEBUG",
        "oslo_messaging._drivers.amqpdriver",
        ctx,
        f"CALL msg_id: {mid} exchange 'nova' topic 'compute.{cmp}'",
        src=S_RPC,
    )
    msg = f"Timed out waiting for a reply to message ID {mid}"
    tb = [
        "Traceback (most recent call last):",
        f'  File "{PY}/oslo_messaging/_drivers/amqpdriver.py", line 441, in get',
        "    return self._queues[msg_id].get(block=True, timeout=timeout)",
        f'  File "{PY}/eventlet/queue.py", line 322, in get',
        "    return waiter.wait()",
        "_queue.Empty",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        f'  File "{PY}/nova/api/openstack/wsgi.py", line 797, in wrapped',
        "    return f(*args, **kwargs)",
        f'  File "{PY}/nova/api/openstack/compute/console_output.py", line 51, in get_console_output',
        "    output = self.compute_api.get_console_output(context,",
        f'  File "{PY}/nova/compute/api.py", line 4794, in get_console_output',
        "    output = self.compute_rpcapi.get_console_output(context,",
        f'  File "{PY}/nova/compute/rpcapi.py", line 764, in get_console_output',
        "    return cctxt.call(ctxt, 'get_console_output',",
        f'  File "{PY}/oslo_messaging/rpc/client.py", line 190, in call',
        "    result = self.transport._send(",
        f'  File "{PY}/oslo_messaging/_drivers/amqpdriver.py", line 780, in _send',
        "    result = self._waiter.wait(msg_id, timeout,",
        f'  File "{PY}/oslo_messaging/_drivers/amqpdriver.py", line 550, in wait',
        "    raise oslo_messaging.MessagingTimeout(",
        f"oslo_messaging.exceptions.MessagingTimeout: {msg}",
    ]
    t2 = t + 60.003
    cloud.emit(
        api,
        "nova-api",
        t2,
        "ERROR",
        "nova.api.openstack.wsgi",
        ctx,
        "Unexpected exception in API method",
        summary=f"oslo_messaging.exceptions.MessagingTimeout: {msg}",
        tb=tb,
    )
    cloud.emit(
        api,
        "nova-api",
        t2 + 0.001,
        "INFO",
        "nova.api.openstack.wsgi",
        ctx,
        "HTTP exception thrown: Unexpected API Error. Please report this at "
        "http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n"
        "<class 'oslo_messaging.exceptions.MessagingTimeout'>",
    )
    cloud.access(
        api,
        "nova-api",
        t2 + 0.002,
        ctx,
        "10.30.0.15",
        "POST",
        f"/v2.1/servers/{sid}/action",
        500,
        216,
        60.004,
        "2.79",
    )
    return {"root": ("nova-api", api), "evidence": "Unexpected exception in API method", "compute": cmp}


def _f_placement(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    return boot(cloud, t, ctx, fault="placement_conflict")


def _f_binding(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    target = cloud.computes[len(cloud.computes) // 2]
    return {**boot(cloud, t, ctx, fault="port_binding_failed", target=target), "target": target}


def _f_volume(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    return attach_volume(cloud, t, ctx, fault=True)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One injected fault kind: where in the traffic it lands and what kansoku must answer."""

    kind: str
    at: float  # fraction of the traffic where the faulty request is made
    scenario: Callable[[Cloud, float, Ctx], dict[str, Any]]
    exception: str | None  # exception type the root-cause line names
    status: int | None  # HTTP status of the root-cause line, if it is an access line
    propagated: tuple[str, ...]  # services whose errors are only consequences
    note: str  # formatted with the scenario's info


#: The injected faults, in the order the ground truth lists their kinds.
FAULTS: tuple[FaultSpec, ...] = (
    FaultSpec(
        "placement_conflict",
        0.86,
        _f_placement,
        None,
        409,
        ("nova-scheduler", "nova-conductor"),
        "placement refused the allocation (409); the scheduler found no host and the conductor set the "
        "instance to ERROR with NoValidHost",
    ),
    FaultSpec(
        "port_binding_failed",
        0.2,
        _f_binding,
        None,
        None,
        ("nova-compute",),
        "the openvswitch agent on {target} is dead, so ML2 cannot bind the port there; nova-compute fails "
        "the spawn with nova.exception.PortBindingFailed",
    ),
    FaultSpec(
        "image_not_found",
        0.55,
        image_not_found,
        None,
        404,
        ("nova-api",),
        "the server create names an image glance does not have; nova-api answers 400",
    ),
    FaultSpec(
        "volume_attach_timeout",
        0.7,
        _f_volume,
        "cinder.exception.VolumeBackendAPIException",
        None,
        ("cinder-api", "nova-compute"),
        "the iSCSI target never became ready; cinder-volume (older release, no global id in its lines) is "
        "reached through cinder-api's own request id",
    ),
    FaultSpec(
        "expired_token",
        0.93,
        expired_token,
        "keystonemiddleware.auth_token._exceptions.InvalidToken",
        401,
        (),
        "keystone on {keystone} answered the validation under its own request id (no global id): only time "
        "links it",
    ),
    FaultSpec(
        "rpc_timeout",
        0.4,
        rpc_timeout,
        "oslo_messaging.exceptions.MessagingTimeout",
        500,
        (),
        "nova-compute on {compute} never answered the RPC call",
    ),
)
FAULTS_BY_KIND = {f.kind: f for f in FAULTS}
FAULT_KINDS = tuple(f.kind for f in FAULTS)


def inject_fault(cloud: Cloud, kind: str, t: float) -> tuple[FaultRecord, Tracker]:
    """One faulty request of `kind`, returning its ground-truth record."""
    tracker = Tracker(cloud.req())
    ctx = cloud.ctx_user(tracker, tracker.request_id)
    spec = FAULTS_BY_KIND[kind]
    info = spec.scenario(cloud, t, ctx)
    service, host = info["root"]
    rec = FaultRecord(
        kind=kind,
        request_id=ctx.request_id,
        root_service=service,
        root_host=host,
        exception=spec.exception,
        status=spec.status,
        evidence=info["evidence"],
        propagated=list(spec.propagated),
        time=datetime.fromtimestamp(t, UTC).isoformat(),
        note=spec.note.format(**info),
    )
    return rec, tracker
