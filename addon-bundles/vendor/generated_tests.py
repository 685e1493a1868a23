"""Generated promtool tests for the simple vendored alerts: fires on a synthetic series, stays
silent on a healthy one.

Why generated, and only for the simple ones: upstream's tests are written against upstream's
rendering and most do not port (rules/README.md); writing 134 by hand is not realistic. An
alert of the shape `SELECTOR <op> NUMBER`, where SELECTOR is a plain series or one of
`rate`/`irate`/`increase`/`deriv`/`*_over_time` over one, has a firing input that follows
from the expression alone: one series with the selector's labels (plus `cluster`) whose value
(or slope, for counters) is on the wrong side of the threshold for longer than `for`, and a
healthy input on the right side. Anything with `and`/`unless`, aggregations or several tiers
under one name is left to hand-written tests. The expected annotations are taken from
promtool's own rendering of the templates (a golden value: a later change to the rule or the
template makes the test fail, which is the point of keeping it).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser as pp
import yaml

from kansoku.alerts.rules.promtool import run_promtool_tests

_COUNTER_FUNCS = {"rate": "per_second", "irate": "per_second", "deriv": "per_second", "increase": "window"}
_GAUGE_FUNCS = {"max_over_time", "min_over_time", "avg_over_time", "last_over_time"}
_OPS = {">", "<", ">=", "<=", "==", "!="}
CLUSTER = "c1"
STEP = 5  # minutes between rule evaluations in the generated tests


@dataclass(frozen=True)
class Case:
    """One alert's generated inputs: the series selector text and two value strings."""

    alert: str
    series: str
    firing: str
    healthy: str
    labels: dict[str, str]
    eval_minutes: int


def _minutes(text: str | None) -> int:
    if not text:
        return 0
    units = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}
    total = sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhd])", text))
    return int(total + 0.999)


def _label_value(op: Any, value: str) -> str | None:
    """A value satisfying one matcher (None: leave the label out), or raise ValueError."""
    if op == pp.MatchOp.Equal:
        return value
    if op == pp.MatchOp.NotEqual:
        return "synthetic" if value == "" else None  # `!=""` needs the label set
    if op == pp.MatchOp.Re:
        for alt in value.split("|"):
            candidate = alt.replace(".*", "").replace(".+", "x").strip("()^$")
            if re.fullmatch(value, candidate):
                return candidate
        raise ValueError(f"no simple value matches ={value!r}")
    if re.fullmatch(value, ""):  # NotRe that the absent label ("") would match
        if re.fullmatch(value, "synthetic"):
            raise ValueError(f"cannot satisfy !~{value!r}")
        return "synthetic"
    return None


def _values(op: str, threshold: float, kind: str, window_min: float) -> tuple[float, float] | None:
    """(violating, healthy) per-sample quantity: the gauge value, or the rate/increase."""
    margin = max(1.0, abs(threshold))
    bad = {">": threshold + margin, ">=": threshold + margin, "<": threshold - margin,
           "<=": threshold - margin, "==": threshold, "!=": threshold + 1}[op]  # fmt: skip
    good = {">": threshold - margin, ">=": threshold - margin, "<": threshold + margin,
            "<=": threshold + margin, "==": threshold + 1, "!=": threshold}[op]  # fmt: skip
    if kind != "gauge" and (bad < 0 or good < 0):  # a counter never goes down
        if good < 0 and op in (">", ">=") and threshold >= 0:
            good = 0.0
        else:
            return None
    return bad, good


def _series_values(quantity: float, kind: str, window_min: float, points: int) -> str:
    if kind == "gauge":
        return f"{quantity:g}x{points}"
    per_minute = quantity * 60 if kind == "per_second" else quantity / window_min
    return f"0+{per_minute:g}x{points}"


def case_of(rule: dict[str, Any]) -> Case | None:
    """The generated case of one alert rule, or None when its shape is not the simple one."""
    try:
        expr = pp.parse(str(rule["expr"]))
    except ValueError:
        return None
    if not (
        isinstance(expr, pp.BinaryExpr) and str(expr.op) in _OPS and isinstance(expr.rhs, pp.NumberLiteral)
    ):
        return None
    if expr.modifier is not None and expr.modifier.return_bool:
        return None
    lhs, kind, window = expr.lhs, "gauge", timedelta(0)
    while isinstance(lhs, pp.ParenExpr):
        lhs = lhs.expr
    if isinstance(lhs, pp.Call) and lhs.args and isinstance(lhs.args[0], pp.MatrixSelector):
        name = lhs.func.name
        if name not in _COUNTER_FUNCS and name not in _GAUGE_FUNCS:
            return None
        kind = _COUNTER_FUNCS.get(name, "gauge")
        window = lhs.args[0].range
        lhs = lhs.args[0].vector_selector
    if not isinstance(lhs, pp.VectorSelector) or not lhs.name:
        return None
    labels = {"cluster": CLUSTER}
    try:
        for m in lhs.matchers.matchers:
            value = _label_value(m.op, m.value)
            if value is not None:
                labels[m.name] = value
    except ValueError:
        return None
    window_min = max(window.total_seconds() / 60, 1)
    vals = _values(str(expr.op), float(expr.rhs.val), kind, window_min)
    if vals is None:
        return None
    # rules are evaluated every 5 minutes in the generated files (one file per vendored rule
    # file, hundreds of recording rules each): round up, and 5 more for the `for` to elapse
    span = _minutes(rule.get("for")) + int(window.total_seconds() // 60)
    eval_minutes = -(-span // STEP) * STEP + 2 * STEP
    points = eval_minutes + 5
    text = ",".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
    return Case(
        alert=str(rule["alert"]),
        series=f"{lhs.name}{{{text}}}",
        firing=_series_values(vals[0], kind, window_min, points),
        healthy=_series_values(vals[1], kind, window_min, points),
        labels={**labels, **{str(k): str(v) for k, v in (rule.get("labels") or {}).items()}},
        eval_minutes=eval_minutes,
    )


def cases(rule_files: Iterable[Path]) -> list[Case]:
    """Cases for every alert name defined once whose expression has the simple shape."""
    rules = [
        r
        for path in rule_files
        for g in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups") or []
        for r in g.get("rules") or []
        if "alert" in r
    ]
    once = Counter(str(r["alert"]) for r in rules)
    out = [c for r in rules if once[str(r["alert"])] == 1 for c in [case_of(r)] if c is not None]
    return sorted(out, key=lambda c: c.alert)


def promtool_document(
    rule_refs: list[str], generated: list[Case], annotations: dict[str, dict[str, str]]
) -> dict[str, Any]:
    tests: list[dict[str, Any]] = []
    for c in generated:
        for fires in (True, False):
            tests.append(
                {
                    "name": f"generated: {c.alert} {'fires on a synthetic series' if fires else 'stays silent on a healthy one'}",
                    "interval": "1m",
                    "input_series": [{"series": c.series, "values": c.firing if fires else c.healthy}],
                    "alert_rule_test": [
                        {
                            "alertname": c.alert,
                            "eval_time": f"{c.eval_minutes}m",
                            "exp_alerts": [
                                {"exp_labels": c.labels, "exp_annotations": annotations.get(c.alert, {})}
                            ]
                            if fires
                            else [],
                        }
                    ],
                }
            )
    return {"rule_files": rule_refs, "evaluation_interval": f"{STEP}m", "tests": tests}


_GOT = re.compile(r"name: generated: (\S+) fires on a synthetic series,.*?got:\[(.*?)\n\s*\]", re.S)
_ANNOTATIONS = re.compile(r"Annotations:\{(.*)\}")
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def rendered_annotations(promtool_output: str) -> dict[str, dict[str, str]]:
    """Alert -> the annotations promtool rendered for the one alert of its firing case."""
    out: dict[str, dict[str, str]] = {}
    for alert, got in _GOT.findall(promtool_output):
        found = _ANNOTATIONS.findall(got)
        if len(found) == 1:
            out[alert] = {k: json.loads(f'"{v}"') for k, v in _PAIR.findall(found[0])}
    return out


HEADER = """\
# Generated by `python -m kansoku.addon_bundles.vendor.generated_tests` (addon-bundles/vendor/generated_tests.py):
# for each vendored alert of the shape `SELECTOR <op> NUMBER` defined once, a synthetic series
# on the wrong side of the threshold for longer than `for` (fires) and one on the right side
# (stays silent). Expected annotations are promtool's rendering (golden). Do not edit.
"""


def generated_name(rule_path: Path) -> str:
    """`vendored-node-mixin.rules.yaml` -> `vendored-node-mixin-generated.test.yaml`."""
    return rule_path.name.removesuffix(".rules.yaml") + "-generated.test.yaml"


def generate(rule_path: Path, out: Path) -> tuple[int, bool]:
    """Write the tests of one vendored rule file (alert names defined once across all vendored
    files); returns (cases, whether promtool passes them)."""
    siblings = sorted(rule_path.parent.glob("vendored-*.rules.yaml"))
    own = {
        str(r["alert"])
        for g in yaml.safe_load(rule_path.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    generated = [c for c in cases(siblings) if c.alert in own]
    refs = [f"../rules/{rule_path.name}"]
    out.write_text(
        HEADER + yaml.safe_dump(promtool_document(refs, generated, {}), sort_keys=False, width=200)
    )
    annotations = rendered_annotations(run_promtool_tests(out).output)
    out.write_text(
        HEADER + yaml.safe_dump(promtool_document(refs, generated, annotations), sort_keys=False, width=200)
    )
    return len(generated), run_promtool_tests(out).ok


def main() -> None:
    bundle = Path(__file__).resolve().parent / "bundles" / "kansoku-k8s-2.1.0"
    for rule_path in sorted((bundle / "rules").glob("vendored-*.rules.yaml")):
        out = bundle / "tests" / generated_name(rule_path)
        n, ok = generate(rule_path, out)
        print(f"{out.name}: {n} alerts, promtool {'passes' if ok else 'FAILS'}")


if __name__ == "__main__":
    main()
