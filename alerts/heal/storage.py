"""Storage export policies (who may mount a cluster's volumes): the `StorageBackend` seam.

Why a Protocol with a file-backed implementation: the real arrays (NetApp ONTAP export
policies, as seed 002's export-policy-mgr manages) cannot run here; the sync logic, which is
what must be right ("exactly the cluster's current node addresses"), is the same for all.
Writes are atomic (temp file + rename) so a crash never leaves half a policy.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


class FileStorageBackend:
    """Policies in one JSON file: {"policies": {name: {"addresses": [...], "request_id": ...}}}."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        policies = data.get("policies", {}) if isinstance(data, dict) else {}
        return policies if isinstance(policies, dict) else {}

    def get_policy(self, name: str) -> list[str]:
        entry = self._read().get(name, {})
        addresses = entry.get("addresses", []) if isinstance(entry, dict) else []
        return [str(a) for a in addresses] if isinstance(addresses, list) else []

    def set_policy(self, name: str, addresses: list[str], request_id: str) -> None:
        with self._lock:
            policies = self._read()
            policies[name] = {"addresses": sorted(set(addresses)), "request_id": request_id}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"policies": policies}, indent=2, sort_keys=True))
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            tmp.replace(self.path)


#: backend name (heal.yaml `storage.backend`) -> factory
STORAGE_BACKENDS = {"file": FileStorageBackend}
