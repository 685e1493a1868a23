"""Prometheus metrics computed from the journal at scrape time.

Why from the journal and not in-process counters: counters that restart at zero after a
crash or restart would make success rates lie exactly when the healer was in trouble; the
journal already holds every action and decision, so a scrape reads the truth (a few
grouped COUNT queries, indexed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from kansoku.alerts.heal.journal import Journal
from kansoku.alerts.heal.model import RESULT_OF_STATE, SKIPPED


class JournalCollector(Collector):
    def __init__(self, journal: Journal, budget_per_hour: int, dry_run: bool) -> None:
        self.journal = journal
        self.budget = budget_per_hour
        self.dry_run = dry_run

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        actions = CounterMetricFamily(
            "kansoku_heal_actions",
            "Heal actions by result (success/failed/skipped)",
            labels=["cluster", "region", "action", "result"],
        )
        counts: dict[tuple[str, str, str, str], int] = {}
        for row in self.journal.action_counts(by_cluster=True):
            result = RESULT_OF_STATE.get(row["state"])
            if result is not None:
                key = (row["cluster"], row["region"], row["action"], result)
                counts[key] = counts.get(key, 0) + int(row["n"])
        for row in self.journal.skipped_counts([d.value for d in SKIPPED]):
            key = (row["cluster"], row["region"], row["hook_action"], "skipped")
            counts[key] = counts.get(key, 0) + int(row["n"])
        for (cluster, region, action, result), n in sorted(counts.items()):
            actions.add_metric([cluster, region, action, result], n)
        yield actions

        paused = GaugeMetricFamily(
            "kansoku_heal_paused", "1 while all healing is paused", labels=["cluster", "region"]
        )
        paused.add_metric(["fleet", "all"], 1 if self.journal.paused_reason() else 0)
        yield paused

        used = self.journal.planned_count(time.time() - 3600, self.dry_run)
        budget = GaugeMetricFamily(
            "kansoku_heal_budget_remaining",
            "Remediations left in the fleet budget for the current hour",
            labels=["cluster", "region"],
        )
        budget.add_metric(["fleet", "all"], max(self.budget - int(used), 0))
        yield budget

        hooks = CounterMetricFamily(
            "kansoku_heal_webhooks", "Webhook requests by HTTP status", labels=["cluster", "region", "code"]
        )
        for row in self.journal.delivery_counts():
            hooks.add_metric(["fleet", "all", str(row["http_status"])], int(row["n"]))
        yield hooks


def registry_for(journal: Journal, budget_per_hour: int, dry_run: bool) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JournalCollector(journal, budget_per_hour, dry_run))
    return registry
