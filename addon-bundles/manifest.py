"""The bundle manifest (`manifest.yaml` in each bundle directory), validated by pydantic.

Why a schema: a bundle is installed into hundreds of clusters at once; a typo must be
caught when the bundle is loaded, with file:line:field, before anything is pushed.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kansoku.addon_bundles.versions import parse_range
from kansoku.models import HealHook

#: `kansoku:NAME` in rule_files/rule_tests means alerts/rule-files (or rule-tests)/NAME.
SHARED_PREFIX = "kansoku:"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class Dependency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., pattern=_NAME.pattern)
    version: str = Field(">=0", description="PEP 440 range of acceptable versions")

    @field_validator("version")
    @classmethod
    def _range(cls, value: str) -> str:
        parse_range(value)
        return value


class BundleManifest(BaseModel):
    """What a bundle ships and for which Kubernetes versions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., pattern=_NAME.pattern)
    version: str = Field(..., pattern=r"^\d+\.\d+\.\d+$")
    description: str = ""
    kubernetes: str = Field(..., description="supported Kubernetes versions, e.g. '>=1.21,<1.35'")
    dependencies: list[Dependency] = Field(default_factory=list)
    #: logical metric name -> the name this Kubernetes range exposes (used by dashboards)
    metrics: dict[str, str] = Field(default_factory=dict)
    dashboards: list[str] = Field(default_factory=list)
    rule_files: list[str] = Field(default_factory=list)
    rule_tests: list[str] = Field(default_factory=list)
    #: Kubernetes manifests (Prometheus, Fluentd, ingress add-ons) applied with the bundle
    manifests: list[str] = Field(default_factory=list)
    heal_hooks: list[HealHook] = Field(default_factory=list)
    prometheus_rule_namespace: str = "monitoring"

    @field_validator("kubernetes")
    @classmethod
    def _k8s_range(cls, value: str) -> str:
        parse_range(value)
        return value

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"
