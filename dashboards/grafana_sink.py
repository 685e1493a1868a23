"""The `GrafanaSink` for a real Grafana, through grafana-client (legacy `/api` endpoints).

Why the legacy endpoints: `/api/dashboards/db`, `/api/folders` and `/api/datasources`
exist from Grafana 8 to 12 with the same bodies, so one client serves every Grafana the
platform runs. Updates send the version we read with `overwrite: false`: Grafana answers
412 `version-mismatch` when a human edited the dashboard meanwhile, and we stop instead
of silently overwriting their change.
"""

from __future__ import annotations

import os
from typing import Any

from kansoku.dashboards.sink_model import StoredDashboard, VersionConflict
from kansoku.errors import KansokuError


class GrafanaClientSink:
    def __init__(self, api: Any) -> None:
        self.api = api

    @classmethod
    def from_url(cls, url: str, token: str | None = None) -> GrafanaClientSink:
        from grafana_client.api import GrafanaApi

        token = token or os.environ.get("KANSOKU_GRAFANA_TOKEN")
        return cls(GrafanaApi.from_url(url, credential=token, timeout=10.0))

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from grafana_client.client import GrafanaClientError, GrafanaException

        try:
            return fn(*args, **kwargs)
        except GrafanaClientError as exc:
            if exc.status_code == 404:
                return None
            if exc.status_code == 412:
                raise VersionConflict(f"{what}: {exc.message}") from None
            raise KansokuError(f"grafana: {what}: {exc.message}") from None
        except GrafanaException as exc:
            raise KansokuError(f"grafana: {what}: {exc.message}") from None
        except OSError as exc:
            raise KansokuError(f"grafana: {what}: {exc}") from None

    def datasource_uids(self) -> set[str]:
        items = self._call("list datasources", self.api.datasource.list_datasources) or []
        return {str(item["uid"]) for item in items if "uid" in item}

    def ensure_folder(self, uid: str, title: str) -> bool:
        if self._call(f"get folder {uid}", self.api.folder.get_folder, uid) is not None:
            return False
        self._call(f"create folder {uid}", self.api.folder.create_folder, title, uid=uid)
        return True

    def delete_folder(self, uid: str) -> None:
        self._call(f"delete folder {uid}", self.api.folder.delete_folder, uid)

    def get_dashboard(self, uid: str) -> StoredDashboard | None:
        body = self._call(f"get dashboard {uid}", self.api.dashboard.get_dashboard, uid)
        if body is None:
            return None
        dash = body["dashboard"]
        return StoredDashboard(dash, int(dash.get("version", 0)), body.get("meta", {}).get("folderUid"))

    def put_dashboard(self, folder_uid: str, dashboard: dict[str, Any], version: int | None) -> int:
        payload = {**dashboard, "id": None}
        if version is not None:
            payload["version"] = version
        else:
            payload.pop("version", None)
        body = {
            "dashboard": payload,
            "folderUid": folder_uid,
            "overwrite": False,
            "message": "kansoku bundle",
        }
        result = self._call(
            f"save dashboard {dashboard.get('uid')}", self.api.dashboard.update_dashboard, body
        )
        if not isinstance(result, dict) or result.get("status") != "success":
            raise KansokuError(
                f"grafana: save dashboard {dashboard.get('uid')}: unexpected answer {result!r}"
            )
        return int(result["version"])

    def delete_dashboard(self, uid: str) -> None:
        self._call(f"delete dashboard {uid}", self.api.dashboard.delete_dashboard, uid)

    def list_dashboards(self, folder_uid: str) -> list[str]:
        hits = self._call(
            f"search folder {folder_uid}",
            self.api.search.search_dashboards,
            type_="dash-db",
            folder_uids=[folder_uid],
        )
        return sorted(str(h["uid"]) for h in hits or [] if h.get("folderUid") == folder_uid)
