"""The provisioning hook: an HTTP endpoint the provisioning API calls when a cluster is
created or deleted.

Why a FastAPI router (not an app): the provisioning API or `kansoku collect serve` mounts
it next to its own routes; the router only maps HTTP to `ops.install`/`ops.uninstall`, so
the behaviour is the one the CLI and tests exercise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException

from kansoku.addon_bundles.catalog import load_catalog
from kansoku.addon_bundles.ops import Targets, install, load_clusters, uninstall
from kansoku.errors import KansokuError
from kansoku.models import Cluster


def make_router(
    targets: Targets, bundle_dirs: list[Path] | None = None, inventory: Path | None = None
) -> APIRouter:
    """`POST /bundles/clusters` (body: a Cluster) installs; `DELETE /bundles/clusters/{id}` removes."""
    router = APIRouter(prefix="/bundles", tags=["bundles"])
    catalog = load_catalog(*(bundle_dirs or []))

    @router.post("/clusters")
    def provisioned(cluster: Cluster) -> dict[str, Any]:
        try:
            result = install(catalog, cluster, targets)
        except KansokuError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {
            "cluster": result.cluster,
            "bundle": result.bundle,
            "changed": result.changed,
            "created": result.created,
            "updated": result.updated,
        }

    @router.post("/clusters/{cluster_id}")
    def provisioned_from_inventory(cluster_id: str) -> dict[str, Any]:
        if inventory is None:
            raise HTTPException(status_code=404, detail="no inventory configured: POST the cluster instead")
        try:
            clusters = load_clusters(inventory)
            cluster = next((c for c in clusters if c.id == cluster_id), None)
        except KansokuError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        if cluster is None:
            raise HTTPException(status_code=404, detail=f"cluster {cluster_id!r} is not in the inventory")
        return provisioned(cluster)

    @router.delete("/clusters/{cluster_id}")
    def deprovisioned(cluster_id: str) -> dict[str, Any]:
        stub = Cluster(id=cluster_id, api_url="-")
        try:
            removed = uninstall(stub, targets)
        except KansokuError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"cluster": cluster_id, "removed": removed}

    return router
