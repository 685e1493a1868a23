"""Dashboards as code with grafana-foundation-sdk: cluster, fleet, OpenStack, heal journal.

Why grafana-foundation-sdk: its builders are generated from Grafana's own schemas, so a
panel option that Grafana does not know cannot be written (grafanalib has had no release
since 2024). Every query keeps `cluster` in its aggregations (checked with the same PromQL
check as the rules) and every panel takes its datasource from the `$datasource` variable and
its cluster from `$cluster` (defaults: the datasource and cluster rendered for).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gdash

from kansoku.dashboards.context import DashboardContext
from kansoku.dashboards.k8s import K8S_DASHBOARDS
from kansoku.dashboards.panels import DashboardDef, Layout, uid_for
from kansoku.dashboards.panels import base as _base
from kansoku.dashboards.panels import stat_panel as _stat
from kansoku.dashboards.panels import table_panel as _table
from kansoku.dashboards.panels import to_dict as _to_dict
from kansoku.dashboards.panels import ts as _ts
from kansoku.dashboards.variables import OPENSTACK_CLUSTER_QUERY, templated, with_variables

__all__ = ["DASHBOARDS", "DashboardDef", "uid_for"]
_Layout = Layout


def cluster_dashboard(ctx: DashboardContext) -> dict[str, Any]:
    """One cluster: API server, nodes, etcd, workloads; `$cluster` defaults to that cluster."""
    dash = _base(ctx, uid_for("cluster", ctx.cluster_id), f"Cluster {ctx.cluster_id}", "cluster")
    return _cluster_body(with_variables(dash, ctx.datasource_uid, ctx.cluster_id), templated(ctx))


#: Recording rules every kansoku-k8s bundle writes under one name, whatever the version's
#: metric names: a dashboard shared by the fleet reads these.
RECORDED = {
    "kubelet_running_pods": "cluster_node:kubelet_running_pods:sum",
    "apiserver_storage_objects": "cluster_resource:apiserver_storage_objects:max",
}


def fleet_cluster_dashboard(ctx: DashboardContext) -> dict[str, Any]:
    """The cluster dashboard provisioned once per region: pick the cluster in `$cluster`."""
    dash = _base(ctx, uid_for("k8s-cluster", ctx.region), f"Kubernetes cluster ({ctx.region})", "k8s")
    return _cluster_body(with_variables(dash, ctx.datasource_uid), replace(templated(ctx), metrics=RECORDED))


def _cluster_body(dash: gdash.Dashboard, ctx: DashboardContext) -> dict[str, Any]:
    s, lay = ctx.selector, _Layout()
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
    dash = with_variables(dash, ctx.datasource_uid, all_clusters=True)
    ctx = templated(ctx)
    dash = dash.with_panel(
        _stat(
            ctx,
            lay,
            "Clusters with API down",
            'count by (cluster, region) (kansoku_check_up{cluster=~"$cluster",check="apiserver_readyz"} == 0)',
        )
    )
    dash = dash.with_panel(
        _stat(
            ctx,
            lay,
            "Agents disconnected",
            'sum by (cluster) (1 - kansoku_check_up{cluster=~"$cluster",check="agent_connected"})',
        )
    )
    dash = dash.with_panel(
        _stat(
            ctx,
            lay,
            "Nodes not ready",
            'sum by (cluster) (kansoku_check_state{cluster=~"$cluster",check="kubelet_ready",state="failing"})',
        )
    )
    dash = dash.with_panel(
        _stat(ctx, lay, "Heal paused", 'max by (cluster) (kansoku_heal_paused{cluster="fleet"})')
    )
    dash = dash.with_panel(
        _table(ctx, lay, "Failing checks", 'kansoku_check_state{cluster=~"$cluster",state="failing"} == 1')
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Failing checks by cluster",
            "none",
            (
                'sum by (cluster, check) (kansoku_check_state{cluster=~"$cluster",state="failing"})',
                "{{cluster}} {{check}}",
            ),
        )
    )
    dash = dash.with_panel(
        _ts(
            ctx,
            lay,
            "Unknown checks by cluster",
            "none",
            (
                'sum by (cluster, check) (kansoku_check_state{cluster=~"$cluster",state="unknown"})',
                "{{cluster}} {{check}}",
            ),
        )
    )
    return _to_dict(dash)


def openstack_control_plane(ctx: DashboardContext) -> dict[str, Any]:
    """OpenStack API latency/errors by service and route, RPC queues, service states."""
    dash = _base(
        ctx, uid_for("openstack", ctx.cluster_id), f"OpenStack control plane {ctx.cluster_id}", "openstack"
    )
    # the OpenStack cloud is the `cluster` of its metrics: `$cluster` picks the cloud
    dash = with_variables(dash, ctx.datasource_uid, ctx.cluster_id, cluster_query=OPENSTACK_CLUSTER_QUERY)
    ctx = templated(ctx)
    s, lay = ctx.selector, _Layout()
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
    # the healer's series are fleet-wide (`cluster="fleet"`): only the datasource is a choice
    dash = with_variables(dash, ctx.datasource_uid, cluster_var=False)
    ctx = templated(ctx)
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
    "k8s-cluster": ("fleet", fleet_cluster_dashboard),
    **K8S_DASHBOARDS,
}
