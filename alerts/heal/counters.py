"""The counters behind /metrics, kept in memory and read from the journal once at start.

Why not a journal scan per scrape: the grouped COUNTs took 1.4 s per scrape at 1M rows,
under the journal lock, so each scrape stalled every webhook for as long (issue 11,
item 12). Why still from the journal at start: counters that restart at zero would make
success rates lie right after a crash. So: one scan when the server starts, plus the
totals of rows pruned earlier (kept in `settings`, see heal.journal.prune), then increments at the
places where an action reaches a final state, a rail skips one, or a request is answered.
The increments follow commits; a crash between a commit and its increment loses nothing,
because the next start counts from the journal again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from kansoku.alerts.heal.model import RESULT_OF_STATE

#: settings key holding what pruned rows had contributed to the counters
PRUNED_KEY = "pruned_counts"

ActionKey = tuple[str, str, str, str]  # cluster, region, action, result


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.actions: dict[ActionKey, int] = {}
        self.webhooks: dict[str, int] = {}

    def add_action(self, cluster: str, region: str, action: str, result: str, n: int = 1) -> None:
        key = (cluster, region, action, result)
        with self._lock:
            self.actions[key] = self.actions.get(key, 0) + n

    def add_state(self, cluster: str, region: str, action: str, state: str, dry_run: bool) -> None:
        """An action row reached `state`: counted when that state is a final result."""
        result = RESULT_OF_STATE.get(state)
        if result is not None and not dry_run:
            self.add_action(cluster, region, action, result)

    def add_webhook(self, code: int, n: int = 1) -> None:
        with self._lock:
            self.webhooks[str(code)] = self.webhooks.get(str(code), 0) + n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "actions": {"|".join(k): v for k, v in sorted(self.actions.items())},
                "webhooks": dict(sorted(self.webhooks.items())),
            }

    def merge(self, data: dict[str, Any]) -> None:
        """Add a snapshot (the pruned totals) to these counters."""
        for key, n in data.get("actions", {}).items():
            cluster, region, action, result = key.split("|", 3)
            self.add_action(cluster, region, action, result, int(n))
        for code, n in data.get("webhooks", {}).items():
            self.add_webhook(int(code), int(n))

    def load(
        self, actions: Iterable[Any], skipped: Iterable[Any], deliveries: Iterable[Any], pruned: str | None
    ) -> None:
        """Count the journal's grouped rows (once, at server start) plus what was pruned:
        actions by (cluster, region, action, state, n), skipped decisions by (cluster,
        region, hook_action, n), deliveries by (http_status, n), `pruned` as JSON."""
        for row in actions:  # real (not dry-run) actions only
            result = RESULT_OF_STATE.get(row["state"])
            if result is not None:
                self.add_action(row["cluster"], row["region"], row["action"], result, int(row["n"]))
        for row in skipped:
            self.add_action(row["cluster"], row["region"], row["hook_action"], "skipped", int(row["n"]))
        for row in deliveries:
            self.add_webhook(int(row["http_status"]), int(row["n"]))
        if pruned:
            self.merge(json.loads(pruned))
