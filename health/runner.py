"""One round of checks over the fleet, concurrently, with per-check timeouts.

Why asyncio + a semaphore: 1,000 clusters x 5-8 checks must finish in seconds on two cores;
each check is mostly waiting. The semaphore bounds sockets and memory; `asyncio.wait_for`
around every check (on top of httpx's own timeouts) guarantees that a slow or hostile target
(one that drips bytes forever) costs at most its own timeout, never the round. Every failure
mode ends as a `CheckResult` with a reason: nothing escapes the loop.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from kansoku.inventory import Inventory, load_inventory
from kansoku.inventory_sources import SourceCache
from kansoku.models import CheckState, Cluster

from .credentials import Auth, CredentialError, resolve_auth
from .model import CheckResult, CheckStatus, Outcome, cluster_level
from .probes import BINARY_CHECKS, Check, Probe
from .promql import PromQLThresholdCheck
from .state import StateStore


class TLSContexts:
    """One SSL context per distinct TLS setting: building one costs milliseconds, so share."""

    def __init__(self) -> None:
        self._contexts: dict[tuple[str, ...], ssl.SSLContext | bool] = {}

    def get(self, auth: Auth) -> ssl.SSLContext | bool:
        ctx = self._contexts.get(auth.tls_key)
        if ctx is None:
            ctx = auth.ssl_context()
            self._contexts[auth.tls_key] = ctx
        return ctx


class Monitor:
    """Runs rounds for an inventory and keeps the flap-protected state between rounds."""

    def __init__(self, inventory: Inventory, checks: Sequence[Check] | None = None) -> None:
        self.inventory = inventory
        self.store = StateStore(inventory.settings.flap_threshold)
        self.binary: list[Check] = list(checks) if checks is not None else list(BINARY_CHECKS.values())
        self.advanced: dict[str, PromQLThresholdCheck] = {}
        self.tls = TLSContexts()
        self.set_inventory(inventory)

    def set_inventory(self, inventory: Inventory) -> None:
        """Switch to a new (already validated) inventory, keeping state of clusters that stay."""
        self.inventory = inventory
        self.store.flap_threshold = inventory.settings.flap_threshold
        old = self.advanced
        self.advanced = {
            spec.name: old[spec.name]
            if spec.name in old and old[spec.name].spec == spec
            else PromQLThresholdCheck(spec)
            for spec in inventory.checks
        }
        self.store.retain({c.id for c in inventory.clusters})

    def checks(self) -> list[Check]:
        return [*self.binary, *self.advanced.values()]

    async def run_round(self, cluster_ids: Iterable[str] | None = None) -> list[CheckResult]:
        """Probe the selected clusters (all by default); ids not in the inventory are UNKNOWN."""
        settings = self.inventory.settings
        sem = asyncio.Semaphore(settings.concurrency)
        wanted = list(cluster_ids) if cluster_ids is not None else None
        clusters = (
            self.inventory.clusters
            if wanted is None
            else [c for c in self.inventory.clusters if c.id in set(wanted)]
        )
        results: list[CheckResult] = []
        if wanted is not None:
            known = {c.id for c in clusters}
            now = time.time()
            results += [
                CheckResult(
                    cid,
                    "unknown",
                    None,
                    "inventory",
                    CheckState.UNKNOWN,
                    f"cluster {cid!r} is not in the inventory",
                    0.0,
                    now,
                )
                for cid in wanted
                if cid not in known
            ]
        tasks = []
        for cluster in clusters:
            try:
                auth = resolve_auth(cluster.credentials)
                probe: Probe | Outcome = Probe(
                    cluster, self.tls.get(auth), dict(auth.headers), settings.timeout_s
                )
            except (CredentialError, OSError, ValueError) as exc:  # ssl errors are OSError
                probe = Outcome(None, f"credentials: {exc}")
            for check in self.checks():
                if check.applies(cluster):
                    tasks.append(self._one(sem, cluster, check, probe))
        results += [r for rs in await asyncio.gather(*tasks) for r in rs]
        return results

    async def _one(
        self, sem: asyncio.Semaphore, cluster: Cluster, check: Check, probe: Probe | Outcome
    ) -> list[CheckResult]:
        """The cluster-level result, then one per subject (node, member) the check reported."""
        timeout = self.inventory.settings.timeout_s
        async with sem:
            start = time.monotonic()
            if isinstance(probe, Outcome):
                outcome = probe
            else:
                try:
                    outcome = await asyncio.wait_for(check.run(probe), timeout)
                except TimeoutError:
                    outcome = Outcome(None, f"timed out after {timeout:g}s")
                except Exception as exc:  # a check bug must not stop the round
                    outcome = Outcome(None, f"check error: {type(exc).__name__}: {exc}")
            elapsed = time.monotonic() - start
        now = time.time()
        label = check.subject_label
        summary = CheckResult(
            cluster.id,
            cluster.region,
            cluster.az,
            check.name,
            outcome.state,
            outcome.reason,
            elapsed,
            now,
            outcome.request_id,
            subject_label=label,
        )
        if label is None:
            return [summary]
        return [
            summary,
            *(replace(summary, state=p.state, reason=p.reason, subject=p.subject) for p in outcome.parts),
        ]

    async def round(self, cluster_ids: Iterable[str] | None = None) -> list[CheckStatus]:
        """Run a round and fold it into the state machine; returns the touched cluster-level
        statuses (per-node/member ones stay in `store` for the exporter)."""
        return cluster_level(self.store.update_all(await self.run_round(cluster_ids)))

    async def aclose(self) -> None:
        """Nothing is pooled today (one connection per probe); kept for callers' symmetry."""


async def check_once(
    inventory: Inventory, cluster_ids: Sequence[str] = (), *, subjects: bool = False
) -> list[CheckStatus]:
    """`kansoku check`: one round over the named clusters (all when none are named): the
    cluster-level statuses, then with `subjects` the per-node/member ones (`--json` shows them)."""
    monitor = Monitor(inventory)
    try:
        touched = await monitor.round(list(cluster_ids) or None)
        if subjects:
            touched += [s for s in monitor.store.statuses() if s.subject is not None]
        return touched
    finally:
        await monitor.aclose()


def run_check(inventory_path: Path, cluster_ids: Sequence[str] = ()) -> list[CheckStatus]:
    """Load the inventory (errors as file:line:field), add the clusters its sources list
    (Rancher, Magnum), and run one round: `kansoku check`. A source that cannot be listed
    shows up as an unknown `inventory_source` check instead of hiding its clusters silently.
    """
    inventory = load_inventory(inventory_path)
    cache = SourceCache()
    if inventory.sources:
        inventory = inventory.with_clusters(cache.clusters(inventory))
    statuses = asyncio.run(check_once(inventory, cluster_ids, subjects=True))
    now = time.time()
    store = StateStore(1)
    for key, error in sorted(cache.errors.items()):
        statuses.append(
            store.update(
                CheckResult(key, "unknown", None, "inventory_source", CheckState.UNKNOWN, error, 0.0, now)
            )
        )
    return statuses
