"""The cross-layer verdict against the real nova of `kansoku lab` (keystone, placement, glance,
nova-api/conductor/scheduler/compute with the fake driver, on loopback): a node VM booted on
the lab's hypervisor reads "Kubernetes fault: IaaS healthy" while nova-compute runs, and
"IaaS suspected: nova-compute on kansoku-lab down since T" once nova-compute is stopped and
Nova itself reports the service (and with it the hypervisor) down.

The lab has no neutron, so Nova's server detail (which asks neutron for security groups)
answers 500: `NovaIaas` then reads where the server runs from the hypervisors' server lists
and its status from a filtered list, which this test exercises for real.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kansoku.health.crosslayer import IAAS, KUBERNETES, judge_cluster
from kansoku.health.crosslayer.nova import NovaIaas
from kansoku.health.model import CheckResult
from kansoku.health.state import StateStore
from kansoku.models import CheckState, Cluster
from kansoku.process import stop_pid
from kansoku.servers import RabbitMQ
from tests.support.lab import lab_cloud

NODE = "labk8s-worker-0"
CLUSTER = Cluster(id="labk8s", api_url="https://10.0.0.1:6443", region="lab")


def _node_not_ready() -> list:
    now = time.time()
    return StateStore(1).update_all(
        [
            CheckResult("labk8s", "lab", None, "apiserver_readyz", CheckState.OK, "", 0.0, now),
            CheckResult(
                "labk8s", "lab", None, "kubelet_ready", CheckState.FAILING, f"{NODE} NotReady", 0.0, now,
                subject_label="node",
            ),
            CheckResult(
                "labk8s", "lab", None, "kubelet_ready", CheckState.FAILING, "Kubelet stopped posting node status.",
                0.0, now, subject_label="node", subject=NODE,
            ),
        ]
    )  # fmt: skip


def _boot(conn, name: str) -> str:  # type: ignore[no-untyped-def]
    """Boot `name` on the lab's fake hypervisor (networks none: the lab has no neutron)."""
    image = conn.image.create_image(
        name="crosslayer", disk_format="raw", container_format="bare", data=b"kansoku crosslayer\n"
    )
    flavor = conn.compute.create_flavor(name="crosslayer.tiny", ram=64, vcpus=1, disk=1)
    body = {"server": {"name": name, "imageRef": image.id, "flavorRef": flavor.id, "networks": "none"}}
    for _ in range(3):  # SQLite lab: nova-compute now and then drops a build (odd case 21)
        resp = conn.compute.post("/servers", json=body, microversion="2.37")
        assert resp.status_code == 202, resp.text
        server_id = str(resp.json()["server"]["id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if conn.compute.get(f"/servers?uuid={server_id}&status=ACTIVE").json()["servers"]:
                return server_id
            time.sleep(1)
    raise AssertionError(f"{name} never became ACTIVE in the lab")


@pytest.mark.real
def test_stopped_nova_compute_makes_the_node_on_its_hypervisor_read_iaas_suspected(
    tmp_path: Path, rabbitmq: RabbitMQ
) -> None:
    import openstack.config
    from openstack.connection import Connection

    from kansoku.lab.cli import lab_down, lab_up

    # Nova notices a stopped service SERVICE_DOWN_TIME after its last heartbeat: 45 s here
    # (heartbeat every 11 s) instead of the lab's 120 s, which made this the slowest test
    state = lab_up(
        tmp_path / "lab", f"rabbit://guest:guest@127.0.0.1:{rabbitmq.ports['amqp']}/", service_down_time=45
    )
    try:
        region = openstack.config.get_cloud_region(**lab_cloud(state))
        conn = Connection(config=region)
        server_id = _boot(conn, NODE)

        before = judge_cluster(CLUSTER, _node_not_ready(), NovaIaas(None, connection=conn))
        assert before is not None and before.kind == KUBERNETES, before
        assert before.summary.startswith("Kubernetes fault: IaaS healthy (1 VM(s) ACTIVE on kansoku-lab")
        assert f"{NODE}: server {server_id} ACTIVE on kansoku-lab (hypervisor up/enabled)" in before.evidence

        compute = next(s for s in state.services if s.name == "nova-compute")
        stopped_at = time.time()
        stop_pid(compute.pid)  # SIGTERM: nova-compute may still report once while it shuts down
        gone_at = time.time()
        # Nova says "down" once the last heartbeat is older than service_down_time (45 s here)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if any(s.binary == "nova-compute" and s.state == "down" for s in conn.compute.services()):
                break
            time.sleep(2)
        else:
            raise AssertionError("nova never reported the stopped nova-compute down")

        after = judge_cluster(CLUSTER, _node_not_ready(), NovaIaas(None, connection=conn))
        assert after is not None and after.kind == IAAS, after
        assert after.summary.startswith("IaaS suspected: ")
        assert "nova-compute on kansoku-lab down since " in after.summary
        assert f"hypervisor kansoku-lab of {NODE} is down" in after.summary
        assert after.hypervisors == ("kansoku-lab",) and after.nodes == (NODE,)
        # "since" is the last heartbeat Nova recorded: within a report interval of the stop
        since = next(s for s in NovaIaas(None, connection=conn).agents() if s.binary == "nova-compute").since
        assert since is not None and stopped_at - 60 <= since <= gone_at + 1
    finally:
        lab_down(tmp_path / "lab")
