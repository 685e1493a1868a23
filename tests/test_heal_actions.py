"""The Kubernetes/Nova actions through their real clients (openstacksdk, httpx) against a
loopback server that answers with real API bodies, and the etcd actions against real etcd.

Nova bodies are the Nova API reference samples (openstack/nova doc/api_samples:
versions/v21-version-get-resp.json, os-extended-server-attributes/v2.16/server-get-resp.json,
os-hypervisors/v2.53/hypervisors-detail-resp.json, os-volumes/list-volume-attachments-resp.json),
with ids and host names changed to this scenario. Kubernetes bodies follow the v1 API
reference (Node, PodList, policy/v1 Eviction, apps/v1 Deployment, autoscaling/v1 Scale) as
the API server returns them. The real nova-api of `kansoku lab` is in tests/test_heal_nova_lab.py;
opt-in live tests use KANSOKU_TEST_CLOUD / KANSOKU_TEST_KUBECONFIG.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from kansoku.alerts.heal.actions.etcd import EtcdRestore, EtcdSnapshot, latest_good
from kansoku.alerts.heal.actions.kube import ReplaceNode, RestartAgent, ScaleOut, StorageAclSync
from kansoku.alerts.heal.base import ActionContext, ActionFailed
from kansoku.alerts.heal.config import HealConfig, config_from_model
from kansoku.alerts.heal.serve import default_services
from kansoku.ids import REQUEST_ID_RE
from kansoku.models import Cluster, new_request_id
from kansoku.process import ManagedProcess, free_port
from kansoku.servers import ETCDCTL_BIN
from tests.conftest import require
from tests.support.loopback import LoopbackServer

SERVER_ID = "c278163e-36f9-4cf2-b1ac-80db4c63f7a8"
IMAGE = {"id": "70a599e0-31e7-49b7-b260-868f441e862b", "links": []}
FLAVOR = {"id": "1", "links": []}


def nova_server(sid: str, name: str, status: str, host: str) -> dict[str, Any]:
    """os-extended-server-attributes/v2.16/server-get-resp.json, as an admin sees it."""
    return {
        "addresses": {
            "private": [
                {
                    "addr": "192.168.0.3",
                    "OS-EXT-IPS-MAC:mac_addr": "aa:bb:cc:dd:ee:ff",
                    "OS-EXT-IPS:type": "fixed",
                    "version": 4,
                }
            ]
        },
        "created": "2013-09-16T02:55:07Z",
        "flavor": FLAVOR,
        "hostId": "3bf189131c61d0e71b0a8686a897a0f50d1693b48c47b721fe77155b",
        "id": sid,
        "image": IMAGE,
        "key_name": None,
        "links": [],
        "metadata": {},
        "name": name,
        "OS-EXT-SRV-ATTR:host": host,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": host,
        "OS-EXT-SRV-ATTR:instance_name": "instance-00000001",
        "OS-EXT-SRV-ATTR:hostname": name,
        "OS-EXT-SRV-ATTR:launch_index": 0,
        "OS-EXT-SRV-ATTR:reservation_id": "r-12345678",
        "OS-EXT-SRV-ATTR:root_device_name": "/dev/sda",
        "OS-EXT-SRV-ATTR:kernel_id": None,
        "OS-EXT-SRV-ATTR:ramdisk_id": None,
        "OS-EXT-SRV-ATTR:user_data": None,
        "locked": False,
        "accessIPv4": "",
        "accessIPv6": "",
        "progress": 0,
        "status": status,
        "host_status": "UP",
        "tenant_id": "6f70656e737461636b20342065766572",
        "updated": "2013-09-16T02:55:08Z",
        "user_id": "fake",
    }


def hypervisor(host: str, state: str, status: str) -> dict[str, Any]:
    """os-hypervisors/v2.53/hypervisors-detail-resp.json."""
    return {
        "cpu_info": {
            "arch": "x86_64",
            "model": "Nehalem",
            "vendor": "Intel",
            "features": ["pge", "clflush"],
            "topology": {"cores": 1, "threads": 1, "sockets": 4},
        },
        "current_workload": 0,
        "status": status,
        "state": state,
        "disk_available_least": 0,
        "host_ip": "1.1.1.1",
        "free_disk_gb": 1028,
        "free_ram_mb": 7680,
        "hypervisor_hostname": host,
        "hypervisor_type": "fake",
        "hypervisor_version": 1000,
        "id": "1bb62a04-c576-402c-8147-9e89757a09e3",
        "local_gb": 1028,
        "local_gb_used": 0,
        "memory_mb": 8192,
        "memory_mb_used": 512,
        "running_vms": 1,
        "service": {"host": host, "id": "62f62f6e-a713-4cbe-87d3-3ecf8a1e0f8d", "disabled_reason": None},
        "vcpus": 2,
        "vcpus_used": 0,
    }


def k8s_node(name: str, ip: str, ready: bool) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "4242",
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "spec": {"providerID": f"openstack:///{SERVER_ID}", "podCIDR": "10.42.3.0/24"},
        "status": {
            "addresses": [{"address": ip, "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                    "message": "kubelet has sufficient memory available",
                },
                {
                    "type": "Ready",
                    "status": "True" if ready else "Unknown",
                    "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                    "message": "kubelet is posting ready status"
                    if ready
                    else "Kubelet stopped posting node status.",
                },
            ],
            "nodeInfo": {"kubeletVersion": "v1.29.4", "osImage": "Ubuntu 22.04.4 LTS"},
        },
    }


def pod(name: str, ns: str, node: str, owner: str | None, mirror: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": str(uuid.uuid4())}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner,
                "name": name.rsplit("-", 1)[0],
                "uid": str(uuid.uuid4()),
                "controller": True,
            }
        ]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "d41d8cd98f00b204e9800998ecf8427e"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node},
        "status": {"phase": "Running"},
    }


@dataclass
class Cloud:
    """State of the loopback Kubernetes + Nova; records every request."""

    hypervisor_state: str = "up"
    hypervisor_status: str = "enabled"
    attachments: list[dict[str, str]] = field(default_factory=list)
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    evictions_429: int = 1
    deployment_generation: int = 3
    replicas: int = 3
    base: str = ""

    def paths(self, kind: str | None = None) -> list[str]:
        return [f"{m} {p}" for m, p, h, _ in self.requests if kind is None or p.startswith(kind)]


class _Handler(BaseHTTPRequestHandler):
    cloud: Cloud

    def log_message(self, *args: Any) -> None:
        return

    def _reply(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        c = self.cloud
        c.requests.append((method, url.path, {k.lower(): v for k, v in self.headers.items()}, body))
        p = url.path.rstrip("/")
        if p.startswith("/nova"):
            return self._nova(method, p[len("/nova") :], query, body)
        return self._kube(method, p, query, body)

    def _nova(self, method: str, p: str, query: dict[str, str], body: Any) -> None:
        c = self.cloud
        if p in ("", "/v2.1"):
            return self._reply(
                200,
                {
                    "version": {
                        "id": "v2.1",
                        "links": [{"href": f"{c.base}/nova/v2.1/", "rel": "self"}],
                        "media-types": [
                            {
                                "base": "application/json",
                                "type": "application/vnd.openstack.compute+json;version=2.1",
                            }
                        ],
                        "status": "CURRENT",
                        "version": "2.55",
                        "min_version": "2.1",
                        "updated": "2013-07-23T11:33:21Z",
                    }
                },
            )
        p = p[len("/v2.1") :]
        parts = p.strip("/").split("/")
        if method == "GET" and p == "/servers":
            found = [
                {"id": s["id"], "name": s["name"], "links": []}
                for s in c.servers.values()
                if s["name"] == query.get("name")
            ]
            return self._reply(200, {"servers": found})
        if method == "GET" and p == "/servers/detail":
            return self._reply(
                200, {"servers": [s for s in c.servers.values() if s["name"] == query.get("name", s["name"])]}
            )
        if method == "GET" and p == "/os-hypervisors/detail":
            hyps = [hypervisor("compute-7", c.hypervisor_state, c.hypervisor_status)]
            return self._reply(
                200,
                {
                    "hypervisors": [
                        h
                        for h in hyps
                        if query.get("hypervisor_hostname_pattern", "") in h["hypervisor_hostname"]
                    ]
                },
            )
        if parts[0] == "servers" and len(parts) >= 2:
            server = c.servers.get(parts[1])
            if server is None:
                return self._reply(
                    404, {"itemNotFound": {"code": 404, "message": "Instance could not be found."}}
                )
            if len(parts) == 3 and parts[2] == "os-volume_attachments":
                return self._reply(200, {"volumeAttachments": c.attachments})
            if method == "DELETE":
                del c.servers[parts[1]]
                return self._reply(204)
            if server["status"] == "BUILD":
                server["status"] = "ACTIVE"
                c.nodes[server["name"]] = k8s_node(server["name"], "10.0.0.23", ready=True)
            return self._reply(200, {"server": server})
        if method == "POST" and p == "/servers":
            new = body["server"]
            assert new["flavorRef"] == "1" and new["imageRef"] == IMAGE["id"]
            sid = str(uuid.uuid4())
            c.servers[sid] = nova_server(sid, new["name"], "BUILD", "compute-9")
            return self._reply(
                202,
                {
                    "server": {
                        "id": sid,
                        "links": [],
                        "OS-DCF:diskConfig": "AUTO",
                        "adminPass": "wfksH3GTTseP",
                        "security_groups": [],
                    }
                },
            )
        return self._reply(404, {"itemNotFound": {"code": 404, "message": f"no route {method} {p}"}})

    def _kube(self, method: str, p: str, query: dict[str, str], body: Any) -> None:
        c = self.cloud
        status_404 = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": "NotFound",
            "code": 404,
        }
        if p == "/api/v1/nodes" and method == "GET":
            return self._reply(200, {"kind": "NodeList", "apiVersion": "v1", "items": list(c.nodes.values())})
        if p.startswith("/api/v1/nodes/"):
            name = p.rsplit("/", 1)[1]
            node = c.nodes.get(name)
            if node is None:
                return self._reply(404, {**status_404, "message": f'nodes "{name}" not found'})
            if method == "PATCH":
                node["spec"].update(body["spec"])
            if method == "DELETE":
                del c.nodes[name]
                return self._reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
            return self._reply(200, node)
        if p == "/api/v1/pods":
            node_name = query["fieldSelector"].split("=", 1)[1]
            return self._reply(
                200,
                {
                    "kind": "PodList",
                    "apiVersion": "v1",
                    "items": [
                        pod("kube-proxy-x7k2p", "kube-system", node_name, "DaemonSet"),
                        pod(f"kube-vip-{node_name}", "kube-system", node_name, None, mirror=True),
                        pod("web-6d4cf56db6-2xk9q", "shop", node_name, "ReplicaSet"),
                        pod("api-7c9f8d-qq8rt", "shop", node_name, "ReplicaSet"),
                    ],
                },
            )
        if p.endswith("/eviction") and method == "POST":
            assert body["kind"] == "Eviction" and body["apiVersion"] == "policy/v1"
            if c.evictions_429 > 0:
                c.evictions_429 -= 1
                return self._reply(
                    429,
                    {
                        "kind": "Status",
                        "status": "Failure",
                        "reason": "TooManyRequests",
                        "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                        "code": 429,
                    },
                )
            return self._reply(201, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
        if p == "/apis/apps/v1/namespaces/cattle-system/deployments/cattle-cluster-agent":
            if method == "PATCH":
                c.deployment_generation += 1
            return self._reply(
                200,
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": "cattle-cluster-agent",
                        "namespace": "cattle-system",
                        "generation": c.deployment_generation,
                    },
                    "spec": {"replicas": 1},
                    "status": {
                        "observedGeneration": c.deployment_generation,
                        "replicas": 1,
                        "updatedReplicas": 1,
                        "availableReplicas": 1,
                        "readyReplicas": 1,
                    },
                },
            )
        if p == "/apis/cluster.x-k8s.io/v1beta1/namespaces/fleet/machinedeployments/c1-workers/scale":
            if method == "PATCH":
                c.replicas = int(body["spec"]["replicas"])
            return self._reply(
                200,
                {
                    "kind": "Scale",
                    "apiVersion": "autoscaling/v1",
                    "metadata": {"name": "c1-workers", "namespace": "fleet"},
                    "spec": {"replicas": c.replicas},
                    "status": {"replicas": c.replicas},
                },
            )
        return self._reply(404, {**status_404, "message": f"no route {method} {p}"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    state = Cloud()
    state.servers[SERVER_ID] = nova_server(SERVER_ID, "c1-worker-3", "ACTIVE", "compute-7")
    state.nodes["c1-worker-3"] = k8s_node("c1-worker-3", "10.0.0.13", ready=False)
    state.nodes["c1-worker-1"] = k8s_node("c1-worker-1", "10.0.0.11", ready=True)
    handler = type("H", (_Handler,), {"cloud": state})
    with LoopbackServer(handler) as server:
        state.base = server.url
        yield state


def ctx_for(
    cloud: Cloud,
    tmp_path: Path,
    action: str,
    labels: dict[str, str],
    params: dict[str, Any] | None = None,
    timeout: float = 20,
) -> ActionContext:
    cluster = Cluster(id="c1", api_url=cloud.base, etcd=[])
    loaded = config_from_model(HealConfig(storage={"path": str(tmp_path / "policies.json")}), tmp_path)
    services = default_services(
        loaded,
        {
            "auth_type": "none",
            "auth": {"endpoint": cloud.base},
            "load_yaml_config": False,
            "load_envvars": False,
            "compute_endpoint_override": cloud.base + "/nova/v2.1",
        },
    )
    return ActionContext(
        action=action,
        labels={"cluster": "c1", **labels},
        annotations={},
        params=params or {},
        cluster=cluster,
        request_id=new_request_id(),
        timeout=timeout,
        workdir=tmp_path,
        services=services,
    )


def test_replace_node_checks_nova_then_cordons_drains_recreates_and_waits_ready(
    cloud: Cloud, tmp_path: Path
) -> None:
    ctx = ctx_for(cloud, tmp_path, "replace_node", {"node": "c1-worker-3"})
    action = ReplaceNode()
    done = action.execute(ctx)
    assert done.ok, done.detail
    assert "ACTIVE on compute-7 (hypervisor up/enabled), 0 volume(s)" in done.detail
    assert "evicted 2 pod(s)" in done.detail  # DaemonSet and mirror pod stay
    assert action.verify(ctx, done).ok
    kube = [p for p in cloud.paths() if not p.split()[1].startswith("/nova")]
    assert kube[0] == "PATCH /api/v1/nodes/c1-worker-3"
    evictions = [p for p in kube if p.endswith("/eviction")]
    assert evictions == ["POST /api/v1/namespaces/shop/pods/web-6d4cf56db6-2xk9q/eviction"] * 2 + [
        "POST /api/v1/namespaces/shop/pods/api-7c9f8d-qq8rt/eviction"
    ]  # the 429 (PDB) was retried
    nova = cloud.paths("/nova/v2.1")
    assert f"DELETE /nova/v2.1/servers/{SERVER_ID}" in nova and "POST /nova/v2.1/servers" in nova
    assert nova.index(f"DELETE /nova/v2.1/servers/{SERVER_ID}") > nova.index(
        f"GET /nova/v2.1/servers/{SERVER_ID}/os-volume_attachments"
    )
    assert "DELETE /api/v1/nodes/c1-worker-3" in kube
    # every OpenStack API call carries the action's request id (keystoneauth's version
    # discovery GET does not: it is not an API call); Kubernetes calls carry it too
    for method, path, headers, _ in cloud.requests:
        if path.startswith("/nova/v2.1/") and path != "/nova/v2.1/":
            assert headers.get("x-openstack-request-id") == ctx.request_id, (method, path)
        elif not path.startswith("/nova"):
            assert headers.get("x-request-id") == ctx.request_id
    assert REQUEST_ID_RE.fullmatch(ctx.request_id)


def test_replace_node_refuses_when_the_hypervisor_is_down(cloud: Cloud, tmp_path: Path) -> None:
    cloud.hypervisor_state = "down"
    ctx = ctx_for(cloud, tmp_path, "replace_node", {"node": "c1-worker-3"})
    done = ReplaceNode().execute(ctx)
    assert not done.ok and done.refused
    assert "IaaS fault: hypervisor compute-7 is down; not recreating c1-worker-3" in done.detail
    assert not any(m in ("PATCH", "DELETE", "POST") for m, *_ in cloud.requests)


def test_replace_node_refuses_with_volumes_still_attached(cloud: Cloud, tmp_path: Path) -> None:
    cloud.attachments = [
        {
            "device": "/dev/sdb",
            "id": "a07f71dc-8151-4e7d-a0cc-cd24a3f11113",
            "serverId": SERVER_ID,
            "volumeId": "a07f71dc-8151-4e7d-a0cc-cd24a3f11113",
        }
    ]
    done = ReplaceNode().execute(ctx_for(cloud, tmp_path, "replace_node", {"node": "c1-worker-3"}))
    assert done.refused and "1 volume attachment(s) (a07f71dc-8151-4e7d-a0cc-cd24a3f11113)" in done.detail
    assert SERVER_ID in cloud.servers


def test_replace_node_unknown_server_fails_clearly(cloud: Cloud, tmp_path: Path) -> None:
    with pytest.raises(ActionFailed, match="nova: no server named 'c1-worker-9'"):
        ReplaceNode().execute(ctx_for(cloud, tmp_path, "replace_node", {"node": "c1-worker-9"}))


def test_restart_agent_patches_restarted_at_and_waits_for_rollout(cloud: Cloud, tmp_path: Path) -> None:
    ctx = ctx_for(cloud, tmp_path, "restart_agent", {})
    action = RestartAgent()
    done = action.execute(ctx)
    assert action.verify(ctx, done).ok
    method, path, headers, body = cloud.requests[0]
    assert (method, path) == (
        "PATCH",
        "/apis/apps/v1/namespaces/cattle-system/deployments/cattle-cluster-agent",
    )
    assert headers["content-type"] == "application/strategic-merge-patch+json"
    assert "kubectl.kubernetes.io/restartedAt" in body["spec"]["template"]["metadata"]["annotations"]


def test_scale_out_adds_a_node_and_stops_at_max_replicas(cloud: Cloud, tmp_path: Path) -> None:
    params = {"namespace": "fleet", "pool": "c1-workers", "max_replicas": 4}
    ctx = ctx_for(cloud, tmp_path, "scale_out", {}, params)
    done = ScaleOut().execute(ctx)
    assert done.ok and done.detail == "replicas 3 -> 4" and cloud.replicas == 4
    assert ScaleOut().verify(ctx, done).ok
    again = ScaleOut().execute(ctx_for(cloud, tmp_path, "scale_out", {}, params))
    assert again.refused and "max_replicas 4" in again.detail and cloud.replicas == 4


def test_storage_acl_sync_sets_exactly_the_current_node_addresses(cloud: Cloud, tmp_path: Path) -> None:
    ctx = ctx_for(cloud, tmp_path, "storage_acl_sync", {})
    storage = ctx.services.storage()
    storage.set_policy("c1", ["10.0.0.11", "10.0.0.99"], "req-old")  # .99 was a removed node
    done = StorageAclSync().execute(ctx)
    assert done.ok and "+['10.0.0.13'] -['10.0.0.99']" in done.detail
    assert storage.get_policy("c1") == ["10.0.0.11", "10.0.0.13"]
    assert StorageAclSync().verify(ctx, done).ok
    saved = json.loads((tmp_path / "policies.json").read_text())
    assert saved["policies"]["c1"]["request_id"] == ctx.request_id
    cloud.nodes.clear()
    empty = StorageAclSync().execute(ctx_for(cloud, tmp_path, "storage_acl_sync", {}))
    assert empty.refused and storage.get_policy("c1") == ["10.0.0.11", "10.0.0.13"]


def _etcd_ctx(
    tmp_path: Path, endpoints: list[str], labels: dict[str, str], params: dict[str, Any], timeout: float = 20
) -> ActionContext:
    loaded = config_from_model(HealConfig(), tmp_path)
    return ActionContext(
        action="etcd",
        labels={"cluster": "c1", **labels},
        annotations={},
        params=params,
        cluster=Cluster(id="c1", api_url="https://127.0.0.1:6443", etcd=endpoints),
        request_id=new_request_id(),
        timeout=timeout,
        workdir=tmp_path,
        services=default_services(loaded),
    )


def test_etcd_snapshot_against_a_dead_endpoint_is_bounded_by_our_timeout(tmp_path: Path) -> None:
    require(ETCDCTL_BIN, "etcd-client")
    dead = f"http://127.0.0.1:{free_port()}"
    ctx = _etcd_ctx(tmp_path, [dead], {}, {"dir": "snaps"}, timeout=2)
    with pytest.raises(ActionFailed, match="timed out after"):
        EtcdSnapshot().execute(ctx)
    assert not list((tmp_path / "snaps").glob("*.db"))  # no half-written snapshot under a good name


def test_etcd_restore_uses_the_latest_good_snapshot_not_a_corrupt_newer_one(
    tmp_path: Path, etcd: ManagedProcess
) -> None:
    require(ETCDCTL_BIN, "etcd-client")
    endpoint = f"http://127.0.0.1:{etcd.ports['client']}"
    import subprocess

    env = {**os.environ, "ETCDCTL_API": "3"}
    subprocess.run(
        ["etcdctl", f"--endpoints={endpoint}", "put", "k", "v1"],
        env=env,
        check=True,
        timeout=10,
        capture_output=True,
    )
    snap = _etcd_ctx(tmp_path, [endpoint], {}, {"dir": "snaps"})
    done = EtcdSnapshot().execute(snap)
    assert EtcdSnapshot().verify(snap, done).ok
    corrupt = tmp_path / "snaps" / "c1-29991231T000000Z-broken.db"
    corrupt.write_bytes(b"not a bolt db" * 100)
    os.utime(corrupt, (4102444800, 4102444800))  # newest by mtime
    ctx = _etcd_ctx(
        tmp_path, [endpoint], {"member": "m2"}, {"snapshot_dir": "snaps", "peer_url": "http://127.0.0.1:2390"}
    )
    found = latest_good(tmp_path / "snaps", ctx)
    assert found is not None and found[0] == Path(done.data["file"])
    restored = EtcdRestore().execute(ctx)
    assert restored.ok and Path(done.data["file"]).name in restored.detail
    assert EtcdRestore().verify(ctx, restored).ok
    with pytest.raises(ActionFailed, match="refusing to overwrite"):
        EtcdRestore().execute(ctx)  # same request id -> same data dir: never overwritten


@pytest.mark.live
def test_live_replace_node_iaas_check(tmp_path: Path) -> None:
    """Opt-in: read a real server's IaaS view (no changes) from KANSOKU_TEST_CLOUD."""
    cloud_name = os.environ.get("KANSOKU_TEST_CLOUD")
    server = os.environ.get("KANSOKU_TEST_SERVER")
    if not cloud_name or not server:
        pytest.skip("opt-in: set KANSOKU_TEST_CLOUD (clouds.yaml name) and KANSOKU_TEST_SERVER")
    from kansoku.alerts.heal.nova import connect, inspect_server

    view = inspect_server(connect(new_request_id(), cloud_name, {}), server, allow_volumes=True)
    assert view.server_id and view.status


@pytest.mark.live
def test_live_kubernetes_nodes_readable(tmp_path: Path) -> None:
    """Opt-in: list nodes of a real cluster (read only) with KANSOKU_TEST_KUBECONFIG's token and server."""
    path = os.environ.get("KANSOKU_TEST_KUBECONFIG")
    if not path:
        pytest.skip("opt-in: set KANSOKU_TEST_KUBECONFIG to a kubeconfig with a bearer token")
    import yaml

    from kansoku.alerts.heal.kube import KubeClient, internal_addresses

    kc = yaml.safe_load(Path(path).read_text())
    token = kc["users"][0]["user"]["token"]
    (tmp_path / "token").write_text(token)
    cluster = Cluster.model_validate(
        {
            "id": "live",
            "api_url": kc["clusters"][0]["cluster"]["server"],
            "credentials": {"token_file": str(tmp_path / "token"), "insecure_skip_tls_verify": True},
        }
    )
    assert internal_addresses(KubeClient(cluster, new_request_id()).get("/api/v1/nodes"))
