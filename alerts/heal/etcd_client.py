"""A small etcd v3 client over the JSON gateway (`/v3/kv/txn`, `/v3/kv/range`, `/v3/lease/*`).

Why the gateway with httpx rather than a PyPI client: Debian's etcd is 3.4, whose gateway path
is `/v3/...`; the maintained Python clients either speak gRPC only with pinned protobuf
versions (python-etcd3, unmaintained since 2020, breaks with protobuf >= 4) or target newer
servers. The gateway is part of etcd itself, documented in its `api_grpc_gateway.md`, and
needs nothing but httpx (already a dependency): keys and values are base64, 64-bit numbers
are JSON strings, and a field equal to its zero value is omitted from answers (a lease
keepalive for an expired lease answers without `TTL`).

Endpoints are tried in order; one that refuses or times out is skipped for the next call, so a
three-member etcd keeps serving when one member is down.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from kansoku.errors import KansokuError


class EtcdUnavailable(KansokuError):
    """No endpoint answered: the caller must act as if it holds no lease (step down)."""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with `prefix` (etcd's `WithPrefix`)."""
    raw = prefix.encode()
    return raw[:-1].decode() + chr(raw[-1] + 1)


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    lease: int
    create_revision: int
    mod_revision: int


def _kv(item: dict[str, Any]) -> KeyValue:
    return KeyValue(
        unb64(item["key"]),
        unb64(item.get("value", "")),
        int(item.get("lease", 0)),
        int(item.get("create_revision", 0)),
        int(item.get("mod_revision", 0)),
    )


# -- compare and request builders (the gateway's JSON shapes) ---------------------------------


def absent(key: str) -> dict[str, Any]:
    """Compare: the key does not exist (its create revision is 0)."""
    return {"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def held_by(key: str, lease: int) -> dict[str, Any]:
    """Compare: the key exists and is attached to `lease`."""
    return {"key": b64(key), "target": "LEASE", "result": "EQUAL", "lease": str(lease)}


def unchanged(key: str, mod_revision: int) -> dict[str, Any]:
    """Compare: the key was not written since it was read at `mod_revision`."""
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}


def put(key: str, value: str, lease: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
    if lease:
        body["lease"] = str(lease)
    return {"request_put": body}


def get(key: str) -> dict[str, Any]:
    return {"request_range": {"key": b64(key)}}


class EtcdClient:
    def __init__(self, endpoints: Sequence[str], timeout: float = 2.0) -> None:
        if not endpoints:
            raise KansokuError("etcd: no endpoints")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self._client = httpx.Client(timeout=timeout)
        self._current = 0

    def close(self) -> None:
        self._client.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        errors = []
        for i in range(len(self.endpoints)):
            index = (self._current + i) % len(self.endpoints)
            url = self.endpoints[index] + path
            try:
                response = self._client.post(url, json=body)
            except httpx.HTTPError as exc:
                errors.append(f"{self.endpoints[index]}: {type(exc).__name__}")
                continue
            if response.status_code >= 500:
                errors.append(f"{self.endpoints[index]}: HTTP {response.status_code}")
                continue
            self._current = index
            data: dict[str, Any] = response.json()
            if response.status_code != 200 or "error" in data:
                raise KansokuError(f"etcd {path}: {data.get('error') or data.get('message') or data}")
            return data
        raise EtcdUnavailable(f"etcd {path}: no endpoint answered ({'; '.join(errors)})")

    # -- leases --------------------------------------------------------------------------------

    def grant(self, ttl: int) -> int:
        return int(self._post("/v3/lease/grant", {"TTL": str(ttl)})["ID"])

    def keepalive(self, lease: int) -> int:
        """Refresh `lease`; its remaining TTL, 0 when it has expired (the gateway omits TTL)."""
        data = self._post("/v3/lease/keepalive", {"ID": str(lease)})
        return int(data.get("result", data).get("TTL", 0))

    def revoke(self, lease: int) -> None:
        self._post("/v3/lease/revoke", {"ID": str(lease)})

    # -- keys ----------------------------------------------------------------------------------

    def txn(
        self,
        compare: list[dict[str, Any]],
        success: list[dict[str, Any]],
        failure: list[dict[str, Any]] | None = None,
    ) -> tuple[bool, list[dict[str, Any]]]:
        """One atomic transaction; (succeeded, the responses of the branch that ran)."""
        data = self._post("/v3/kv/txn", {"compare": compare, "success": success, "failure": failure or []})
        return bool(data.get("succeeded", False)), list(data.get("responses", []))

    def get(self, key: str) -> KeyValue | None:
        data = self._post("/v3/kv/range", {"key": b64(key)})
        kvs = data.get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def range(self, start: str, end: str, limit: int = 0) -> list[KeyValue]:
        body: dict[str, Any] = {"key": b64(start), "range_end": b64(end)}
        if limit:
            body["limit"] = str(limit)
        return [_kv(item) for item in self._post("/v3/kv/range", body).get("kvs", [])]

    def count(self, start: str, end: str) -> int:
        data = self._post("/v3/kv/range", {"key": b64(start), "range_end": b64(end), "count_only": True})
        return int(data.get("count", 0))

    def put(self, key: str, value: str, lease: int = 0) -> None:
        self._post("/v3/kv/put", put(key, value, lease)["request_put"])

    def delete_if(self, key: str, value: str) -> bool:
        """Delete `key` only if it still holds `value` (a newer write is kept)."""
        compare = {"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(value)}
        ok, _ = self.txn([compare], [{"request_delete_range": {"key": b64(key)}}])
        return ok

    def delete(self, key: str, end: str | None = None) -> int:
        body: dict[str, Any] = {"key": b64(key)}
        if end is not None:
            body["range_end"] = b64(end)
        return int(self._post("/v3/kv/deleterange", body).get("deleted", 0))


def responses_kv(responses: list[dict[str, Any]], index: int) -> KeyValue | None:
    """The key-value of the `index`-th response of a txn branch (a `request_range`), if any."""
    if index >= len(responses):
        return None
    kvs = responses[index].get("response_range", {}).get("kvs", [])
    return _kv(kvs[0]) if kvs else None
