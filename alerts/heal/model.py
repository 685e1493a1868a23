"""Alertmanager's webhook payload (version 4) as typed models, and what the healer decides.

Why typed: the payload is the only input an attacker or a misconfigured Alertmanager can
shape, so it is validated field by field before anything is journaled as accepted. The
fields follow Alertmanager 0.25's `notify/webhook/webhook.go` (`Message` embeds
`template.Data` plus `version`, `groupKey`, `truncatedAlerts`) and `template/template.go`
(`Alert`: status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint).
Unknown extra fields are allowed (newer Alertmanagers add some); missing ones are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WEBHOOK_VERSION = "4"


class AMAlert(BaseModel):
    """One alert inside a webhook (`template.Alert`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = Field(..., min_length=1)
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = Field(..., min_length=1, max_length=64)


class AMMessage(BaseModel):
    """The webhook body (`webhook.Message`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    version: str
    groupKey: str = ""
    truncatedAlerts: int = 0
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[AMAlert]
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""


class Decision(StrEnum):
    """What the engine did with one journaled alert; every value is shown in `heal history`."""

    ACT = "act"  # an action was planned and will run
    DRY_RUN = "dry_run"  # an action would have run; dry-run mode
    DUPLICATE = "duplicate"  # same (fingerprint, action, startsAt) already handled
    COOLDOWN = "cooldown"  # the target was remediated too recently
    MAX_UNHEALTHY = "max_unhealthy"  # too much of the cluster is unhealthy: a bigger fault
    BUDGET = "budget_exhausted"  # the fleet-wide budget is spent; healing paused
    SHARED_DEPENDENCY = "shared_dependency_down"  # kansoku's own checks blame a shared dependency
    PAUSED = "paused"  # the pause switch is on
    NO_HOOK = "no_hook"  # no heal hook matches (unknown alert name, or labels do not match)
    RESOLVED = "resolved"  # a resolved notification: closes the loop for earlier actions
    INVALID = "invalid_hook"  # the hook's parameters do not fit its action (see reason)
    STANDBY = "standby"  # HA: this replica does not lead; re-decided if it takes over (heal.ha)


#: Decisions that mean "a rail stopped it" (counted as result=skipped).
SKIPPED = frozenset(
    {
        Decision.DUPLICATE,
        Decision.COOLDOWN,
        Decision.MAX_UNHEALTHY,
        Decision.BUDGET,
        Decision.SHARED_DEPENDENCY,
        Decision.PAUSED,
    }
)


class ActionState(StrEnum):
    """Life of one action row in the journal."""

    PENDING = "pending"  # planned and committed, not started: resumed after a restart
    RUNNING = "running"  # started: after a crash it is marked failed, never re-run
    VERIFYING = "verifying"  # executed and its own check passed; waiting for the alert to resolve
    HEALED = "healed"  # the alert resolved before the deadline
    NOT_HEALED = "not_healed"  # the deadline passed with the alert still firing
    FAILED = "failed"  # execution or its own check failed, timed out, or was interrupted
    REFUSED = "refused"  # the IaaS pre-check found an IaaS fault: not recreated into it
    DRY_RUN = "dry_run"  # planned only


#: Action state -> the `result` label of kansoku_heal_actions_total.
RESULT_OF_STATE: dict[str, str] = {
    ActionState.HEALED: "success",
    ActionState.NOT_HEALED: "failed",
    ActionState.FAILED: "failed",
    ActionState.REFUSED: "skipped",
}


@dataclass
class Outcome:
    """What an action's execute or verify step found; `detail` is for operators."""

    ok: bool
    detail: str
    refused: bool = False
    data: dict[str, str] = field(default_factory=dict)
