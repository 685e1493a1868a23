"""The two rails that read the firing set: the storm rail and max-unhealthy per kind.

Why read inside the decision transaction, uncached: a storm delivered in one webhook under
a second after another used to meet a storm answer cached by the previous decision batch
(issue 11, item 7: 20 of 20 actions ran with `storm_clusters: 5`). The decision
connection sees everything committed before it, the batch's own webhook included, and
nothing else commits while it holds the journal lock, so evaluating once per decision
batch is evaluating per decision over everything journaled. It stays cheap because it reads
`firing_clusters` (one row per cluster, kept at ingest) instead of scanning the firing set.

Why per kind (Cluster API MachineHealthCheck): an MHC counts the unhealthy machines it
selects against the machines it selects; node alerts count against the node count, etcd
member alerts against the members, and pod or service alerts never block a node.
"""

from __future__ import annotations

import sqlite3
import time

from kansoku.alerts.heal_config import HealConfig


def storm_reason(db: sqlite3.Connection, clusters: int, window: float) -> str | None:
    """Why this looks like a shared dependency down (N clusters alerting), or None.

    Cheap in the common cases: fewer clusters ever seen than the threshold is answered from
    the table's largest rowid (rows are never deleted), and the window is read through the
    `last_since` index, so only clusters with a recent onset are visited.
    """
    ever = db.execute("SELECT max(rowid) FROM firing_clusters").fetchone()[0] or 0
    if ever < clusters:
        return None
    horizon = time.time() - window
    (count,) = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM firing_clusters WHERE last_since >= ? AND n > 0 LIMIT ?)",
        (horizon, clusters),
    ).fetchone()
    if count < clusters:
        return None
    rows = db.execute(
        "SELECT cluster FROM firing_clusters WHERE last_since >= ? AND n > 0 ORDER BY cluster LIMIT 5",
        (horizon,),
    ).fetchall()
    names = ", ".join(r[0] for r in rows)
    return (
        f"{count} clusters alerting within {window:.0f}s ({names}, ...): a shared dependency is likely down"
    )


def unhealthy(db: sqlite3.Connection, cluster: str, kind: str, upto: int) -> int:
    """Distinct unhealthy targets of one kind in a cluster, counted up to `upto` only.

    Why bounded: the rail only asks "more than the limit?"; counting a 10,000-node storm in
    full for each of its 10,000 decisions was quadratic (indexed: firing_kind).
    """
    row = db.execute(
        "SELECT count(*) FROM (SELECT DISTINCT target FROM firing WHERE cluster=? AND kind=? LIMIT ?)",
        (cluster, kind, upto),
    ).fetchone()
    return int(row[0])


def max_unhealthy(config: HealConfig, name: str) -> tuple[int | None, str]:
    """The limit of unhealthy targets (of one kind) in one cluster, and how to say it; None: refuse.

    A count applies to every kind. A percentage is of the cluster's node count
    (`cluster_sizes`), the only size the healer knows, for every kind (as before per kind).
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
