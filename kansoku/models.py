"""Models shared by every pipeline: request ids, the fleet (clusters), severities, heal hooks.

Tracing, health, bundles and the healer all speak about the same clusters and the same
OpenStack request ids; defining them once keeps the pipelines joinable (a check result
carries a request id that `kansoku trace` opens; a heal action targets an inventory cluster).
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kansoku.urls import check_url


def new_request_id() -> str:
    """A fresh id in the form OpenStack accepts for ``X-OpenStack-Request-ID``."""
    return f"req-{uuid.uuid4()}"


class CheckState(StrEnum):
    """A check's state. UNKNOWN means we could not tell: never counted as healthy or failed."""

    OK = "ok"
    FAILING = "failing"
    UNKNOWN = "unknown"


class Credentials(BaseModel):
    """Where a cluster's credentials are: a reference only, never the secret inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kubeconfig: str | None = Field(None, description="path to a kubeconfig file")
    token_file: str | None = Field(None, description="path to a file holding a bearer token")
    ca_file: str | None = Field(None, description="CA bundle to verify the API server")
    insecure_skip_tls_verify: bool = False


class Cluster(BaseModel):
    """One managed Kubernetes cluster as every pipeline sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    api_url: str = Field(..., description="Kubernetes API server URL, direct path")
    management_api_url: str | None = Field(
        None, description="the same API server reached through the management agent/proxy (e.g. Rancher)"
    )
    agent_addr: str | None = Field(None, description="host:port of the management agent")
    etcd: list[str] = Field(default_factory=list, description="etcd client URLs")
    prometheus: str | None = Field(None, description="the cluster's Prometheus base URL")
    credentials: Credentials = Field(default_factory=lambda: Credentials())
    region: str = "default"
    az: str | None = None
    openstack_project: str | None = None
    k8s_version: str | None = Field(None, description="e.g. 1.29.4")
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("api_url", "management_api_url", "prometheus")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        """No inline password (it would be printed in check reasons): credentials: names files."""
        return None if value is None else check_url(value)

    @field_validator("etcd")
    @classmethod
    def _etcd(cls, value: list[str]) -> list[str]:
        return [check_url(v) for v in value]


class HealHook(BaseModel):
    """A bundle's or config's mapping from a firing alert to a remediation action.

    Shared by add-on bundles (which ship hooks) and the healer (which runs them), so that a
    hook written in a bundle manifest and one in heal.yaml mean exactly the same thing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert: str = Field(..., description="alertname to match")
    match: dict[str, str] = Field(default_factory=dict, description="extra label equality matchers")
    action: str = Field(..., description="registered action name, e.g. replace_node")
    params: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)
    escalate_to: str | None = Field(None, description="action to try when this one did not heal")
