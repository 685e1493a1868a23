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

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kansoku.errors import ConfigError, FieldProblem
from kansoku.yamlfile import control_problem, line_of, validate


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


@dataclass
class RuleFile:
    """A parsed rule file; `shape` is "plain" or "PrometheusRule"."""

    path: str
    shape: str
    groups: list[RuleGroup] = field(default_factory=list)
    skipped: int = 0  # documents of another kind in the same file

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


def _child(node: Any, key: str | int) -> Any:
    """The YAML node under `key` (mapping) or at index `key` (sequence); None if absent."""
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == key), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None


def _documents(data: Any, node: Any) -> list[tuple[Any, Any]]:
    """A `kind: List` (what `kubectl get prometheusrules -o yaml` prints) split into its items."""
    if isinstance(data, dict) and data.get("kind") == "List" and isinstance(data.get("items"), list):
        items = _child(node, "items")
        return [(item, _child(items, i)) for i, item in enumerate(data["items"])]
    return [(data, node)]


def parse_rule_data(data: Any, node: Any, source: str) -> RuleFile:
    """Validate already-parsed YAML as a plain rule file or one or more PrometheusRule objects.

    Documents of other kinds (a Namespace in the same kustomize output) are counted in
    `skipped`, not silently dropped.
    """
    if isinstance(data, dict) and "kind" in data:
        groups: list[RuleGroup] = []
        skipped = 0
        for doc, doc_node in _documents(data, node):
            if isinstance(doc, dict) and doc.get("kind") not in ("PrometheusRule", None):
                skipped += 1
                continue
            manifest = validate(PrometheusRuleModel, doc, doc_node, source)
            groups += _groups(manifest.spec.groups, doc_node, ("spec",))
        return RuleFile(source, "PrometheusRule", groups, skipped)
    plain = validate(RuleFileModel, data, node, source)
    return RuleFile(source, "plain", _groups(plain.groups, node, ()))


def load_rule_file(path: Path) -> RuleFile:
    """Read one rule file (plain, PrometheusRule, a List of them, or several YAML documents).

    Errors name file:line:field.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([FieldProblem(name, None, "", exc.strerror or str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([FieldProblem(name, None, "", f"not UTF-8 text ({exc.reason})")]) from None
    control = control_problem(name, text)
    if control is not None:
        raise ConfigError([control])
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        datas = list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            [FieldProblem(name, mark.line + 1 if mark else None, "", f"YAML syntax: {exc.problem}")]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([FieldProblem(name, None, "", f"YAML: {exc}")]) from None
    docs = [(d, n) for d, n in zip(datas, nodes, strict=True) if d is not None]
    if not docs:
        raise ConfigError([FieldProblem(name, 1, "", "file is empty")])
    if len(docs) == 1:
        return parse_rule_data(docs[0][0], docs[0][1], name)
    merged = RuleFile(name, "PrometheusRule")
    for data, node in docs:
        if not (isinstance(data, dict) and "kind" in data):
            line = node.start_mark.line + 1
            raise ConfigError(
                [FieldProblem(name, line, "", "a multi-document file must hold Kubernetes objects")]
            )
        part = parse_rule_data(data, node, name)
        merged.groups.extend(part.groups)
        merged.skipped += part.skipped
    return merged
