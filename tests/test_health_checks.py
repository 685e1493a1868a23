"""Binary checks against a loopback API serving recorded Kubernetes bodies and hostile answers.

The bodies are in tests/data/k8s (see its README for sources and version). Every failure
mode the issue lists (garbage JSON, TLS error, refused, timeout, 401/403, cluster missing
from the inventory) must end as a result with a clear reason, never an exception.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from kansoku.health.fleet import CLUSTER_FAULT, MANAGEMENT_FAULT, fault_domain
from kansoku.health.model import CheckStatus
from kansoku.health.runner import Monitor, check_once
from kansoku.inventory import HealthSettings, Inventory
from kansoku.models import CheckState, Cluster, Credentials
from kansoku.process import free_port
from tests.support.loopback import LoopbackServer

K8S = Path(__file__).parent / "data" / "k8s"
RID = "req-6a2b9f4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b"

Route = tuple[int, dict[str, str], bytes]


def _file(name: str) -> bytes:
    return (K8S / name).read_bytes()


ROUTES: dict[str, Route | str] = {
    "/ok/readyz": (200, {}, _file("readyz-verbose-ok.txt")),
    "/ok/livez": (200, {}, _file("livez-verbose-ok.txt")),
    "/ok/api/v1/nodes": (200, {}, _file("nodes-all-ready.json")),
    "/ok/api/v1/componentstatuses": (
        200,
        {},
        b'{"kind":"ComponentStatusList","apiVersion":"v1","metadata":{},"items":[]}',
    ),
    "/sick/readyz": (500, {}, _file("readyz-verbose-etcd-failed.txt")),
    "/sick/livez": (200, {}, _file("livez-verbose-ok.txt")),
    "/sick/api/v1/nodes": (200, {}, _file("nodes-one-notready.json")),
    "/sick/api/v1/componentstatuses": (200, {}, _file("componentstatuses-scheduler-down.json")),
    "/garbage/readyz": (200, {}, b"ok"),
    "/garbage/api/v1/nodes": (
        200,
        {"Content-Type": "application/json"},
        b'{"kind": "NodeList", "items": [tru',
    ),
    "/garbage/api/v1/componentstatuses": (200, {}, b"<html>proxy login</html>"),
    "/denied/readyz": (
        401,
        {},
        b'{"kind":"Status","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}',
    ),
    "/denied/api/v1/nodes": (
        403,
        {},
        b'{"kind":"Status","status":"Failure","message":"nodes is forbidden: User \\"system:anonymous\\" cannot list resource \\"nodes\\"","reason":"Forbidden","code":403}',
    ),
    "/mgmtdown/readyz": (
        503,
        {},
        b'{"baseType":"error","code":"ClusterUnavailable","message":"cluster agent disconnected","status":503,"type":"error"}',
    ),
    "/lb/readyz": (
        500,
        {"X-OpenStack-Request-ID": RID},
        b'{"faultstring": "Load balancer is in ERROR state"}',
    ),
    "/slow/readyz": "hang",
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        route = ROUTES.get(self.path.split("?", 1)[0])
        if route == "hang":
            time.sleep(5)
            return
        if route is None:
            route = (404, {}, b'{"kind":"Status","status":"Failure","reason":"NotFound","code":404}')
        assert not isinstance(route, str)
        status, headers, body = route
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with LoopbackServer(_Handler) as server:
        yield server.url


def _inv(*clusters: Cluster, timeout: float = 1.0) -> Inventory:
    return Inventory(clusters=list(clusters), settings=HealthSettings.model_validate({"timeout": timeout}))


def _by_check(statuses: list[CheckStatus]) -> dict[str, CheckStatus]:
    return {s.check: s for s in statuses}


def test_healthy_cluster_all_ok(api: str) -> None:
    cluster = Cluster(id="ok", api_url=f"{api}/ok", management_api_url=f"{api}/ok", agent_addr=api[7:])
    got = _by_check(asyncio.run(check_once(_inv(cluster))))
    assert set(got) == {"apiserver_readyz", "apiserver_livez", "apiserver_mgmt_readyz", "agent_connected",
                        "kubelet_ready", "componentstatus"}  # fmt: skip
    assert all(s.state is CheckState.OK for s in got.values()), {k: s.reason for k, s in got.items()}
    assert got["apiserver_readyz"].reason == "34 checks passed"
    assert got["kubelet_ready"].reason == "4/4 nodes Ready"


def test_sick_cluster_names_what_failed(api: str) -> None:
    cluster = Cluster(id="sick", api_url=f"{api}/sick", management_api_url=f"{api}/sick")
    statuses = asyncio.run(check_once(_inv(cluster)))
    got = _by_check(statuses)
    assert got["apiserver_readyz"].state is CheckState.FAILING
    assert got["apiserver_readyz"].reason == "/readyz failed: etcd, etcd-readiness"
    assert got["apiserver_livez"].state is CheckState.OK
    assert got["kubelet_ready"].state is CheckState.FAILING
    assert (
        "1/4 nodes NotReady: prod-fra-001-worker-1 (Ready=Unknown NodeStatusUnknown"
        in got["kubelet_ready"].reason
    )
    assert got["componentstatus"].state is CheckState.FAILING
    assert got["componentstatus"].reason.startswith(
        'unhealthy: scheduler: Get "https://127.0.0.1:10259/healthz"'
    )
    assert fault_domain(statuses) == CLUSTER_FAULT


def test_management_path_down_is_a_management_fault(api: str) -> None:
    cluster = Cluster(
        id="m",
        api_url=f"{api}/ok",
        management_api_url=f"{api}/mgmtdown",
        agent_addr=f"127.0.0.1:{free_port()}",
    )
    statuses = asyncio.run(check_once(_inv(cluster)))
    got = _by_check(statuses)
    assert got["apiserver_readyz"].state is CheckState.OK
    assert got["apiserver_mgmt_readyz"].state is CheckState.FAILING
    assert "cluster agent disconnected" in got["apiserver_mgmt_readyz"].reason
    assert got["agent_connected"].state is CheckState.FAILING
    assert "refused" in got["agent_connected"].reason
    assert fault_domain(statuses) == MANAGEMENT_FAULT


def test_garbage_answers_are_unknown_with_reason(api: str) -> None:
    got = _by_check(asyncio.run(check_once(_inv(Cluster(id="g", api_url=f"{api}/garbage")))))
    assert got["apiserver_readyz"].state is CheckState.OK  # a bare 200 "ok" is a pass (non-verbose servers)
    assert got["kubelet_ready"].state is CheckState.UNKNOWN
    assert got["kubelet_ready"].reason.startswith("invalid JSON from ")
    assert got["componentstatus"].state is CheckState.UNKNOWN
    assert "proxy login" in got["componentstatus"].reason


def test_401_403_are_unknown_credentials_rejected(api: str) -> None:
    got = _by_check(asyncio.run(check_once(_inv(Cluster(id="d", api_url=f"{api}/denied")))))
    assert got["apiserver_readyz"].state is CheckState.UNKNOWN
    assert (
        "HTTP 401" in got["apiserver_readyz"].reason
        and "credentials rejected" in got["apiserver_readyz"].reason
    )
    assert got["kubelet_ready"].state is CheckState.UNKNOWN
    assert "HTTP 403" in got["kubelet_ready"].reason


@pytest.fixture(scope="module")
def tls_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The same routes over HTTPS with a self-signed certificate for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "cert.pem", d / "key.pem")
    with LoopbackServer(_Handler, tls=ctx) as server:
        yield server.url, d / "cert.pem"


def test_tls_untrusted_is_unknown_and_trusted_ca_passes(tls_api: tuple[str, Path]) -> None:
    url, cert = tls_api
    untrusted = Cluster(id="untrusted", api_url=f"{url}/ok")
    trusted = Cluster(id="trusted", api_url=f"{url}/ok", credentials=Credentials(ca_file=str(cert)))
    by = {(s.cluster, s.check): s for s in asyncio.run(check_once(_inv(untrusted, trusted)))}
    assert by[("untrusted", "apiserver_readyz")].state is CheckState.UNKNOWN
    assert by[("untrusted", "apiserver_readyz")].reason.startswith("TLS error with 127.0.0.1:")
    assert "CERTIFICATE_VERIFY_FAILED" in by[("untrusted", "apiserver_readyz")].reason
    assert by[("trusted", "apiserver_readyz")].state is CheckState.OK
    assert by[("trusted", "kubelet_ready")].reason == "4/4 nodes Ready"


def test_refused_and_timeout_are_unknown_and_do_not_block(api: str) -> None:
    refused = Cluster(id="refused", api_url=f"http://127.0.0.1:{free_port()}")
    slow = Cluster(id="slow", api_url=f"{api}/slow")
    ok = Cluster(id="ok", api_url=f"{api}/ok")
    statuses = asyncio.run(check_once(_inv(refused, slow, ok, timeout=0.5)))
    by = {(s.cluster, s.check): s for s in statuses}
    assert by[("refused", "apiserver_readyz")].state is CheckState.UNKNOWN
    assert by[("refused", "apiserver_readyz")].reason.startswith("connection refused by 127.0.0.1:")
    assert by[("slow", "apiserver_readyz")].state is CheckState.UNKNOWN
    assert by[("slow", "apiserver_readyz")].reason.startswith("timed out after 0.5s")
    assert by[("ok", "apiserver_readyz")].state is CheckState.OK
    assert by[("slow", "apiserver_readyz")].stale_since is not None


def test_cluster_missing_from_inventory_is_unknown(api: str) -> None:
    statuses = asyncio.run(check_once(_inv(Cluster(id="ok", api_url=f"{api}/ok")), ["ok", "ghost"]))
    ghost = [s for s in statuses if s.cluster == "ghost"]
    assert len(ghost) == 1 and ghost[0].state is CheckState.UNKNOWN
    assert ghost[0].reason == "cluster 'ghost' is not in the inventory"
    assert {s.cluster for s in statuses} == {"ok", "ghost"}


def test_failing_check_carries_openstack_request_id(api: str) -> None:
    got = _by_check(asyncio.run(check_once(_inv(Cluster(id="lb", api_url=f"{api}/lb")))))
    assert got["apiserver_readyz"].state is CheckState.FAILING
    assert got["apiserver_readyz"].request_id == RID
    assert "Load balancer is in ERROR state" in got["apiserver_readyz"].reason


def test_unreadable_token_file_is_a_reason_not_a_crash(api: str, tmp_path: Path) -> None:
    cluster = Cluster(
        id="t", api_url=f"{api}/ok", credentials=Credentials(token_file=str(tmp_path / "missing"))
    )
    statuses = asyncio.run(check_once(_inv(cluster)))
    assert statuses and all(s.state is CheckState.UNKNOWN for s in statuses)
    assert statuses[0].reason.startswith(f"credentials: cannot read token file {tmp_path / 'missing'}")


def test_token_and_kubeconfig_send_bearer(tmp_path: Path) -> None:
    seen: list[str] = []

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = _file("readyz-verbose-ok.txt")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = LoopbackServer(Echo).start()
    try:
        url = server.url
        (tmp_path / "token").write_text("abc123\n")
        (tmp_path / "kc.yaml").write_text(
            f"apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster: {{server: '{url}'}}\n"
            "users:\n- name: u\n  user: {token: kc-token}\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
        )
        from kansoku.health.probes import BINARY_CHECKS

        a = Cluster(id="a", api_url=url, credentials=Credentials(token_file=str(tmp_path / "token")))
        b = Cluster(id="b", api_url=url, credentials=Credentials(kubeconfig=str(tmp_path / "kc.yaml")))

        async def go() -> None:
            await Monitor(_inv(a, b), [BINARY_CHECKS["apiserver_readyz"]]).run_round()

        asyncio.run(go())
    finally:
        server.stop()
    assert sorted(seen) == ["Bearer abc123", "Bearer kc-token"]


def test_table_shows_request_id_and_trace_command(api: str) -> None:
    from rich.console import Console

    from kansoku.health.table import render

    console = Console(record=True, width=240)
    render(asyncio.run(check_once(_inv(Cluster(id="lb", api_url=f"{api}/lb")))), console)
    text = console.export_text()
    assert "request id" in text and RID in text
    assert f"open a request: kansoku trace {RID}" in text


def test_one_notready_node_fails_that_node_only(api: str) -> None:
    """The recorded NodeList with worker-1 Ready=Unknown: that node's status fails, the other
    three pass, and the cluster-level summary names it (what the table shows)."""
    from kansoku.health.probes import BINARY_CHECKS

    inv = _inv(Cluster(id="sick", api_url=f"{api}/sick"))
    monitor = Monitor(inv, [BINARY_CHECKS["kubelet_ready"]])
    touched = asyncio.run(monitor.round())
    assert [(s.check, s.subject) for s in touched] == [("kubelet_ready", None)]  # round(): cluster level
    nodes = {s.subject: s for s in monitor.store.statuses() if s.subject is not None}
    assert set(nodes) == {
        "prod-fra-001-master-0",
        "prod-fra-001-worker-0",
        "prod-fra-001-worker-1",
        "prod-fra-001-worker-2",
    }
    assert {n for n, s in nodes.items() if s.state is CheckState.FAILING} == {"prod-fra-001-worker-1"}
    assert all(s.state is CheckState.OK for n, s in nodes.items() if n != "prod-fra-001-worker-1")
    bad = nodes["prod-fra-001-worker-1"]
    assert bad.subject_label == "node" and bad.cluster == "sick"
    assert bad.reason.startswith("Ready=Unknown NodeStatusUnknown: Kubelet stopped posting node status")
    assert touched[0].state is CheckState.FAILING
    assert touched[0].reason.startswith("1/4 nodes NotReady: prod-fra-001-worker-1 (Ready=Unknown")


def test_table_has_one_row_per_cluster_check_and_names_failing_nodes(api: str) -> None:
    """`kansoku check` gets per-node statuses too (for --json): the table still shows one
    kubelet_ready row for the cluster, naming the failing node, and no per-node rows."""
    import json

    from rich.console import Console

    from kansoku.health.table import render, to_json

    statuses = asyncio.run(check_once(_inv(Cluster(id="sick", api_url=f"{api}/sick")), subjects=True))
    assert sum(1 for s in statuses if s.subject is not None) == 4
    console = Console(record=True, width=400)
    render(statuses, console, all_rows=True)
    text = console.export_text()
    rows = [line for line in text.splitlines() if "kubelet_ready" in line]
    assert len(rows) == 1, text
    assert "prod-fra-001-worker-1 (Ready=Unknown" in rows[0]
    assert "prod-fra-001-worker-0" not in text  # healthy nodes are not listed
    assert "1 clusters, 0 fully healthy" in text
    doc = json.loads(to_json(statuses))
    assert [c["check"] for c in doc["checks"]].count("kubelet_ready") == 1
    failing = [s["node"] for s in doc["subjects"] if s["state"] == "failing"]
    assert failing == ["prod-fra-001-worker-1"]
