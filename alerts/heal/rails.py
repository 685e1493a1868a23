"""The two rails that read the firing set: the storm rail and max-unhealthy per kind.

Why read inside the decision transaction, uncached: a storm delivered in one webhook under
a second after another used to meet a storm answer cached by the previous decision batch
(issue 11, item 7: 20 of 20 actions ran with `storm_clusters: 5`). The decision
connection sees everything committed before it, the batch's own webhook included, and
nothing else commits while it holds the journal lock, so evaluating once per decision
batch is evaluating per decision over everything journaled. It stays cheap because it reads
`firing_clusters` (one row per cluster, kept at ingest, indexed by the newest onset)
instead of scanning the firing set, and answers from the table's largest rowid when fewer
clusters were ever seen than the threshold.

Why per kind (Cluster API MachineHealthCheck): an MHC counts the unhealthy machines it
selects against the machines it selects; node alerts count against the node count, etcd
member alerts against the members, and pod or service alerts never block a node. Counting
stops at limit + 1: counting a 10,000-node storm in full for each of its decisions was
quadratic.
"""

from __future__ import annotations

import sqlite3
import time

from kansoku.alerts.heal.config import HealConfig
from kansoku.alerts.heal.journal import Journal


def storm_reason(journal: Journal, db: sqlite3.Connection, clusters: int, window: float) -> str | None:
    """Why this looks like a shared dependency down (N clusters alerting), or None."""
    count, names = journal.recent_clusters(db, time.time() - window, clusters)
    if count < clusters:
        return None
    return (
        f"{count} clusters alerting within {window:.0f}s ({', '.join(names)}, ...): "
        "a shared dependency is likely down"
    )


def unhealthy(journal: Journal, db: sqlite3.Connection, cluster: str, kind: str, upto: int) -> int:
    """Distinct unhealthy targets of one kind in a cluster, counted up to `upto` only."""
    return journal.unhealthy_targets(db, cluster, kind, upto)


def max_unhealthy(config: HealConfig, name: str) -> tuple[int | None, str]:
    """The limit of unhealthy targets (of one kind) in one cluster, and how to say it; None: refuse.

    A count applies to every kind. A percentage is of the cluster's node count
    (`cluster_sizes`), the only size the healer knows, for every kind.
    """
    value = config.safety.max_unhealthy
    if isinstance(value, int):
        return value, str(value)
    percent = int(value[:-1])
    size = config.cluster_sizes.get(name)
    if size is None:
        return None, (
            f"max_unhealthy is {value} but the size of cluster {name} is unknown "
            f"(set cluster_sizes.{name}); not remediating blind"
        )
    return size * percent // 100, f"{value} of {size} nodes"
