"""Sharded collectors: which clusters a collector owns, and the `shard` label on its series.

Why rendezvous (highest-random-weight) hashing: every collector decides on its own, from the
cluster id and `i/n` alone, whether a cluster is its own; no coordinator, no shared state. Each
cluster goes to the shard with the highest hash of (shard, cluster), so going from n to n+1
shards moves only the clusters whose new highest weight is the new shard, about 1/(n+1) of them,
and removing a shard moves only that shard's clusters. A modulo hash would move almost all.

Why a label and not separate metric names: every shard exports the same names
(docs/contracts.md), so dashboards and alerts written for one collector work on the federated
whole; `shard` only tells where a series came from, and `KansokuCollectorDown` names the shard
whose clusters went stale.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kansoku.errors import KansokuError


class HasId(Protocol):
    """Anything with a cluster `id` (a `kansoku.models.Cluster`)."""

    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=HasId)

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def _weight(shard: int, cluster_id: str) -> int:
    digest = hashlib.blake2b(f"{shard}\x00{cluster_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(cluster_id: str, count: int) -> int:
    """The shard (0..count-1) that owns `cluster_id` among `count` shards."""
    return max(range(count), key=lambda j: _weight(j, cluster_id))


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (0-based): `--shard 0/2` and `--shard 1/2` split a fleet in two."""

    index: int
    count: int

    @classmethod
    def parse(cls, spec: str) -> Shard:
        """`i/n` with 0 <= i < n; anything else is a KansokuError that says what is expected."""
        m = _SPEC.match(spec)
        if not m:
            raise KansokuError(f"--shard {spec!r}: expected i/n, e.g. 0/3 (shard 0 of 3)")
        index, count = int(m.group(1)), int(m.group(2))
        if count < 1 or not 0 <= index < count:
            raise KansokuError(f"--shard {spec!r}: i must be in 0..n-1 and n >= 1")
        return cls(index, count)

    @property
    def label(self) -> str:
        return str(self.index)

    def owns(self, cluster_id: str) -> bool:
        return self.count == 1 or owner(cluster_id, self.count) == self.index

    def select(self, clusters: Iterable[T]) -> list[T]:
        """The clusters of `clusters` this shard owns, in their order."""
        return [c for c in clusters if self.owns(c.id)]


class ShardLabelled(Collector):
    """Wraps any collector and adds `shard="<i>"` to every sample it yields.

    A wrapper rather than a label in each collector: the collectors stay unaware of sharding,
    and a collector added later is labelled without remembering to.
    """

    def __init__(self, inner: Collector, shard: Shard) -> None:
        self.inner = inner
        self.shard = shard

    def collect(self) -> Iterator[Metric]:
        label = self.shard.label
        for family in self.inner.collect():
            family.samples = [s._replace(labels={**s.labels, "shard": label}) for s in family.samples]
            yield family


class ShardInfoCollector(Collector):
    """`kansoku_shard_clusters{shard, shards}`: how many clusters this collector owns now.

    Why: the global view can check that the shards together cover the inventory
    (`sum(kansoku_shard_clusters)` against the inventory size) and a shard that owns nothing
    is visible instead of silently empty.
    """

    def __init__(self, shard: Shard, owned: Callable[[], int]) -> None:
        self.shard = shard
        self.owned = owned

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(
            "kansoku_shard_clusters",
            "clusters owned by this collector shard (rendezvous hashing of the cluster id)",
            labels=["shard", "shards"],
        )
        g.add_metric([self.shard.label, str(self.shard.count)], float(self.owned()))
        yield g
