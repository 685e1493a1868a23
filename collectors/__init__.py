"""OpenStack-internal collectors and the one Prometheus exporter."""
