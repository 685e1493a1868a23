"""Dependencies point one way: every `import` of the product is checked against the layers.

The layers (docs/architecture.md explains the order): a room may import its own modules and
rooms of a lower rank, never a room of the same or a higher rank. Imports inside functions
and under `TYPE_CHECKING` count too: an import moved into a function still is a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: folder -> the package it is installed as
FOLDERS = {
    "kansoku": "kansoku",
    "tracing": "kansoku.tracing",
    "lab": "kansoku.lab",
    "health": "kansoku.health",
    "collectors": "kansoku.collectors",
    "dashboards": "kansoku.dashboards",
    "alerts": "kansoku.alerts",
    "addon-bundles": "kansoku.addon_bundles",
    "web": "kansoku.web",
}

#: room (package prefix) -> rank; a module belongs to the longest prefix that names it.
RANKS = {
    "kansoku": 0,  # the core: errors, models, inventory (+ sources), process, servers, yamlfile
    "kansoku.tracing": 1,
    "kansoku.lab": 1,
    "kansoku.health": 2,
    "kansoku.collectors": 3,
    "kansoku.dashboards": 4,
    "kansoku.alerts.rules": 4,
    "kansoku.addon_bundles": 5,
    "kansoku.alerts": 6,  # heal, the alerts CLI (heal, rules) and demo
    "kansoku.web": 7,  # pages over health, tracing, collectors and the heal journal (+ the alerts demo)
    # the entry points put every area's commands and demos together
    "kansoku.cli": 8,
    "kansoku.demo": 8,
    "kansoku.__main__": 9,  # python -m kansoku: runs kansoku.cli
}


def room_of(module: str) -> str:
    best = ""
    for room in RANKS:
        if (module == room or module.startswith(room + ".")) and len(room) > len(best):
            best = room
    if not best:
        raise AssertionError(f"{module} belongs to no room: add it to RANKS")
    return best


def product_modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(REPO / folder).with_suffix("").parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def imported_modules(module: str, source: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every kansoku import in `source`, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "kansoku" or (node.level and not node.module):
                # `from kansoku import x` / `from . import x`: x may be a module
                found += [(node.lineno, f"{name}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, name))
    return [(line, name) for line, name in found if name == "kansoku" or name.startswith("kansoku.")]


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    src_room = room_of(module)
    out = []
    for line, target in imported_modules(module, source, is_package):
        if target == "kansoku":
            continue
        dst_room = room_of(target)
        if dst_room != src_room and RANKS[dst_room] >= RANKS[src_room]:
            out.append(f"{module}:{line} imports {target} ({src_room} may not depend on {dst_room})")
    return out


def test_every_import_points_down_the_layers() -> None:
    found = []
    for module, path in product_modules().items():
        found += violations(module, path.read_text(), path.name == "__init__.py")
    assert found == []


def test_every_product_module_has_a_room() -> None:
    modules = product_modules()
    assert "kansoku.alerts.heal.engine" in modules and "kansoku.lab.cli" in modules
    for module in modules:
        room_of(module)


def test_an_upward_import_is_reported_even_inside_a_function() -> None:
    source = "def f():\n    from kansoku.alerts.heal.engine import Engine\n    return Engine\n"
    assert violations("kansoku.tracing.stitch", source) == [
        "kansoku.tracing.stitch:2 imports kansoku.alerts.heal.engine "
        "(kansoku.tracing may not depend on kansoku.alerts)"
    ]


def test_rooms_of_one_rank_may_not_import_each_other() -> None:
    assert violations("kansoku.lab.cli", "import kansoku.tracing.parse\n") != []
    assert violations("kansoku.alerts.rules.check", "from kansoku.dashboards import defs\n") != []


def test_relative_imports_are_resolved() -> None:
    assert violations("kansoku.health.runner", "from .model import CheckResult\n") == []
    assert violations("kansoku.health.serve", "from ..collectors.exporter import X\n") == [
        "kansoku.health.serve:1 imports kansoku.collectors.exporter "
        "(kansoku.health may not depend on kansoku.collectors)"
    ]
    assert violations("kansoku.alerts.rules", "from . import check\n", is_package=True) == []


def test_the_rule_files_room_sits_below_the_bundles_and_heal_above() -> None:
    assert violations("kansoku.addon_bundles.render", "from kansoku.alerts.rules.model import R\n") == []
    assert violations("kansoku.addon_bundles.render", "from kansoku.alerts.heal.base import A\n") != []
    assert violations("kansoku.alerts.heal.engine", "from kansoku.addon_bundles.ops import c\n") == []
