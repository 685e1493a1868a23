"""The cross-layer verdict's rules, the web app's token check and escaping (fast, in process)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest

from kansoku.errors import KansokuError
from kansoku.health.crosslayer import (
    IAAS,
    KUBERNETES,
    UNKNOWN,
    FailedRequest,
    IaasError,
    ServerView,
    Window,
    judge_cluster,
)
from kansoku.health.crosslayer.sources import SnapshotIaas
from kansoku.health.model import CheckResult, CheckStatus
from kansoku.health.state import StateStore
from kansoku.models import CheckState, Cluster
from kansoku.web.cli import web_token
from kansoku.web.state import WebSources, WebState

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = 1_795_154_800.0
CLUSTER = Cluster(
    id="prod-a", api_url="https://10.0.0.1:6443", region="fra", az="fra-a", openstack_project="p1"
)


def statuses(node_states: dict[str, CheckState], api: CheckState = CheckState.OK) -> list[CheckStatus]:
    store = StateStore(1)
    rows = [
        CheckResult("prod-a", "fra", "fra-a", "apiserver_readyz", api, "", 0.0, NOW),
        CheckResult("prod-a", "fra", "fra-a", "apiserver_mgmt_readyz", api, "", 0.0, NOW),
        CheckResult(
            "prod-a", "fra", "fra-a", "kubelet_ready",
            CheckState.FAILING if CheckState.FAILING in node_states.values() else CheckState.OK,
            "", 0.0, NOW, subject_label="node",
        ),
    ]  # fmt: skip
    rows += [
        CheckResult(
            "prod-a", "fra", "fra-a", "kubelet_ready", st, "", 0.0, NOW, subject_label="node", subject=n
        )
        for n, st in node_states.items()
    ]
    return store.update_all(rows)


def snapshot(hv_state: str = "up", agents_up: bool = True, status: str = "ACTIVE") -> SnapshotIaas:
    return SnapshotIaas(
        {
            "servers": [
                {"name": "prod-a-w1", "id": "11111111-1111-4111-8111-111111111111", "status": status,
                 "hypervisor": "hv-12", "hypervisor_state": hv_state, "hypervisor_status": "enabled"},
                {"name": "prod-a-w2", "id": "22222222-2222-4222-8222-222222222222", "status": "ACTIVE",
                 "hypervisor": "hv-3", "hypervisor_state": "up", "hypervisor_status": "enabled"},
            ],
            "agents": [
                {"binary": "nova-compute", "host": "hv-12", "zone": "fra-a", "up": agents_up,
                 "since": "2026-11-20T06:01:02.000000"},
                {"binary": "neutron-openvswitch-agent", "host": "hv-12", "zone": "fra-a", "up": True},
                {"binary": "nova-compute", "host": "hv-3", "zone": "fra-a", "up": True},
            ],
        }
    )  # fmt: skip


class Failures:
    def __init__(self, rows: list[FailedRequest]) -> None:
        self.rows = rows
        self.asked: dict[str, object] = {}

    def failed(self, window, *, hosts, instances, projects):  # type: ignore[no-untyped-def]
        self.asked = {"hosts": set(hosts), "instances": list(instances), "projects": list(projects)}
        return [r for r in self.rows if r.host in self.asked["hosts"] and r.ts in window]  # type: ignore[operator]


BAD = {"prod-a-w1": CheckState.FAILING, "prod-a-w2": CheckState.OK}


def test_nova_compute_down_on_the_nodes_hypervisor_is_iaas_suspected() -> None:
    rid = "req-6f1c0000-0000-4000-8000-000000000001"
    fails = Failures([FailedRequest(rid, NOW - 60, "nova-compute", "hv-12", "Instance failed to spawn")])
    v = judge_cluster(CLUSTER, statuses(BAD), snapshot(agents_up=False), fails, Window(NOW - 900, NOW))
    assert v is not None and v.kind == IAAS
    assert v.summary == (
        f"IaaS suspected: nova-compute on hv-12 down since 2026-11-20 06:01:02Z; 1 failed request ({rid})"
    )
    assert v.request_ids == (rid,) and v.hypervisors == ("hv-12",) and v.nodes == ("prod-a-w1",)
    # only the failing node's VM is asked about, with its server id and the cluster's project
    assert fails.asked == {
        "hosts": {"hv-12"},
        "instances": ["11111111-1111-4111-8111-111111111111"],
        "projects": ["p1"],
    }


def test_hypervisor_down_or_server_in_error_is_iaas_suspected() -> None:
    v = judge_cluster(CLUSTER, statuses(BAD), snapshot(hv_state="down"))
    assert v is not None and v.kind == IAAS and "hypervisor hv-12 of prod-a-w1 is down" in v.summary
    v = judge_cluster(CLUSTER, statuses(BAD), snapshot(status="ERROR"))
    assert v is not None and v.kind == IAAS and "server prod-a-w1 is ERROR" in v.summary


def test_healthy_iaas_is_a_kubernetes_fault() -> None:
    old = [FailedRequest("req-x", NOW - 5000, "nova-compute", "hv-12", "long ago")]  # outside the window
    v = judge_cluster(CLUSTER, statuses(BAD), snapshot(), Failures(old), Window(NOW - 900, NOW))
    assert v is not None and v.kind == KUBERNETES
    assert v.summary.startswith("Kubernetes fault: IaaS healthy (1 VM(s) ACTIVE on hv-12")


def test_an_agent_down_on_another_hypervisor_does_not_blame_the_iaas() -> None:
    bad_w2 = {"prod-a-w1": CheckState.OK, "prod-a-w2": CheckState.FAILING}
    v = judge_cluster(CLUSTER, statuses(bad_w2), snapshot(agents_up=False))
    assert v is not None and v.kind == KUBERNETES, v.summary


def test_iaas_that_cannot_answer_is_not_judged_never_healthy() -> None:
    class Down:
        def servers(self, cluster, nodes):  # type: ignore[no-untyped-def]
            raise IaasError("nova: ConnectFailure: Unable to establish connection to http://127.0.0.1:1")

        def agents(self) -> list[ServerView]:
            return []

        def describe(self) -> str:
            return "down"

    v = judge_cluster(CLUSTER, statuses(BAD), Down())
    assert v is not None and v.kind == UNKNOWN and "Unable to establish connection" in v.summary
    assert judge_cluster(CLUSTER, statuses(BAD), None) is not None


def test_healthy_and_management_plane_faults_get_no_verdict() -> None:
    assert judge_cluster(CLUSTER, statuses({"prod-a-w1": CheckState.OK}), snapshot()) is None
    store = StateStore(1)
    mgmt = store.update_all(
        [
            CheckResult("prod-a", "fra", "fra-a", "apiserver_readyz", CheckState.OK, "", 0.0, NOW),
            CheckResult(
                "prod-a", "fra", "fra-a", "apiserver_mgmt_readyz", CheckState.FAILING, "503", 0.0, NOW
            ),
        ]
    )
    assert judge_cluster(CLUSTER, mgmt, snapshot(hv_state="down")) is None


def test_bad_snapshot_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "iaas.json"
    bad.write_text('{"servers": [{"name": "x"}]}')
    with pytest.raises(KansokuError, match=r"iaas.json: not an IaaS snapshot \(missing or bad field 'id'\)"):
        SnapshotIaas.load(bad)
    bad.write_text("{\n  nope")
    with pytest.raises(KansokuError, match=r"iaas.json:2: invalid JSON"):
        SnapshotIaas.load(bad)


def test_binding_beyond_loopback_needs_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANSOKU_WEB_TOKEN", raising=False)
    assert web_token("127.0.0.1") is None
    with pytest.raises(KansokuError, match="requires \\$KANSOKU_WEB_TOKEN"):
        web_token("0.0.0.0")
    monkeypatch.setenv("KANSOKU_WEB_TOKEN", "s3cret")
    assert web_token("0.0.0.0") == "s3cret"


def _state_with_failure(message: str) -> WebState:
    from kansoku.health.crosslayer.sources import StoreScan

    state = WebState(WebSources(title="t"))
    state.scan = StoreScan(failed=[FailedRequest("req-1", time.time(), "nova-api", "ctl-1", message)])
    state.apply([])
    return state


def test_every_route_but_healthz_needs_the_token() -> None:
    from kansoku.web.app import create_app

    client = TestClient(create_app(_state_with_failure("boom"), token="s3cret"))
    assert client.get("/healthz").status_code == 200
    for path in ("/", "/heal", "/controlplane", "/trace/req-1", "/search?q=x"):
        assert client.get(path).status_code == 401, path
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    # ?token= once sets the cookie, so the page's links work without it
    assert client.get("/?token=s3cret").status_code == 200
    assert client.get("/controlplane").status_code == 200


def test_log_text_is_escaped() -> None:
    from kansoku.web.app import create_app

    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    html = TestClient(create_app(_state_with_failure(evil))).get("/").text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_collect_serve_exports_the_fault_layer(tmp_path: Path) -> None:
    """`kansoku collect serve` judges each round's failing clusters and exports the layer."""
    import asyncio

    from prometheus_client import generate_latest

    from kansoku.collectors.serve import CollectService
    from kansoku.health.simfleet import SimFleetThread, cluster_id, fleet_inventory, write_inventory
    from kansoku.process import free_port

    with SimFleetThread(40) as sim:
        inv = fleet_inventory(40, sim.port, free_port(), flap=1)
        write_inventory(inv, tmp_path / "inv.yaml")
        doc = {
            "servers": [
                {"cluster": c.id, "name": f"node-{k}", "id": f"0000000{k}-0000-4000-8000-{i:012d}",
                 "status": "ACTIVE", "hypervisor": "hv-12" if c.id == cluster_id(20) else "hv-1",
                 "hypervisor_state": "up", "hypervisor_status": "enabled"}
                for i, c in enumerate(inv.clusters) for k in range(5)
            ],
            "agents": [
                {"binary": "nova-compute", "host": "hv-12", "zone": "nova", "up": False},
                {"binary": "nova-compute", "host": "hv-1", "zone": "nova", "up": True},
            ],
        }  # fmt: skip
        service = CollectService(tmp_path / "inv.yaml", iaas=SnapshotIaas(doc))
        try:
            asyncio.run(service.round())
        finally:
            service.close()
        text = generate_latest(service.registry).decode()
    line = 'kansoku_cluster_fault_layer{{cluster="{}",layer="{}",region="{}"}} 1.0'
    assert line.format(cluster_id(20), "iaas", "fra") in text  # NotReady node on hv-12
    assert line.format(cluster_id(0), "kubernetes", "fra") in text  # API down, hv-1 healthy
    assert f'kansoku_cluster_fault_layer{{cluster="{cluster_id(10)}"' not in text  # management plane
    assert f'kansoku_cluster_fault_layer{{cluster="{cluster_id(1)}"' not in text  # healthy


def test_cli_refuses_a_public_bind_without_token(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "kansoku", "web", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True, text=True, timeout=60, env={"PATH": "", "COLUMNS": "200"}, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "--host 0.0.0.0: binding beyond loopback requires $KANSOKU_WEB_TOKEN" in out.stderr
    assert "Traceback" not in out.stderr


def test_store_is_rescanned_when_kansoku_index_appends(tmp_path: Path) -> None:
    """A running `kansoku web` picks up new failed requests and access lines after `kansoku index`."""
    from kansoku.tracing.index import build_index

    log = tmp_path / "logs" / "ctl-1" / "nova-api.log"
    log.parent.mkdir(parents=True)
    ctx = "[None {rid} 8f4c3a2b1d0e4f5a9b8c7d6e5f4a3b2c 52608ba953623b53b93e295ff7572dd8 - - default default]"
    line = "2026-11-20 06:0{m}:00.{ms:03d} 8516 {level} nova.api.openstack.wsgi " + ctx + " {msg}\n"
    rid1, rid2 = "req-11111111-1111-4111-8111-111111111111", "req-22222222-2222-4222-8222-222222222222"
    access = '10.0.0.5 "POST /v2.1/servers" status: {status} len: 120 microversion: 2.79 time: 0.{ms:03d}'
    log.write_text(
        line.format(m=1, ms=1, level="INFO", rid=rid1, msg=access.format(status=202, ms=120))
        + line.format(m=1, ms=2, level="ERROR", rid=rid1, msg="Unexpected exception in API method")
    )
    store = tmp_path / "store"
    build_index([tmp_path / "logs"], store)
    state = WebState(WebSources(store=store))
    assert state.load_logs() is True
    assert state.scan is not None and [f.request_id for f in state.scan.failed] == [rid1]
    assert [(s.service, s.total) for s in state.control_plane] == [("nova-api", 1)]
    assert state.load_logs() is False  # nothing new: no second scan
    with log.open("a") as f:
        f.write(line.format(m=2, ms=3, level="INFO", rid=rid2, msg=access.format(status=500, ms=300)))
    build_index([tmp_path / "logs"], store)
    assert state.load_logs() is True
    assert [f.request_id for f in state.scan.failed] == [rid1, rid2]  # the 5xx answer is a failure
    (series,) = state.control_plane
    assert (series.total, series.errors) == (2, 1)
    assert next(b.p50 for b in series.buckets if b.count) == pytest.approx(0.12)


def test_nova_that_cannot_be_reached_is_asked_once_per_ttl(tmp_path: Path) -> None:
    """A real keystoneauth session to a closed port: the first cluster's call fails with the
    connection error, the next ones get the same error without asking again."""
    import openstack.config
    from openstack.connection import Connection

    from kansoku.health.crosslayer.nova import NovaIaas
    from kansoku.process import free_port

    region = openstack.config.get_cloud_region(
        auth_type="password", load_yaml_config=False, load_envvars=False, region_name="RegionOne",
        auth={"auth_url": f"http://127.0.0.1:{free_port()}/v3", "username": "u", "password": "p",
              "project_name": "p", "user_domain_name": "Default", "project_domain_name": "Default"},
    )  # fmt: skip
    iaas = NovaIaas(None, connection=Connection(config=region))
    with pytest.raises(IaasError, match="ConnectFailure") as first:
        iaas.servers(CLUSTER, ["prod-a-w1"])
    with pytest.raises(IaasError) as second:
        iaas.agents()
    assert second.value is first.value
    v = judge_cluster(CLUSTER, statuses(BAD), iaas)
    assert v is not None and v.kind == UNKNOWN and "ConnectFailure" in v.summary
