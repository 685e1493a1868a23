"""The healer's configuration (`heal.yaml`): hooks, safety rails, auth, where things are.

Why one validated file: every safety limit is an operator decision that must be visible and
reviewable; a typo in an action name or a rail must stop `heal serve` at start with
file:line:field, not surface at 3 a.m. when the first alert arrives.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kansoku.alerts.heal.ha_config import HaSettings
from kansoku.alerts.heal.params import hook_problems
from kansoku.errors import ConfigError, FieldProblem, KansokuError
from kansoku.models import Cluster, HealHook
from kansoku.urls import check_url
from kansoku.yamlfile import line_of, read_yaml, validate

TOKEN_ENV = "KANSOKU_HEAL_TOKEN"


def _percent_or_count(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be >= 0")
        return value
    text = value.strip()
    if text.endswith("%") and text[:-1].isdigit() and 0 <= int(text[:-1]) <= 100:
        return text
    raise ValueError("expected a count (e.g. 3) or a percentage (e.g. 40%)")


class Safety(BaseModel):
    """The rails. Defaults are deliberately conservative: healing less beats deleting a fleet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cooldown_seconds: float = Field(900, ge=0, description="min time between actions on one target")
    max_unhealthy: int | str = Field(
        "40%",
        description="per cluster: stop when more targets than this are unhealthy "
        "(Cluster API unhealthyLessThanOrEqualTo)",
    )
    fleet_budget_per_hour: int = Field(20, ge=0, description="remediations per hour, whole fleet")
    storm_clusters: int = Field(
        5, ge=1, description="this many clusters firing within storm_window = shared dependency down"
    )
    storm_window_seconds: float = Field(300, gt=0)
    action_timeout_seconds: float = Field(600, gt=0, description="default per-action timeout")
    verify_deadline_seconds: float = Field(900, gt=0, description="time for the alert to resolve")
    replay_window_seconds: float = Field(
        3600, ge=0, description="an identical webhook body within this window is a replay (409)"
    )

    @field_validator("max_unhealthy")
    @classmethod
    def _check(cls, value: int | str) -> int | str:
        return _percent_or_count(value)


class BasicAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(..., min_length=1)
    password_file: str = Field(..., min_length=1, description="file holding the password")


class StorageSettings(BaseModel):
    """Where export policies live; `file` keeps them in a JSON file (one policy per cluster)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["file"] = "file"
    path: str = "export-policies.json"


class OpenStackSettings(BaseModel):
    """How actions reach Nova: a clouds.yaml cloud name (openstacksdk's usual lookup)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cloud: str | None = Field(None, description="clouds.yaml entry; None: OS_* environment")


class HealConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    journal: str = Field("heal-journal.sqlite", description="SQLite journal (audit log)")
    token_file: str | None = Field(None, description=f"bearer token file (else ${TOKEN_ENV})")
    basic_auth: BasicAuth | None = None
    dry_run: bool = False
    max_body_bytes: int = Field(1_048_576, gt=0, le=64 * 1_048_576)
    workers: int = Field(4, ge=1, le=64, description="actions run in parallel")
    hooks: list[HealHook] = Field(default_factory=list)
    inventory: str | None = Field(None, description="fleet inventory file (kansoku.inventory)")
    clusters: list[Cluster] = Field(default_factory=list, description="clusters not in the inventory")
    cluster_sizes: dict[str, int] = Field(
        default_factory=dict, description="nodes per cluster, for percentage max_unhealthy"
    )
    safety: Safety = Field(default_factory=Safety)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    openstack: OpenStackSettings = Field(default_factory=OpenStackSettings)
    workdir: str = Field(".", description="base for relative paths in action params")
    bundle_hooks: bool = Field(
        False, description="also use the heal hooks of each cluster's add-on bundle chain (after hooks:)"
    )
    bundle_dirs: list[str] = Field(default_factory=list, description="bundle roots; default: shipped")
    retention_days: float | None = Field(
        90,
        gt=0,
        description="journal rows closed for longer than this are pruned (hourly by `heal serve`, "
        "or `kansoku heal prune`); null keeps everything",
    )
    health_metrics_url: str | None = Field(
        None, description="kansoku collect serve /metrics: its check states can pause healing"
    )
    ha: HaSettings | None = Field(None, description="replicas coordinated in etcd (heal.ha); None: one")

    @field_validator("health_metrics_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, schemes=("http", "https"))


class LoadedConfig:
    """A validated config plus the directory its relative paths are relative to."""

    def __init__(self, config: HealConfig, base: Path, source: str) -> None:
        self.config = config
        self.base = base
        self.source = source

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def clusters(self) -> dict[str, Cluster]:
        found: dict[str, Cluster] = {}
        if self.config.inventory:
            from kansoku.inventory import load_inventory

            for cluster in load_inventory(self.path(self.config.inventory)).clusters:
                found[cluster.id] = cluster
        for cluster in self.config.clusters:
            found[cluster.id] = cluster
        return found

    def bearer_token(self) -> str | None:
        env = os.environ.get(TOKEN_ENV)
        if env:
            return env.strip()
        if self.config.token_file:
            return _read_secret(self.path(self.config.token_file), "token_file")
        return None

    def basic_credentials(self) -> tuple[str, str] | None:
        auth = self.config.basic_auth
        if auth is None:
            return None
        return auth.username, _read_secret(self.path(auth.password_file), "basic_auth.password_file")


def _read_secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KansokuError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not text:
        raise KansokuError(f"{what}: {path} is empty")
    return text


def load_heal_config(path: Path | str, known_actions: frozenset[str] | None = None) -> LoadedConfig:
    """Read heal.yaml; unknown action names are errors with their line."""
    path = Path(path)
    data, node = read_yaml(path)
    if data is None:
        raise ConfigError([FieldProblem(str(path), 1, "", "file is empty")])
    config = validate(HealConfig, data, node, str(path))
    if known_actions is None:
        from kansoku.alerts.heal.actions import ACTIONS

        known_actions = frozenset(ACTIONS)
    problems = []
    for i, hook in enumerate(config.hooks):
        for key, name in (("action", hook.action), ("escalate_to", hook.escalate_to)):
            if name is not None and name not in known_actions:
                problems.append(
                    FieldProblem(
                        str(path),
                        line_of(node, "hooks", i, key),
                        f"hooks[{i}].{key}",
                        f"unknown action {name!r}; known: {', '.join(sorted(known_actions))}",
                    )
                )
        if hook.action in known_actions and (hook.escalate_to is None or hook.escalate_to in known_actions):
            for key, message in hook_problems(hook):
                where = ("hooks", i, "params", key) if key else ("hooks", i, "params")
                field = f"hooks[{i}].params.{key}" if key else f"hooks[{i}].params"
                problems.append(FieldProblem(str(path), line_of(node, *where), field, message))
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(config, path.resolve().parent, str(path))


def config_from_model(config: HealConfig, base: Path) -> LoadedConfig:
    """For tests, the demo and the benchmark: a config built in code."""
    return LoadedConfig(config, base, "<code>")
