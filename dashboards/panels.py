"""Panel and dashboard helpers shared by the dashboard definitions (grafana-foundation-sdk).

Why a module of its own: the cluster/fleet/OpenStack definitions (`defs.py`) and the
Kubernetes component dashboards (`k8s.py`) lay out panels the same way; one place keeps the
grid, datasource references and tags identical.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueGraphMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from kansoku.dashboards.context import DashboardContext

DashboardDef = Callable[[DashboardContext], dict[str, Any]]
_WIDTH = 24
#: Inventory labels that configure kansoku rather than describe the cluster.
_NOT_TAGS = frozenset({"grafana_datasource"})


class Layout:
    """Places panels left to right in rows of the 24-column Grafana grid."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0

    def _newline(self) -> None:
        self.x, self.y, self.row_h = 0, self.y + self.row_h, 0

    def place(self, w: int, h: int) -> GridPos:
        if self.x + w > _WIDTH:
            self._newline()
        pos = GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self) -> GridPos:
        if self.x:
            self._newline()
        pos = GridPos(h=1, w=_WIDTH, x=0, y=self.y)
        self.y += 1
        return pos


def ds_ref(ctx: DashboardContext) -> DataSourceRef:
    return DataSourceRef(type_val="prometheus", uid=ctx.datasource_uid)


def query(ctx: DashboardContext, expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(ds_ref(ctx))


def ts(ctx: DashboardContext, lay: Layout, title: str, unit: str, *queries: tuple[str, str]) -> Any:
    panel = timeseries.Panel().title(title).datasource(ds_ref(ctx)).unit(unit).grid_pos(lay.place(12, 8))
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(ctx, expr, legend, chr(ord("A") + i)))
    return panel


def stat_panel(ctx: DashboardContext, lay: Layout, title: str, expr: str, unit: str = "none") -> Any:
    return (
        stat.Panel()
        .title(title)
        .datasource(ds_ref(ctx))
        .unit(unit)
        .grid_pos(lay.place(6, 4))
        .graph_mode(BigValueGraphMode.AREA)
        .with_target(query(ctx, expr, title))
    )


def table_panel(ctx: DashboardContext, lay: Layout, title: str, expr: str) -> Any:
    target = query(ctx, expr, "").instant().format(PromQueryFormat.TABLE)
    return table.Panel().title(title).datasource(ds_ref(ctx)).grid_pos(lay.place(24, 8)).with_target(target)


def base(ctx: DashboardContext, uid: str, title: str, kind: str) -> gdash.Dashboard:
    return (
        gdash.Dashboard(title)
        .uid(uid)
        .tags(
            ["kansoku", kind, ctx.bundle, f"cluster:{ctx.cluster_id}", f"region:{ctx.region}"]
            # the cluster's inventory labels (env, tier, ...) make dashboards searchable by them
            + [f"{k}:{v}" for k, v in sorted(ctx.labels.items()) if k not in _NOT_TAGS]
        )
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("utc")
        .readonly()
    )


def to_dict(builder: gdash.Dashboard) -> dict[str, Any]:
    # Through the SDK's encoder so nested models become plain JSON values.
    decoded: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return decoded


def uid_for(kind: str, cluster_id: str) -> str:
    """Grafana uids are at most 40 characters; cluster ids can be longer."""
    uid = f"ks-{kind}-{cluster_id}"
    if len(uid) <= 40:
        return uid
    return f"ks-{kind}-{hashlib.sha1(cluster_id.encode()).hexdigest()[:16]}"
