"""Inventory sources: Rancher v3 /v3/clusters (recorded body on loopback) and Magnum mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace

import pytest

from kansoku.inventory import Inventory, MagnumSource, RancherSource
from kansoku.inventory_sources import SourceCache, clusters_from_magnum, clusters_from_rancher_doc
from kansoku.models import Cluster
from tests.support.loopback import LoopbackServer

RANCHER = Path(__file__).parent / "data" / "rancher" / "v3-clusters.json"


@pytest.fixture
def rancher(tmp_path: Path) -> Iterator[tuple[str, list[str], dict[str, int]]]:
    seen: list[str] = []
    mode = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = RANCHER.read_bytes() if self.path == "/v3/clusters" else b"{}"
            self.send_response(mode["status"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    with LoopbackServer(Handler) as server:
        yield server.url, seen, mode


def test_rancher_collection_maps_to_clusters() -> None:
    src = RancherSource(type="rancher", url="https://rancher.example", token_file="/etc/t", region="fra")
    clusters = clusters_from_rancher_doc(json.loads(RANCHER.read_text()), src)
    assert [c.id for c in clusters] == ["prod-fra-001", "prod-ams-002"]  # `local` (Rancher itself) skipped
    c = clusters[0]
    assert c.api_url == "https://10.20.0.11:6443"
    assert c.management_api_url == "https://rancher.example/k8s/clusters/c-m-4x7qz8lk"
    assert c.credentials.token_file == "/etc/t"
    assert c.k8s_version == "1.29.4+rke2r1"
    assert c.labels["rancher_state"] == "active" and clusters[1].labels["rancher_state"] == "unavailable"


def test_rancher_source_cache_keeps_last_good(
    rancher: tuple[str, list[str], dict[str, int]], tmp_path: Path
) -> None:
    url, seen, mode = rancher
    (tmp_path / "token").write_text("token-abcde:secret\n")
    inv = Inventory(
        clusters=[Cluster(id="prod-fra-001", api_url="https://override:6443")],
        sources=[RancherSource(type="rancher", url=url, token_file=str(tmp_path / "token"))],
    )
    cache = SourceCache()
    clusters = cache.clusters(inv)
    assert seen == ["Bearer token-abcde:secret"]
    assert [c.id for c in clusters] == ["prod-fra-001", "prod-ams-002"]
    assert clusters[0].api_url == "https://override:6443"  # the file wins on id clashes
    mode["status"] = 503
    again = cache.clusters(inv)
    assert [c.id for c in again] == ["prod-fra-001", "prod-ams-002"]  # kept, not dropped
    assert "HTTP 503" in next(iter(cache.errors.values()))


def test_magnum_clusters_map_to_model() -> None:
    items = [
        SimpleNamespace(id="0a1b", name="k8s-prod-1", api_address="https://172.24.4.10:6443",
                        master_addresses=["172.24.4.10", "172.24.4.11"], project_id="p1", status="CREATE_COMPLETE"),
        SimpleNamespace(id="0a1c", name="k8s-new", api_address=None, master_addresses=[], project_id="p1",
                        status="CREATE_IN_PROGRESS"),
    ]  # fmt: skip
    clusters = clusters_from_magnum(items, MagnumSource(type="magnum", cloud="c"), "RegionOne")
    assert [c.id for c in clusters] == ["k8s-prod-1"]
    assert clusters[0].etcd == ["https://172.24.4.10:2379", "https://172.24.4.11:2379"]
    assert clusters[0].openstack_project == "p1" and clusters[0].region == "RegionOne"
