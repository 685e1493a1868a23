"""Dashboards as code with grafana-foundation-sdk: cluster, fleet, OpenStack, heal journal.

Why grafana-foundation-sdk: its builders are generated from Grafana's own schemas, so a
panel option that Grafana does not know cannot be written (grafanalib has had no release
since 2024). Every query keeps `cluster` in its aggregations (checked with the same PromQL
check as the rules) and every panel names its datasource explicitly, so a dashboard
rendered for one cluster can never show another cluster's data.
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


class _Layout:
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


def _ds(ctx: DashboardContext) -> DataSourceRef:
    return DataSourceRef(type_val="prometheus", uid=ctx.datasource_uid)


def _query(ctx: DashboardContext, expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(_ds(ctx))


def _ts(ctx: DashboardContext, lay: _Layout, title: str, unit: str, *queries: tuple[str, str]) -> Any:
    panel = timeseries.Panel().title(title).datasource(_ds(ctx)).unit(unit).grid_pos(lay.place(12, 8))
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(ctx, expr, legend, chr(ord("A") + i)))
    return panel


def _stat(ctx: DashboardContext, lay: _Layout, title: str, expr: str, unit: str = "none") -> Any:
    return (
        stat.Panel()
        .title(title)
        .datasource(_ds(ctx))
        .unit(unit)
        .grid_pos(lay.place(6, 4))
        .graph_mode(BigValueGraphMode.AREA)
        .with_target(_query(ctx, expr, title))
    )


def _table(ctx: DashboardContext, lay: _Layout, title: str, expr: str) -> Any:
    query = _query(ctx, expr, "").instant().format(PromQueryFormat.TABLE)
    return table.Panel().title(title).datasource(_ds(ctx)).grid_pos(lay.place(24, 8)).with_target(query)


def _base(ctx: DashboardContext, uid: str, title: str, kind: str) -> gdash.Dashboard:
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


def _to_dict(builder: gdash.Dashboard) -> dict[str, Any]:
    # Through the SDK's encoder so nested models become plain JSON values.
    decoded: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return decoded


def uid_for(kind: str, cluster_id: str) -> str:
    """Grafana uids are at most 40 characters; cluster ids can be longer."""
    uid = f"ks-{kind}-{cluster_id}"
    if len(uid) <= 40:
        return uid
    return f"ks-{kind}-{hashlib.sha1(cluster_id.encode()).hexdigest()[:16]}"


def cluster_dashboard(ctx: DashboardContext) -> dict[str, Any]:
    """One cluster: API server, nodes, etcd, workloads."""
    s, lay = ctx.selector, _Layout()
    dash = _base(ctx, uid_for("cluster", ctx.cluster_id), f"Cluster {ctx.cluster_id}", "cluster")
    dash = dash.with_row(gdash.Row("API server").grid_pos(lay.row()))
    dash = dash.with_panel(_stat(ctx, lay, "API ready", f'kansoku_check_up{{{s},check="apiserver_readyz"}}'))
    dash = dash.with_panel(
        _stat(ctx, lay, "Via management agent", f'kansoku_check_up{{{s},check="apiserver_mgmt_readyz"}}')
    )
    dash = dash.with_panel(
        _stat(ctx, lay, "Agent connected", f'kansoku_check_up{{{s},check="agent_connected"}}')
    )
    dash = dash.with_panel(
        _stat(ctx, lay, "Check latency", f"max by (cluster) (kansoku_check_duration_seconds{{{s}}})", "s")
    )
    lat = ctx.metric("apiserver_request_duration_seconds")
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "API request rate by verb",
            "reqps",
            (f"sum by (cluster, verb) (rate(apiserver_request_total{{{s}}}[5m]))", "{{verb}}"),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "API p99 latency by verb",
            "s",
            (
                f"histogram_quantile(0.99, sum by (cluster, verb, le) (rate({lat}_bucket{{{s}}}[5m])))",
                "{{verb}}",
            ),
        )
    )
    dash = dash.with_row(gdash.Row("Nodes").grid_pos(lay.row()))
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Nodes not ready",
            "none",
            (
                f'sum by (cluster) (kansoku_check_state{{{s},check="kubelet_ready",state="failing"}})',
                "not ready",
            ),
        )
    )
    pods = ctx.metric("kubelet_running_pods")
    dash = dash.with_panel(
        _ts(
            ctx, lay, "Running pods per node", "none", (f"sum by (cluster, node) ({pods}{{{s}}})", "{{node}}")
        )
    )
    dash = dash.with_row(gdash.Row("etcd").grid_pos(lay.row()))
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "etcd member health",
            "none",
            (f'kansoku_check_up{{{s},check="etcd_health"}}', "{{member}}"),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Time since last etcd backup",
            "s",
            (f"time() - kansoku_etcd_last_backup_timestamp_seconds{{{s}}}", "{{member}}"),
        )
    )
    objects = ctx.metric("apiserver_storage_objects")
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Objects in etcd by resource",
            "none",
            (f"topk(10, max by (cluster, resource) ({objects}{{{s}}}))", "{{resource}}"),
        )
    )
    dash = dash.with_row(gdash.Row("Workloads").grid_pos(lay.row()))
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Pods by phase",
            "none",
            (f"sum by (cluster, phase) (kube_pod_status_phase{{{s}}})", "{{phase}}"),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Container restarts by namespace",
            "none",
            (
                f"sum by (cluster, namespace) (increase(kube_pod_container_status_restarts_total{{{s}}}[1h]))",
                "{{namespace}}",
            ),
        )
    )
    return _to_dict(dash)


def fleet_overview(ctx: DashboardContext) -> dict[str, Any]:
    """All clusters: which are down, which checks fail, where nodes are not ready."""
    lay = _Layout()
    dash = _base(ctx, uid_for("fleet", ctx.region), f"Fleet overview ({ctx.region})", "fleet")
    dash = dash.with_panel(
        _stat(
            ctx,
            lay,
            "Clusters with API down",
            'count by (cluster, region) (kansoku_check_up{check="apiserver_readyz"} == 0)',
        )
    )
    dash = dash.with_panel(
        _stat(
            ctx,
            lay,
            "Agents disconnected",
            'sum by (cluster) (1 - kansoku_check_up{check="agent_connected"})',
        )
    )
    dash = dash.with_panel(
        _stat(
            ctx,
            lay,
            "Nodes not ready",
            'sum by (cluster) (kansoku_check_state{check="kubelet_ready",state="failing"})',
        )
    )
    dash = dash.with_panel(
        _stat(ctx, lay, "Heal paused", 'max by (cluster) (kansoku_heal_paused{cluster="fleet"})')
    )
    dash = dash.with_panel(_table(ctx, lay, "Failing checks", 'kansoku_check_state{state="failing"} == 1'))
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Failing checks by cluster",
            "none",
            ('sum by (cluster, check) (kansoku_check_state{state="failing"})', "{{cluster}} {{check}}"),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Unknown checks by cluster",
            "none",
            ('sum by (cluster, check) (kansoku_check_state{state="unknown"})', "{{cluster}} {{check}}"),
        )
    )
    return _to_dict(dash)


def openstack_control_plane(ctx: DashboardContext) -> dict[str, Any]:
    """OpenStack API latency/errors by service and route, RPC queues, service states."""
    s, lay = ctx.selector, _Layout()
    dash = _base(
        ctx, uid_for("openstack", ctx.cluster_id), f"OpenStack control plane {ctx.cluster_id}", "openstack"
    )
    req = "kansoku_openstack_api_requests_total"
    dur = "kansoku_openstack_api_request_duration_seconds_bucket"
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "API requests by service",
            "reqps",
            (f"sum by (cluster, service) (rate({req}{{{s}}}[5m]))", "{{service}}"),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "5xx ratio by service and route",
            "percentunit",
            (
                f'sum by (cluster, service, route) (rate({req}{{{s},status=~"5.."}}[5m]))'
                f" / sum by (cluster, service, route) (rate({req}{{{s}}}[5m]))",
                "{{service}} {{route}}",
            ),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "p99 latency by service and route",
            "s",
            (
                f"histogram_quantile(0.99, sum by (cluster, service, route, le) (rate({dur}{{{s}}}[5m])))",
                "{{service}} {{route}}",
            ),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "RPC queue depth",
            "none",
            (f"kansoku_rabbitmq_queue_messages{{{s}}}", "{{vhost}} {{queue}}"),
            (f"kansoku_rabbitmq_queue_messages_unacked{{{s}}}", "{{queue}} unacked"),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Queues without consumers",
            "none",
            (f"count by (cluster, vhost) (kansoku_rabbitmq_queue_consumers{{{s}}} == 0)", "{{vhost}}"),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Notification errors",
            "none",
            (
                f"sum by (cluster, event_type) (rate(kansoku_openstack_notifications_errors_total{{{s}}}[5m]))",
                "{{event_type}}",
            ),
        )
    )
    dash = dash.with_panel(_table(ctx, lay, "Services down", f"kansoku_openstack_service_up{{{s}}} == 0"))
    return _to_dict(dash)


def heal_journal(ctx: DashboardContext) -> dict[str, Any]:
    """What the healer did: actions by result, budget, pause switch."""
    lay = _Layout()
    heal = "kansoku_heal_actions_total"
    dash = _base(ctx, uid_for("heal", ctx.region), f"Auto-heal journal ({ctx.region})", "heal")
    dash = dash.with_panel(
        _stat(
            ctx, lay, "Budget remaining", 'min by (cluster) (kansoku_heal_budget_remaining{cluster="fleet"})'
        )
    )
    dash = dash.with_panel(
        _stat(ctx, lay, "Paused", 'max by (cluster) (kansoku_heal_paused{cluster="fleet"})')
    )
    dash = dash.with_panel(
        _stat(
            ctx, lay, "Failed actions (24h)", f'sum by (cluster) (increase({heal}{{result="failed"}}[24h]))'
        )
    )
    dash = dash.with_panel(
        _stat(
            ctx,
            lay,
            "Successful actions (24h)",
            f'sum by (cluster) (increase({heal}{{result="success"}}[24h]))',
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Heal actions by action and result",
            "none",
            (f"sum by (cluster, action, result) (increase({heal}[1h]))", "{{cluster}} {{action}} {{result}}"),
        )
    )
    dash = dash.with_panel(
        _table(
            ctx,
            lay,
            "Actions per cluster (24h)",
            f"sum by (cluster, action, result) (increase({heal}[24h])) > 0",
        )
    )
    return _to_dict(dash)


#: Dashboard kinds a bundle manifest may list. Scope: "cluster" (rendered per cluster into its
#: folder), "fleet" (once per region), "openstack" (once per OpenStack cloud).
DASHBOARDS: dict[str, tuple[str, DashboardDef]] = {
    "cluster": ("cluster", cluster_dashboard),
    "fleet-overview": ("fleet", fleet_overview),
    "openstack-control-plane": ("openstack", openstack_control_plane),
    "heal-journal": ("fleet", heal_journal),
}
