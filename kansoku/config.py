"""Where kansoku keeps its state, resolved the same way by every command."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STORE = Path(".kansoku")


def store_dir(explicit: Path | None = None) -> Path:
    """The index store: `--store`, else $KANSOKU_STORE, else ./.kansoku/."""
    if explicit is not None:
        return explicit
    env = os.environ.get("KANSOKU_STORE")
    return Path(env) if env else DEFAULT_STORE
