"""`kansoku check` meets the cross-layer verdict: which IaaS to ask, and how the answer is shown.

Why a module of its own: `kansoku check`, `kansoku web` and `collect serve` pick the IaaS
source the same way (an explicit `--iaas nova|FILE`, else Nova when the inventory polls
compute services or agents, else none: a fleet without OpenStack is never "judged").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rich.console import Console
from rich.markup import escape

from kansoku.health.crosslayer import IAAS, KUBERNETES, CrossVerdict, IaasSource, judge_fleet
from kansoku.health.model import CheckStatus
from kansoku.inventory import Inventory, load_inventory

_STYLE = {IAAS: "bold magenta", KUBERNETES: "cyan"}


def iaas_source(spec: str | None, inventory: Inventory | None) -> IaasSource | None:
    """`nova` (the inventory's `openstack.cloud` through openstacksdk) or a snapshot JSON file;
    without a spec, Nova when the inventory polls compute services or network agents."""
    from kansoku.health.crosslayer.nova import NovaIaas
    from kansoku.health.crosslayer.sources import SnapshotIaas

    settings = inventory.openstack if inventory is not None else None
    if spec is None:
        if settings is not None and (settings.compute_services or settings.network_agents):
            return NovaIaas(settings.cloud, settings.region)
        return None
    if spec == "nova":
        return NovaIaas(settings.cloud if settings else None, settings.region if settings else None)
    return SnapshotIaas.load(Path(spec))


def verdicts_for_check(
    inventory_path: Path, statuses: Sequence[CheckStatus], store: Path | None, iaas_spec: str | None
) -> dict[str, CrossVerdict] | None:
    """The verdict of every failing cluster, or None when no IaaS source is configured."""
    from kansoku.config import store_dir
    from kansoku.health.crosslayer.sources import LogFailures, SnapshotIaas, scan_store
    from kansoku.tracing.index import Store

    inventory = load_inventory(inventory_path)
    iaas = iaas_source(iaas_spec, inventory)
    if iaas is None:
        return None
    path = store_dir(store)
    failures = LogFailures(scan_store(path), path) if Store(path).exists() else None
    window = iaas.window if isinstance(iaas, SnapshotIaas) else None
    known = {s.cluster for s in statuses}
    clusters = [c for c in inventory.clusters if c.id in known]
    return judge_fleet(clusters, statuses, iaas, failures, window)


def print_verdicts(verdicts: dict[str, CrossVerdict], console: Console) -> None:
    """One line per failing cluster: Kubernetes or IaaS, and the traces to open."""
    for cid, v in sorted(verdicts.items()):
        console.print(
            f"{escape(cid)}: [{_STYLE.get(v.kind, 'yellow')}]{escape(v.summary)}[/]", soft_wrap=True
        )
        for rid in v.request_ids[:3]:
            console.print(f"  kansoku trace {rid}", soft_wrap=True)


def with_verdicts(doc_text: str, verdicts: dict[str, CrossVerdict]) -> str:
    """The `--json` document with a `crosslayer` object (cluster -> verdict)."""
    doc: dict[str, Any] = json.loads(doc_text)
    doc["crosslayer"] = {cid: v.to_dict() for cid, v in sorted(verdicts.items())}
    return json.dumps(doc, indent=2)


class CrossLayerCollector(Collector):
    """`kansoku_cluster_fault_layer{cluster, region, layer}` = 1 per failing, judged cluster.

    `layer` is `iaas` (IaaS suspected), `kubernetes` (IaaS healthy) or `unknown` (the IaaS
    could not be asked); healthy clusters and management plane faults have no series, so
    `count by (layer)` counts failing clusters by where their fault is.
    """

    def __init__(
        self, verdicts: Callable[[], dict[str, CrossVerdict]], regions: Callable[[], dict[str, str]]
    ) -> None:
        self._verdicts = verdicts
        self._regions = regions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "kansoku_cluster_fault_layer",
            "1 for a failing cluster's cross-layer verdict: iaas, kubernetes or unknown",
            labels=["cluster", "region", "layer"],
        )
        regions = self._regions()
        for cid, v in sorted(self._verdicts().items()):
            family.add_metric([cid, regions.get(cid, "default"), v.kind], 1.0)
        yield family
