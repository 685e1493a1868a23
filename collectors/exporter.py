"""The one exporter: check states and OpenStack metrics as Prometheus series on /metrics.

Why custom collectors (objects with `collect()`) and not global Gauges: the values already
live in the state store and the pollers' state; building the families at scrape time from
them means no second copy to keep in sync, series of removed clusters vanish by themselves,
and `kansoku_check_up` is simply absent while a check is unknown (docs/contracts.md). Every
series has `cluster` and `region`; for the OpenStack control plane `cluster` is the cloud.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from kansoku.health.model import CheckStatus
from kansoku.models import CheckState

from .apimetrics import ApiMetrics
from .openstack import OpenStackState


class CheckCollector(Collector):
    """`kansoku_check_*` from the current flap-protected statuses.

    Cluster-level statuses carry `cluster, region, check`; per-subject ones add their label
    (`node` for kubelet_ready, `member` for etcd_health) with a non-empty value. No series has
    an empty `node=""`: in PromQL that matches "label absent".

    Why the summary of a per-subject check is exported only while it has no subjects (first
    round unanswered, "no nodes registered"): an aggregate mixed with its parts under one
    metric and check is counted twice by every `sum by (cluster)`, e.g. the dashboards'
    "nodes not ready". Once nodes are known, their own series carry the state (all unknown
    while the API is down), and the summary stays in the table and JSON.
    """

    def __init__(self, statuses: Callable[[], Sequence[CheckStatus]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "kansoku_check_up", "1 when the check passes, 0 when failing; absent while unknown"
        )
        state = GaugeMetricFamily("kansoku_check_state", "1 for the check's current state")
        dur = GaugeMetricFamily("kansoku_check_duration_seconds", "how long the last run of the check took")
        last_ok = GaugeMetricFamily(
            "kansoku_check_last_success_timestamp_seconds", "when the check last passed"
        )
        statuses = self._statuses()
        with_subjects = {(s.cluster, s.check) for s in statuses if s.subject is not None}
        for s in statuses:
            if s.subject is None and s.subject_label and (s.cluster, s.check) in with_subjects:
                continue
            key = {"cluster": s.cluster, "region": s.region, "check": s.check}
            if s.subject_label and s.subject:
                key[s.subject_label] = s.subject
            if s.state is not CheckState.UNKNOWN:
                up.add_sample(up.name, key, 1.0 if s.state is CheckState.OK else 0.0)
            for st in CheckState:
                state.add_sample(state.name, {**key, "state": str(st)}, 1.0 if s.state is st else 0.0)
            dur.add_sample(dur.name, key, s.last.duration_s)
            if s.last_success is not None:
                last_ok.add_sample(last_ok.name, key, s.last_success)
        yield from (up, state, dur, last_ok)


class OpenStackCollector(Collector):
    """API request metrics, RabbitMQ queues, service up/down and notification errors."""

    def __init__(
        self, state: OpenStackState, api: ApiMetrics, api_lock: threading.Lock | None = None
    ) -> None:
        self.state = state
        self.api = api
        self.api_lock = api_lock or threading.Lock()

    def collect(self) -> Iterator[Metric]:
        base = [self.state.cloud, self.state.region]
        req = CounterMetricFamily(
            "kansoku_openstack_api_requests", "API requests from wsgi access lines",
            labels=["cluster", "region", "service", "route", "method", "status"],
        )  # fmt: skip
        lat = HistogramMetricFamily(
            "kansoku_openstack_api_request_duration_seconds", "API request duration from wsgi access lines",
            labels=["cluster", "region", "service", "route", "method"],
        )  # fmt: skip
        with self.api_lock:
            for (service, route, method, status), n in sorted(self.api.requests.items()):
                req.add_metric([*base, service, route, method, status], float(n))
            for (service, route, method), h in sorted(self.api.latency.items()):
                lat.add_metric([*base, service, route, method], h.cumulative(), h.total)
        yield from (req, lat)
        qlabels = ["cluster", "region", "vhost", "queue"]
        msgs = GaugeMetricFamily("kansoku_rabbitmq_queue_messages", "messages in the queue", labels=qlabels)
        unacked = GaugeMetricFamily(
            "kansoku_rabbitmq_queue_messages_unacked", "delivered, not acked", labels=qlabels
        )
        consumers = GaugeMetricFamily(
            "kansoku_rabbitmq_queue_consumers", "consumers on the queue", labels=qlabels
        )
        svc = GaugeMetricFamily(
            "kansoku_openstack_service_up", "1 when the service/agent reports up",
            labels=["cluster", "region", "service", "host", "zone"],
        )  # fmt: skip
        errs = CounterMetricFamily(
            "kansoku_openstack_notifications_errors", "error notifications per event type",
            labels=["cluster", "region", "event_type", "publisher"],
        )  # fmt: skip
        with self.state.lock:
            for q in self.state.queues:
                msgs.add_metric([*base, q.vhost, q.queue], q.messages)
                unacked.add_metric([*base, q.vhost, q.queue], q.unacked)
                consumers.add_metric([*base, q.vhost, q.queue], q.consumers)
            seen: set[tuple[str, str, str]] = set()
            for rows in self.state.services.values():
                for r in rows:
                    if (r.service, r.host, r.zone) not in seen and r.enabled:
                        seen.add((r.service, r.host, r.zone))
                        svc.add_metric([*base, r.service, r.host, r.zone], 1.0 if r.up else 0.0)
            for (event_type, publisher), n in sorted(self.state.notification_errors.items()):
                errs.add_metric([*base, event_type, publisher], float(n))
        yield from (msgs, unacked, consumers, svc, errs)


def build_registry(*collectors: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)
    return registry


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Serve `registry` on http://host:port/metrics in a daemon thread."""
    return start_http_server(port, addr=host, registry=registry)
