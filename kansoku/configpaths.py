"""Relative paths in a config file are relative to that file, not to the current directory.

Why: an example (`examples/inventory.yaml`, `examples/heal.yaml`) must run the same from
the repository root, from `examples/` and from a cron job's `/`; a path that follows the
shell's working directory would name a different file in each. heal.yaml already resolves
its paths against its own folder (`LoadedConfig.path`); `load_inventory` does it with these
helpers, once, right after validation, so every reader of an `Inventory` sees absolute paths.
"""

from __future__ import annotations

from pathlib import Path

from kansoku.models import Credentials


def relative_to(value: str | None, base: Path) -> str | None:
    """`value` as an absolute path: `~` expanded, a relative path joined to `base`."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def credentials_relative_to(creds: Credentials, base: Path) -> Credentials:
    """A copy of `creds` with its file paths absolute (relative ones taken from `base`)."""
    return creds.model_copy(
        update={
            "kubeconfig": relative_to(creds.kubeconfig, base),
            "token_file": relative_to(creds.token_file, base),
            "ca_file": relative_to(creds.ca_file, base),
        }
    )
