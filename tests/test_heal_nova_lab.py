"""replace_node's IaaS pre-check against the real nova-api of `kansoku lab` (keystone +
placement + nova-api 34 on loopback): the same openstacksdk calls, authenticated
by real keystone, carrying the action's request id, which nova-api logs as its global id.

The lab cannot boot servers (no glance), so the check answers "no server named ..." from
real Nova, which is what replace_node must do for a node whose VM is gone (fail clearly,
never create blindly); the lab's fake-driver nova-compute gives a real hypervisor record.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kansoku.alerts.heal.base import ActionFailed
from kansoku.alerts.heal.nova import connect, inspect_server
from kansoku.models import new_request_id
from kansoku.servers import RabbitMQ
from tests.support.lab import lab_cloud


@pytest.mark.real
def test_replace_node_iaas_check_against_real_nova_api_carries_the_request_id(
    tmp_path: Path, rabbitmq: RabbitMQ
) -> None:
    from kansoku.lab.cli import lab_down, lab_up

    state = lab_up(tmp_path / "lab", f"rabbit://guest:guest@127.0.0.1:{rabbitmq.ports['amqp']}/")
    try:
        request_id = new_request_id()
        conn = connect(request_id, None, lab_cloud(state))
        with pytest.raises(ActionFailed, match="nova: no server named 'c1-worker-3'"):
            inspect_server(conn, "c1-worker-3", allow_volumes=False)
        # the lab's nova-compute (fake driver) registers a hypervisor; read it the way
        # inspect_server does (2.53+ detail list filtered by host name pattern)
        for hyp in conn.compute.hypervisors(details=True):
            assert hyp.state in ("up", "down") and hyp.status in ("enabled", "disabled")
            same = list(conn.compute.hypervisors(details=True, hypervisor_hostname_pattern=hyp.name))
            assert [h.id for h in same] == [hyp.id]
        log = Path(state.log_files()["nova-api"]).read_text(errors="replace")
        assert request_id in log, "nova-api did not log the action's X-OpenStack-Request-ID"
        assert "admin" not in request_id and state.admin_password not in log
    finally:
        lab_down(tmp_path / "lab")
