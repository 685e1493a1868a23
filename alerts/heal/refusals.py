"""Refused (401) requests: aggregated into few journal rows, rate-limited per client.

Why: each 401 used to be a durable journal row (an fsync) with no retention, so anyone who
could reach the port could grow the journal and take the writer's time without a token
(issue 11, item 12). Now the first refusal of a client in each window is journaled at once
(the audit log still shows who knocked), the rest of that window is counted in memory and
written as one summary row when the window closes, and a client past `limit` refusals in a
window gets 429 without any journal write. Every refusal is still counted in
`kansoku_heal_webhooks_total{code}`. A kill -9 loses at most the open window's summary
(never an accepted webhook).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

#: seconds per aggregation window
WINDOW_SECONDS = 60.0
#: refusals per client and window answered 401; beyond: 429
LIMIT = 30
#: clients tracked at once; beyond, new ones share the "(other)" entry
MAX_CLIENTS = 10_000


@dataclass
class _Entry:
    since: float
    count: int = 0  # refusals in this window
    unjournaled: int = 0  # of which not written as their own row
    limited: int = 0  # of which answered 429


@dataclass(frozen=True)
class Summary:
    """One closed window of a client, to journal as one row."""

    remote: str
    refused: int
    limited: int
    seconds: float

    def reason(self) -> str:
        return (
            f"unauthorized: {self.refused} more refused request(s) from {self.remote} within "
            f"{self.seconds:.0f}s ({self.limited} answered 429: rate limit)"
        )


class Refusals:
    def __init__(self, window: float = WINDOW_SECONDS, limit: int = LIMIT) -> None:
        self.window, self.limit = window, limit
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def refuse(self, remote: str, now: float | None = None) -> tuple[int, bool]:
        """The status to answer (401 or 429) and whether to journal this refusal as a row."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if remote not in self._entries and len(self._entries) >= MAX_CLIENTS:
                remote = "(other)"
            entry = self._entries.get(remote)
            if entry is None:
                entry = self._entries[remote] = _Entry(since=now)
            entry.count += 1
            if entry.count == 1:
                return 401, True
            entry.unjournaled += 1
            if entry.count > self.limit:
                entry.limited += 1
                return 429, False
            return 401, False

    def closed(self, now: float | None = None, everything: bool = False) -> list[Summary]:
        """Windows that ended (all of them with `everything`), removed from memory."""
        now = time.monotonic() if now is None else now
        out = []
        with self._lock:
            for remote, entry in list(self._entries.items()):
                if everything or now - entry.since >= self.window:
                    del self._entries[remote]
                    if entry.unjournaled:
                        out.append(Summary(remote, entry.unjournaled, entry.limited, now - entry.since))
        return out
