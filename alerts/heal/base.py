"""The seam every remediation goes through: the `Action` Protocol and what an action gets.

Why plan/execute/verify: `plan` has no side effects, so dry-run and the demo show exactly
what would happen; `execute` acts (and may refuse after its own pre-checks, e.g. an IaaS
fault); `verify` checks the action's own postcondition (snapshot readable, policy written,
node Ready) before the closed loop waits for the alert itself to resolve.
"""

from __future__ import annotations

import functools
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kansoku.alerts.heal.model import Outcome
from kansoku.alerts.heal.params import label_problem
from kansoku.errors import KansokuError
from kansoku.models import Cluster, HealHook


class StorageBackend(Protocol):
    """Where export policies (which addresses may mount a cluster's volumes) are kept."""

    def get_policy(self, name: str) -> list[str]: ...

    def set_policy(self, name: str, addresses: list[str], request_id: str) -> None: ...


class KubeApi(Protocol):
    """The few Kubernetes API calls the actions make (JSON in, JSON out)."""

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]: ...

    def patch(self, path: str, body: dict[str, Any], content_type: str) -> dict[str, Any]: ...

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def delete(self, path: str) -> dict[str, Any]: ...


@dataclass
class Services:
    """Clients actions need, built lazily per action (each with the action's request id)."""

    storage: Callable[[], StorageBackend]
    kube: Callable[[Cluster, str], KubeApi]
    openstack: Callable[[str], Any]


class ActionFailed(KansokuError):
    """An action step failed in a way worth one clear line in the journal."""


@dataclass
class ActionContext:
    action: str
    labels: dict[str, str]
    annotations: dict[str, str]
    params: dict[str, Any]
    cluster: Cluster | None
    request_id: str
    timeout: float
    workdir: Path
    services: Services
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        """Seconds left of this action's timeout (never negative)."""
        return max(0.0, self.timeout - (time.monotonic() - self.started))

    def label(self, name: str) -> str:
        """A label value for a path, an argv or a URL path: refused when it could escape one."""
        value = self.labels.get(name)
        if not value:
            raise ActionFailed(f"{self.action}: alert has no '{name}' label")
        problem = label_problem(name, value)
        if problem is not None:
            raise ActionFailed(f"{self.action}: {problem}")
        return value

    def need_cluster(self) -> Cluster:
        if self.cluster is None:
            raise ActionFailed(
                f"{self.action}: cluster {self.labels.get('cluster')!r} is not in the inventory/config"
            )
        return self.cluster

    def str_param(self, name: str, default: str | None = None) -> str:
        value = self.params.get(name, default)
        if value is None or isinstance(value, list | bool):
            raise ActionFailed(f"{self.action}: parameter '{name}' must be a string")
        return self.expand(str(value))

    def list_param(
        self, name: str, default: list[str] | None = None, extra: dict[str, str] | None = None
    ) -> list[str]:
        value = self.params.get(name, default)
        if not isinstance(value, list):
            raise ActionFailed(f"{self.action}: parameter '{name}' must be a list of strings")
        return [self.expand(str(v), extra) for v in value]

    def int_param(self, name: str, default: int) -> int:
        value = self.params.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ActionFailed(f"{self.action}: parameter '{name}' must be a number")
        try:
            return int(value)
        except ValueError:
            raise ActionFailed(f"{self.action}: parameter '{name}' must be a number") from None

    def path_param(self, name: str, default: str) -> Path:
        p = Path(self.str_param(name, default))
        return p if p.is_absolute() else self.workdir / p

    def expand(self, text: str, extra: dict[str, str] | None = None, depth: int = 0) -> str:
        """Fill placeholders: `extra` (an action's own values), {request_id}, the hook's own
        string parameters ({data_dir}), then the alert's labels, each checked by `label`."""
        if depth > 8:
            raise ActionFailed(f"{self.action}: parameters refer to each other too deeply in {text!r}")
        try:
            parts = _placeholders(text)
        except ValueError as exc:
            raise ActionFailed(f"{self.action}: cannot fill {text!r}: {exc}") from None
        out: list[str] = []
        for literal, name, spec, conversion in parts:
            out.append(literal)
            if name is None:
                continue
            if spec or conversion or not name:
                raise ActionFailed(f"{self.action}: cannot fill {text!r}: bad placeholder")
            if extra is not None and name in extra:
                out.append(extra[name])
            elif name == "request_id":
                out.append(self.request_id)
            elif isinstance(self.params.get(name), str):
                out.append(self.expand(str(self.params[name]), extra, depth + 1))
            elif name in self.params:
                out.append(str(self.params[name]))
            else:
                out.append(self.label(name))
        return "".join(out)


@functools.lru_cache(maxsize=4096)
def _placeholders(text: str) -> tuple[tuple[str, str | None, str | None, str | None], ...]:
    """`text` split into (literal, name, spec, conversion); the hooks' few parameter strings
    are parsed once, not once per planned action (ValueError: broken braces, not cached)."""
    return tuple(string.Formatter().parse(text))


class Action(Protocol):
    """One kind of remediation; implementations are registered by name in heal.actions."""

    name: str
    #: labels the alert must carry for this action (checked when the webhook arrives)
    required_labels: tuple[str, ...]

    def plan(self, ctx: ActionContext) -> list[str]: ...

    def execute(self, ctx: ActionContext) -> Outcome: ...

    def verify(self, ctx: ActionContext, done: Outcome) -> Outcome: ...


class HookSource(Protocol):
    """A cluster's heal hooks from outside heal.yaml: the hooks its add-on bundle chain ships.

    Why a seam: the bundles (kansoku.addon_bundles) are built from this package's rule files,
    so they sit above it and the healer may not import them; the bundle catalog implements
    this Protocol (`addon_bundles.ops.CatalogHooks`) and `kansoku heal serve` (registered by
    the bundles' CLI) wires it in.
    """

    def hooks_for(self, cluster: Cluster) -> list[HealHook]: ...


#: Opens the HookSource for heal.yaml's `bundle_dirs` (None: the shipped bundles).
HookSources = Callable[[list[Path] | None], HookSource]
