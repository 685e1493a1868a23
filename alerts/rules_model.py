"""Prometheus rule files as typed data: plain rule files and `PrometheusRule` manifests.

Why: `kansoku rules check` must read any rule file, ours or a third party's, in either
shape, and every finding must point at file, group, rule and line. Both shapes are
validated with pydantic through `kansoku.yamlfile`, so a malformed file fails with
file:line:field before any PromQL is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kansoku.errors import ConfigError, FieldProblem
from kansoku.yamlfile import line_of, read_yaml, validate


class RuleModel(BaseModel):
    """One rule as Prometheus accepts it: exactly one of `alert` or `record`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    alert: str | None = None
    record: str | None = None
    expr: str | int | float
    for_: str | None = Field(None, alias="for")
    keep_firing_for: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_name(self) -> RuleModel:
        if (self.alert is None) == (self.record is None):
            raise ValueError("a rule needs exactly one of 'alert' or 'record'")
        return self


class GroupModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1)
    interval: str | None = None
    limit: int | None = None
    rules: list[RuleModel] = Field(default_factory=list)


class RuleFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[GroupModel]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="allow")

    groups: list[GroupModel]


class PrometheusRuleModel(BaseModel):
    """The `monitoring.coreos.com/v1` PrometheusRule object (prometheus-operator)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    api_version: str = Field(..., alias="apiVersion", pattern=r"^monitoring\.coreos\.com/v1$")
    kind: str = Field(..., pattern=r"^PrometheusRule$")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: _Spec


@dataclass(frozen=True)
class Rule:
    """One rule with where it was written, so findings can name it."""

    group: str
    name: str
    kind: str  # "alert" or "record"
    expr: str
    for_: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    line: int | None


@dataclass(frozen=True)
class RuleGroup:
    name: str
    interval: str | None
    rules: list[Rule]
    line: int | None


@dataclass(frozen=True)
class RuleFile:
    """A parsed rule file; `shape` is "plain" or "PrometheusRule"."""

    path: str
    shape: str
    groups: list[RuleGroup] = field(default_factory=list)

    @property
    def rules(self) -> list[Rule]:
        return [rule for group in self.groups for rule in group.rules]


def _groups(data_groups: list[GroupModel], node: Any, prefix: tuple[str, ...]) -> list[RuleGroup]:
    out = []
    for gi, group in enumerate(data_groups):
        rules = []
        for ri, rule in enumerate(group.rules):
            name = rule.alert if rule.alert is not None else rule.record
            assert name is not None  # the model validator guarantees one of them
            rules.append(
                Rule(
                    group=group.name,
                    name=name,
                    kind="alert" if rule.alert is not None else "record",
                    expr=str(rule.expr),
                    for_=rule.for_,
                    labels=dict(rule.labels),
                    annotations=dict(rule.annotations),
                    line=line_of(node, *prefix, "groups", gi, "rules", ri, "expr"),
                )
            )
        out.append(RuleGroup(group.name, group.interval, rules, line_of(node, *prefix, "groups", gi)))
    return out


def parse_rule_data(data: Any, node: Any, source: str) -> RuleFile:
    """Validate already-parsed YAML as either rule-file shape."""
    if isinstance(data, dict) and "kind" in data:
        manifest = validate(PrometheusRuleModel, data, node, source)
        return RuleFile(source, "PrometheusRule", _groups(manifest.spec.groups, node, ("spec",)))
    plain = validate(RuleFileModel, data, node, source)
    return RuleFile(source, "plain", _groups(plain.groups, node, ()))


def load_rule_file(path: Path) -> RuleFile:
    """Read one rule file (plain or PrometheusRule); errors name file:line:field."""
    data, node = read_yaml(path)
    if data is None:
        raise ConfigError([FieldProblem(str(path), 1, "", "file is empty")])
    return parse_rule_data(data, node, str(path))
