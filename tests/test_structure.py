"""One room per concern, measured: no product module over 600 lines, no folder of look-alikes.

Three or more modules sharing a name prefix in one folder (`demo.py`, `demo_gen.py`,
`demo_chains.py`) are a room that was never made: they move into a sub-package. A module over
600 lines holds more than one job. Both are checked on every product folder and its
sub-folders, so the structure cannot drift back.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: the product's folders (each installed as `kansoku.<folder>`); tests and bench are not product
PRODUCT_FOLDERS = (
    "kansoku",
    "tracing",
    "collectors",
    "health",
    "dashboards",
    "alerts",
    "addon-bundles",
    "lab",
    "web",
)
MAX_LINES = 600
MAX_SHARING_A_PREFIX = 2


def product_files() -> list[Path]:
    return [
        path
        for folder in PRODUCT_FOLDERS
        if (REPO / folder).is_dir()
        for path in sorted((REPO / folder).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def prefix(path: Path) -> str:
    """The part of a module's name before its first `_`: `store_check.py` -> `store`."""
    return path.stem.split("_", 1)[0]


def long_modules(paths: list[Path], limit: int = MAX_LINES) -> list[str]:
    found = []
    for path in paths:
        lines = len(path.read_text().splitlines())
        if lines > limit:
            found.append(f"{path.relative_to(REPO)}: {lines} lines (at most {limit})")
    return found


def crowded_prefixes(paths: list[Path], limit: int = MAX_SHARING_A_PREFIX) -> list[str]:
    groups: dict[tuple[Path, str], list[str]] = defaultdict(list)
    for path in paths:
        if path.name != "__init__.py" and path.name != "__main__.py":
            groups[(path.parent, prefix(path))].append(path.name)
    return [
        f"{folder.relative_to(REPO)}/: {len(names)} modules share '{stem}' ({', '.join(sorted(names))})"
        for (folder, stem), names in sorted(groups.items())
        if len(names) > limit
    ]


def test_no_product_module_is_over_600_lines() -> None:
    assert long_modules(product_files()) == []


def test_no_folder_holds_three_modules_sharing_a_name_prefix() -> None:
    assert crowded_prefixes(product_files()) == []


def test_the_checks_name_their_offenders(tmp_path: Path) -> None:
    global REPO
    saved = REPO
    REPO = tmp_path
    try:
        room = tmp_path / "tracing"
        room.mkdir()
        for name in ("demo.py", "demo_gen.py", "demo_chains.py", "store.py", "store_check.py"):
            (room / name).write_text("x = 1\n")
        (room / "big.py").write_text("x = 1\n" * 601)
        paths = sorted(room.glob("*.py"))
        assert crowded_prefixes(paths) == [
            "tracing/: 3 modules share 'demo' (demo.py, demo_chains.py, demo_gen.py)"
        ]
        assert long_modules(paths) == ["tracing/big.py: 601 lines (at most 600)"]
    finally:
        REPO = saved
