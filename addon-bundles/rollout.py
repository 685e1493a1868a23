"""Health-gated rollout: move a fleet to a new bundle version in partitions.

Why: a bad bundle (a rule that pages everyone, a dashboard that breaks) must hit 10 % of
the fleet, not 700 clusters. After each partition we ask an `AlertSource` whether any
cluster of that partition has a firing alert from kansoku's own checks; if so the rollout
stops there and says which cluster and alert stopped it.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

from kansoku.addon_bundles.catalog import Bundle
from kansoku.errors import KansokuError
from kansoku.models import Cluster

#: kansoku's own alerts (docs/contracts.md): the only ones that gate a rollout.
KANSOKU_ALERTS = frozenset(
    {
        "KubeNodeNotReady",
        "KubeletDown",
        "ManagementAgentDisconnected",
        "EtcdMemberDown",
        "EtcdNoQuorum",
        "EtcdBackupStale",
        "KubeAPIServerDown",
        "OpenStackAPI5xxRatioHigh",
        "OpenStackAPILatencyHigh",
        "OpenStackRPCQueueGrowing",
        "OpenStackServiceDown",
        "KansokuHealBudgetExhausted",
    }
)


class AlertSource(Protocol):
    def firing(self) -> list[dict[str, str]]:
        """Label sets of the alerts firing now."""
        ...


def _get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise KansokuError(f"cannot read alerts from {url}: {exc}") from None


class PrometheusAlerts:
    """`GET /api/v1/alerts` of Prometheus: alerts with state `firing` (not `pending`)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def firing(self) -> list[dict[str, str]]:
        body = _get_json(f"{self.base_url}/api/v1/alerts")
        alerts = body.get("data", {}).get("alerts", [])
        return [dict(a["labels"]) for a in alerts if a.get("state") == "firing"]


class AlertmanagerAlerts:
    """`GET /api/v2/alerts` of Alertmanager: active, neither silenced nor inhibited."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def firing(self) -> list[dict[str, str]]:
        url = f"{self.base_url}/api/v2/alerts?active=true&silenced=false&inhibited=false"
        return [dict(a["labels"]) for a in _get_json(url) if a.get("status", {}).get("state") == "active"]


ALERT_SOURCES: dict[str, Callable[[str], AlertSource]] = {
    "prometheus": PrometheusAlerts,
    "alertmanager": AlertmanagerAlerts,
}


def open_alert_source(url: str) -> AlertSource:
    """`alertmanager+http://host:9093` or `prometheus+http://host:9090`."""
    scheme = urlparse(url).scheme
    kind, _, transport = scheme.partition("+")
    factory = ALERT_SOURCES.get(kind)
    if factory is None or transport not in ("http", "https"):
        raise KansokuError(
            f"alert source {url!r}: use {' or '.join(f'{k}+http://HOST:PORT' for k in ALERT_SOURCES)}"
        )
    return factory(transport + url[len(scheme) :])


def partitions(clusters: Sequence[Cluster], fractions: Sequence[float]) -> list[list[Cluster]]:
    """Split clusters (sorted by id, so reruns are stable) at cumulative `fractions`."""
    ordered = sorted(clusters, key=lambda c: c.id)
    out, start = [], 0
    for frac in fractions:
        end = len(ordered) if frac >= 1 else max(start + 1, math.ceil(len(ordered) * frac))
        if ordered[start:end]:
            out.append(ordered[start:end])
        start = min(end, len(ordered))
    if start < len(ordered):
        out.append(ordered[start:])
    return out


@dataclass
class RolloutReport:
    target: str
    upgraded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    stopped_by: list[tuple[str, str]] = field(default_factory=list)  # (cluster, alertname)
    partitions_done: int = 0
    partitions_total: int = 0

    @property
    def completed(self) -> bool:
        return not self.stopped_by and self.partitions_done == self.partitions_total


def upgrade_fleet(
    clusters: Sequence[Cluster],
    target: Bundle,
    install: Callable[[Cluster, Bundle], object],
    alerts: AlertSource,
    fractions: Sequence[float] = (0.1, 1.0),
    soak_seconds: float = 0.0,
) -> RolloutReport:
    """Install `target` partition by partition; stop after a partition with a firing kansoku alert."""
    report = RolloutReport(target.key)
    eligible = []
    for cluster in clusters:
        if not cluster.k8s_version or not target.supports(cluster.k8s_version):
            report.skipped[cluster.id] = (
                f"Kubernetes {cluster.k8s_version or 'unknown'} not in {target.manifest.kubernetes}"
            )
        else:
            eligible.append(cluster)
    parts = partitions(eligible, fractions)
    report.partitions_total = len(parts)
    for part in parts:
        for cluster in part:
            install(cluster, target)
            report.upgraded.append(cluster.id)
        if soak_seconds:
            time.sleep(soak_seconds)
        report.partitions_done += 1
        ids = {c.id for c in part}
        report.stopped_by = sorted(
            {
                (a.get("cluster", ""), a.get("alertname", ""))
                for a in alerts.firing()
                if a.get("cluster") in ids and a.get("alertname") in KANSOKU_ALERTS
            }
        )
        if report.stopped_by:
            break
    return report
