"""What every dashboard sink returns and raises, shared by the directory sink
(`sinks`) and the grafana-client sink (`grafana_sink`) so neither imports the other's module
for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kansoku.errors import KansokuError


class VersionConflict(KansokuError):
    """Someone changed the dashboard in Grafana since we read it (HTTP 412 version-mismatch)."""


@dataclass(frozen=True)
class StoredDashboard:
    dashboard: dict[str, Any]
    version: int
    folder_uid: str | None
