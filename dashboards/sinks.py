"""Where rendered dashboards go: the `GrafanaSink` seam and its directory implementation.

Why a Protocol: the install logic (folder per cluster, idempotent, version-checked,
drift report) is the same whether the target is a real Grafana (grafana-client) or a
directory the demo and tests read. Implementations are chosen by URL scheme in
`open_sink` (a registry dict): `file:///path` or `http(s)://...`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from kansoku.dashboards.sink_model import StoredDashboard, VersionConflict
from kansoku.errors import KansokuError

__all__ = ["DirectorySink", "GrafanaSink", "StoredDashboard", "VersionConflict", "open_sink"]


class GrafanaSink(Protocol):
    def datasource_uids(self) -> set[str]: ...

    def ensure_folder(self, uid: str, title: str) -> bool:
        """Create the folder if missing; True when it was created."""
        ...

    def delete_folder(self, uid: str) -> None: ...

    def get_dashboard(self, uid: str) -> StoredDashboard | None: ...

    def put_dashboard(self, folder_uid: str, dashboard: dict[str, Any], version: int | None) -> int:
        """Create (version None) or update the dashboard at `version`; returns the new version."""
        ...

    def delete_dashboard(self, uid: str) -> None: ...

    def list_dashboards(self, folder_uid: str) -> list[str]: ...


class DirectorySink:
    """Grafana's state as files: `datasources.json` and `folders/<uid>/<dashboard uid>.json`.

    It applies the same version check as Grafana's `POST /api/dashboards/db` with
    `overwrite: false`, so the install logic is exercised the same way as against Grafana.
    """

    def __init__(self, root: Path, datasources: set[str] | None = None) -> None:
        self.root = root
        (root / "folders").mkdir(parents=True, exist_ok=True)
        ds_file = root / "datasources.json"
        if datasources is not None:
            ds_file.write_text(json.dumps(sorted(datasources)), encoding="utf-8")

    def datasource_uids(self) -> set[str]:
        ds_file = self.root / "datasources.json"
        if not ds_file.exists():
            return set()
        return set(json.loads(ds_file.read_text(encoding="utf-8")))

    def _folder(self, uid: str) -> Path:
        return self.root / "folders" / uid

    def ensure_folder(self, uid: str, title: str) -> bool:
        folder = self._folder(uid)
        if (folder / "folder.json").exists():
            return False
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "folder.json").write_text(json.dumps({"uid": uid, "title": title}), encoding="utf-8")
        return True

    def delete_folder(self, uid: str) -> None:
        shutil.rmtree(self._folder(uid), ignore_errors=True)

    def _find(self, uid: str) -> Path | None:
        hits = list((self.root / "folders").glob(f"*/{uid}.json"))
        return hits[0] if hits else None

    def get_dashboard(self, uid: str) -> StoredDashboard | None:
        path = self._find(uid)
        if path is None:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return StoredDashboard(data["dashboard"], int(data["version"]), path.parent.name)

    def put_dashboard(self, folder_uid: str, dashboard: dict[str, Any], version: int | None) -> int:
        uid = str(dashboard["uid"])
        current = self.get_dashboard(uid)
        if current is not None and current.version != version:
            raise VersionConflict(
                f"dashboard {uid}: changed since read (have version {version}, Grafana has {current.version})"
            )
        if current is None and version is not None:
            raise VersionConflict(f"dashboard {uid}: was deleted since read")
        new_version = 1 if current is None else current.version + 1
        old = self._find(uid)
        if old is not None and old.parent.name != folder_uid:
            old.unlink()
        target = self._folder(folder_uid) / f"{uid}.json"
        stored = {**dashboard, "version": new_version}
        target.write_text(
            json.dumps({"dashboard": stored, "version": new_version}, indent=1), encoding="utf-8"
        )
        return new_version

    def delete_dashboard(self, uid: str) -> None:
        path = self._find(uid)
        if path is not None:
            path.unlink()

    def list_dashboards(self, folder_uid: str) -> list[str]:
        folder = self._folder(folder_uid)
        return sorted(p.stem for p in folder.glob("*.json") if p.name != "folder.json")


def _directory(url: str) -> GrafanaSink:
    return DirectorySink(Path(urlparse(url).path))


def _grafana(url: str) -> GrafanaSink:
    from kansoku.dashboards.grafana_sink import GrafanaClientSink

    sink: GrafanaSink = GrafanaClientSink.from_url(url)
    return sink


SINKS: dict[str, Callable[[str], GrafanaSink]] = {"file": _directory, "http": _grafana, "https": _grafana}


def open_sink(url: str) -> GrafanaSink:
    """A sink for `url`: file:///dir, or http(s)://[user:pass@]grafana (token in KANSOKU_GRAFANA_TOKEN)."""
    scheme = urlparse(url).scheme or "file"
    factory = SINKS.get(scheme)
    if factory is None:
        raise KansokuError(f"grafana target {url!r}: scheme must be one of {', '.join(sorted(SINKS))}")
    if scheme == "file" and not urlparse(url).scheme:
        url = f"file://{Path(url).resolve()}"
    return factory(url)
