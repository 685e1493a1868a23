"""One source per alert name across a bundle and its dependencies.

Why: heal hooks and Alertmanager routes match on the alert name. If kansoku's
`KubeNodeNotReady` (feeding replace_node after 15m) and a vendored mixin's `KubeNodeNotReady`
(warning, another expression) were both loaded, one condition would page twice and the heal
hook would act on whichever fired first. The only repeats allowed are upstream's severity
tiers: the same name several times in one rule file, each with other labels
(`KubePersistentVolumeFillingUp` warning and critical, `KubeAPIErrorBudgetBurn` per window).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from kansoku.alerts.rules.model import RuleFile
from kansoku.errors import FieldProblem


def duplicate_alerts(rule_files: Iterable[tuple[RuleFile, Path]], where: str) -> list[FieldProblem]:
    """A problem per alert name defined in two files, or twice with the same labels in a file."""
    files: dict[str, set[str]] = defaultdict(set)
    tiers: dict[tuple[str, str], list[str]] = defaultdict(list)  # labels of each definition
    for rule_file, path in rule_files:
        for rule in rule_file.rules:
            if rule.kind != "alert":
                continue
            files[rule.name].add(str(path))
            tiers[(str(path), rule.name)].append(
                ", ".join(f"{k}={v}" for k, v in sorted(rule.labels.items()))
            )
    problems = [
        FieldProblem(
            where, None, "rule_files", f"alert {name} is defined in {len(paths)} files: {sorted(paths)}"
        )
        for name, paths in sorted(files.items())
        if len(paths) > 1
    ]
    problems += [
        FieldProblem(path, None, name, f"defined {len(labels)} times, twice with labels {{{dup}}}")
        for (path, name), labels in sorted(tiers.items())
        for dup in sorted({x for x in labels if labels.count(x) > 1})
    ]
    return problems
