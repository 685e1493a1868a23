"""Validate rendered dashboard JSON against the Grafana dashboard schema of the builder.

Why: grafana-foundation-sdk does not ship a JSON-Schema file; its Python models *are*
Grafana's dashboard schema (generated from Grafana's CUE kinds by cog). We load the JSON
back through `Dashboard.from_json` and encode it again: a field the schema does not know
is dropped on the way and shows up as a difference, a field of the wrong shape fails to
load. On top we check what Grafana itself refuses (uid length, grid positions) and collect
every datasource the dashboard refers to, so a missing datasource is caught before install.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from kansoku.errors import FieldProblem

SCHEMA_SOURCE = "grafana-foundation-sdk models.dashboard (Grafana dashboard schema)"


@dataclass
class DashboardCheck:
    problems: list[FieldProblem] = field(default_factory=list)
    datasource_uids: set[str] = field(default_factory=set)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _diff(want: Any, got: Any, path: str, out: list[str]) -> None:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want:
            if key not in got:
                out.append(f"{path}.{key}" if path else key)
            else:
                _diff(want[key], got[key], f"{path}.{key}" if path else key, out)
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            _diff(w, g, f"{path}[{i}]", out)
    elif want != got:
        out.append(path)


def _datasources(value: Any, found: set[str]) -> None:
    """Datasource uids written out, and the default (current) value of a datasource variable:
    panels that say `${datasource}` open on that one."""
    if isinstance(value, dict):
        current = value.get("current")
        if (
            value.get("type") == "datasource"
            and isinstance(current, dict)
            and isinstance(current.get("value"), str)
        ):
            found.add(current["value"])
        ds = value.get("datasource")
        if isinstance(ds, dict) and isinstance(ds.get("uid"), str) and not ds["uid"].startswith("$"):
            found.add(ds["uid"])
        for v in value.values():
            _datasources(v, found)
    elif isinstance(value, list):
        for v in value:
            _datasources(v, found)


def validate_dashboard(data: dict[str, Any], source: str) -> DashboardCheck:
    """Problems of one rendered dashboard (named by `source`) and the datasources it uses."""
    check = DashboardCheck()
    try:
        model = Dashboard.from_json(data)
        again = json.loads(json.dumps(model, cls=JSONEncoder))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        check.problems.append(FieldProblem(source, None, "", f"does not load as a Grafana dashboard: {exc}"))
        return check
    unknown: list[str] = []
    _diff(_drop_none(data), _drop_none(again), "", unknown)
    for path in unknown:
        check.problems.append(FieldProblem(source, None, path, f"not in the schema ({SCHEMA_SOURCE})"))
    uid = data.get("uid")
    if not isinstance(uid, str) or not 1 <= len(uid) <= 40:
        check.problems.append(FieldProblem(source, None, "uid", "must be 1 to 40 characters"))
    if not data.get("title"):
        check.problems.append(FieldProblem(source, None, "title", "is required"))
    for i, panel in enumerate(data.get("panels") or []):
        pos = panel.get("gridPos") or {}
        if not all(isinstance(pos.get(k), int) for k in ("h", "w", "x", "y")):
            check.problems.append(
                FieldProblem(source, None, f"panels[{i}].gridPos", "needs integer h, w, x, y")
            )
        elif pos["x"] + pos["w"] > 24:
            check.problems.append(FieldProblem(source, None, f"panels[{i}].gridPos", "wider than 24 columns"))
        if not panel.get("type"):
            check.problems.append(FieldProblem(source, None, f"panels[{i}].type", "is required"))
    _datasources(data, check.datasource_uids)
    return check
