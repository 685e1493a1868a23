"""Kubernetes component dashboards, provisioned once per region: API server, kubelet,
resources, persistent volumes, nodes, etcd.

Why these and why fleet scope: they are what an operator opens after a page (the
kubernetes-mixin / node-mixin / etcd-mixin set, reduced to the panels that answer "is it this
component, on which node/namespace"); with `$datasource` and `$cluster` one copy serves 700
clusters. Queries read the vendored mixins' recording rules where they exist
(`code_resource:apiserver_request_total:rate5m`, `instance:node_cpu_utilisation:rate5m`, ...)
so dashboards and alerts show the same numbers, and keep `cluster` in every aggregation.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as gdash

from kansoku.dashboards.context import DashboardContext
from kansoku.dashboards.panels import (
    DashboardDef,
    Layout,
    base,
    stat_panel,
    table_panel,
    to_dict,
    ts,
    uid_for,
)
from kansoku.dashboards.variables import K8S_CLUSTER_QUERY, templated, with_variables

_ETCD_JOB = 'job=~".*etcd.*"'


def _k8s_dashboard(ctx: DashboardContext, slug: str, title: str, **variables: Any) -> gdash.Dashboard:
    """Dashboard `k8s-<slug>` of the region, titled `<title> (<region>)`, with its variables."""
    return with_variables(
        base(ctx, uid_for(f"k8s-{slug}", ctx.region), f"{title} ({ctx.region})", "k8s"),
        ctx.datasource_uid,
        **variables,
    )


def _with_panels(dash: gdash.Dashboard, *panels: Any) -> dict[str, Any]:
    """`dash` with `panels` in order, as Grafana's JSON."""
    for panel in panels:
        dash = dash.with_panel(panel)
    return to_dict(dash)


def apiserver(ctx: DashboardContext) -> dict[str, Any]:
    """Availability and error budget (SLO), kansoku's probes, rate, errors, latency, inflight."""
    dash = _k8s_dashboard(ctx, "apiserver", "API server")
    t, lay = templated(ctx), Layout()
    s = t.selector
    avail = f'apiserver_request:availability30d{{{s},verb="all"}}'
    return _with_panels(
        dash,
        stat_panel(t, lay, "Availability (30d)", f"max by (cluster) ({avail})", "percentunit"),
        stat_panel(
            t, lay, "Error budget left (99%)", f"max by (cluster) (({avail} - 0.99) / 0.01)", "percentunit"
        ),
        stat_panel(
            t,
            lay,
            "Ready (kansoku, direct)",
            f'max by (cluster) (kansoku_check_state{{{s},check="apiserver_readyz",state="ok"}})',
        ),
        stat_panel(
            t,
            lay,
            "Ready (management path)",
            f'max by (cluster) (kansoku_check_state{{{s},check="apiserver_mgmt_readyz",state="ok"}})',
        ),
        ts(
            t,
            lay,
            "Requests by code",
            "reqps",
            (f"sum by (cluster, code) (code_resource:apiserver_request_total:rate5m{{{s}}})", "{{code}}"),
        ),
        ts(
            t,
            lay,
            "5xx ratio, read and write",
            "percentunit",
            (
                f'sum by (cluster, verb) (code_resource:apiserver_request_total:rate5m{{{s},code=~"5.."}})'
                f" / sum by (cluster, verb) (code_resource:apiserver_request_total:rate5m{{{s}}})",
                "{{verb}}",
            ),
        ),
        ts(
            t,
            lay,
            "p99 latency by verb",
            "s",
            (
                f"max by (cluster, verb) (cluster_verb:apiserver_request_duration_seconds:p99{{{s}}})",
                "{{verb}}",
            ),
        ),
        ts(
            t,
            lay,
            "Inflight requests",
            "none",
            (
                f"sum by (cluster, request_kind) (apiserver_current_inflight_requests{{{s}}})",
                "{{request_kind}}",
            ),
        ),
    )


def kubelet(ctx: DashboardContext) -> dict[str, Any]:
    """Kubelets up, nodes not ready, pods per node, pod start and PLEG latency, runtime errors."""
    dash = _k8s_dashboard(ctx, "kubelet", "Kubelet", cluster_query=K8S_CLUSTER_QUERY, instance_of="kubelet")
    t, lay = templated(ctx), Layout()
    s, i = t.selector, 'instance=~"$instance"'
    return _with_panels(
        dash,
        stat_panel(
            t,
            lay,
            "Kubelets up",
            f'count by (cluster) (up{{{s},job="kubelet",metrics_path="/metrics"}} == 1)',
        ),
        stat_panel(
            t,
            lay,
            "Nodes not ready (kansoku)",
            f'sum by (cluster) (kansoku_check_state{{{s},check="kubelet_ready",state="failing"}})',
        ),
        stat_panel(
            t,
            lay,
            "Nodes unknown (kansoku)",
            f'sum by (cluster) (kansoku_check_state{{{s},check="kubelet_ready",state="unknown"}})',
        ),
        stat_panel(
            t, lay, "Running pods", f"sum by (cluster) (cluster_node:kubelet_running_pods:sum{{{s}}})"
        ),
        ts(
            t,
            lay,
            "Running pods per node",
            "none",
            (f"sum by (cluster, node) (cluster_node:kubelet_running_pods:sum{{{s}}})", "{{node}}"),
        ),
        ts(
            t,
            lay,
            "Pod start p99",
            "s",
            (
                "histogram_quantile(0.99, sum by (cluster, instance, le) "
                f"(rate(kubelet_pod_start_duration_seconds_bucket{{{s},{i}}}[5m])))",
                "{{instance}}",
            ),
        ),
        ts(
            t,
            lay,
            "PLEG relist p99",
            "s",
            (
                f'max by (cluster, node) (node_quantile:kubelet_pleg_relist_duration_seconds:histogram_quantile{{{s},quantile="0.99"}})',
                "{{node}}",
            ),
        ),
        ts(
            t,
            lay,
            "Runtime operation errors",
            "ops",
            (
                f"sum by (cluster, instance, operation_type) (rate(kubelet_runtime_operations_errors_total{{{s},{i}}}[5m]))",
                "{{instance}} {{operation_type}}",
            ),
        ),
    )


def resources(ctx: DashboardContext) -> dict[str, Any]:
    """CPU/memory commitment (requests vs allocatable), usage vs requests per namespace and pod."""
    dash = _k8s_dashboard(ctx, "resources", "Resources", cluster_query=K8S_CLUSTER_QUERY, namespace=True)
    t, lay = templated(ctx), Layout()
    s, ns = t.selector, 'namespace=~"$namespace"'
    return _with_panels(
        dash,
        stat_panel(
            t,
            lay,
            "CPU requests / allocatable",
            f"sum by (cluster) (namespace_cpu:kube_pod_container_resource_requests:sum{{{s}}})"
            f' / sum by (cluster) (kube_node_status_allocatable{{{s},resource="cpu"}})',
            "percentunit",
        ),
        stat_panel(
            t,
            lay,
            "Memory requests / allocatable",
            f"sum by (cluster) (namespace_memory:kube_pod_container_resource_requests:sum{{{s}}})"
            f' / sum by (cluster) (kube_node_status_allocatable{{{s},resource="memory"}})',
            "percentunit",
        ),
        stat_panel(
            t,
            lay,
            "CPU used / allocatable",
            f"sum by (cluster) (node_namespace_pod_container:container_cpu_usage_seconds_total:sum_rate5m{{{s}}})"
            f' / sum by (cluster) (kube_node_status_allocatable{{{s},resource="cpu"}})',
            "percentunit",
        ),
        stat_panel(
            t,
            lay,
            "Pods crash looping",
            f'count by (cluster) (kube_pod_container_status_waiting_reason{{{s},reason="CrashLoopBackOff"}} == 1)',
        ),
        ts(
            t,
            lay,
            "CPU used vs requested by namespace",
            "none",
            (
                f"sum by (cluster, namespace) (node_namespace_pod_container:container_cpu_usage_seconds_total:sum_rate5m{{{s},{ns}}})",
                "{{namespace}} used",
            ),
            (
                f"sum by (cluster, namespace) (namespace_cpu:kube_pod_container_resource_requests:sum{{{s},{ns}}})",
                "{{namespace}} requested",
            ),
        ),
        ts(
            t,
            lay,
            "Memory working set vs requested by pod",
            "bytes",
            (
                f"sum by (cluster, namespace, pod) (node_namespace_pod_container:container_memory_working_set_bytes{{{s},{ns}}})",
                "{{namespace}}/{{pod}}",
            ),
            (
                f"sum by (cluster, namespace, pod) (cluster:namespace:pod_memory:active:kube_pod_container_resource_requests{{{s},{ns}}})",
                "{{namespace}}/{{pod}} requested",
            ),
        ),
        ts(
            t,
            lay,
            "CPU throttling by pod",
            "percentunit",
            (
                f"sum by (cluster, namespace, pod) (increase(container_cpu_cfs_throttled_periods_total{{{s},{ns}}}[5m]))"
                f" / sum by (cluster, namespace, pod) (increase(container_cpu_cfs_periods_total{{{s},{ns}}}[5m]))",
                "{{namespace}}/{{pod}}",
            ),
        ),
        ts(
            t,
            lay,
            "Container restarts by namespace (1h)",
            "none",
            (
                f"sum by (cluster, namespace) (cluster_namespace:kube_pod_container_status_restarts:increase1h{{{s},{ns}}})",
                "{{namespace}}",
            ),
        ),
    )


def persistent_volumes(ctx: DashboardContext) -> dict[str, Any]:
    """PVC space and inodes used, PVs by phase, pending claims, volumes close to full."""
    dash = _k8s_dashboard(ctx, "pv", "Persistent volumes", cluster_query=K8S_CLUSTER_QUERY, namespace=True)
    t, lay = templated(ctx), Layout()
    sel = f'{t.selector},namespace=~"$namespace"'
    used = (
        f"max by (cluster, namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes{{{sel}}}"
        f" / kubelet_volume_stats_capacity_bytes{{{sel}}})"
    )
    return _with_panels(
        dash,
        stat_panel(
            t,
            lay,
            "PVCs pending",
            f'sum by (cluster) (kube_persistentvolumeclaim_status_phase{{{sel},phase="Pending"}})',
        ),
        stat_panel(
            t,
            lay,
            "PVs failed",
            f'sum by (cluster) (kube_persistentvolume_status_phase{{{t.selector},phase=~"Failed|Pending"}})',
        ),
        stat_panel(t, lay, "PVCs over 85% full", f"count by (cluster) ({used} > 0.85)"),
        stat_panel(t, lay, "Fullest PVC", f"max by (cluster) ({used})", "percentunit"),
        ts(t, lay, "Space used by PVC", "percentunit", (used, "{{namespace}}/{{persistentvolumeclaim}}")),
        ts(
            t,
            lay,
            "Inodes used by PVC",
            "percentunit",
            (
                f"max by (cluster, namespace, persistentvolumeclaim) (kubelet_volume_stats_inodes_used{{{sel}}}"
                f" / kubelet_volume_stats_inodes{{{sel}}})",
                "{{namespace}}/{{persistentvolumeclaim}}",
            ),
        ),
        table_panel(t, lay, "PVCs over 85% full", f"{used} > 0.85"),
    )


def nodes(ctx: DashboardContext) -> dict[str, Any]:
    """node-exporter per instance: CPU, load, memory, filesystem, disk IO, network, clock."""
    dash = _k8s_dashboard(ctx, "nodes", "Nodes", cluster_query=K8S_CLUSTER_QUERY, instance_of="node-exporter")
    t, lay = templated(ctx), Layout()
    sel = f'{t.selector},instance=~"$instance"'
    fs = f'{sel},fstype!~"tmpfs|overlay|squashfs",mountpoint!=""'
    return _with_panels(
        dash,
        ts(
            t,
            lay,
            "CPU utilisation",
            "percentunit",
            (f"instance:node_cpu_utilisation:rate5m{{{sel}}}", "{{instance}}"),
        ),
        ts(t, lay, "Load per CPU", "none", (f"instance:node_load1_per_cpu:ratio{{{sel}}}", "{{instance}}")),
        ts(
            t,
            lay,
            "Memory utilisation",
            "percentunit",
            (f"instance:node_memory_utilisation:ratio{{{sel}}}", "{{instance}}"),
        ),
        ts(
            t,
            lay,
            "Filesystem used",
            "percentunit",
            (
                f"1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}}",
                "{{instance}} {{mountpoint}}",
            ),
        ),
        ts(
            t,
            lay,
            "Disk IO saturation",
            "none",
            (
                f"instance_device:node_disk_io_time_weighted_seconds:rate5m{{{sel}}}",
                "{{instance}} {{device}}",
            ),
        ),
        ts(
            t,
            lay,
            "Network drops (receive, transmit)",
            "pps",
            (f"instance:node_network_receive_drop_excluding_lo:rate5m{{{sel}}}", "{{instance}} rx"),
            (f"instance:node_network_transmit_drop_excluding_lo:rate5m{{{sel}}}", "{{instance}} tx"),
        ),
        ts(t, lay, "Clock offset", "s", (f"node_timex_offset_seconds{{{sel}}}", "{{instance}}")),
        table_panel(
            t,
            lay,
            "Nodes not ready (kansoku)",
            f'kansoku_check_state{{{t.selector},check="kubelet_ready",state!="ok"}} == 1',
        ),
    )


def etcd(ctx: DashboardContext) -> dict[str, Any]:
    """Members, leader, kansoku's health and backups, DB size vs quota, fsync and commit latency."""
    dash = _k8s_dashboard(ctx, "etcd", "etcd")
    t, lay = templated(ctx), Layout()
    s = t.selector
    e = f"{s},{_ETCD_JOB}"
    return _with_panels(
        dash,
        stat_panel(t, lay, "Members up", f"sum by (cluster) (up{{{e}}})"),
        stat_panel(
            t, lay, "Members without leader", f"count by (cluster) (etcd_server_has_leader{{{e}}} == 0)"
        ),
        stat_panel(
            t,
            lay,
            "Leader changes (1h)",
            f"max by (cluster) (increase(etcd_server_leader_changes_seen_total{{{e}}}[1h]))",
        ),
        stat_panel(
            t,
            lay,
            "Newest backup age (kansoku)",
            f"min by (cluster) (time() - kansoku_etcd_last_backup_timestamp_seconds{{{s}}})",
            "s",
        ),
        ts(
            t,
            lay,
            "Member health (kansoku)",
            "none",
            (f'kansoku_check_state{{{s},check="etcd_health",state="ok"}}', "{{member}}"),
        ),
        ts(
            t,
            lay,
            "DB size vs quota",
            "percentunit",
            (
                f"max by (cluster, instance) (etcd_mvcc_db_total_size_in_bytes{{{e}}}"
                f" / etcd_server_quota_backend_bytes{{{e}}})",
                "{{instance}}",
            ),
        ),
        ts(
            t,
            lay,
            "WAL fsync p99",
            "s",
            (
                "histogram_quantile(0.99, sum by (cluster, instance, le) "
                f"(rate(etcd_disk_wal_fsync_duration_seconds_bucket{{{e}}}[5m])))",
                "{{instance}}",
            ),
        ),
        ts(
            t,
            lay,
            "Backend commit p99",
            "s",
            (
                "histogram_quantile(0.99, sum by (cluster, instance, le) "
                f"(rate(etcd_disk_backend_commit_duration_seconds_bucket{{{e}}}[5m])))",
                "{{instance}}",
            ),
        ),
        ts(
            t,
            lay,
            "Failed proposals",
            "ops",
            (f"sum by (cluster) (rate(etcd_server_proposals_failed_total{{{e}}}[5m]))", "failed"),
        ),
    )


#: Fleet-scope dashboards (rendered once per region by `kansoku bundle install --fleet`).
K8S_DASHBOARDS: dict[str, tuple[str, DashboardDef]] = {
    "k8s-apiserver": ("fleet", apiserver),
    "k8s-kubelet": ("fleet", kubelet),
    "k8s-resources": ("fleet", resources),
    "k8s-pv": ("fleet", persistent_volumes),
    "k8s-nodes": ("fleet", nodes),
    "k8s-etcd": ("fleet", etcd),
}
