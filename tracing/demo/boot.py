"""A server create through nova-api, the scheduler and placement (and its placement conflict)."""

from __future__ import annotations

from typing import Any

from kansoku.tracing.demo.catalog import (
    PY,
    S_CLAIM,
    S_FILTER,
    S_KSA,
    S_LOCK,
    S_SCHED,
    SERVERS_CREATE,
    code_at,
)
from kansoku.tracing.demo.cloud import Cloud
from kansoku.tracing.demo.spawn import spawn
from kansoku.tracing.demo.writer import Ctx


def boot(
    cloud: Cloud,
    t: float,
    ctx: Ctx | None = None,
    fault: str | None = None,
    target: str | None = None,
    count: int = 1,
    from_volume: bool = False,
) -> dict[str, Any]:
    """POST /servers: nova-api -> conductor -> scheduler -> placement -> compute -> neutron/glance/cinder."""
    rng = cloud.rng
    api = cloud.pick(cloud.controllers)
    ctx = ctx or cloud.ctx_user()
    info: dict[str, Any] = {"api_host": api, "t0": t}
    inst_ids = [cloud.uuid() for _ in range(count)]
    image = cloud.images[rng.randrange(len(cloud.images))]
    cloud.nova_action(
        api,
        t,
        ctx,
        SERVERS_CREATE,
        f'{{"server": {{"name": "vm-{inst_ids[0][:6]}", "imageRef": "{image}", '
        f'"flavorRef": "{rng.choice(cloud.flavors)}", "min_count": {count}, "max_count": {count}, '
        f'"networks": [{{"uuid": "{cloud.networks[0]}"}}]}}}}',
    )
    gh = cloud.pick(cloud.controllers)
    _, t = cloud.http(t + 0.01, (api, "nova-api"), ctx, "glance-api", gh, "GET", f"/v2/images/{image}")
    nh = cloud.pick(cloud.controllers)
    _, t = cloud.http(
        t + 0.01,
        (api, "nova-api"),
        ctx,
        "neutron-server",
        nh,
        "GET",
        f"/v2.0/networks?id={cloud.networks[0]}",
    )
    cloud.access(
        api,
        "nova-api",
        t + 0.02,
        ctx,
        "10.30.0.15",
        "POST",
        "/v2.1/servers",
        202,
        412,
        t + 0.02 - info["t0"],
        "2.79",
    )
    # conductor -> scheduler (RPC call, same context)
    cond = cloud.pick(cloud.controllers)
    sched = cloud.pick(cloud.controllers)
    t += 0.05
    cloud.emit(
        cond,
        "nova-conductor",
        t,
        "DEBUG",
        "oslo_concurrency.lockutils",
        ctx,
        'Acquiring lock "compute-rpcapi-router" by "nova.conductor.manager.ComputeTaskManager.'
        'build_instances"',
        src=S_LOCK,
    )
    t += 0.01
    cloud.emit(
        sched,
        "nova-scheduler",
        t,
        "DEBUG",
        "nova.scheduler.manager",
        ctx,
        f"Starting to schedule for instances: {inst_ids}",
        src=S_SCHED,
    )
    ph = cloud.pick(cloud.controllers)
    _, t = cloud.http(
        t + 0.01,
        (sched, "nova-scheduler"),
        ctx,
        "placement-api",
        ph,
        "GET",
        "/allocation_candidates?limit=1000&resources=DISK_GB%3A20%2CMEMORY_MB%3A2048%2CVCPU%3A1",
        mv="1.36",
        logger="nova.scheduler.client.report",
    )
    for flt, n in (("AvailabilityZoneFilter", 9), ("ComputeFilter", 8), ("ImagePropertiesFilter", 8)):
        t += 0.0005
        cloud.emit(
            sched,
            "nova-scheduler",
            t,
            "DEBUG",
            "nova.filters",
            ctx,
            f"Filter {flt} returned {n} host(s)",
            src=S_FILTER,
        )
    hosts_for: list[str] = []
    for i, iid in enumerate(inst_ids):
        cloud.emit(
            sched,
            "nova-scheduler",
            t,
            "DEBUG",
            "nova.scheduler.utils",
            ctx,
            f"Attempting to claim resources in the placement API for instance {iid}",
            src=S_CLAIM,
        )
        ph = cloud.pick(cloud.controllers)
        if fault == "placement_conflict":
            return placement_conflict(cloud, t, ctx, sched, cond, ph, iid, info)
        _, t = cloud.http(
            t + 0.005,
            (sched, "nova-scheduler"),
            ctx,
            "placement-api",
            ph,
            "PUT",
            f"/allocations/{iid}",
            204,
            0,
            mv="1.36",
            logger="nova.scheduler.client.report",
        )
        host = target if target and i == 0 else cloud.computes[rng.randrange(len(cloud.computes))]
        hosts_for.append(host)
        cloud.emit(
            sched,
            "nova-scheduler",
            t,
            "INFO",
            "nova.scheduler.manager",
            ctx,
            f"Selected host: (host: {host}, node: {host}) ram: 2048MB disk: 20480MB io_ops: 0 instances: 3",
        )
    # compute side, one per instance
    tc = t + 0.05
    for iid, host in zip(inst_ids, hosts_for, strict=True):
        tc = spawn(cloud, tc, ctx, host, iid, image, fault if host == target else None, from_volume, info)
        if fault == "port_binding_failed" and host == target:
            break
    info["instances"] = inst_ids
    return info


def placement_conflict(
    cloud: Cloud, t: float, ctx: Ctx, sched: str, cond: str, ph: str, iid: str, info: dict[str, Any]
) -> dict[str, Any]:
    rp = cloud.rps[cloud.computes[0]]
    detail = (
        "There was a conflict when trying to complete your request.\\n\\n Unable to allocate inventory: "
        f"Unable to create allocation for 'VCPU' on resource provider '{rp}'. The requested amount would "
        "exceed the capacity.  "
    )
    body = (
        f'{{"errors": [{{"status": 409, "title": "Conflict", "detail": "{detail}", '
        f'"code": "placement.undefined_code", "request_id": "__RID__"}}]}}'
    )
    pctx = cloud.callee_ctx(ctx)
    t += 0.005
    cloud.emit(
        ph,
        "placement-api",
        t + 0.01,
        "WARNING",
        "placement.objects.allocation",
        pctx,
        f"Over capacity for VCPU on resource provider {rp}. Needed: 1, Used: 64, Capacity: 64.0",
        src=code_at("_check_capacity_exceeded", "placement/objects/allocation.py", 287),
    )
    cloud.access(
        ph,
        "placement-api",
        t + 0.02,
        pctx,
        cloud.ips[sched],
        "PUT",
        f"/allocations/{iid}",
        409,
        389,
        0.02,
        "1.36",
    )
    url = f"http://{cloud.ips[ph]}:8778/allocations/{iid}"
    t += 0.021
    cloud.emit(
        sched,
        "nova-scheduler",
        t,
        "DEBUG",
        "nova.scheduler.client.report",
        ctx,
        f"PUT call to placement for {url} used request id {pctx.request_id}",
        src=S_KSA,
    )
    cloud.emit(
        sched,
        "nova-scheduler",
        t + 0.001,
        "WARNING",
        "nova.scheduler.client.report",
        ctx,
        f"Failed to save allocation for {iid}. Got HTTP 409: {body.replace('__RID__', pctx.request_id)}",
    )
    cloud.emit(
        sched,
        "nova-scheduler",
        t + 0.002,
        "DEBUG",
        "nova.scheduler.manager",
        ctx,
        "There are 0 hosts available but 1 instances requested to build.",
        src=S_SCHED,
    )
    t += 0.01
    remote = "No valid host was found. There are not enough hosts available."
    tb = [
        "Traceback (most recent call last):",
        f'  File "{PY}/nova/conductor/manager.py", line 1654, in schedule_and_build_instances',
        "    host_lists = self._schedule_instances(context, request_specs[0],",
        f'  File "{PY}/nova/conductor/manager.py", line 942, in _schedule_instances',
        "    host_lists = self.query_client.select_destinations(",
        f'  File "{PY}/nova/scheduler/client/query.py", line 41, in select_destinations',
        "    return self.scheduler_rpcapi.select_destinations(context, spec_obj,",
        f'  File "{PY}/nova/scheduler/rpcapi.py", line 160, in select_destinations',
        "    return cctxt.call(ctxt, 'select_destinations', **msg_args)",
        f'  File "{PY}/oslo_messaging/rpc/client.py", line 190, in call',
        "    result = self.transport._send(",
        f'  File "{PY}/oslo_messaging/_drivers/amqpdriver.py", line 780, in _send',
        "    raise result",
        f"nova.exception_Remote.NoValidHost_Remote: {remote}",
        "Traceback (most recent call last):",
        f'  File "{PY}/oslo_messaging/rpc/server.py", line 244, in inner',
        "    return func(*args, **kwargs)",
        f'  File "{PY}/nova/scheduler/manager.py", line 230, in select_destinations',
        "    raise exception.NoValidHost(reason=e.message)",
        f"nova.exception.NoValidHost: {remote}",
    ]
    cloud.emit(
        cond,
        "nova-conductor",
        t,
        "ERROR",
        "nova.conductor.manager",
        ctx,
        "Failed to schedule instances",
        summary=f"nova.exception_Remote.NoValidHost_Remote: {remote}",
        tb=tb,
    )
    cloud.emit(
        cond,
        "nova-conductor",
        t + 0.003,
        "WARNING",
        "nova.scheduler.utils",
        ctx,
        f"Failed to compute_task_build_instances: {remote}",
        summary=f"nova.exception_Remote.NoValidHost_Remote: {remote}",
    )
    cloud.emit(
        cond,
        "nova-conductor",
        t + 0.004,
        "WARNING",
        "nova.scheduler.utils",
        ctx,
        "Setting instance to ERROR state.",
        inst=iid,
        summary=f"nova.exception_Remote.NoValidHost_Remote: {remote}",
    )
    info.update(root=("placement-api", ph), instances=[iid], evidence=f"/allocations/{iid}")
    return info
