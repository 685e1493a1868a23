"""Data files shipped inside the package (bundles, rule files, templates), as real paths.

Why importlib.resources and not `Path(__file__)`: the package is installed from a wheel
into site-packages, from an editable install whose folders are mapped by an import hook,
or from a checkout; `importlib.resources.files` asks the import system where the package
really is in each case. The callers need real directories (promtool runs on the files and
is given their folder), so a package that is not on the file system (a zip) is refused
with a clear error instead of failing later on a missing path.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from kansoku.errors import KansokuError


def package_path(package: str, *parts: str) -> Path:
    """The file system path of `parts` inside `package` (which must be installed unpacked)."""
    root = files(package)
    target = root.joinpath(*parts) if parts else root
    if not isinstance(target, Path):
        raise KansokuError(
            f"{package}: installed as {type(target).__name__}, not as files; "
            "install kansoku unpacked (pip install kansoku) to use its shipped data"
        )
    if not target.exists():  # a packaging mistake: say so at import, not at first use
        raise KansokuError(f"{target}: shipped data of {package} is missing from this installation")
    return target
