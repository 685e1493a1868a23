"""Flap protection: a check changes state only after N consecutive equal results.

Why: one lost packet must not page anyone, and a check that alternates must not make
alerts fire and resolve every round. UNKNOWN is a state like the others (a cluster we cannot
reach is neither healthy nor failed) and carries the time since we last knew (stale since T).

Per-subject statuses (one per node, one per etcd member) are kept like the others, keyed by
(cluster, check, subject). A round that lists the subjects replaces the set: a node that was
deleted or replaced disappears with its series (else its old "failing" would page, and heal,
forever). A round that could not list them (API down) makes every known subject unknown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from kansoku.models import CheckState

from .model import CheckResult, CheckStatus

_Key = tuple[str, str, str]  # (cluster, check, subject or "")


class StateStore:
    """The current `CheckStatus` per (cluster, check, subject), fed one round at a time."""

    def __init__(self, flap_threshold: int = 2) -> None:
        if flap_threshold < 1:
            raise ValueError("flap_threshold must be >= 1")
        self.flap_threshold = flap_threshold
        self._status: dict[_Key, CheckStatus] = {}
        self._last_definite: dict[_Key, float] = {}
        self._subjects: dict[tuple[str, str], set[str]] = defaultdict(set)

    def update(self, result: CheckResult) -> CheckStatus:
        key = (result.cluster, result.check, result.subject or "")
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
                subject_label=result.subject_label,
                subject=result.subject,
            )
            self._status[key] = status
            if result.subject is not None:
                self._subjects[(result.cluster, result.check)].add(result.subject)
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
        """Fold one round in; per-subject checks also get their subject set reconciled."""
        batch = list(results)
        out = [self.update(r) for r in batch]
        listed: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in batch:
            if r.subject is not None:
                listed[(r.cluster, r.check)].add(r.subject)
        for r in batch:
            if r.subject_label is None or r.subject is not None:
                continue
            pair = (r.cluster, r.check)
            known = self._subjects.get(pair, set())
            if pair not in listed and r.state is CheckState.UNKNOWN:
                out += [self.update(replace(r, subject=name)) for name in sorted(known)]
            else:
                self._drop(pair, known - listed.get(pair, set()))
        return out

    def _drop(self, pair: tuple[str, str], subjects: Iterable[str]) -> None:
        for name in list(subjects):
            key = (*pair, name)
            self._status.pop(key, None)
            self._last_definite.pop(key, None)
            self._subjects[pair].discard(name)
        if pair in self._subjects and not self._subjects[pair]:
            del self._subjects[pair]

    def statuses(self) -> list[CheckStatus]:
        return sorted(self._status.values(), key=lambda s: (s.cluster, s.check, s.subject or ""))

    def retain(self, clusters: set[str]) -> None:
        """Drop statuses of clusters no longer in the inventory (their series disappear)."""
        for key in [k for k in self._status if k[0] not in clusters]:
            del self._status[key]
            self._last_definite.pop(key, None)
        for pair in [p for p in self._subjects if p[0] not in clusters]:
            del self._subjects[pair]
