"""Prometheus rule files: one model for plain files and PrometheusRule manifests (model),
the multi-cluster PromQL check (promql), rendering (render), real promtool (promtool) and
`kansoku rules check|test` (check). Used by the add-on bundles and by `kansoku rules`.
"""
