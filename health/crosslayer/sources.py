"""Where the cross-layer verdict's facts come from: a snapshot file and the logs (Nova: crosslayer_nova).

Why: production asks Nova and neutron through openstacksdk (`crosslayer_nova.NovaIaas`);
the demo and offline use read a snapshot of those answers (`--iaas FILE`); failed requests come from the
indexed OpenStack logs, scanned once per store for ERROR records and 5xx answers, plus an
index lookup of the node VMs' server UUIDs (every line that names the VM).
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError
from kansoku.health.crosslayer import IAAS_PROJECTS, AgentView, FailedRequest, ServerView, Window
from kansoku.models import Cluster


def _ts(value: Any) -> float | None:
    """Nova's `updated_at` ("2026-11-20T06:01:02.000000", UTC without zone) -> epoch."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class SnapshotIaas:
    """An `IaasSource` answering from a snapshot of Nova/neutron answers (JSON file or dict).

    Shape: ``{"servers": [{"name", "id", "status", "hypervisor", "hypervisor_state",
    "hypervisor_status", "az", "cluster"?}], "agents": [{"binary", "host", "zone", "up",
    "enabled"?, "since"?}], "window"?: {"start", "end"}}``. A server with `cluster` only
    answers for that cluster (node names repeat across clusters); `window` is when the
    snapshot's facts hold (failed requests are looked up in it instead of "the last minutes").
    """

    def __init__(self, doc: dict[str, Any], origin: str = "IaaS snapshot") -> None:
        self.origin = origin
        self.window: Window | None = None
        if isinstance(doc.get("window"), dict):
            start, end = _ts(doc["window"].get("start")), _ts(doc["window"].get("end"))
            if start is not None and end is not None:
                self.window = Window(start, end)
        try:
            self._servers = [
                (
                    s.get("cluster"),
                    ServerView(
                        name=str(s["name"]),
                        id=str(s["id"]),
                        status=str(s.get("status", "ACTIVE")),
                        hypervisor=s.get("hypervisor"),
                        hypervisor_state=s.get("hypervisor_state"),
                        hypervisor_status=s.get("hypervisor_status"),
                        az=s.get("az"),
                    ),
                )
                for s in doc.get("servers", [])
            ]
            self._agents = [
                AgentView(
                    binary=str(a["binary"]),
                    host=str(a["host"]),
                    zone=a.get("zone"),
                    up=bool(a["up"]),
                    enabled=bool(a.get("enabled", True)),
                    since=_ts(a.get("since")),
                )
                for a in doc.get("agents", [])
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise KansokuError(f"{origin}: not an IaaS snapshot (missing or bad field {exc})") from None

    @classmethod
    def load(cls, path: Path) -> SnapshotIaas:
        try:
            doc = json.loads(path.read_text())
        except OSError as err:
            raise KansokuError(f"{path}: cannot read ({err.strerror})") from None
        except json.JSONDecodeError as err:
            raise KansokuError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
        if not isinstance(doc, dict):
            raise KansokuError(f"{path}: expected a JSON object with servers and agents")
        return cls(doc, str(path))

    def servers(self, cluster: Cluster, nodes: Sequence[str]) -> list[ServerView]:
        mine = [s for c, s in self._servers if c in (None, cluster.id)]
        if nodes:
            return [s for s in mine if s.name in set(nodes)]
        return [s for c, s in self._servers if c == cluster.id]

    def agents(self) -> list[AgentView]:
        return list(self._agents)

    def describe(self) -> str:
        return self.origin


# -- failed requests in the logs -----------------------------------------------------------


@dataclass
class AccessSamples:
    """One service's API answers, for the control-plane charts, as compact arrays.

    Why arrays and not an object per line: a 1 GB store has ~700,000 access lines; three
    arrays cost 18 bytes a line, an object ~150. A duration that was not logged is NaN.
    """

    ts: array[float] = field(default_factory=lambda: array("d"))
    duration: array[float] = field(default_factory=lambda: array("d"))
    status: array[int] = field(default_factory=lambda: array("H"))

    def add(self, ts: float, status: int, duration: float | None) -> None:
        self.ts.append(ts)
        self.status.append(status)
        self.duration.append(math.nan if duration is None else duration)


@dataclass
class StoreScan:
    """Failed requests and API answers of an index store, read in one pass."""

    failed: list[FailedRequest] = field(default_factory=list)
    access: dict[str, AccessSamples] = field(default_factory=dict)  # by service
    files: int = 0
    problems: list[str] = field(default_factory=list)


def _is_error_record(raw: str) -> bool:
    head = raw[:200]
    return " ERROR " in head or '"levelname": "ERROR"' in raw or " CRITICAL " in head


def _keep(raw: str) -> bool:
    from kansoku.tracing.stats import _candidate

    return _is_error_record(raw) or _candidate(raw[:2000].encode("utf-8", "replace"))


def _project(identity: str | None) -> str | None:
    parts = (identity or "").split()
    return parts[1] if len(parts) > 1 and parts[1] != "-" else None


def scan_store(store: Path) -> StoreScan:
    """Every live file of the store: ERROR records and 5xx answers (failed requests) and every
    access line (charts). Records are parsed only when a cheap text test says they may be one.
    """
    from kansoku.tracing.index import Store, iter_entries
    from kansoku.tracing.ingest.files import LogReadError
    from kansoku.tracing.ingest.records import iter_records
    from kansoku.tracing.model import LogLine
    from kansoku.tracing.stats import _stream_lines

    if not Store(store).exists():
        raise KansokuError(f"{store}: no index here; run `kansoku index PATH...` first (or give --store)")
    out = StoreScan()
    for entry in iter_entries(store):
        out.files += 1
        try:
            for rec in iter_records(
                _stream_lines(entry.path), entry.path, entry.service, entry.host, keep=_keep
            ):
                if not isinstance(rec, LogLine):
                    continue
                if rec.access is not None and rec.ts is not None:
                    samples = out.access.get(rec.service)
                    if samples is None:
                        samples = out.access[rec.service] = AccessSamples()
                    samples.add(rec.ts, rec.access.status, rec.access.duration)
                failed = rec.level in ("ERROR", "CRITICAL") or (
                    rec.access is not None and rec.access.status >= 500
                )
                rid = rec.global_id or rec.local_id
                if failed and rid:
                    status = rec.access.status if rec.access is not None else None
                    out.failed.append(
                        FailedRequest(rid, rec.ts, rec.service, rec.host, rec.message.split("\n", 1)[0][:300],
                                      status, rec.instance, _project(rec.user_identity), rec.location)
                    )  # fmt: skip
        except LogReadError as err:
            out.problems.append(str(err))
    out.failed.sort(key=lambda f: f.ts or 0.0)
    return out


class LogFailures:
    """A `FailureSource` over a store scan (by host, project) and the index (by server UUID)."""

    def __init__(self, scan: StoreScan, store: Path | None = None) -> None:
        self.scan = scan
        self.store = store

    def _by_instance(self, instances: list[str], window: Window) -> Iterator[FailedRequest]:
        if not instances or self.store is None:
            return
        from kansoku.tracing.sources.index import IndexSource

        source = IndexSource(self.store)
        try:
            for line in source.lines_for(instances):
                rid = line.global_id or line.local_id
                if rid and line.level in ("ERROR", "CRITICAL") and line.ts in window:
                    yield FailedRequest(rid, line.ts, line.service, line.host,
                                        line.message.split("\n", 1)[0][:300], None, line.instance,
                                        _project(line.user_identity), line.location)  # fmt: skip
        finally:
            source.close()

    def failed(
        self, window: Window, *, hosts: Iterable[str], instances: Iterable[str], projects: Iterable[str]
    ) -> list[FailedRequest]:
        hosts, projects, inst = set(hosts), set(projects), list(instances)
        found: dict[str, FailedRequest] = {}
        for f in self.scan.failed:
            if f.ts not in window or f.service.split("-", 1)[0] not in IAAS_PROJECTS:
                continue
            if f.host in hosts or (f.project is not None and f.project in projects):
                found.setdefault(f.request_id, f)
        for f in self._by_instance(inst, window):
            found.setdefault(f.request_id, f)
        return sorted(found.values(), key=lambda f: f.ts or 0.0)
