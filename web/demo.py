"""`kansoku web --demo`: the demo cloud behind the web UI, with nothing to set up.

It puts together what `kansoku demo` makes, so a newcomer sees a fleet, a control plane and
a traced failure within a minute: the demo cloud's logs (generated, indexed into a store),
the simulated fleet (`health/simfleet.py`, its own process) checked in rounds, the dry-run
heal journal of the alerts demo, and an IaaS snapshot that places the fleet's node VMs on
the demo cloud's compute hosts. Two of those hosts are broken in the logs (the dead
openvswitch agent of the port-binding fault, the nova-compute that never answered the RPC
call); the snapshot says so, so the clusters on them read "IaaS suspected", and the others
"Kubernetes fault: IaaS healthy".
"""

from __future__ import annotations

import io
import json
import re
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kansoku.health.crosslayer import Window
from kansoku.health.crosslayer.sources import SnapshotIaas
from kansoku.inventory import Inventory
from kansoku.process import ManagedProcess

from .state import WebSources

#: Simulated clusters in the demo fleet (every 10th is broken in a known way).
DEMO_CLUSTERS = 70
NODES = 5


@dataclass
class DemoParts:
    sources: WebSources
    fleet: ManagedProcess | None
    iaas_file: Path


def _fault_time(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def demo_iaas(inventory: Inventory, truth: Any) -> dict[str, Any]:
    """The IaaS snapshot of the demo: every node VM on a compute host of the demo cloud.

    The port-binding fault's host has its openvswitch agent down from the fault on; the RPC
    timeout's host has nova-compute down. The node_not_ready cluster's NotReady node sits on
    the first, the unreachable cluster's VMs on another host with a failed request (the volume
    attach's compute host); every other VM on hosts without any.
    """
    computes = sorted((h for h in truth.hosts if h.startswith("cmp-")), key=lambda h: int(h.split("-")[1]))
    faults = {f.kind: f for f in truth.faults}
    bind = faults["port_binding_failed"]
    rpc = faults["rpc_timeout"]
    bind_host = (re.search(r"agent on (\S+) is dead", bind.note) or [None, computes[-1]])[1]
    rpc_host = (re.search(r"nova-compute on (\S+) never", rpc.note) or [None, computes[0]])[1]
    # hosts with a failed request of any injected fault (e.g. the volume attach's nova-compute)
    touched = {
        sh.split("@", 1)[1] for f in truth.faults for sh in [*f.services, *f.reachable] if "@cmp-" in sh
    } | {bind_host, rpc_host}
    # the two-step faults break builds on a compute host too (tracing.demo.chains)
    touched |= {f.root_host for f in truth.chain_faults if f.root_host.startswith("cmp-")}
    healthy = [h for h in computes if h not in touched]
    if not healthy:
        # every compute host of the logs had a failure: the node VMs of healthy clusters run on
        # a spare hypervisor that Nova reports up and whose logs show nothing failing
        spare = f"cmp-{len(computes) + 1}"
        computes.append(spare)
        healthy = [spare]
    other = sorted(touched - {bind_host}) or [rpc_host]
    servers = []
    for i, c in enumerate(inventory.clusters):
        scenario = c.labels.get("scenario", "healthy")
        for k in range(NODES):
            host = healthy[(i + k) % len(healthy)]
            if scenario == "node_not_ready" and k == 3:
                host = bind_host
            elif scenario == "unreachable":
                host = other[0]
            servers.append(
                {
                    "cluster": c.id,
                    "name": f"node-{k}",
                    "id": f"{zlib.crc32(f'{c.id}/{k}'.encode()):08x}-0000-4000-8000-{i:04d}{k:08d}",
                    "status": "ACTIVE",
                    "hypervisor": host,
                    "hypervisor_state": "up",
                    "hypervisor_status": "enabled",
                    "az": "nova",
                }
            )
    agents = []
    for host in computes:
        agents.append(
            {"binary": "nova-compute", "host": host, "zone": "nova", "up": host != rpc_host,
             "since": rpc.time if host == rpc_host else None}
        )  # fmt: skip
        agents.append(
            {"binary": "neutron-openvswitch-agent", "host": host, "zone": "nova", "up": host != bind_host,
             "since": bind.time if host == bind_host else None}
        )  # fmt: skip
    return {"servers": servers, "agents": agents}


def build_demo(workdir: Path) -> DemoParts:
    """Generate and index the demo cloud, start the simulated fleet, write the heal journal."""
    from rich.console import Console

    from kansoku.alerts.demo import run_demo as heal_demo
    from kansoku.health.simfleet import fleet_inventory, start_process, write_inventory
    from kansoku.process import free_port
    from kansoku.tracing.demo import prepare

    workdir.mkdir(parents=True, exist_ok=True)
    cloud = prepare(workdir)
    truth = cloud.truth
    heal_demo(Console(file=io.StringIO(), width=120), workdir)
    fleet = start_process(DEMO_CLUSTERS, workdir / "simfleet")
    try:
        inventory = fleet_inventory(DEMO_CLUSTERS, fleet.ports["http"], free_port(), flap=1)
        inventory = inventory.model_copy(
            update={"settings": inventory.settings.model_copy(update={"interval_s": 15.0})}
        )
        write_inventory(inventory, workdir / "fleet-inventory.yaml")
        start = _fault_time(truth.start) - 60
        end = _fault_time(truth.end) + 300
        doc = {**demo_iaas(inventory, truth), "window": {"start": start, "end": end}}
        iaas_file = workdir / "iaas.json"
        iaas_file.write_text(json.dumps(doc, indent=1))
        sources = WebSources(
            store=workdir / ".kansoku",
            inventory=inventory,
            heal_config=workdir / "heal" / "heal.yaml",
            iaas=SnapshotIaas(doc, "the demo's IaaS snapshot"),
            window=Window(start, end),
            title="demo cloud",
            notes=[
                f"demo: {len(truth.hosts)} OpenStack hosts' logs in {workdir / 'cloud'}, a simulated fleet of "
                f"{DEMO_CLUSTERS} clusters, a dry-run heal journal; the IaaS view is a snapshot ({iaas_file})"
            ],
        )
    except BaseException:
        fleet.stop()
        raise
    return DemoParts(sources, fleet, iaas_file)
