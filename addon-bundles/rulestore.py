"""Where a cluster's rule files go: the `RuleStore` seam and its directory implementation.

Why: the cluster's Prometheus loads `rule_files: [<dir>/*.rules.yaml]`; installing is
writing files there and asking Prometheus to reload (`POST /-/reload`, which needs
`--web.enable-lifecycle`). Every file is checked with promtool before it is written, so a
reload never fails on our file.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from kansoku.errors import KansokuError


class RuleStore(Protocol):
    def read(self, cluster_id: str, name: str) -> str | None: ...

    def write(self, cluster_id: str, name: str, text: str) -> None: ...

    def remove(self, cluster_id: str, name: str) -> None: ...

    def names(self, cluster_id: str) -> list[str]: ...

    def reload(self, cluster_id: str) -> None: ...


class DirectoryRuleStore:
    """`root/<cluster>/<name>`; `reload_urls` maps a cluster to its Prometheus base URL."""

    def __init__(self, root: Path, reload_urls: dict[str, str] | None = None) -> None:
        self.root = root
        self.reload_urls = dict(reload_urls or {})

    def _path(self, cluster_id: str, name: str) -> Path:
        return self.root / cluster_id / name

    def read(self, cluster_id: str, name: str) -> str | None:
        path = self._path(cluster_id, name)
        return path.read_text(encoding="utf-8") if path.exists() else None

    def write(self, cluster_id: str, name: str, text: str) -> None:
        path = self._path(cluster_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # Prometheus never reads a half-written file

    def remove(self, cluster_id: str, name: str) -> None:
        self._path(cluster_id, name).unlink(missing_ok=True)

    def names(self, cluster_id: str) -> list[str]:
        folder = self.root / cluster_id
        return sorted(p.name for p in folder.glob("*.yaml")) if folder.is_dir() else []

    def reload(self, cluster_id: str) -> None:
        url = self.reload_urls.get(cluster_id)
        if url is None:
            return
        req = urllib.request.Request(f"{url.rstrip('/')}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                if resp.status >= 300:
                    raise KansokuError(f"prometheus reload for {cluster_id} answered {resp.status}")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace").strip()
            raise KansokuError(f"prometheus reload for {cluster_id} failed: {exc.code} {body}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise KansokuError(f"prometheus reload for {cluster_id} failed: {exc}") from None
