"""Relative paths in a config file are relative to that file, not to the current directory.

Why: an example (`examples/inventory.yaml`, `examples/heal.yaml`) must run the same from
the repository root, from `examples/` and from a cron job's `/`; a path that follows the
shell's working directory would name a different file in each. heal.yaml already resolves
its paths against its own folder (`LoadedConfig.path`); the inventory does it here, once,
right after validation, so every reader of a loaded `Inventory` sees absolute paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kansoku.inventory import Inventory
    from kansoku.models import Credentials


def relative_to(value: str | None, base: Path) -> str | None:
    """`value` as an absolute path: `~` expanded, a relative path joined to `base`."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _credentials(creds: Credentials, base: Path) -> Credentials:
    return creds.model_copy(
        update={
            "kubeconfig": relative_to(creds.kubeconfig, base),
            "token_file": relative_to(creds.token_file, base),
            "ca_file": relative_to(creds.ca_file, base),
        }
    )


def inventory_relative_to(inventory: Inventory, base: Path) -> Inventory:
    """A copy of `inventory` whose file and folder fields are absolute, relative ones taken
    from `base` (the inventory file's folder)."""
    clusters = [
        c.model_copy(update={"credentials": _credentials(c.credentials, base)}) for c in inventory.clusters
    ]
    sources = [
        s.model_copy(
            update={"token_file": relative_to(s.token_file, base), "ca_file": relative_to(s.ca_file, base)}
        )
        if s.type == "rancher"
        else s
        for s in inventory.sources
    ]
    os_ = inventory.openstack
    openstack = os_.model_copy(
        update={
            "rabbitmq_password_file": relative_to(os_.rabbitmq_password_file, base),
            "transport_url_file": relative_to(os_.transport_url_file, base),
            "logs": [log.model_copy(update={"path": relative_to(log.path, base)}) for log in os_.logs],
        }
    )
    settings = inventory.settings.model_copy(
        update={"etcd_backup_dir": relative_to(inventory.settings.etcd_backup_dir, base)}
    )
    return inventory.model_copy(
        update={"clusters": clusters, "sources": sources, "openstack": openstack, "settings": settings}
    )
