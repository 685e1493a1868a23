"""`kansoku collect serve`: the check loop, the OpenStack collectors and the exporter.

Why it keeps the last good inventory: operators edit the inventory while the loop runs; a
file saved with a mistake is rejected as a whole (reported with file:line:field in the log
and as `kansoku_inventory_reload_error`-style check `inventory` for the fleet) and the
previous inventory keeps running, so a typo never blinds the monitoring.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

from prometheus_client.registry import Collector

from kansoku.collectors.apimetrics import ApiMetrics, service_from_path
from kansoku.collectors.backups import EtcdBackupCollector
from kansoku.collectors.exporter import (
    CheckCollector,
    OpenStackCollector,
    RoundCollector,
    build_registry,
    serve_metrics,
)
from kansoku.collectors.openstack import OpenStackState, Poller, PollError, build_pollers
from kansoku.collectors.shard import Shard, ShardInfoCollector, ShardLabelled
from kansoku.collectors.tail import LogTailer
from kansoku.errors import ConfigError
from kansoku.health.crosslayer import CrossVerdict, IaasSource, judge_fleet
from kansoku.health.crosslayer.check import CrossLayerCollector, iaas_source
from kansoku.health.model import CheckResult, CheckStatus
from kansoku.health.runner import Monitor
from kansoku.inventory import Inventory, load_inventory
from kansoku.inventory_sources import SourceCache
from kansoku.models import CheckState

log = logging.getLogger("kansoku.collect")


class CollectService:
    """Everything `collect serve` runs, steppable one round at a time (tests drive it)."""

    def __init__(
        self, inventory_path: Path, shard: Shard | None = None, iaas: IaasSource | None = None
    ) -> None:
        self.path = Path(inventory_path)
        self.shard = shard
        self.file_inventory = load_inventory(self.path)  # the first load must succeed
        self.iaas = iaas or iaas_source(None, self.file_inventory)
        self.verdicts: dict[str, CrossVerdict] = {}
        self._mtime = self._stat()
        self.reload_error: str | None = None
        self.sources = SourceCache()
        self.monitor = Monitor(self._resolved(self.file_inventory))
        self.api = ApiMetrics()
        self.api_lock = threading.Lock()
        self._setup_openstack(self.file_inventory)
        collectors: list[Collector] = [
            CheckCollector(self.statuses),
            OpenStackCollector(self.state, self.api, self.api_lock),
            EtcdBackupCollector(
                lambda: self.monitor.inventory.clusters,
                lambda: self.monitor.inventory.settings.etcd_backup_dir,
            ),
            CrossLayerCollector(
                lambda: self.verdicts, lambda: {c.id: c.region for c in self.monitor.inventory.clusters}
            ),
            RoundCollector(lambda: self.round_finished),
        ]
        if shard is not None:
            collectors = [ShardLabelled(c, shard) for c in collectors]
            collectors.append(ShardInfoCollector(shard, lambda: len(self.monitor.inventory.clusters)))
        self.registry = build_registry(*collectors)
        self._last_round = 0.0
        self.round_finished = 0.0

    def _stat(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def _setup_openstack(self, inv: Inventory) -> None:
        """The OpenStack collectors, on the one shard that owns the cloud's name.

        Why by the same hashing as clusters: every shard reads the same inventory; exactly one
        of them polls RabbitMQ, the service lists and the logs, so the control plane is
        exported once fleet-wide, with no extra setting to keep consistent.
        """
        self.state = OpenStackState(inv.openstack.cloud, inv.openstack.region)
        self.owns_cloud = self.shard is None or self.shard.owns(inv.openstack.cloud)
        self.pollers: list[Poller] = build_pollers(inv.openstack) if self.owns_cloud else []
        self.tailers = {
            src.path: (LogTailer(src.path), src.service or service_from_path(src.path))
            for src in (inv.openstack.logs if self.owns_cloud else [])
        }
        self.listener = None
        transport_url = inv.openstack.notification_url() if self.owns_cloud else None
        if transport_url:
            from kansoku.collectors.notifications import NotificationListener

            self.listener = NotificationListener(self.state, transport_url, inv.openstack.notification_topics)
            self.listener.start()

    def _resolved(self, inv: Inventory) -> Inventory:
        """The inventory's clusters (file and sources), only those this shard owns."""
        clusters = self.sources.clusters(inv)
        if self.shard is not None:
            clusters = self.shard.select(clusters)
        return inv.with_clusters(clusters)

    def statuses(self) -> list[CheckStatus]:
        return self.monitor.store.statuses()

    def reload_if_changed(self) -> bool:
        """Load the inventory again if the file changed; keep the old one if it is invalid."""
        mtime = self._stat()
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            new = load_inventory(self.path)
        except ConfigError as exc:
            self.reload_error = str(exc)
            log.error("inventory rejected, keeping the last good one:\n%s", exc)
            return False
        self.reload_error = None
        self.file_inventory = new
        self.monitor.set_inventory(self._resolved(new))
        log.info("inventory reloaded: %d clusters", len(self.monitor.inventory.clusters))
        return True

    def _cloud_result(
        self, check: str, state: CheckState, reason: str, rid: str | None = None
    ) -> CheckResult:
        inv = self.monitor.inventory
        return CheckResult(
            inv.openstack.cloud, inv.openstack.region, None, check, state, reason, 0.0, time.time(), rid
        )

    def poll_openstack(self) -> list[CheckResult]:
        """Pollers, log tails and the API error check, as `openstack_*` results for the cloud."""
        out = []
        for poller in self.pollers:
            try:
                reason = poller.poll(self.state)
                out.append(self._cloud_result(f"openstack_{poller.name}", CheckState.OK, reason))
            except PollError as exc:
                st = CheckState.UNKNOWN if exc.unknown else CheckState.FAILING
                out.append(self._cloud_result(f"openstack_{poller.name}", st, str(exc), exc.request_id))
        if self.tailers:
            since = self._last_round
            for tailer, service in self.tailers.values():
                lines = tailer.read_lines()
                with self.api_lock:
                    self.api.feed(service, lines)
            errors = self.api.errors_since(since)
            if errors:
                last = errors[-1]
                reason = f"{len(errors)} 5xx since last round; last: {last.service} {last.method} {last.route} {last.status}"
                out.append(
                    self._cloud_result("openstack_api_errors", CheckState.FAILING, reason, last.request_id)
                )
            else:
                out.append(
                    self._cloud_result("openstack_api_errors", CheckState.OK, "no 5xx since last round")
                )
        return out

    async def round(self) -> list[CheckStatus]:
        """One full round: inventory reload, cluster checks, OpenStack collectors."""
        self.reload_if_changed()
        started = time.time()
        statuses = await self.monitor.round()
        os_results = await asyncio.to_thread(self.poll_openstack)
        if self.reload_error:
            os_results.append(
                self._cloud_result(
                    "inventory", CheckState.FAILING, f"last edit rejected: {self.reload_error}"
                )
            )
        statuses += self.monitor.store.update_all(os_results)
        self._last_round = started
        if self.iaas is not None:  # Nova calls block: off the event loop
            self.verdicts = await asyncio.to_thread(
                judge_fleet, self.monitor.inventory.clusters, self.statuses(), self.iaas
            )
        self.round_finished = time.time()  # its age is what KansokuChecksStale reads
        return statuses

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        for tailer, _ in self.tailers.values():
            tailer.close()


def serve_forever(inventory_path: Path, host: str, port: int, shard: Shard | None = None) -> None:
    """Run rounds every `settings.interval` and serve /metrics until interrupted."""
    from rich.console import Console

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    console = Console(stderr=True)
    service = CollectService(inventory_path, shard)
    server, _ = serve_metrics(service.registry, host, port)
    owned = (
        f", shard {shard.index}/{shard.count}: {len(service.monitor.inventory.clusters)} clusters"
        if shard
        else ""
    )
    console.print(f"kansoku exporter on http://{host}:{port}/metrics, inventory {inventory_path}{owned}")

    async def loop() -> None:
        while True:
            t0 = time.monotonic()
            statuses = await service.round()
            bad = sum(1 for s in statuses if s.state is not CheckState.OK)
            log.info("round: %d checks, %d not ok, %.2fs", len(statuses), bad, time.monotonic() - t0)
            interval = service.monitor.inventory.settings.interval_s
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))

    try:
        asyncio.run(loop())
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        service.close()
