"""The grafana-client sink against Grafana's documented response bodies on a loopback server.

Bodies: tests/data/grafana/ (Grafana 11 HTTP API reference, see its README). The server keeps state so
the same provisioning code path runs as against Grafana: create, no-op, 412 on a version
mismatch, drift, delete. Opt-in: a real Grafana when KANSOKU_TEST_GRAFANA_URL is set.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from kansoku.addon_bundles.catalog import load_catalog
from kansoku.addon_bundles.render import render_cluster
from kansoku.dashboards.grafana_sink import GrafanaClientSink
from kansoku.dashboards.provision import drift, provision
from kansoku.dashboards.sinks import VersionConflict
from kansoku.models import Cluster
from tests.support.loopback import LoopbackServer

DATA = Path(__file__).resolve().parent / "data" / "grafana"


def body(name: str) -> Any:
    return json.loads((DATA / name).read_text())


class FakeGrafanaState:
    def __init__(self) -> None:
        self.folders: dict[str, str] = {}
        self.dashboards: dict[str, tuple[dict[str, Any], int, str]] = {}
        self.requests: list[str] = []


def make_handler(state: FakeGrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

        def do_GET(self) -> None:
            url = urlparse(self.path)
            state.requests.append(f"GET {url.path}")
            parts = url.path.strip("/").split("/")
            if url.path == "/api/datasources":
                ds = body("get-datasources-200.json")
                prom = copy.deepcopy(ds[0]) | {"uid": "prom", "name": "prometheus", "type": "prometheus"}
                return self._send(200, [*ds, prom])
            if parts[:2] == ["api", "folders"]:
                uid = parts[2]
                if uid not in state.folders:
                    return self._send(404, body("get-folder-404.json"))
                return self._send(
                    200, body("get-folder-200.json") | {"uid": uid, "title": state.folders[uid]}
                )
            if parts[:3] == ["api", "dashboards", "uid"]:
                uid = parts[3]
                if uid not in state.dashboards:
                    return self._send(404, body("get-dashboard-uid-404.json"))
                dash, version, folder = state.dashboards[uid]
                out = body("get-dashboard-uid-200.json")
                out["dashboard"] = dash | {"id": 1, "version": version}
                out["meta"]["folderUid"] = folder
                return self._send(200, out)
            if url.path == "/api/search":
                query = parse_qs(url.query)
                template = body("get-search-200.json")[1]
                hits = [
                    template | {"uid": uid, "title": d["title"], "folderUid": f}
                    for uid, (d, _, f) in state.dashboards.items()
                    if f in query.get("folderUIDs", [])
                ]
                return self._send(200, hits)
            self._send(404, {"message": "Not found"})

        def do_POST(self) -> None:
            url = urlparse(self.path)
            state.requests.append(f"POST {url.path}")
            payload = self._json()
            if url.path == "/api/folders":
                state.folders[payload["uid"]] = payload["title"]
                return self._send(
                    200, body("get-folder-200.json") | {"uid": payload["uid"], "title": payload["title"]}
                )
            if url.path == "/api/dashboards/db":
                dash = payload["dashboard"]
                uid = dash["uid"]
                current = state.dashboards.get(uid)
                if current is not None and not payload.get("overwrite") and dash.get("version") != current[1]:
                    return self._send(412, body("post-dashboards-db-412.json"))
                version = 1 if current is None else current[1] + 1
                stored = {k: v for k, v in dash.items() if k not in ("id", "version")}
                state.dashboards[uid] = (stored, version, payload["folderUid"])
                return self._send(200, body("post-dashboards-db-200.json") | {"uid": uid, "version": version})
            self._send(404, {"message": "Not found"})

        def do_DELETE(self) -> None:
            url = urlparse(self.path)
            state.requests.append(f"DELETE {url.path}")
            parts = url.path.strip("/").split("/")
            if parts[:3] == ["api", "dashboards", "uid"]:
                state.dashboards.pop(parts[3], None)
                return self._send(200, body("delete-dashboard-uid-200.json"))
            if parts[:2] == ["api", "folders"]:
                state.folders.pop(parts[2], None)
                return self._send(200, body("delete-folder-200.json"))
            self._send(404, {"message": "Not found"})

    return Handler


@pytest.fixture
def grafana() -> Iterator[tuple[str, FakeGrafanaState]]:
    state = FakeGrafanaState()
    with LoopbackServer(make_handler(state)) as server:
        yield server.url, state


def _dashboards() -> list[dict[str, Any]]:
    rendered = render_cluster(
        load_catalog(),
        Cluster(id="c1", api_url="https://c1", k8s_version="1.29.4", labels={"grafana_datasource": "prom"}),
    )
    return list(rendered.dashboards.values())


def test_grafana_client_sink_provisions_idempotently_and_reports_drift(grafana) -> None:
    url, state = grafana
    sink = GrafanaClientSink.from_url(url, token="test-token")
    assert sink.datasource_uids() == {"H8joYFVGz", "prom"}
    dashboards = _dashboards()
    first = provision(sink, "kansoku-c1", "kansoku: c1", dashboards)
    assert first.folder_created and first.created == ["ks-cluster-c1"]
    posts = [r for r in state.requests if r.startswith("POST")]
    second = provision(sink, "kansoku-c1", "kansoku: c1", dashboards)
    assert not second.changed and second.unchanged == ["ks-cluster-c1"]
    assert [r for r in state.requests if r.startswith("POST")] == posts  # nothing written again
    assert drift(sink, "kansoku-c1", dashboards).clean
    # a human edits a panel title in Grafana and adds a dashboard to the folder
    dash, version, folder = state.dashboards["ks-cluster-c1"]
    edited = copy.deepcopy(dash)
    edited["panels"][1]["title"] = "API up?"
    state.dashboards["ks-cluster-c1"] = (edited, version + 1, folder)
    state.dashboards["hand-made"] = ({"uid": "hand-made", "title": "x", "panels": []}, 1, folder)
    report = drift(sink, "kansoku-c1", dashboards)
    assert report.extra == ["hand-made"]
    assert "panel 'API ready' missing" in report.changed["ks-cluster-c1"]
    # an update with a stale version is refused by Grafana (412) and surfaces as VersionConflict
    with pytest.raises(VersionConflict, match="changed by someone else"):
        sink.put_dashboard("kansoku-c1", dashboards[0], version)
    fixed = provision(sink, "kansoku-c1", "kansoku: c1", dashboards)
    assert fixed.updated == ["ks-cluster-c1"]
    sink.delete_dashboard("ks-cluster-c1")
    assert sink.get_dashboard("ks-cluster-c1") is None


@pytest.mark.live
@pytest.mark.skipif(
    not os.environ.get("KANSOKU_TEST_GRAFANA_URL"), reason="opt-in: set KANSOKU_TEST_GRAFANA_URL"
)
def test_real_grafana_opt_in() -> None:
    sink = GrafanaClientSink.from_url(os.environ["KANSOKU_TEST_GRAFANA_URL"])
    datasources = sink.datasource_uids()
    assert datasources, "the Grafana under test needs at least one datasource"
    ds = sorted(datasources)[0]
    rendered = render_cluster(
        load_catalog(),
        Cluster(id="kansoku-live-test", api_url="-", k8s_version="1.29.4", labels={"grafana_datasource": ds}),
        datasources=datasources,
    )
    dashboards = list(rendered.dashboards.values())
    try:
        provision(sink, "kansoku-live-test", "kansoku live test", dashboards)
        assert not provision(sink, "kansoku-live-test", "kansoku live test", dashboards).changed
        assert drift(sink, "kansoku-live-test", dashboards).clean
    finally:
        for d in dashboards:
            sink.delete_dashboard(str(d["uid"]))
        sink.delete_folder("kansoku-live-test")
