"""Which folders make up the `kansoku` import package, and the data files each one ships.

Why a setup.py next to pyproject.toml: the areas live at the repository root (`tracing/`,
`addon-bundles/`, ...) and are installed as `kansoku.<area>`. setuptools' `find` cannot
map several roots under one prefix, and its package-data globs do not reach nested data
folders (`addon-bundles/bundles/<bundle>/rules/*.yaml`). Both lists are computed here from
the tree, so a new area, sub-package or data folder ships without editing a list;
`tests/test_wheel.py` checks the built wheel against `git ls-files`.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
#: Top-level folders that are not part of the installed package.
NOT_AREAS = {"tests", "bench", "docs", "examples", "build", "dist"}
#: Files that are never package data.
SKIP_SUFFIXES = {".py", ".pyc", ".pyo"}


def area_roots() -> dict[str, str]:
    """`kansoku` itself plus every top-level folder with an `__init__.py` ('-' becomes '_')."""
    roots = {"kansoku": "kansoku"}
    for child in sorted(HERE.iterdir()):
        if (
            child.is_dir()
            and child.name not in NOT_AREAS
            and child.name != "kansoku"
            and not child.name.startswith(".")
            and (child / "__init__.py").is_file()
        ):
            roots[f"kansoku.{child.name.replace('-', '_')}"] = child.name
    return roots


def _skipped(name: str) -> bool:
    return name == "__pycache__" or name.startswith(".") or name.endswith(".egg-info")


def packages_and_data(roots: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    """Every package under the roots, and per package the non-Python files below it that are
    not inside a sub-package (those belong to the sub-package)."""
    packages: list[str] = []
    data: dict[str, list[str]] = {}
    for name, folder in roots.items():
        for dirpath, dirnames, _ in os.walk(HERE / folder):
            dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
            here = Path(dirpath)
            if not (here / "__init__.py").is_file():
                continue  # a data folder: collected by the package above it
            rel = here.relative_to(HERE / folder)
            package = ".".join([name, *rel.parts])
            packages.append(package)
            files: list[str] = []
            for sub, subdirs, filenames in os.walk(here):
                subdirs[:] = sorted(
                    d for d in subdirs if not _skipped(d) and not (Path(sub) / d / "__init__.py").is_file()
                )
                for filename in sorted(filenames):
                    if Path(filename).suffix in SKIP_SUFFIXES or filename.startswith("."):
                        continue
                    files.append(str((Path(sub) / filename).relative_to(here)))
            if files:
                data[package] = files
    return packages, data


ROOTS = area_roots()
PACKAGES, PACKAGE_DATA = packages_and_data(ROOTS)

if __name__ == "__main__":
    setup(package_dir=ROOTS, packages=PACKAGES, package_data=PACKAGE_DATA, include_package_data=False)
