"""Template variables shared by the dashboards: `$datasource`, `$cluster`, `$namespace`, `$instance`.

Why: a dashboard written for one cluster (datasource uid and `cluster="<id>"` in every query)
has to be copied 700 times and drifts; with variables one copy serves the fleet and an
operator switches cluster in the dashboard. Panels refer to `${datasource}`, queries select
`cluster="$cluster"`; the variables' defaults (current values) are the datasource and cluster
the dashboard is rendered for, so a link still opens on the right cluster.
"""

from __future__ import annotations

import dataclasses

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from kansoku.dashboards.context import DashboardContext

DATASOURCE_VAR = "${datasource}"
CLUSTER_VAR = "$cluster"
#: Every cluster of the inventory, also while its API server is down (kansoku's own series).
CLUSTER_QUERY = "label_values(kansoku_check_state, cluster)"
#: Clusters whose kube-state-metrics is scraped: the component dashboards' data.
K8S_CLUSTER_QUERY = "label_values(kube_node_info, cluster)"
#: OpenStack clouds: the exporter puts the cloud name in `cluster`.
OPENSTACK_CLUSTER_QUERY = "label_values(kansoku_openstack_service_up, cluster)"


def templated(ctx: DashboardContext) -> DashboardContext:
    """`ctx` with the datasource and cluster replaced by the variables (panels and queries)."""
    return dataclasses.replace(ctx, cluster_id=CLUSTER_VAR, datasource_uid=DATASOURCE_VAR)


def _ds_ref() -> DataSourceRef:
    return DataSourceRef(type_val="prometheus", uid=DATASOURCE_VAR)


def _current(value: str | None) -> VariableOption | None:
    return VariableOption(text=value, value=value, selected=True) if value else None


def _query_var(
    name: str, query: str, label: str, default: str | None = None, all_: bool = False
) -> gdash.QueryVariable:
    var = (
        gdash.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(_ds_ref())
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    if all_:
        var = (
            var.include_all(True)
            .multi(True)
            .all_value(".*")
            .current(VariableOption(text="All", value="$__all"))
        )
    current = _current(default)
    return var.current(current) if current is not None else var


def with_variables(
    dash: gdash.Dashboard,
    datasource: str,
    cluster: str | None = None,
    *,
    cluster_var: bool = True,
    cluster_query: str = CLUSTER_QUERY,
    all_clusters: bool = False,
    namespace: bool = False,
    instance_of: str | None = None,
) -> gdash.Dashboard:
    """Add `$datasource` and `$cluster` (defaults: `datasource`, `cluster`), and on request
    `$namespace` (pods' namespaces of the cluster) and `$instance` (targets of job `instance_of`).

    `all_clusters` makes `$cluster` multi-valued with "All" (fleet views select `cluster=~"$cluster"`).
    """
    ds = gdash.DatasourceVariable("datasource").label("Data source").type("prometheus")
    current = _current(datasource)
    if current is not None:
        ds = ds.current(current)
    dash = dash.with_variable(ds)
    if cluster_var:
        dash = dash.with_variable(_query_var("cluster", cluster_query, "Cluster", cluster, all_=all_clusters))
    if namespace:
        query = 'label_values(kube_namespace_status_phase{cluster="$cluster"}, namespace)'
        dash = dash.with_variable(_query_var("namespace", query, "Namespace", all_=True))
    if instance_of:
        query = f'label_values(up{{cluster="$cluster", job=~"{instance_of}"}}, instance)'
        dash = dash.with_variable(_query_var("instance", query, "Instance", all_=True))
    return dash
