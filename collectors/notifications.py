"""Count error notifications per event type from the OpenStack notification bus.

Why oslo.messaging itself: services publish notifications with oslo.messaging's Notifier
(envelope `{"oslo.version": "2.0", "oslo.message": "<json>"}` with event_type, priority,
publisher_id, payload); listening with the same library gets the same decoding, pools and
reconnects the services use. An error is a notification at ERROR/CRITICAL priority or an
event type ending in `.error` (e.g. `compute.instance.create.error`, sent at ERROR).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from .openstack import OpenStackState

ERROR_PRIORITIES = frozenset({"error", "critical"})


@dataclass(frozen=True, slots=True)
class Notification:
    event_type: str
    priority: str
    publisher_id: str
    payload: Any

    @property
    def publisher(self) -> str:
        """`nova-compute:host-7` -> `nova-compute` (hosts stay out of metric labels)."""
        return self.publisher_id.split(":", 1)[0].split(".", 1)[0]

    @property
    def is_error(self) -> bool:
        return self.priority.lower() in ERROR_PRIORITIES or self.event_type.endswith(".error")


def parse_envelope(body: bytes | str) -> Notification:
    """Decode one raw AMQP message body as oslo.messaging sends notifications (v2 envelope)."""
    doc = json.loads(body)
    if isinstance(doc, dict) and "oslo.message" in doc:
        if doc.get("oslo.version") != "2.0":
            raise ValueError(f"unsupported oslo.version {doc.get('oslo.version')!r}")
        doc = json.loads(doc["oslo.message"])
    if not isinstance(doc, dict) or "event_type" not in doc:
        raise ValueError("not an oslo.messaging notification (no event_type)")
    return Notification(
        str(doc["event_type"]),
        str(doc.get("priority", "INFO")),
        str(doc.get("publisher_id", "")),
        doc.get("payload"),
    )


def count(state: OpenStackState, note: Notification) -> None:
    if note.is_error:
        key = (note.event_type, note.publisher)
        with state.lock:
            state.notification_errors[key] = state.notification_errors.get(key, 0) + 1


class _Endpoint:
    """oslo.messaging notification endpoint: one method per priority it dispatches."""

    def __init__(self, state: OpenStackState) -> None:
        self.state = state

    def _on(self, priority: str, publisher_id: str, event_type: str, payload: Any) -> None:
        count(self.state, Notification(event_type, priority, publisher_id or "", payload))

    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any) -> None:
        self._on("INFO", publisher_id, event_type, payload)

    def warn(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any) -> None:
        self._on("WARN", publisher_id, event_type, payload)

    def error(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any) -> None:
        self._on("ERROR", publisher_id, event_type, payload)

    def critical(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any) -> None:
        self._on("CRITICAL", publisher_id, event_type, payload)


class NotificationListener:
    """An oslo.messaging notification listener feeding `state.notification_errors`."""

    def __init__(
        self, state: OpenStackState, transport_url: str, topics: list[str], pool: str = "kansoku"
    ) -> None:
        import oslo_messaging
        from oslo_config import cfg

        conf = cfg.ConfigOpts()
        conf([], project="kansoku")
        self._transport = oslo_messaging.get_notification_transport(conf, url=transport_url)
        targets = [oslo_messaging.Target(topic=t) for t in topics]
        # A pool name gives kansoku its own queue, so it never steals notifications from
        # other consumers (ceilometer, searchlight) of the same topic.
        self._listener = oslo_messaging.get_notification_listener(
            self._transport, targets, [_Endpoint(state)], executor="threading", pool=pool
        )
        self._started = threading.Event()

    def start(self) -> None:
        """Connect and consume in a background thread: oslo.messaging's `start` retries the
        broker connection forever, and a RabbitMQ that is down must not keep the exporter
        from serving every other metric (its connection errors are logged meanwhile)."""

        def run() -> None:
            self._listener.start()
            self._started.set()

        threading.Thread(target=run, name="kansoku-notifications", daemon=True).start()

    def wait_started(self, timeout: float) -> bool:
        """True once connected and consuming (the pool queue exists), False after `timeout`."""
        return self._started.wait(timeout)

    def stop(self) -> None:
        """Stop consuming; a listener still waiting for its first connection is left to exit
        with the process (oslo.messaging's `stop` would wait for that connection)."""
        if not self._started.is_set():
            return
        self._listener.stop()
        self._listener.wait()
        self._transport.cleanup()
