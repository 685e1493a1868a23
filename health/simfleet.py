"""A simulated fleet: many clusters served by one small asyncio HTTP server on loopback.

Why: the demo and the benchmark need hundreds of clusters whose API servers, management
path and etcd answer with the real APIs' JSON and fail in known ways, without running
Kubernetes. Each cluster gets a path prefix on one port (`/c/<id>` direct API, `/m/<id>`
through the "management proxy", `/e/<id>/<n>` etcd members), so 1,000 clusters cost one
socket. Bodies follow the shapes recorded in tests/data/k8s (Kubernetes v1.29 NodeList,
ComponentStatusList, /readyz?verbose) and etcd 3.4's /health and member list.

Run alone (the benchmark does, so the probes and the endpoints do not share a CPU), and
point `kansoku check` at it:
    python -m kansoku.health.simfleet --clusters 70 --port 18080 --inventory fleet.yaml &
    kansoku check --inventory fleet.yaml
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from kansoku.inventory import HealthSettings, Inventory
from kansoku.models import Cluster
from kansoku.process import ManagedProcess, free_port, tcp_open

#: Scenario names, in the order the first clusters of a simulated fleet get them.
SCENARIOS = (
    "api_down",  # readyz/livez 500: etcd failed -> cluster fault
    "agent_disconnected",  # direct ok, management path 503 and agent refused -> management plane fault
    "node_not_ready",  # one kubelet stopped posting status
    "etcd_unhealthy",  # one of three etcd members says health=false
    "unreachable",  # nothing listens at the API address -> unknown
    "scheduler_down",  # componentstatuses: scheduler unhealthy
    "slow",  # accepts, never answers -> timeout -> unknown, round not delayed
)
REGIONS = ("fra", "ams")
AZS = ("a", "b", "c")

_READY_CHECKS = (
    "ping", "log", "etcd", "etcd-readiness", "informer-sync",
    "poststarthook/start-apiserver-admission-initializer", "poststarthook/generic-apiserver-start-informers",
    "poststarthook/priority-and-fairness-config-consumer", "poststarthook/start-apiextensions-informers",
    "poststarthook/crd-informer-synced", "poststarthook/rbac/bootstrap-roles",
    "poststarthook/apiservice-registration-controller", "autoregister-completion", "shutdown",
)  # fmt: skip


def scenario_of(index: int) -> str:
    """Cluster `index` of the fleet: every 10th cluster has a fault, cycling through SCENARIOS."""
    if index % 10 != 0:
        return "healthy"
    return SCENARIOS[(index // 10) % len(SCENARIOS)]


def cluster_id(index: int) -> str:
    return f"sim-{REGIONS[index % 2]}-{index:04d}"


def fleet_inventory(
    n: int, port: int, closed_port: int, timeout_s: float = 2.0, flap: int = 1, concurrency: int = 128
) -> Inventory:
    """The inventory of a simulated fleet of `n` clusters served on `port`.

    `closed_port` must have nothing listening: unreachable API servers and disconnected
    agents point there.
    """
    base = f"http://127.0.0.1:{port}"
    clusters = []
    for i in range(n):
        cid, scen = cluster_id(i), scenario_of(i)
        api = f"http://127.0.0.1:{closed_port}" if scen == "unreachable" else f"{base}/c/{cid}"
        agent = f"127.0.0.1:{closed_port if scen == 'agent_disconnected' else port}"
        clusters.append(
            Cluster(
                id=cid,
                api_url=api,
                management_api_url=f"{base}/m/{cid}",
                agent_addr=agent,
                etcd=[f"{base}/e/{cid}/{m}" for m in range(3)],
                region=REGIONS[i % 2],
                az=f"{REGIONS[i % 2]}-{AZS[(i // 2) % 3]}",
                k8s_version="1.29.4",
                labels={"scenario": scen},
            )
        )
    settings = HealthSettings.model_validate(
        {"timeout": timeout_s, "flap_threshold": flap, "concurrency": concurrency}
    )
    return Inventory(clusters=clusters, settings=settings)


def write_inventory(inventory: Inventory, path: Path) -> None:
    """Save a simulated fleet's inventory so `kansoku check --inventory` can use it."""
    doc = inventory.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _healthz(name: str, failed: tuple[str, ...] = ()) -> tuple[int, str, bytes]:
    lines = [f"[-]{c} failed: reason withheld" if c in failed else f"[+]{c} ok" for c in _READY_CHECKS]
    if failed:
        return 500, "text/plain; charset=utf-8", ("\n".join(lines) + f"\n{name} check failed\n").encode()
    return 200, "text/plain; charset=utf-8", ("\n".join(lines) + f"\n{name} check passed\n").encode()


def _node(name: str, ready: bool) -> dict[str, object]:
    cond = (
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
        if ready
        else {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
              "message": "Kubelet stopped posting node status."}
    )  # fmt: skip
    stamp = {"lastHeartbeatTime": "2024-05-14T09:12:41Z", "lastTransitionTime": "2024-05-02T11:03:17Z"}
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": "10.244.1.0/24", "providerID": f"openstack:///{zlib.crc32(name.encode()):08x}"},
        "status": {
            "conditions": [
                {**stamp, "type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "message": "kubelet has sufficient memory available"},
                {**stamp, "type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
                 "message": "kubelet has no disk pressure"},
                {**stamp, "type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
                 "message": "kubelet has sufficient PID available"},
                {**stamp, **cond},
            ],
            "nodeInfo": {"kubeletVersion": "v1.29.4", "containerRuntimeVersion": "containerd://1.7.13"},
        },
    }  # fmt: skip


def _json(doc: object, status: int = 200) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(doc).encode()


@dataclass
class SimFleet:
    """Answers for every simulated cluster; cached per (scenario, endpoint)."""

    n: int

    def __post_init__(self) -> None:
        self._index = {cluster_id(i): i for i in range(self.n)}
        self._cache: dict[tuple[str, str], tuple[int, str, bytes] | None] = {}

    def answer(self, path: str) -> tuple[int, str, bytes] | None:
        """(status, content type, body) for `path`, or None to never answer (slow)."""
        parts = path.split("?", 1)[0].split("/")
        if len(parts) < 4 or parts[2] not in self._index:
            return _json({"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}, 404)
        kind, cid = parts[1], parts[2]
        scen = scenario_of(self._index[cid])
        rest = "/" + "/".join(parts[3:])
        key = (scen, f"{kind}{rest}")
        if key not in self._cache:
            self._cache[key] = self._build(scen, kind, rest)
        return self._cache[key]

    def _build(self, scen: str, kind: str, rest: str) -> tuple[int, str, bytes] | None:
        if scen == "slow" and kind in ("c", "m"):
            return None
        if kind == "m" and scen == "agent_disconnected":
            return _json({"baseType": "error", "code": "ClusterUnavailable", "status": 503, "type": "error",
                          "message": "cluster agent disconnected"}, 503)  # fmt: skip
        if kind == "e":
            member = int(rest.split("/")[1]) if rest.split("/")[1].isdigit() else 0
            tail = "/" + "/".join(rest.split("/")[2:])
            if tail == "/health":
                bad = scen == "etcd_unhealthy" and member == 2
                return _json(
                    {"health": "false" if bad else "true", "reason": "RAFT NO LEADER" if bad else ""}
                )
            if tail == "/v3/cluster/member/list":
                members = [
                    {"ID": str(1000 + m), "name": f"etcd-{m}", "peerURLs": [f"https://10.0.0.{m + 1}:2380"],
                     "clientURLs": [f"https://10.0.0.{m + 1}:2379"]}
                    for m in range(3)
                ]  # fmt: skip
                return _json(
                    {"header": {"cluster_id": "14841639068965178418", "raft_term": "4"}, "members": members}
                )
            return _json({"error": "Not Found", "code": 5}, 404)
        if rest in ("/readyz", "/livez"):
            failed: tuple[str, ...] = ()
            if scen == "api_down" and rest == "/readyz":
                failed = ("etcd", "etcd-readiness")
            if scen == "api_down" and rest == "/livez":
                failed = ("etcd",)
            return _healthz(rest[1:], failed)
        if rest == "/api/v1/nodes":
            names = [f"node-{k}" for k in range(5)]
            items = [_node(nm, not (scen == "node_not_ready" and k == 3)) for k, nm in enumerate(names)]
            return _json({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "48213"},
                          "items": items})  # fmt: skip
        if rest == "/api/v1/componentstatuses":

            def item(name: str, ok: bool, msg: str) -> dict[str, object]:
                cond = {"type": "Healthy", "status": "True" if ok else "False", "message": msg}
                if not ok:
                    cond["error"] = msg
                return {"metadata": {"name": name, "creationTimestamp": None}, "conditions": [cond]}

            down = scen == "scheduler_down"
            refused = (
                'Get "https://127.0.0.1:10259/healthz": dial tcp 127.0.0.1:10259: connect: connection refused'
            )
            return _json({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": [
                item("scheduler", not down, refused if down else "ok"),
                item("controller-manager", True, "ok"),
                item("etcd-0", True, "ok"),
            ]})  # fmt: skip
        return _json({"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}, 404)


async def _handle(fleet: SimFleet, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length, close = 0, False
            for line in lines[1:]:
                low = line.lower()
                if low.startswith("content-length:"):
                    length = int(line[15:].strip())
                elif low.startswith("connection:") and "close" in low:
                    close = True
            if length:
                await reader.readexactly(length)
            answer = fleet.answer(path)
            if answer is None:  # hostile: keep the connection, never answer
                await reader.read()
                return
            status, ctype, body = answer
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            if close:
                return
    except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError, asyncio.LimitOverrunError):
        pass
    except asyncio.CancelledError:  # the server is shutting down with this connection open
        pass
    finally:
        writer.close()


async def start_server(n: int, port: int = 0) -> asyncio.Server:
    """Serve a fleet of `n` simulated clusters on 127.0.0.1:`port` (0 = pick one)."""
    fleet = SimFleet(n)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _handle(fleet, reader, writer)

    return await asyncio.start_server(handler, "127.0.0.1", port, backlog=4096)


class SimFleetThread:
    """The simulated fleet on its own event loop in a thread (demo and tests).

    Why a thread: the probes run on the caller's loop; serving from the same loop would let
    a hostile "slow" endpoint and the probes share one scheduler and hide bugs.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="simfleet", daemon=True)

    def __enter__(self) -> SimFleetThread:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(start_server(self.n), self._loop)
        self._server = fut.result(timeout=10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def start_process(n: int, workdir: Path) -> ManagedProcess:
    """The simulated fleet in its own process (demo, benchmark): probes get their own CPU."""
    port = free_port()
    proc = ManagedProcess(
        "simfleet",
        [sys.executable, "-m", "kansoku.health.simfleet", "--clusters", str(n), "--port", str(port)],
        workdir,
    )
    proc.ports["http"] = port
    proc.start()
    proc.wait_ready(lambda: tcp_open("127.0.0.1", port), timeout=30)
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--inventory", type=Path, help="also write the fleet's inventory file here")
    args = parser.parse_args()
    if args.inventory:
        write_inventory(fleet_inventory(args.clusters, args.port, free_port()), args.inventory)

    async def serve() -> None:
        server = await start_server(args.clusters, args.port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
