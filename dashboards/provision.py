"""Push rendered dashboards into a `GrafanaSink`: idempotent, version-checked, with drift.

Why: installs repeat (every upgrade, every re-provision); pushing an unchanged dashboard
would bump its version and bury real history, so we compare first and only write what
changed, passing the version we read so a concurrent human edit is not overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kansoku.dashboards.sinks import GrafanaSink

_VOLATILE = ("id", "version")


def _comparable(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in _VOLATILE}


@dataclass
class ProvisionResult:
    folder_created: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.folder_created or bool(self.created or self.updated)


def provision(
    sink: GrafanaSink, folder_uid: str, folder_title: str, dashboards: list[dict[str, Any]]
) -> ProvisionResult:
    """Make the folder hold these dashboards; same input twice writes nothing the second time."""
    result = ProvisionResult(folder_created=sink.ensure_folder(folder_uid, folder_title))
    for dash in dashboards:
        uid = str(dash["uid"])
        current = sink.get_dashboard(uid)
        if current is None:
            sink.put_dashboard(folder_uid, dash, None)
            result.created.append(uid)
        elif _comparable(current.dashboard) == _comparable(dash) and current.folder_uid == folder_uid:
            result.unchanged.append(uid)
        else:
            sink.put_dashboard(folder_uid, dash, current.version)
            result.updated.append(uid)
    return result


def _changed_keys(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    keys = sorted(set(_comparable(want)) | set(_comparable(got)))
    out = [k for k in keys if k != "panels" and want.get(k) != got.get(k)]
    wanted = {p.get("title"): p for p in want.get("panels") or []}
    have = {p.get("title"): p for p in got.get("panels") or []}
    for title in sorted(set(wanted) | set(have), key=str):
        if title not in have:
            out.append(f"panel {title!r} missing")
        elif title not in wanted:
            out.append(f"panel {title!r} added in Grafana")
        elif wanted[title] != have[title]:
            out.append(f"panel {title!r} differs")
    return out


@dataclass
class Drift:
    """What differs between a Grafana folder and the bundle's dashboards."""

    missing: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    in_sync: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.changed or self.extra)


def drift(sink: GrafanaSink, folder_uid: str, dashboards: list[dict[str, Any]]) -> Drift:
    report = Drift()
    wanted = {str(d["uid"]): d for d in dashboards}
    for uid, dash in wanted.items():
        current = sink.get_dashboard(uid)
        if current is None:
            report.missing.append(uid)
            continue
        diffs = _changed_keys(dash, current.dashboard)
        if current.folder_uid != folder_uid:
            diffs.append(f"in folder {current.folder_uid!r}, not {folder_uid!r}")
        if diffs:
            report.changed[uid] = diffs
        else:
            report.in_sync.append(uid)
    report.extra = [uid for uid in sink.list_dashboards(folder_uid) if uid not in wanted]
    return report
