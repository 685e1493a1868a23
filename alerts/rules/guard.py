"""Bound the PromQL parser: large expressions are parsed in a child with a memory limit.

Why: promql-parser (Rust, from PyPI) needs memory that grows with the square of the terms
in one expression: 200 terms 34 MB, 400 terms 96 MB, 800 terms 340 MB, and a 134-389 KB
rule file took 6-7.5 GB and segfaulted `kansoku rules check` (issue 11, item 16), while
`promtool check rules` reads the same file in under 2 s. Expressions up to `IN_PROCESS_TERMS`
terms (about 100 MB at worst; every rule we ship or have seen is far below) are parsed in
process; larger ones in a subprocess with `RLIMIT_AS` (`KANSOKU_PROMQL_MAX_MB`, default
1024) and a timeout. If the child runs out, the rule is reported as not label-checked and
promtool's verdict on the file stands; `kansoku rules check` itself never dies.

The child is `python -m kansoku.alerts.rules.promql`: it reads one expression on stdin and
prints `{"problems": [...]}` or `{"syntax": "..."}` as JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

#: expressions with at most this many terms are parsed in process
IN_PROCESS_TERMS = 400
#: memory limit of the child parser, MiB (environment: KANSOKU_PROMQL_MAX_MB)
DEFAULT_MAX_MB = 1024
#: the child parser's time limit
TIMEOUT_SECONDS = 30.0

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_TERMS = re.compile(r"\b(?:and|or|unless)\b|[-+*/%^(]|==|!=|>=|<=|[<>]")


def terms(expr: str) -> int:
    """A cheap estimate of the parse tree's size: operators and calls, outside strings."""
    return len(_TERMS.findall(_STRINGS.sub('""', expr)))


@dataclass(frozen=True)
class Guarded:
    """What the parser said about one expression: problems, a syntax error, or why not checked."""

    problems: list[str]
    syntax: str | None = None
    unchecked: str | None = None


def max_mb() -> int:
    try:
        return max(64, int(os.environ.get("KANSOKU_PROMQL_MAX_MB", DEFAULT_MAX_MB)))
    except ValueError:
        return DEFAULT_MAX_MB


def in_child(expr: str, limit_mb: int | None = None, timeout: float = TIMEOUT_SECONDS) -> Guarded:
    """`cluster_drops(expr)` in a subprocess limited to `limit_mb` of address space."""
    limit = (limit_mb or max_mb()) * 1024 * 1024

    def restrict() -> None:  # runs in the child before exec
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    n = terms(expr)
    why = (
        f"not label-checked: {n} terms is more than the PromQL parser can take within "
        f"{limit // 1048576} MiB (KANSOKU_PROMQL_MAX_MB); promtool's verdict on the file stands"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kansoku.alerts.rules.promql"],
            input=expr,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=restrict,  # the child only sets its limit, then execs
        )
    except subprocess.TimeoutExpired:
        return Guarded([], unchecked=why.replace("within", f"in {timeout:.0f}s and"))
    if proc.returncode != 0:
        return Guarded([], unchecked=why)
    try:
        answer = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return Guarded([], unchecked=why)
    return Guarded(list(answer.get("problems", [])), answer.get("syntax"))
