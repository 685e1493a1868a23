"""The fleet inventory: which clusters exist, where to probe them, and the OpenStack cloud below.

Why one model: health checks, the exporter, alert rules and the healer all talk about the
same clusters; the inventory is a YAML file (validated with file:line:field errors) that may
also pull clusters from the Rancher v3 API or from OpenStack Magnum (`sources:`), and every
source yields the same `kansoku.models.Cluster`.

A file with a mistake is rejected as a whole (`ConfigError`); `collect serve` keeps the last
good inventory running (see `kansoku.collectors.serve`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kansoku.configpaths import credentials_relative_to, relative_to
from kansoku.errors import ConfigError, FieldProblem
from kansoku.models import Cluster
from kansoku.urls import check_url, inline_secret, redact
from kansoku.yamlfile import Node, line_of, read_yaml, validate

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Seconds from `30`, `1.5`, `500ms`, `30s`, `5m` or `1h` (Prometheus-style, one unit)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value).strip())
        if match is None:
            raise ValueError(f"expected a duration like 30s, 5m or 500ms, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


class LogSource(BaseModel):
    """One OpenStack service log to tail for wsgi access lines (API metrics)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(..., min_length=1, description="log file; rotation is followed")
    service: str | None = Field(None, description="service name; default: from the log lines")


class OpenStackSettings(BaseModel):
    """The OpenStack cloud under the fleet: its API, RabbitMQ and logs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cloud: str = Field("openstack", description="clouds.yaml cloud name; the `cluster` label")
    region: str = "default"
    compute_services: bool = Field(False, description="poll /os-services through openstacksdk")
    network_agents: bool = Field(False, description="poll neutron /v2.0/agents heartbeats")
    rabbitmq_url: str | None = Field(None, description="RabbitMQ management base URL")
    rabbitmq_user: str = "guest"
    rabbitmq_password_file: str | None = Field(None, description="file holding the password")
    transport_url: str | None = Field(
        None, description="oslo.messaging transport URL for the notifications listener (no password)"
    )
    transport_url_file: str | None = Field(
        None, description="file holding the transport URL when it carries a password"
    )

    @field_validator("transport_url")
    @classmethod
    def _no_inline_password(cls, value: str | None) -> str | None:
        """A transport URL with a password is a secret: keep it in `transport_url_file`."""
        if value is not None:
            if inline_secret(value) is not None:
                raise ValueError(
                    f"{redact(value)} carries a password inline; put the URL in a file and name it "
                    "in transport_url_file"
                )
            check_url(value, "transport URL", one_host=False)
        return value

    @field_validator("rabbitmq_url")
    @classmethod
    def _rabbitmq_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, schemes=("http", "https"))

    def notification_url(self) -> str | None:
        """The transport URL for the notifications listener, read from its file if it has one."""
        if self.transport_url_file is not None:
            try:
                return Path(self.transport_url_file).read_text().strip() or None
            except OSError as exc:
                raise ConfigError(
                    [
                        FieldProblem(
                            self.transport_url_file, None, "openstack.transport_url_file", str(exc.strerror)
                        )
                    ]
                ) from None
        return self.transport_url

    notification_topics: list[str] = Field(default_factory=lambda: ["notifications"])
    logs: list[LogSource] = Field(default_factory=list)


class RancherSource(BaseModel):
    """Clusters listed by Rancher's v3 API (`GET /v3/clusters`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["rancher"]
    url: str = Field(..., description="Rancher server base URL, e.g. https://rancher.example")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value, schemes=("http", "https"))

    token_file: str | None = Field(None, description="file holding `token-xxxxx:secret`")
    ca_file: str | None = None
    region: str = "default"


class MagnumSource(BaseModel):
    """Clusters listed by OpenStack Magnum through openstacksdk and clouds.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["magnum"]
    cloud: str = Field(..., description="clouds.yaml cloud name")
    region: str | None = None


InventorySource = RancherSource | MagnumSource


class PromQLCheck(BaseModel):
    """An advanced check: a PromQL expression compared with a threshold for a duration.

    The check fails when any returned sample satisfies `value <op> threshold` continuously
    for `for` seconds (as a Prometheus alert's `for`); an empty result passes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(..., pattern=r"^[a-z][a-z0-9_]*$")
    expr: str = Field(..., min_length=1)
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    threshold: float = 0.0
    for_s: float = Field(0.0, alias="for")
    clusters: list[str] | None = Field(None, description="cluster ids; default: all with prometheus")
    description: str = ""

    @field_validator("for_s", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class HealthSettings(BaseModel):
    """How the check loop runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_s: float = Field(30.0, alias="interval", gt=0)
    timeout_s: float = Field(2.0, alias="timeout", gt=0, description="per-check timeout")
    concurrency: int = Field(256, ge=1, description="checks in flight at once")
    flap_threshold: int = Field(2, ge=1, description="consecutive results needed to change state")
    shared_outage_ratio: float = Field(0.5, gt=0, le=1, description="see fleet_shared_dependency_down")
    etcd_backup_dir: str | None = Field(
        None, description="where etcd snapshots are kept, `{cluster}` is replaced (same as the healer's dir)"
    )

    @field_validator("interval_s", "timeout_s", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class Inventory(BaseModel):
    """The whole inventory file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clusters: list[Cluster] = Field(default_factory=list)
    sources: list[InventorySource] = Field(default_factory=list)
    openstack: OpenStackSettings = Field(default_factory=lambda: OpenStackSettings())
    checks: list[PromQLCheck] = Field(default_factory=list)
    settings: HealthSettings = Field(default_factory=lambda: HealthSettings())

    def cluster(self, cluster_id: str) -> Cluster | None:
        for cluster in self.clusters:
            if cluster.id == cluster_id:
                return cluster
        return None

    def with_clusters(self, clusters: list[Cluster]) -> Inventory:
        """A copy whose cluster list is `clusters` (file clusters plus those from sources)."""
        return self.model_copy(update={"clusters": clusters})


def _duplicates(
    source: str, node: Node | None, section: str, field: str, values: list[str], what: str
) -> list[FieldProblem]:
    """Every repeat of a value that must be unique in `section` (the first one stays)."""
    problems, seen = [], set()
    for i, value in enumerate(values):
        if value in seen:
            problems.append(
                FieldProblem(
                    source,
                    line_of(node, section, i, field),
                    f"{section}[{i}].{field}",
                    f"duplicate {what} {value!r}",
                )
            )
        seen.add(value)
    return problems


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate an inventory file; any mistake rejects the whole file.

    Raises `ConfigError` listing every problem as file:line:field (duplicate cluster ids and
    checks naming unknown clusters included). Relative paths in it are relative to the file.
    """
    path = Path(path)
    data, node = read_yaml(path)
    if data is None:
        data = {}
    inventory = validate(Inventory, data, node, str(path))
    problems = _duplicates(
        str(path), node, "clusters", "id", [c.id for c in inventory.clusters], "cluster id"
    )
    problems += _duplicates(
        str(path), node, "checks", "name", [c.name for c in inventory.checks], "check name"
    )
    seen = {c.id for c in inventory.clusters}
    for i, check in enumerate(inventory.checks):
        for j, cid in enumerate(check.clusters or []):
            if cid not in seen and not inventory.sources:
                problems.append(
                    FieldProblem(
                        str(path),
                        line_of(node, "checks", i, "clusters", j),
                        f"checks[{i}].clusters[{j}]",
                        f"unknown cluster {cid!r}",
                    )
                )
    if problems:
        raise ConfigError(problems)
    return inventory_relative_to(inventory, path.resolve().parent)


def inventory_relative_to(inventory: Inventory, base: Path) -> Inventory:
    """A copy of `inventory` whose file and folder fields are absolute, relative ones taken
    from `base` (the inventory file's folder)."""
    clusters = [
        c.model_copy(update={"credentials": credentials_relative_to(c.credentials, base)})
        for c in inventory.clusters
    ]
    sources = [
        s.model_copy(
            update={"token_file": relative_to(s.token_file, base), "ca_file": relative_to(s.ca_file, base)}
        )
        if s.type == "rancher"
        else s
        for s in inventory.sources
    ]
    os_ = inventory.openstack
    openstack = os_.model_copy(
        update={
            "rabbitmq_password_file": relative_to(os_.rabbitmq_password_file, base),
            "transport_url_file": relative_to(os_.transport_url_file, base),
            "logs": [log.model_copy(update={"path": relative_to(log.path, base)}) for log in os_.logs],
        }
    )
    settings = inventory.settings.model_copy(
        update={"etcd_backup_dir": relative_to(inventory.settings.etcd_backup_dir, base)}
    )
    return inventory.model_copy(
        update={"clusters": clusters, "sources": sources, "openstack": openstack, "settings": settings}
    )
