"""A minimal Kubernetes API client for the heal actions (httpx, bearer token, CA file).

Why not the `kubernetes` package: the actions need six calls (get/patch/post/delete on
nodes, pods, evictions, deployments, scale subresources); a thin typed wrapper keeps the
dependency set small and makes every request carry our timeout and the action's request
id (as `X-Request-ID`, which the API server's audit log keeps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kansoku.alerts.heal.base import ActionFailed
from kansoku.models import Cluster


class KubeClient:
    def __init__(self, cluster: Cluster, request_id: str, timeout: float = 10.0) -> None:
        import httpx

        creds = cluster.credentials
        headers = {"Accept": "application/json", "X-Request-ID": request_id}
        if creds.token_file:
            headers["Authorization"] = "Bearer " + Path(creds.token_file).read_text().strip()
        verify: bool | str = not creds.insecure_skip_tls_verify
        if creds.ca_file and verify:
            verify = creds.ca_file
        self.cluster = cluster
        self._http = httpx.Client(
            base_url=cluster.api_url.rstrip("/"), headers=headers, verify=verify, timeout=timeout
        )

    def _send(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        import httpx

        try:
            resp = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ActionFailed(f"kubernetes {self.cluster.id}: {method} {path}: {exc}") from None
        if resp.status_code >= 400:
            reason = (
                resp.json().get("message", resp.text[:200])
                if resp.headers.get("content-type", "").startswith("application/json")
                else resp.text[:200]
            )
            err = ActionFailed(
                f"kubernetes {self.cluster.id}: {method} {path}: HTTP {resp.status_code}: {reason}"
            )
            err.status = resp.status_code  # type: ignore[attr-defined]
            raise err
        body = resp.json() if resp.content else {}
        return body if isinstance(body, dict) else {}

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return self._send("GET", path, params=params)

    def patch(self, path: str, body: dict[str, Any], content_type: str) -> dict[str, Any]:
        return self._send("PATCH", path, json=body, headers={"Content-Type": content_type})

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", path, json=body)

    def delete(self, path: str) -> dict[str, Any]:
        return self._send("DELETE", path)


def node_ready(node: dict[str, Any]) -> bool:
    for cond in node.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def internal_addresses(nodes: dict[str, Any]) -> list[str]:
    """InternalIP of every node in a NodeList (what mounts come from)."""
    out = []
    for node in nodes.get("items", []):
        for addr in node.get("status", {}).get("addresses", []):
            if addr.get("type") == "InternalIP" and addr.get("address"):
                out.append(str(addr["address"]))
    return sorted(set(out))
