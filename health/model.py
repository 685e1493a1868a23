"""What a check produces and what the state machine keeps.

Why separate result and status: a `CheckResult` is one probe's raw answer (ok, failing, or
unknown with a reason); a `CheckStatus` is what operators and the exporter see after flap
protection (the state only moves after N equal results, unknown carries "stale since T").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from kansoku.models import CheckState


def _state(ok: bool | None) -> CheckState:
    if ok is None:
        return CheckState.UNKNOWN
    return CheckState.OK if ok else CheckState.FAILING


@dataclass(frozen=True, slots=True)
class Part:
    """The verdict on one subject of a check (one node, one etcd member).

    Why: an alert must name the node or member the healer acts on, so a check that looks at
    many of them reports each one besides the cluster-level summary.
    """

    subject: str
    ok: bool | None
    reason: str

    @property
    def state(self) -> CheckState:
        return _state(self.ok)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A probe's verdict before it is tied to a cluster: None means we could not tell.

    `parts` holds one verdict per subject when the check looked at several (empty when it
    could not list them, e.g. the API did not answer).
    """

    ok: bool | None
    reason: str
    request_id: str | None = None
    parts: tuple[Part, ...] = ()

    @property
    def state(self) -> CheckState:
        return _state(self.ok)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one cluster (or of one subject of it) in one round.

    `subject_label` is set on every result of a per-subject check (`node`, `member`), also on
    its cluster-level summary; `subject` is None on the summary and names the node or member
    on the others. The exporter turns the pair into a label.
    """

    cluster: str
    region: str
    az: str | None
    check: str
    state: CheckState
    reason: str
    duration_s: float
    ts: float
    request_id: str | None = None
    subject_label: str | None = None
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = str(self.state)
        return out


@dataclass(slots=True)
class CheckStatus:
    """The flap-protected state of one (cluster, check, subject), as shown and exported."""

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
    subject_label: str | None = None
    subject: str | None = None

    @property
    def request_id(self) -> str | None:
        return self.last.request_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "region": self.region,
            "az": self.az,
            "check": self.check,
            **({self.subject_label: self.subject} if self.subject_label and self.subject else {}),
            "state": str(self.state),
            "since": self.since,
            "reason": self.reason,
            "last_success": self.last_success,
            "stale_since": self.stale_since,
            "pending": str(self.pending) if self.pending else None,
            "request_id": self.request_id,
            "duration_s": self.last.duration_s,
        }


_S = TypeVar("_S", CheckResult, CheckStatus)


def cluster_level(items: Iterable[_S]) -> list[_S]:
    """Only the cluster-level rows: what the table, the fault domain and the exit code read
    (per-node rows are summarised in their check's reason, which names the failing ones)."""
    return [s for s in items if s.subject is None]
