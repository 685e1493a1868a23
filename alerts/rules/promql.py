"""The multi-cluster label check: every aggregation in a rule must keep `cluster`.

Why: community rule sets (kubernetes-mixin) aggregate with `sum by (namespace)` or match
with `on (node)`, which silently merges the series of ~700 clusters into one alert that
names no cluster. We parse every expression with a real PromQL parser (`promql-parser`,
a Rust implementation of the Prometheus grammar, from PyPI) and walk the tree:

- an aggregation must keep `cluster`: `by (...)` lists it, `without (...)` does not;
  `topk`/`bottomk`/`limitk` select whole series and keep every label;
- a one-to-one arithmetic or comparison with `on (...)` must list `cluster` and one with
  `ignoring (...)` must not (Prometheus keeps only the `on` labels in the result);
  set operators (`and`, `or`, `unless`) keep the left side's labels;
- `absent()`/`absent_over_time()` return only the selector's equality matchers, so they
  need a `cluster="..."` matcher.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser

from kansoku.alerts.rules.guard import IN_PROCESS_TERMS, in_child, terms
from kansoku.alerts.rules.model import Rule, RuleFile

CLUSTER = "cluster"
#: Aggregations that select series rather than merge them: output keeps all labels.
_SELECTING = {"topk", "bottomk", "limitk", "limit_ratio"}
_SET_OPS = {"and", "or", "unless"}
_ABSENT = {"absent", "absent_over_time"}


class PromQLSyntaxError(ValueError):
    """The expression is not valid PromQL (message from the parser)."""


@dataclass(frozen=True)
class Finding:
    """One rule that loses `cluster` (or does not parse), with where it is."""

    file: str
    group: str
    rule: str
    line: int | None
    problem: str
    #: the label check could not run (see rules.guard): a note, not a failure
    unchecked: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: group {self.group!r}: rule {self.rule!r}: {self.problem}"


class TooLarge(Exception):
    """The expression is too large for the parser within its limits (message says why)."""


def parse(expr: str) -> Any:
    """Parse `expr`; a syntax error becomes PromQLSyntaxError with the parser's message."""
    try:
        return promql_parser.parse(expr)
    except ValueError as exc:
        raise PromQLSyntaxError(str(exc)) from None


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, promql_parser.AggregateExpr):
        yield node.expr
        if node.param is not None:
            yield node.param
    elif isinstance(node, promql_parser.BinaryExpr):
        yield node.lhs
        yield node.rhs
    elif isinstance(node, promql_parser.Call):
        yield from node.args
    elif isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
        yield node.expr


def _has_cluster_matcher(arg: Any) -> bool:
    selector = arg.vector_selector if isinstance(arg, promql_parser.MatrixSelector) else arg
    if not isinstance(selector, promql_parser.VectorSelector):
        return False
    return any(m.name == CLUSTER and m.op == promql_parser.MatchOp.Equal for m in selector.matchers.matchers)


def _short(node: Any, limit: int = 90) -> str:
    text = " ".join(str(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cluster_drops(expr: str) -> list[str]:
    """Each sub-expression of `expr` that drops the `cluster` label, described for a human.

    Large expressions are parsed in a memory-limited child (see rules.guard); TooLarge
    when even that cannot parse them.
    """
    if terms(expr) <= IN_PROCESS_TERMS:
        return cluster_drops_in_process(expr)
    guarded = in_child(expr)
    if guarded.syntax is not None:
        raise PromQLSyntaxError(guarded.syntax)
    if guarded.unchecked is not None:
        raise TooLarge(guarded.unchecked)
    return guarded.problems


def cluster_drops_in_process(expr: str) -> list[str]:
    """`cluster_drops` in this process (any size: only for expressions known to be small)."""
    problems: list[str] = []
    stack = [parse(expr)]
    while stack:
        node = stack.pop()
        stack.extend(reversed(list(_children(node))))  # left to right, as written
        if isinstance(node, promql_parser.AggregateExpr):
            op = str(node.op)
            if op in _SELECTING:
                continue
            mod = node.modifier
            if mod is None:
                problems.append(f"`{_short(node)}`: {op} without `by (cluster)` drops cluster")
            elif mod.type == promql_parser.AggModifierType.By and CLUSTER not in mod.labels:
                problems.append(f"`{_short(node)}`: {op} by ({', '.join(mod.labels)}) drops cluster")
            elif mod.type == promql_parser.AggModifierType.Without and CLUSTER in mod.labels:
                problems.append(f"`{_short(node)}`: {op} without (..., cluster) drops cluster")
        elif isinstance(node, promql_parser.BinaryExpr):
            bin_mod = node.modifier
            if bin_mod is None or bin_mod.matching is None or str(node.op) in _SET_OPS:
                continue
            if bin_mod.card != promql_parser.VectorMatchCardinality.OneToOne:
                continue
            labels = list(bin_mod.matching.labels)
            if bin_mod.matching.type == promql_parser.LabelModifierType.Include and CLUSTER not in labels:
                problems.append(f"`{_short(node)}`: on ({', '.join(labels)}) drops cluster")
            elif bin_mod.matching.type == promql_parser.LabelModifierType.Exclude and CLUSTER in labels:
                problems.append(f"`{_short(node)}`: ignoring (..., cluster) drops cluster")
        elif (
            isinstance(node, promql_parser.Call)
            and node.func.name in _ABSENT
            and (not node.args or not _has_cluster_matcher(node.args[0]))
        ):
            problems.append(f'`{_short(node)}`: {node.func.name}() without a cluster="..." matcher')
    return problems


def check_rule(rule: Rule, file: str) -> list[Finding]:
    try:
        drops = cluster_drops(rule.expr)
    except PromQLSyntaxError as exc:
        return [Finding(file, rule.group, rule.name, rule.line, f"invalid PromQL: {exc}")]
    except TooLarge as exc:
        return [Finding(file, rule.group, rule.name, rule.line, str(exc), unchecked=True)]
    return [Finding(file, rule.group, rule.name, rule.line, text) for text in drops]


def check_rule_file(rule_file: RuleFile) -> list[Finding]:
    """All multi-cluster findings of one parsed rule file, in file order."""
    return [f for rule in rule_file.rules for f in check_rule(rule, rule_file.path)]


def _child() -> None:
    """The memory-limited child of rules.guard: one expression on stdin, JSON on stdout."""
    import json
    import sys

    try:
        out: dict[str, object] = {"problems": cluster_drops_in_process(sys.stdin.read())}
    except PromQLSyntaxError as exc:
        out = {"syntax": str(exc)}
    except MemoryError:
        sys.exit(3)
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    _child()
