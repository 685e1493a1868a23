"""What services log on their own between requests: periodic tasks, agents' loops."""

from __future__ import annotations

from kansoku.tracing.demo.catalog import (
    S_CINDER_SCHED,
    S_DHCP,
    S_OVS,
    S_PERIODIC,
    S_RT_AUDIT,
    S_RT_FINAL,
    code_at,
)
from kansoku.tracing.demo.cloud import Cloud
from kansoku.tracing.demo.writer import Ctx


def periodic(cloud: Cloud, t0: float, t1: float) -> None:
    """Everything that runs on a timer between t0 and t1, logged with ``[-]`` or an admin context."""
    rng = cloud.rng
    for p in range(int(t0 // 60) + 1, int(t1 // 60) + 1):
        base = p * 60.0
        for i, host in enumerate(cloud.computes):
            t = base + (i * 1.37) % 50
            ctx = Ctx(cloud.req(), None, None, None, True)
            cloud.emit(
                host,
                "nova-compute",
                t,
                "DEBUG",
                "oslo_service.periodic_task",
                ctx,
                "Running periodic task ComputeManager.update_available_resource",
                src=S_PERIODIC,
            )
            cloud.emit(
                host,
                "nova-compute",
                t + 0.01,
                "DEBUG",
                "nova.compute.resource_tracker",
                ctx,
                f"Auditing locally available compute resources for {host} (node: {host})",
                src=S_RT_AUDIT,
            )
            used = rng.randrange(4, 60)
            cloud.emit(
                host,
                "nova-compute",
                t + 0.2,
                "DEBUG",
                "nova.compute.resource_tracker",
                ctx,
                f"Final resource view: name={host} phys_ram=257712MB used_ram={used * 2048 + 512}MB "
                f"phys_disk=1787GB used_disk={used * 20}GB total_vcpus=64 used_vcpus={used} "
                "pci_stats=[]",
                src=S_RT_FINAL,
            )
            cloud.http(
                t + 0.21,
                (host, "nova-compute"),
                ctx,
                "placement-api",
                cloud.pick(cloud.controllers),
                "GET",
                f"/resource_providers/{cloud.rps[host]}/inventories",
                mv="1.26",
                logger="nova.scheduler.client.report",
            )
        for host in cloud.controllers:
            ctx = Ctx(cloud.req(), None, None, None, True)
            cloud.emit(
                host,
                "nova-scheduler",
                base + 3.1,
                "DEBUG",
                "oslo_service.periodic_task",
                ctx,
                "Running periodic task SchedulerManager._discover_hosts_in_cells",
                src=S_PERIODIC,
            )
            cloud.emit(
                host,
                "nova-conductor",
                base + 7.3,
                "DEBUG",
                "oslo_service.periodic_task",
                ctx,
                "Running periodic task ConductorManager._heal_instance_info_cache",
                src=S_PERIODIC,
            )
            cloud.emit(
                host,
                "cinder-scheduler",
                base + 11.0,
                "DEBUG",
                "cinder.scheduler.host_manager",
                None,
                "Received volume service update from stor-1@lvm: {'volume_backend_name': 'LVM', "
                f"'free_capacity_gb': {rng.randrange(900, 4000)}, 'total_capacity_gb': 4096}}",
                src=S_CINDER_SCHED,
            )
        cloud.emit(
            "stor-1",
            "cinder-volume",
            base + 10.5,
            "DEBUG",
            "cinder.manager",
            None,
            "Notifying Schedulers of capabilities ...",
            src=code_at("_publish_service_capabilities", "cinder/manager.py", 196),
        )
    for p in range(int(t0 // 10) + 1, int(t1 // 10) + 1):
        base = p * 10.0
        for host in (*cloud.network, *cloud.computes):
            n = cloud.ovs_iter.get(host, 0) + 1
            cloud.ovs_iter[host] = n
            cloud.emit(
                host,
                "neutron-openvswitch-agent",
                base + 0.3,
                "DEBUG",
                "neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent",
                None,
                f"Agent rpc_loop - iteration:{n} completed. Processed ports statistics: "
                "{'regular': {'added': 0, 'updated': 0, 'removed': 0}}. Elapsed:0.004",
                src=S_OVS,
            )
        if p % 3 == 0:
            cloud.emit(
                cloud.network[0],
                "neutron-l3-agent",
                base + 1.1,
                "DEBUG",
                "neutron.agent.l3.agent",
                None,
                "Starting router update for 0 routers, action None, priority 1",
                src=code_at("_process_router_update", "neutron/agent/l3/agent.py", 789),
            )
            cloud.emit(
                cloud.network[0],
                "neutron-dhcp-agent",
                base + 1.5,
                "DEBUG",
                "neutron.agent.dhcp.agent",
                None,
                "Synchronizing state complete",
                src=S_DHCP,
            )
