"""kansoku's own health checks as a shared-dependency probe for the healer.

Why through the collector's /metrics: `kansoku collect serve` already runs every check
and exports `kansoku_check_state{cluster,region,check,state}`; reading that page (cached a
few seconds) gives the healer the same view the dashboards have, without running a second
round of checks, and `kansoku.health.fleet.fleet_shared_dependency_down` judges it exactly
as the health area does. If the page cannot be read the probe says nothing (None): an
unreachable collector is alerted on by its own rules, and blocking all healing on it would
make the collector a single point of failure for remediation.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from dataclasses import dataclass

from kansoku.models import CheckState


@dataclass(frozen=True)
class CheckRow:
    """One check's current state, in the shape fleet_shared_dependency_down reads."""

    cluster: str
    region: str
    az: str | None
    check: str
    state: CheckState


def parse_check_states(text: str, azs: dict[str, str | None]) -> list[CheckRow]:
    from prometheus_client.parser import text_string_to_metric_families

    rows = []
    for family in text_string_to_metric_families(text):
        if family.name != "kansoku_check_state":
            continue
        for sample in family.samples:
            if sample.value != 1:
                continue
            labels = sample.labels
            try:
                state = CheckState(labels.get("state", "unknown"))
            except ValueError:
                state = CheckState.UNKNOWN
            cluster = labels.get("cluster", "")
            rows.append(
                CheckRow(cluster, labels.get("region", ""), azs.get(cluster), labels.get("check", ""), state)
            )
    return rows


class HealthMetricsProbe:
    def __init__(self, url: str, azs: dict[str, str | None], ttl: float = 10.0, timeout: float = 2.0) -> None:
        self.url, self.azs, self.ttl, self.timeout = url, azs, ttl, timeout
        self._lock = threading.Lock()
        self._at = 0.0
        self._value: str | None = None

    def shared_dependency_down(self) -> str | None:
        from kansoku.health.fleet import fleet_shared_dependency_down

        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._value
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:
                    text = resp.read().decode("utf-8", errors="replace")
            except (OSError, ValueError):
                self._value = None
            else:
                reason = fleet_shared_dependency_down(parse_check_states(text, self.azs))
                self._value = f"kansoku health checks: {reason}" if reason else None
            self._at = time.monotonic()
            return self._value
