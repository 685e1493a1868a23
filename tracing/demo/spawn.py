"""The compute side of a server create: claims, ports, volumes and the guest's spawn."""

from __future__ import annotations

from typing import Any

from kansoku.tracing.demo.catalog import (
    PY,
    S_CINDER_SCHED,
    S_CINDER_WSGI,
    S_COMPUTE,
    S_DHCP,
    S_KSA,
    S_LOCK,
    S_ML2,
    S_ML2_PORT,
)
from kansoku.tracing.demo.cloud import Cloud
from kansoku.tracing.demo.writer import Ctx

#: What nova-compute and its libvirt driver log while a guest is built (upstream texts).
SPAWN_STEPS = (
    ("DEBUG", "nova.compute.manager", "Start spawning the instance on the hypervisor."),
    ("INFO", "nova.virt.libvirt.driver", "Creating image(s)"),
    (
        "DEBUG",
        "nova.virt.libvirt.driver",
        "Ensure instance console log exists: /var/lib/nova/instances/console.log",
    ),
    ("INFO", "nova.compute.manager", "VM Started (Lifecycle Event)"),
    (
        "INFO",
        "nova.compute.manager",
        "During sync_power_state the instance has a pending task (spawning). Skip.",
    ),
    ("INFO", "nova.virt.libvirt.driver", "Instance spawned successfully."),
)


def _port_put(
    cloud: Cloud, host: str, nh: str, ctx: Ctx, pctx: Ctx, port: str, times: tuple[float, float, float]
) -> None:
    """neutron-server's access line for nova-compute's `PUT /v2.0/ports/<port>` (the binding) and
    nova-compute's keystoneauth line naming neutron's request id. `times` is (answered at, took,
    logged at), given as the scenario writes them so that the corpus keeps its exact floats."""
    answered, took, logged = times
    cloud.access(
        nh, "neutron-server", answered, pctx, cloud.ips[host], "PUT", f"/v2.0/ports/{port}", 200, 1290, took
    )
    url = f"http://{cloud.ips[nh]}:9696/v2.0/ports/{port}"
    cloud.emit(
        host,
        "nova-compute",
        logged,
        "DEBUG",
        "keystoneauth.session",
        ctx,
        f"PUT call to network for {url} used request id {pctx.request_id}",
        src=S_KSA,
    )


def spawn(
    cloud: Cloud,
    t: float,
    ctx: Ctx,
    host: str,
    iid: str,
    image: str,
    fault: str | None,
    from_volume: bool,
    info: dict[str, Any],
) -> float:
    rng = cloud.rng
    c = (host, "nova-compute")
    t_spawn = t
    cloud.emit(
        host,
        "nova-compute",
        t,
        "DEBUG",
        "oslo_concurrency.lockutils",
        ctx,
        f'Lock "{iid}" acquired by "nova.compute.manager.ComputeManager.build_and_run_instance.'
        '<locals>._locked_do_build_and_run_instance" :: waited 0.000s',
        inst=iid,
        src=S_LOCK,
    )
    cloud.emit(
        host,
        "nova-compute",
        t + 0.01,
        "INFO",
        "nova.compute.claims",
        ctx,
        f"Claim successful on node {host}",
        inst=iid,
    )
    cloud.emit(
        host,
        "nova-compute",
        t + 0.02,
        "DEBUG",
        "nova.compute.manager",
        ctx,
        "Start building networks asynchronously for instance.",
        inst=iid,
        src=S_COMPUTE,
    )
    t += 0.03
    if from_volume:
        t = create_volume(cloud, t, ctx, c, iid, image)
    nh = cloud.pick(cloud.controllers)
    port = cloud.uuid()
    nctx, t = cloud.http(
        t, c, ctx, "neutron-server", nh, "POST", "/v2.0/ports", 201, 1100, service_type="network"
    )
    cloud.emit(
        nh,
        "neutron-server",
        t - 0.002,
        "DEBUG",
        "neutron.db.ipam_backend_mixin",
        nctx,
        f"Allocated IP 10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(2, 250)} "
        f"(network {cloud.networks[0]}/subnet {cloud.networks[1]}/port {port})",
        src=S_ML2_PORT,
    )
    if rng.random() < 0.6:
        dh = cloud.network[0]
        cloud.emit(
            dh,
            "neutron-dhcp-agent",
            t + 0.05,
            "DEBUG",
            "neutron.agent.dhcp.agent",
            nctx,
            f"Calling driver for network: {cloud.networks[0]} action: reload_allocations",
            src=S_DHCP,
        )
        cloud.emit(
            dh,
            "neutron-dhcp-agent",
            t + 0.08,
            "INFO",
            "neutron.agent.dhcp.agent",
            nctx,
            f"Trigger reload_allocations for port admin_state_up=True, device_id={iid}, "
            f"fixed_ips=[{{'subnet_id': '{cloud.networks[1]}'}}], id={port}",
            src=S_DHCP,
        )
    # bind the port to this host
    pctx = cloud.callee_ctx(ctx)
    t += 0.02
    cloud.emit(
        nh,
        "neutron-server",
        t,
        "DEBUG",
        "neutron.plugins.ml2.managers",
        pctx,
        f"Attempting to bind port {port} on host {host} for vnic_type normal with profile ",
        src=S_ML2,
    )
    if fault == "port_binding_failed":
        seg = (
            f"[{{'id': '{cloud.networks[2]}', 'network_type': 'vxlan', 'physical_network': None, "
            f"'segmentation_id': 1042, 'network_id': '{cloud.networks[0]}'}}]"
        )
        cloud.emit(
            nh,
            "neutron-server",
            t + 0.004,
            "WARNING",
            "neutron.plugins.ml2.drivers.mech_agent",
            pctx,
            f"Refusing to bind port {port} to dead agent: {{'binary': 'neutron-openvswitch-agent', "
            f"'host': '{host}', 'alive': False}}",
        )
        cloud.emit(
            nh,
            "neutron-server",
            t + 0.005,
            "ERROR",
            "neutron.plugins.ml2.managers",
            pctx,
            f"Failed to bind port {port} on host {host} for vnic_type normal using segments {seg}",
        )
        _port_put(cloud, host, nh, ctx, pctx, port, (t + 0.02, 0.02, t + 0.021))
        msg = f"Binding failed for port {port}, please check neutron logs for more information."
        tb = [
            "Traceback (most recent call last):",
            f'  File "{PY}/nova/compute/manager.py", line 2874, in _build_resources',
            "    yield resources",
            f'  File "{PY}/nova/compute/manager.py", line 2621, in _build_and_run_instance',
            "    self.driver.spawn(context, instance, image_meta,",
            f'  File "{PY}/nova/virt/libvirt/driver.py", line 4720, in spawn',
            "    xml = self._get_guest_xml(context, instance, network_info,",
            f'  File "{PY}/nova/virt/libvirt/vif.py", line 569, in get_config',
            "    raise exception.PortBindingFailed(port_id=vif['id'])",
            f"nova.exception.PortBindingFailed: {msg}",
        ]
        cloud.emit(
            host,
            "nova-compute",
            t + 0.3,
            "ERROR",
            "nova.compute.manager",
            ctx,
            "Instance failed to spawn",
            inst=iid,
            summary=f"nova.exception.PortBindingFailed: {msg}",
            tb=tb,
        )
        cloud.emit(
            host,
            "nova-compute",
            t + 0.31,
            "INFO",
            "nova.compute.manager",
            ctx,
            "Terminating instance",
            inst=iid,
        )
        info.update(
            root=("neutron-server", nh), evidence=f"Failed to bind port {port} on host {host}", port=port
        )
        return t + 0.4
    _port_put(cloud, host, nh, ctx, pctx, port, (t + 0.03, 0.03, t + 0.031))
    cloud.emit(
        host,
        "neutron-openvswitch-agent",
        t + 0.2,
        "INFO",
        "neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent",
        pctx,
        f"Port {port} updated. Details: {{'device': '{port}', 'network_id': '{cloud.networks[0]}', "
        f"'admin_state_up': True, 'network_type': 'vxlan', 'segmentation_id': 1042, "
        f"'device_owner': 'compute:nova'}}",
    )
    for k, (level, logger, text) in enumerate(SPAWN_STEPS):
        cloud.emit(
            host, "nova-compute", t + 0.21 + k * 0.05, level, logger, ctx, text, inst=iid, src=S_COMPUTE
        )
    t += 0.6 + rng.random() * 4
    cloud.emit(
        host,
        "nova-compute",
        t,
        "INFO",
        "nova.compute.manager",
        ctx,
        f"Took {t - t_spawn:.2f} seconds to spawn the instance on the hypervisor.",
        inst=iid,
    )
    cloud.emit(
        host,
        "nova-compute",
        t + 0.1,
        "INFO",
        "nova.compute.manager",
        ctx,
        f"Took {t + 0.1 - info.get('t0', t):.2f} seconds to build instance.",
        inst=iid,
    )
    cloud.servers[rng.randrange(len(cloud.servers))] = (iid, host)
    # builds of a multi-instance request overlap, but never start before the request
    return max(t_spawn + 0.05, t - 4.0 * rng.random())


def create_volume(cloud: Cloud, t: float, ctx: Ctx, c: tuple[str, str], iid: str, image: str) -> float:
    """Boot from volume: nova-compute -> cinder-api -> cinder-scheduler -> cinder-volume (RPC)."""
    ch = cloud.pick(cloud.controllers)
    vol = cloud.uuid()
    cctx, t2 = cloud.http(
        t,
        c,
        ctx,
        "cinder-api",
        ch,
        "POST",
        f"/v3/{ctx.project}/volumes",
        202,
        780,
        service_type="volumev3",
    )
    cloud.emit(
        ch,
        "cinder-api",
        t2 - 0.003,
        "INFO",
        "cinder.volume.api",
        cctx,
        "Create volume request issued successfully.",
        src=S_CINDER_WSGI,
    )
    cloud.emit(
        ch,
        "cinder-scheduler",
        t2 + 0.01,
        "DEBUG",
        "cinder.scheduler.base_filter",
        cctx,
        "Filter CapacityFilter returned 1 host(s)",
        src=S_CINDER_SCHED,
    )
    cloud.emit(
        ch,
        "cinder-scheduler",
        t2 + 0.011,
        "DEBUG",
        "cinder.scheduler.filter_scheduler",
        cctx,
        f"Choosing stor-1@lvm#LVM for volume {vol}",
        src=S_CINDER_SCHED,
    )
    sv = cloud.storage[0]
    cloud.emit(
        sv,
        "cinder-volume",
        t2 + 0.05,
        "INFO",
        "cinder.volume.flows.manager.create_volume",
        cctx,
        f"Volume {vol}: being created as image with specification: {{'status': 'creating', "
        f"'volume_name': 'volume-{vol}', 'volume_size': 20, 'image_id': '{image}'}}",
    )
    cloud.emit(
        sv,
        "cinder-volume",
        t2 + 2.5,
        "INFO",
        "cinder.volume.flows.manager.create_volume",
        cctx,
        f"Volume volume-{vol} ({vol}): created successfully",
    )
    cloud.emit(
        sv,
        "cinder-volume",
        t2 + 2.6,
        "INFO",
        "cinder.volume.manager",
        cctx,
        "Initialize volume connection completed successfully.",
    )
    cloud.emit(
        c[0],
        c[1],
        t2 + 2.7,
        "INFO",
        "nova.virt.block_device",
        ctx,
        f"Booting with volume {vol} at /dev/vda",
        inst=iid,
    )
    return t2 + 2.8
