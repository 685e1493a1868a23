"""Where kansoku keeps its state, resolved the same way by every command.

The one place the `.kansoku` default and its environment variable are written; the CLI
options that name them are in `kansoku.options`.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STORE = Path(".kansoku")
STORE_ENV = "KANSOKU_STORE"


def store_dir(explicit: Path | None = None) -> Path:
    """The state directory: `--store`, else $KANSOKU_STORE, else ./.kansoku/."""
    if explicit is not None:
        return explicit
    env = os.environ.get(STORE_ENV)
    return Path(env) if env else DEFAULT_STORE
