"""What the demo cloud runs and where upstream logs from.

The services of each kind of host, their projects and ports, and the upstream source
locations (function, path, line) that oslo.log writes in DEBUG suffixes and JSON records:
data, read by the writer and every scenario.
"""

from __future__ import annotations

from dataclasses import dataclass

PY = "/usr/lib/python3/dist-packages"

CONTROLLER_SERVICES = (
    "keystone",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "placement-api",
    "neutron-server",
    "glance-api",
    "cinder-api",
    "cinder-scheduler",
)

NETWORK_SERVICES = ("neutron-dhcp-agent", "neutron-l3-agent", "neutron-openvswitch-agent")

COMPUTE_SERVICES = ("nova-compute", "neutron-openvswitch-agent")

STORAGE_SERVICES = ("cinder-volume",)

PROJECT_OF = {
    "keystone": "keystone",
    "nova-api": "nova",
    "nova-conductor": "nova",
    "nova-scheduler": "nova",
    "nova-compute": "nova",
    "placement-api": "placement",
    "neutron-server": "neutron",
    "neutron-dhcp-agent": "neutron",
    "neutron-l3-agent": "neutron",
    "neutron-openvswitch-agent": "neutron",
    "glance-api": "glance",
    "cinder-api": "cinder",
    "cinder-scheduler": "cinder",
    "cinder-volume": "cinder",
}

PORTS = {
    "nova-api": 8774,
    "placement-api": 8778,
    "neutron-server": 9696,
    "glance-api": 9292,
    "cinder-api": 8776,
}

LEVELNO = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


@dataclass(frozen=True, slots=True)
class Src:
    """Where a message is logged in the upstream source: the DEBUG suffix and JSON keys."""

    func: str
    path: str
    line: int

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def module(self) -> str:
        return self.filename[:-3]


def code_at(func: str, rel: str, line: int) -> Src:
    """`rel` below the installed dist-packages, as the hosts' tracebacks name it."""
    return Src(func, f"{PY}/{rel}", line)


S_KSA = code_at("_log_request_id", "keystoneauth1/session.py", 1102)
S_NOVA_WSGI = code_at("_process_stack", "nova/api/openstack/wsgi.py", 513)
#: (action, bound method, controller as printed) of `POST /servers`, for `Cloud.nova_action`.
SERVERS_CREATE = (
    "create",
    "ServersController.create",
    "nova.api.openstack.compute.servers.ServersController",
)
S_NOVA_REQLOG = code_at("_log_req", "nova/api/openstack/requestlog.py", 86)
S_SCHED = code_at("select_destinations", "nova/scheduler/manager.py", 215)
S_FILTER = code_at("get_filtered_objects", "nova/filters.py", 102)
S_CLAIM = code_at("claim_resources", "nova/scheduler/utils.py", 1345)
S_RT_AUDIT = code_at("_update_available_resource", "nova/compute/resource_tracker.py", 937)
S_RT_FINAL = code_at("_report_final_resource_view", "nova/compute/resource_tracker.py", 1168)
S_PERIODIC = code_at("run_periodic_tasks", "oslo_service/periodic_task.py", 210)
S_LOCK = code_at("inner", "oslo_concurrency/lockutils.py", 405)
S_COMPUTE = code_at("_build_and_run_instance", "nova/compute/manager.py", 2640)
S_NEUTRON_NET = code_at("_update_port_binding_for_instance", "nova/network/neutron.py", 3600)
S_PLACEMENT_REQLOG = code_at("write_log", "placement/requestlog.py", 108)
S_PLACEMENT_HANDLER = code_at("__call__", "placement/requestlog.py", 52)
S_ML2 = code_at("_bind_port_level", "neutron/plugins/ml2/managers.py", 810)
S_ML2_PORT = code_at("update_port", "neutron/plugins/ml2/plugin.py", 1890)
S_NEUTRON_WSGI = code_at("write", "oslo_service/wsgi.py", 209)
S_DHCP = code_at("_dhcp_ready_ports_loop", "neutron/agent/dhcp/agent.py", 555)
S_OVS = code_at("rpc_loop", "neutron/plugins/ml2/drivers/openvswitch/agent/ovs_neutron_agent.py", 2859)
S_KS_REQ = code_at("log_request_info", "keystone/server/flask/request_processing/req_logging.py", 26)
S_KS_APP = code_at("_handle_keystone_exception", "keystone/server/flask/application.py", 145)
S_KSM = code_at("fetch_token", "keystonemiddleware/auth_token/__init__.py", 767)
S_CINDER_WSGI = code_at("__call__", "cinder/api/openstack/wsgi.py", 1040)
S_CINDER_SCHED = code_at("_schedule", "cinder/scheduler/filter_scheduler.py", 380)
S_CINDER_VOL = code_at("initialize_connection", "cinder/volume/manager.py", 1810)
S_GLANCE = code_at("_image_get", "glance/db/sqlalchemy/api.py", 213)
S_RPC = code_at("_send", "oslo_messaging/_drivers/amqpdriver.py", 726)

#: Who writes the oslo.service/eventlet access line in each service.
WSGI_LOGGER = {"neutron-server": "neutron.wsgi", "glance-api": "eventlet.wsgi.server"}

GENERIC_SRC = {
    "placement-api": S_PLACEMENT_HANDLER,
    "neutron-server": S_NEUTRON_WSGI,
}
