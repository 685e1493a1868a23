"""Flap protection: a check changes state only after N consecutive equal results.

Why: one lost packet must not page anyone, and a check that alternates must not make
alerts fire and resolve every round. UNKNOWN is a state like the others (a cluster we cannot
reach is neither healthy nor failed) and carries the time since we last knew (stale since T).
"""

from __future__ import annotations

from collections.abc import Iterable

from kansoku.models import CheckState

from .model import CheckResult, CheckStatus


class StateStore:
    """The current `CheckStatus` per (cluster, check), fed one round of results at a time."""

    def __init__(self, flap_threshold: int = 2) -> None:
        if flap_threshold < 1:
            raise ValueError("flap_threshold must be >= 1")
        self.flap_threshold = flap_threshold
        self._status: dict[tuple[str, str], CheckStatus] = {}
        self._last_definite: dict[tuple[str, str], float] = {}

    def update(self, result: CheckResult) -> CheckStatus:
        key = (result.cluster, result.check)
        if result.state is not CheckState.UNKNOWN:
            self._last_definite[key] = result.ts
        status = self._status.get(key)
        if status is None:
            status = CheckStatus(
                cluster=result.cluster,
                region=result.region,
                az=result.az,
                check=result.check,
                state=result.state,
                since=result.ts,
                reason=result.reason,
                last=result,
                last_success=result.ts if result.state is CheckState.OK else None,
                stale_since=result.ts if result.state is CheckState.UNKNOWN else None,
            )
            self._status[key] = status
            return status
        status.last = result
        status.region, status.az = result.region, result.az
        if result.state is CheckState.OK:
            status.last_success = result.ts
        if result.state is status.state:
            status.pending, status.pending_count = None, 0
            status.reason = result.reason
            return status
        if status.pending is result.state:
            status.pending_count += 1
        else:
            status.pending, status.pending_count = result.state, 1
        if status.pending_count >= self.flap_threshold:
            status.state = result.state
            status.since = result.ts
            status.reason = result.reason
            status.pending, status.pending_count = None, 0
            status.stale_since = (
                self._last_definite.get(key, result.ts) if result.state is CheckState.UNKNOWN else None
            )
        return status

    def update_all(self, results: Iterable[CheckResult]) -> list[CheckStatus]:
        return [self.update(r) for r in results]

    def statuses(self) -> list[CheckStatus]:
        return sorted(self._status.values(), key=lambda s: (s.cluster, s.check))

    def retain(self, clusters: set[str]) -> None:
        """Drop statuses of clusters no longer in the inventory (their series disappear)."""
        for key in [k for k in self._status if k[0] not in clusters]:
            del self._status[key]
            self._last_definite.pop(key, None)
