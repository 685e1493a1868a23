"""Inventory sources besides the file: Rancher's v3 clusters API and OpenStack Magnum.

Why a cache: a source that is down for a round must not make its clusters vanish (their
series would disappear and alerts resolve); we keep the last list each source returned and
report the failure instead. Each source maps its records to the same `Cluster` model.

Rancher (`GET /v3/clusters`, token `token-xxxxx:secret` as Bearer): `apiEndpoint` is the
direct API, `https://<rancher>/k8s/clusters/<id>` the management path (Rancher's proxy
through the cluster agent). Magnum (openstacksdk `container_infrastructure_management`):
`api_address` is the API, `master_addresses` host etcd on 2379 (Magnum's Kubernetes
drivers run etcd on the masters); the cloud's project and region are carried over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kansoku.inventory import Inventory, InventorySource, MagnumSource, RancherSource
from kansoku.models import Cluster, Credentials

log = logging.getLogger("kansoku.inventory")


class SourceError(Exception):
    """A source could not be listed; its last good clusters are kept."""


def clusters_from_rancher_doc(doc: Any, src: RancherSource) -> list[Cluster]:
    """Map a Rancher v3 `/v3/clusters` collection to clusters (skips `local`, Rancher itself)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise SourceError("Rancher /v3/clusters: not a collection (no data list)")
    out = []
    base = src.url.rstrip("/")
    for item in doc["data"]:
        cid = item.get("id")
        if not cid or cid == "local" or item.get("internal"):
            continue
        endpoint = item.get("apiEndpoint") or f"{base}/k8s/clusters/{cid}"
        labels = {k: str(v) for k, v in (item.get("labels") or {}).items() if "/" not in k}
        out.append(
            Cluster(
                id=str(item.get("name") or cid),
                api_url=endpoint,
                management_api_url=f"{base}/k8s/clusters/{cid}",
                credentials=Credentials(token_file=src.token_file, ca_file=src.ca_file),
                region=src.region,
                k8s_version=((item.get("version") or {}).get("gitVersion") or "").lstrip("v") or None,
                labels={**labels, "rancher_id": cid, "rancher_state": str(item.get("state", ""))},
            )
        )
    return out


def fetch_rancher(src: RancherSource) -> list[Cluster]:
    import httpx

    headers = {}
    if src.token_file:
        headers["Authorization"] = f"Bearer {Path(src.token_file).read_text().strip()}"
    url = f"{src.url.rstrip('/')}/v3/clusters"
    try:
        resp = httpx.get(url, headers=headers, verify=src.ca_file or True, timeout=10.0, trust_env=False)
    except httpx.HTTPError as exc:
        raise SourceError(f"Rancher {url}: {exc or type(exc).__name__}") from None
    if resp.status_code != 200:
        raise SourceError(f"Rancher {url}: HTTP {resp.status_code}")
    try:
        return clusters_from_rancher_doc(resp.json(), src)
    except ValueError:
        raise SourceError(f"Rancher {url}: invalid JSON") from None


def clusters_from_magnum(items: list[Any], src: MagnumSource, region: str) -> list[Cluster]:
    out = []
    for c in items:
        api = getattr(c, "api_address", None)
        if not api:
            continue  # not created yet: nothing to probe
        masters = list(getattr(c, "master_addresses", None) or [])
        out.append(
            Cluster(
                id=str(c.name),
                api_url=str(api),
                etcd=[f"https://{m}:2379" for m in masters],
                region=region,
                openstack_project=getattr(c, "project_id", None),
                labels={"magnum_uuid": str(c.id), "magnum_status": str(getattr(c, "status", ""))},
            )
        )
    return out


def fetch_magnum(src: MagnumSource) -> list[Cluster]:
    import openstack

    try:
        conn = openstack.connect(cloud=src.cloud, region_name=src.region)
        items = list(conn.container_infrastructure_management.clusters())
    except Exception as exc:  # openstacksdk/keystoneauth raise many types
        raise SourceError(f"Magnum via cloud {src.cloud!r}: {exc}") from None
    return clusters_from_magnum(items, src, src.region or "default")


#: How to list each source type.
FETCHERS: dict[str, Callable[[Any], list[Cluster]]] = {"rancher": fetch_rancher, "magnum": fetch_magnum}


class SourceCache:
    """The file's clusters plus each source's last good list (file wins on id clashes)."""

    def __init__(self) -> None:
        self.last: dict[str, list[Cluster]] = {}
        self.errors: dict[str, str] = {}

    def clusters(self, inv: Inventory) -> list[Cluster]:
        out = list(inv.clusters)
        seen = {c.id for c in out}
        for src in inv.sources:
            key = _key(src)
            try:
                self.last[key] = FETCHERS[src.type](src)
                self.errors.pop(key, None)
            except (SourceError, OSError) as exc:
                self.errors[key] = str(exc)
                log.error("inventory source %s failed, keeping its last %d clusters: %s",
                          key, len(self.last.get(key, [])), exc)  # fmt: skip
            for c in self.last.get(key, []):
                if c.id not in seen:
                    seen.add(c.id)
                    out.append(c)
        return out


def _key(src: InventorySource) -> str:
    return f"rancher:{src.url}" if isinstance(src, RancherSource) else f"magnum:{src.cloud}"
