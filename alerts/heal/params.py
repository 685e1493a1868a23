"""What each action's hook parameters may be, checked when the config loads; placeholders.

Why models checked at load and not types checked when an action runs: a parameter of the
wrong type (`timeout_seconds: "abc"`) used to raise inside the decision transaction, roll
it back, and make the engine retry the same alert forever: healing stopped for good while
`/healthz` said ok. A typo has to stop `heal serve` at start with file:line:field instead.

Why placeholders are resolved against the hook's own parameters first: `start_command:
[..., "{data_dir}"]` means the restore's data directory, not an alert label called
`data_dir` (issue 12: every such webhook got 422 and dropped its alert group). A name that
is neither a parameter nor `request_id` is an alert label the alert must carry; a name that
cannot be a label (`{0}`, `{a.b}`, `{x!r}`), a cycle between parameters or broken braces
is an error at load time.

Why label values are checked where they are filled in: labels are shaped by whoever can
push a metric; `member=../../../x` placed into `data_dir` made `etcd_restore` write outside
its directory, and `-rf` in an argv is an option. `safe_label` refuses `/`, `..`, a leading
`-` and control characters.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kansoku.models import HealHook
from kansoku.urls import check_url

#: what a placeholder must look like to name an alert label (Prometheus label name syntax)
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: placeholders filled by the healer itself, never by the alert
BUILTINS = frozenset({"request_id"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Common(BaseModel):
    """Parameters every action understands (the worker reads them, not the action)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: float | None = Field(None, gt=0, description="this action's timeout")
    verify_deadline_seconds: float | None = Field(None, gt=0, description="time for the alert to resolve")


class EtcdSnapshotParams(Common):
    dir: str | None = None
    endpoints: list[str] | None = None


class EtcdRestoreParams(Common):
    snapshot_dir: str | None = None
    data_dir: str | None = None
    peer_url: str | None = None
    initial_cluster: str | None = None
    start_command: list[str] | None = Field(None, min_length=1)
    endpoints: list[str] | None = None


class RestartAgentParams(Common):
    namespace: str | None = None
    deployment: str | None = None


class ScaleOutParams(Common):
    pool: str = Field(..., min_length=1, description="the MachineDeployment (or other /scale target)")
    namespace: str | None = None
    api: str | None = None
    resource: str | None = None
    step: int | None = Field(None, ge=1)
    max_replicas: int | None = Field(None, ge=1)


class StorageAclSyncParams(Common):
    policy: str | None = None


class ReplaceNodeParams(Common):
    allow_attached_volumes: bool | None = None
    flavor_id: str | None = None
    image_id: str | None = None
    network_id: str | None = None


class RunCommandParams(Common):
    argv: list[str] | None = Field(None, min_length=1)
    command: str | None = Field(None, min_length=1)
    verify_argv: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_way_to_run(self) -> RunCommandParams:
        if (self.argv is None) == (self.command is None):
            raise ValueError("needs exactly one of 'argv' (list) or 'command' (string)")
        return self


class WebhookParams(Common):
    url: str = Field(..., pattern=r"^https?://[^\s]+$", description="where the alert is POSTed")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, schemes=("http", "https"))


PARAM_MODELS: dict[str, type[Common]] = {
    "etcd_snapshot": EtcdSnapshotParams,
    "etcd_restore": EtcdRestoreParams,
    "restart_agent": RestartAgentParams,
    "scale_out": ScaleOutParams,
    "storage_acl_sync": StorageAclSyncParams,
    "replace_node": ReplaceNodeParams,
    "run_command": RunCommandParams,
    "webhook": WebhookParams,
}


def fields_of(params: Mapping[str, object]) -> list[tuple[str, str]]:
    """Every placeholder of every string parameter as (parameter, placeholder text)."""
    out = []
    for key, value in params.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                out.append((key, text))
    return out


def parse_placeholders(text: str) -> list[str]:
    """Names of the `{name}` placeholders in `text`; ValueError says what is wrong."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if conversion or spec:
            raise ValueError(f"placeholder {{{name}...}} in {text!r}: no conversions or formats")
        if not LABEL_NAME.fullmatch(name):
            raise ValueError(f"placeholder {{{name}}} in {text!r} is neither a parameter nor a label name")
        names.append(name)
    return names


def label_placeholders(params: Mapping[str, object]) -> set[str]:
    """Alert labels a hook's parameters fill in: placeholders that are not parameters."""
    names: set[str] = set()
    for _, text in fields_of(params):
        try:
            names |= set(parse_placeholders(text))
        except ValueError:
            continue  # reported at load time
    return {n for n in names if n not in params and n not in BUILTINS}


def hook_problems(hook: HealHook) -> list[tuple[str, str]]:
    """Problems of one hook's parameters as (parameter or '', message); [] when fine."""
    problems: list[tuple[str, str]] = []
    params = dict(hook.params)
    known: set[str] = set()
    for name in (hook.action, hook.escalate_to):
        if name is None:
            continue
        model = PARAM_MODELS.get(name)
        if model is None:
            known |= set(params)  # an action registered by a caller: it checks its own
            continue
        known |= set(model.model_fields)
        wanted = {k: v for k, v in params.items() if k in model.model_fields}
        try:
            model.model_validate(wanted)
        except ValidationError as exc:
            for err in exc.errors():
                where = str(err["loc"][0]) if err["loc"] else ""
                msg = err["msg"].removeprefix("Value error, ")
                problems.append((where, f"{msg} (for action {name})"))
    for key in sorted(set(params) - known):
        problems.append((key, f"unknown parameter for {hook.action}; known: {', '.join(sorted(known))}"))
    refs: dict[str, set[str]] = {}
    for key, text in fields_of(params):
        try:
            refs.setdefault(key, set()).update(n for n in parse_placeholders(text) if n in params)
        except ValueError as exc:
            problems.append((key, str(exc)))
    cycle = _cycle(refs)
    if cycle:
        problems.append((cycle[0], f"placeholders form a cycle: {' -> '.join(cycle)}"))
    return problems


def _cycle(refs: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the parameter -> parameter references, if there is one."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        if state.get(node) == 1:
            return [*path[path.index(node) :], node]
        if state.get(node) == 2:
            return None
        state[node] = 1
        for nxt in sorted(refs.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        state[node] = 2
        return None

    for start in sorted(refs):
        found = visit(start, [])
        if found:
            return found
    return None


def unsafe_label(value: str) -> str | None:
    """Why a label value must not go into a path or an argv, or None when it may."""
    if not value:
        return "is empty"
    if "/" in value or "\\" in value:
        return "contains a path separator"
    if ".." in value:
        return "contains '..'"
    if value.startswith("-"):
        return "starts with '-' (would read as an option)"
    if _CONTROL.search(value):
        return "contains a control character"
    return None


def label_problem(name: str, value: str) -> str | None:
    why = unsafe_label(value)
    return None if why is None else f"label {name}={value!r} {why}; not placed into a path or command"


def model_for(action: str) -> type[Common] | None:
    return PARAM_MODELS.get(action)


def number(params: Mapping[str, Any], name: str, default: float) -> float:
    """A positive number parameter, or `default` when absent or (in an old journal row) invalid."""
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return default
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if out > 0 else default
