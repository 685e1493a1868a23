"""`kansoku_etcd_last_backup_timestamp_seconds`: the newest etcd snapshot file per cluster.

Why files: the healer's `etcd_snapshot` action (and any cron using `etcdctl snapshot save`)
writes complete snapshots as `*.db` into a per-cluster directory (partial ones are `.part`
until renamed). The newest `.db`'s mtime is the last backup. A cluster with etcd and no
snapshot at all exports 0, so `EtcdBackupStale` fires for "never backed up" instead of
staying silent. A snapshot covers the whole keyspace, so `member` is `cluster`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kansoku.models import Cluster


def last_backup(directory: Path) -> float:
    """mtime of the newest `*.db` in `directory`, 0.0 when there is none."""
    try:
        return max((p.stat().st_mtime for p in directory.glob("*.db")), default=0.0)
    except OSError:
        return 0.0


class EtcdBackupCollector(Collector):
    def __init__(self, clusters: Callable[[], Sequence[Cluster]], template: Callable[[], str | None]) -> None:
        self._clusters = clusters
        self._template = template

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "kansoku_etcd_last_backup_timestamp_seconds",
            "mtime of the newest etcd snapshot (*.db) of the cluster; 0 when there is none",
            labels=["cluster", "region", "member"],
        )
        template = self._template()
        if template:
            for c in self._clusters():
                if c.etcd:
                    family.add_metric(
                        [c.id, c.region, "cluster"], last_backup(Path(template.format(cluster=c.id)))
                    )
        yield family
