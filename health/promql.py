"""Advanced checks: a PromQL expression against each cluster's Prometheus, with a threshold
and a `for` duration, fed into the same ok/failing/unknown state machine as binary checks.

Why `for` here and flap protection too: `for` is the operator's semantic ("5xx ratio above
5% for 10 minutes"), counted in wall-clock time from the first breaching sample; flap
protection is the fleet-wide noise filter on top, counted in results.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable
from urllib.parse import urlencode

from kansoku.inventory import PromQLCheck
from kansoku.models import Cluster

from .model import Outcome
from .probes import Probe

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _labels(metric: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{metric.get('__name__', '')}{{{inner}}}"


class PromQLThresholdCheck:
    """One `checks:` entry of the inventory, run against every cluster it applies to."""

    subject_label: str | None = None

    def __init__(self, spec: PromQLCheck, clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self.name = spec.name
        self._clock = clock
        self._breach_since: dict[str, float] = {}  # cluster id -> first breaching evaluation

    def applies(self, cluster: Cluster) -> bool:
        if cluster.prometheus is None:
            return False
        return self.spec.clusters is None or cluster.id in self.spec.clusters

    async def run(self, probe: Probe) -> Outcome:
        base = (probe.cluster.prometheus or "").rstrip("/")
        url = f"{base}/api/v1/query?{urlencode({'query': self.spec.expr})}"
        answer = await probe.request("GET", url)
        if isinstance(answer, Outcome):
            return answer
        try:
            doc = answer.json()
        except ValueError:
            return Outcome(None, f"invalid JSON from {base}/api/v1/query (HTTP {answer.status})")
        if not isinstance(doc, dict) or doc.get("status") != "success":
            err = doc.get("error", answer.status) if isinstance(doc, dict) else answer.status
            return Outcome(None, f"query failed: {err}")
        data = doc.get("data") or {}
        rtype, raw = data.get("resultType"), data.get("result")
        samples: list[tuple[str, float]] = []
        if rtype == "vector":
            samples = [(_labels(s.get("metric") or {}), float(s["value"][1])) for s in raw or []]
        elif rtype == "scalar" and raw:
            samples = [("scalar", float(raw[1]))]
        else:
            return Outcome(None, f"unsupported result type {rtype!r}")
        compare = _OPS[self.spec.op]
        breaching = [
            (name, v) for name, v in samples if not math.isnan(v) and compare(v, self.spec.threshold)
        ]
        now = self._clock()
        cid = probe.cluster.id
        cond = f"{self.spec.op} {self.spec.threshold:g}"
        if not breaching:
            self._breach_since.pop(cid, None)
            worst = f" (max {max(v for _, v in samples):.4g})" if samples else " (no samples)"
            return Outcome(True, f"not {cond}{worst}")
        since = self._breach_since.setdefault(cid, now)
        name, value = breaching[0]
        held = now - since
        if held < self.spec.for_s:
            return Outcome(
                True, f"pending: {name} = {value:.4g} {cond} for {held:.0f}s of {self.spec.for_s:.0f}s"
            )
        return Outcome(False, f"{name} = {value:.4g} {cond} for {held:.0f}s ({len(breaching)} series)")
