"""numpy, imported so that its OpenBLAS stays on one thread (index build, `trace stats`).

Neither uses BLAS, but numpy's OpenBLAS starts a thread per core at import that spins for
~0.1 s of CPU before it sleeps: 5 % of the CPU of a 1 GB index build and ~0.15 s of a
`kansoku trace stats` over 1 GB (perf and `time`, issue 14). The variable is read once,
when the library loads, so it is set only around the import: processes started later get
the environment as it was, and a user's own `OPENBLAS_NUM_THREADS` wins.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def import_numpy() -> Any:
    """numpy, imported with OpenBLAS limited to one thread unless the environment says
    otherwise (a no-op when numpy is already imported: call it before the first import)."""
    if "numpy" in sys.modules:
        return sys.modules["numpy"]
    unset = "OPENBLAS_NUM_THREADS" not in os.environ
    if unset:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import numpy
    finally:
        if unset:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
    return numpy
