"""What `kansoku web` shows, kept current: fleet states, cross-layer verdicts, logs, the journal path.

Why a snapshot object: the pages must render fast for a large fleet and never wait for a
probe, Nova or a log scan. A background thread runs check rounds (the same `Monitor` as
`kansoku collect serve`, so states are flap-protected the same way) and swaps in a new
snapshot after each; the store is scanned once at start (and on demand). Pages only read.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kansoku.health.crosslayer import CrossVerdict, IaasSource, Window, fault_label, judge_fleet
from kansoku.health.crosslayer.sources import LogFailures, StoreScan, scan_store
from kansoku.health.model import CheckStatus
from kansoku.inventory import Inventory
from kansoku.models import CheckState, Cluster

from .controlplane import ServiceSeries, series

log = logging.getLogger("kansoku.web")

#: Without an inventory, how often the store is looked at for new lines.
LOG_RESCAN_S = 30.0

#: Column order of the overview grid; other checks (PromQL ones) follow by name.
CHECK_ORDER = (
    "apiserver_readyz",
    "apiserver_livez",
    "apiserver_mgmt_readyz",
    "agent_connected",
    "kubelet_ready",
    "componentstatus",
    "etcd_health",
    "etcd_members",
)


@dataclass(frozen=True)
class ClusterRow:
    """One cluster on `/`: its checks by name, its label and its cross-layer verdict."""

    cluster: Cluster
    checks: dict[str, CheckStatus]
    nodes: tuple[CheckStatus, ...]
    label: str | None
    verdict: CrossVerdict | None

    @property
    def failing(self) -> bool:
        return any(s.state is not CheckState.OK for s in self.checks.values())


@dataclass(frozen=True)
class Snapshot:
    rows: tuple[ClusterRow, ...] = ()
    columns: tuple[str, ...] = ()
    cloud_checks: tuple[CheckStatus, ...] = ()
    rounds: int = 0
    taken: float = 0.0
    round_s: float = 0.0


@dataclass
class WebSources:
    """Where the pages' data comes from (all optional: a page says what it lacks)."""

    store: Path | None = None
    inventory: Inventory | None = None
    heal_config: Path | None = None
    iaas: IaasSource | None = None
    window: Window | None = None  # fixed window for failed requests (the demo's log time)
    title: str = "kansoku"
    notes: list[str] = field(default_factory=list)


def build_snapshot(
    clusters: Sequence[Cluster],
    statuses: Sequence[CheckStatus],
    verdicts: dict[str, CrossVerdict],
    rounds: int = 1,
    round_s: float = 0.0,
) -> Snapshot:
    """Group statuses by cluster, label each failing one, order failing clusters first."""
    per: dict[str, list[CheckStatus]] = {}
    for s in statuses:
        per.setdefault(s.cluster, []).append(s)
    known = {c.id for c in clusters}
    names = {s.check for s in statuses if s.subject is None and s.cluster in known}
    columns = tuple(c for c in CHECK_ORDER if c in names) + tuple(sorted(names - set(CHECK_ORDER)))
    rows = []
    for c in clusters:
        items = per.get(c.id, [])
        level = {s.check: s for s in items if s.subject is None}
        nodes = tuple(s for s in items if s.subject is not None)
        verdict = verdicts.get(c.id)
        rows.append(ClusterRow(c, level, nodes, fault_label(items, verdict), verdict))
    rows.sort(key=lambda r: (not r.failing, r.cluster.id))
    cloud = tuple(s for s in statuses if s.cluster not in known and s.subject is None)
    return Snapshot(tuple(rows), columns, cloud, rounds, time.time(), round_s)


class WebState:
    """The current snapshot plus the store scan; `start()` runs check rounds in a thread."""

    def __init__(self, sources: WebSources) -> None:
        self.sources = sources
        self.snapshot = Snapshot()
        self.scan: StoreScan | None = None
        self.control_plane: list[ServiceSeries] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.first_round = threading.Event()
        self._scanned = 0

    def load_logs(self) -> bool:
        """Scan the store for failed requests and access lines (charts, cross-layer), when its
        manifest changed since the last scan (`kansoku index` appended); True if it scanned."""
        if self.sources.store is None:
            return False
        from kansoku.tracing.index import Store

        try:
            stamp = Store(self.sources.store).manifest_path.stat().st_mtime_ns
        except OSError:
            stamp = 0
        if self.scan is not None and stamp == self._scanned:
            return False
        scan = scan_store(self.sources.store)
        self.scan, self.control_plane, self._scanned = scan, series(scan.access), stamp
        return True

    def failures(self) -> LogFailures | None:
        return LogFailures(self.scan, self.sources.store) if self.scan is not None else None

    def apply(self, statuses: Sequence[CheckStatus], round_s: float = 0.0) -> Snapshot:
        """Judge the failing clusters against the IaaS and swap in the new snapshot."""
        inv = self.sources.inventory
        clusters = inv.clusters if inv is not None else []
        try:
            verdicts = judge_fleet(
                clusters, statuses, self.sources.iaas, self.failures(), self.sources.window
            )
        except Exception as exc:  # the IaaS side must never stop the fleet view
            log.exception("cross-layer verdicts failed")
            self.errors.append(f"cross-layer verdicts: {type(exc).__name__}: {exc}")
            verdicts = {}
        snap = build_snapshot(clusters, statuses, verdicts, self.snapshot.rounds + 1, round_s)
        self.snapshot = snap
        self.first_round.set()
        return snap

    def start(self) -> None:
        """Check rounds (with an inventory) and store rescans in one background thread."""
        if self._thread is not None:
            return
        if self.sources.inventory is None:
            self.first_round.set()
            if self.sources.store is None:
                return
        self._thread = threading.Thread(target=self._loop, name="web-rounds", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        from kansoku.health.runner import Monitor

        inv = self.sources.inventory
        monitor = Monitor(inv) if inv is not None else None
        interval = inv.settings.interval_s if inv is not None else LOG_RESCAN_S
        loop = asyncio.new_event_loop()
        try:
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    rescanned = self.load_logs()
                    if monitor is not None:
                        loop.run_until_complete(monitor.round())
                        self.apply(monitor.store.statuses(), time.monotonic() - t0)
                    elif rescanned:
                        self.apply([])
                except Exception as exc:  # keep serving the last snapshot
                    log.exception("check round failed")
                    self.errors.append(f"check round: {type(exc).__name__}: {exc}")
                    self.first_round.set()
                self._stop.wait(max(interval - (time.monotonic() - t0), 1.0))
        finally:
            loop.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
