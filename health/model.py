"""What a check produces and what the state machine keeps.

Why separate result and status: a `CheckResult` is one probe's raw answer (ok, failing, or
unknown with a reason); a `CheckStatus` is what operators and the exporter see after flap
protection (the state only moves after N equal results, unknown carries "stale since T").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kansoku.models import CheckState


@dataclass(frozen=True, slots=True)
class Outcome:
    """A probe's verdict before it is tied to a cluster: None means we could not tell."""

    ok: bool | None
    reason: str
    request_id: str | None = None

    @property
    def state(self) -> CheckState:
        if self.ok is None:
            return CheckState.UNKNOWN
        return CheckState.OK if self.ok else CheckState.FAILING


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one cluster in one round."""

    cluster: str
    region: str
    az: str | None
    check: str
    state: CheckState
    reason: str
    duration_s: float
    ts: float
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = str(self.state)
        return out


@dataclass(slots=True)
class CheckStatus:
    """The flap-protected state of one (cluster, check), as shown and exported."""

    cluster: str
    region: str
    az: str | None
    check: str
    state: CheckState
    since: float  # when `state` was entered
    reason: str
    last: CheckResult  # the latest raw result (may disagree with `state` while pending)
    last_success: float | None = None
    stale_since: float | None = None  # for UNKNOWN: time of the last definite result (or first try)
    pending: CheckState | None = None  # a different raw state seen, not yet confirmed
    pending_count: int = 0

    @property
    def request_id(self) -> str | None:
        return self.last.request_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "region": self.region,
            "az": self.az,
            "check": self.check,
            "state": str(self.state),
            "since": self.since,
            "reason": self.reason,
            "last_success": self.last_success,
            "stale_since": self.stale_since,
            "pending": str(self.pending) if self.pending else None,
            "request_id": self.request_id,
            "duration_s": self.last.duration_s,
        }
