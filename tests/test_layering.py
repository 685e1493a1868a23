"""Dependencies point one way: every `import` of the product is checked against the layers.

The layers (docs/architecture.md explains the order): a room may import its own modules and
rooms of a lower rank, never a room of the same or a higher rank. Imports inside functions
and under `TYPE_CHECKING` count too: an import moved into a function still is a dependency.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: folder -> the package it is installed as: `kansoku/` and every top-level folder with an
#: `__init__.py` ('-' becomes '_'), as pyproject's package-dir maps them; a new area is
#: checked too (and must be given a rank below).
FOLDERS = {"kansoku": "kansoku"} | {
    child.name: f"kansoku.{child.name.replace('-', '_')}"
    for child in sorted(REPO.iterdir())
    if child.is_dir()
    and child.name not in ("tests", "bench", "kansoku")
    and (child / "__init__.py").is_file()
}

#: room (package prefix) -> rank; a module belongs to the longest prefix that names it.
RANKS = {
    "kansoku": 0,  # the core: errors, models, inventory (+ sources), process, servers, yamlfile
    "kansoku.tracing": 1,
    "kansoku.lab": 1,
    "kansoku.health": 2,
    "kansoku.collectors": 3,
    "kansoku.dashboards": 4,
    "kansoku.alerts": 4,  # rule files, heal, the alerts CLI and demo: below the bundles
    "kansoku.addon_bundles": 5,  # bundles = dashboards + rules; wires the bundles' hooks into heal
    "kansoku.web": 7,  # the web UI shows every area
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
    area = ".".join(module.split(".")[:2])
    if not best or (best == "kansoku" and area != module and area in FOLDERS.values()):
        raise AssertionError(f"{module} belongs to no room: give its area a rank in RANKS")
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
    assert set(FOLDERS) >= {"kansoku", "tracing", "lab", "alerts", "addon-bundles"}
    modules = product_modules()
    assert "kansoku.alerts.heal.engine" in modules and "kansoku.lab.cli" in modules
    for module in modules:
        room_of(module)


def test_an_area_without_a_rank_is_an_error_not_the_core() -> None:
    FOLDERS["newarea"] = "kansoku.newarea"
    try:
        room_of("kansoku.newarea.app")
    except AssertionError as exc:
        assert "kansoku.newarea.app belongs to no room" in str(exc)
    else:
        raise AssertionError("an unranked area was taken for the core")
    finally:
        del FOLDERS["newarea"]


def test_an_upward_import_is_reported_even_inside_a_function() -> None:
    source = "def f():\n    from kansoku.alerts.heal.engine import Engine\n    return Engine\n"
    assert violations("kansoku.tracing.stitch", source) == [
        "kansoku.tracing.stitch:2 imports kansoku.alerts.heal.engine "
        "(kansoku.tracing may not depend on kansoku.alerts)"
    ]


def test_rooms_of_one_rank_may_not_import_each_other() -> None:
    assert violations("kansoku.lab.cli", "import kansoku.tracing.ingest.parse\n") != []
    assert violations("kansoku.alerts.rules.check", "from kansoku.dashboards import defs\n") != []


def test_relative_imports_are_resolved() -> None:
    assert violations("kansoku.health.runner", "from .model import CheckResult\n") == []
    assert violations("kansoku.health.serve", "from ..collectors.exporter import X\n") == [
        "kansoku.health.serve:1 imports kansoku.collectors.exporter "
        "(kansoku.health may not depend on kansoku.collectors)"
    ]
    assert violations("kansoku.alerts.rules", "from . import check\n", is_package=True) == []


def test_the_whole_alerts_area_sits_below_the_bundles() -> None:
    """Rules and heal alike: the healer reads the bundles' hooks through a seam
    (`alerts.heal.base.HookSource`), wired in by the bundles' CLI, never by importing them."""
    assert violations("kansoku.addon_bundles.render", "from kansoku.alerts.rules.model import R\n") == []
    assert violations("kansoku.addon_bundles.cli", "from kansoku.alerts.heal.base import A\n") == []
    assert violations("kansoku.alerts.heal.engine", "from kansoku.addon_bundles.ops import c\n") != []
    assert violations("kansoku.alerts.cli", "from kansoku.addon_bundles.cli import BundleDirs\n") != []


def area_graph() -> dict[str, set[str]]:
    """area (top-level package) -> the other areas its modules import."""
    areas = sorted(set(FOLDERS.values()), key=len, reverse=True)

    def area_of(module: str) -> str:
        if RANKS[room_of(module)] >= RANKS["kansoku.cli"]:
            return "entry points"  # kansoku.cli, kansoku.demo: in the core's folder, above every area
        return next((a for a in areas if module == a or module.startswith(a + ".")), "kansoku")

    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        src = area_of(module)
        graph.setdefault(src, set()).update(area_of(t) for t in targets if area_of(t) != src)
    return graph


def test_no_two_areas_import_each_other() -> None:
    """Folder level too: an area's rooms may sit at different ranks, but two areas never
    depend on each other in both directions (alerts <-> addon-bundles was such a pair)."""
    assert cycles(area_graph()) == []


def import_graph() -> dict[str, set[str]]:
    """module -> the product modules it names in an import (a package's `from . import x`
    and `from kansoku.area import module` resolve to the module)."""
    modules = product_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for _, target in imported_modules(module, path.read_text(), path.name == "__init__.py"):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module:
                edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_two_modules_import_each_other_even_through_a_function() -> None:
    """An import moved into a function still is an edge: a cycle hidden that way is reported."""
    assert cycles(import_graph()) == []


def test_a_cycle_through_a_function_import_is_found() -> None:
    graph = {"a.sinks": {"a.grafana_sink"}, "a.grafana_sink": {"a.sinks"}, "a.other": {"a.sinks"}}
    assert cycles(graph) == [["a.grafana_sink", "a.sinks"]]


JOURNAL_TABLES = ("deliveries", "alerts", "actions", "firing", "firing_clusters", "events", "settings")
#: SQL as this code base writes it (keywords in capitals), so prose in docstrings does not match
SQL = re.compile(r"\b(?:SELECT\b.*?\bFROM|INSERT\s+INTO|DELETE\s+FROM|REPLACE\s+INTO|UPDATE)\s+(\w+)", re.S)


def journal_sql_outside_the_journal(module: str, source: str) -> list[str]:
    """String constants (f-strings included) in `source` that run SQL on a journal table."""
    found = []
    for node in ast.walk(ast.parse(source)):
        texts = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts = [node.value]
        elif isinstance(node, ast.JoinedStr):
            texts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        for text in texts:
            for table in SQL.findall(text):
                if table.lower() in JOURNAL_TABLES:
                    found.append(f"{module}:{node.lineno}: SQL on {table}")
    return found


def test_only_the_heal_journal_speaks_sql_on_its_tables() -> None:
    found = []
    for module, path in product_modules().items():
        # the journal and its own modules (journal_schema: tables and migrations,
        # journal_prune: retention) are the only ones to speak SQL on its tables
        if not module.startswith("kansoku.alerts.heal.journal"):
            found += journal_sql_outside_the_journal(module, path.read_text())
    assert found == []


def test_sql_in_another_module_is_found() -> None:
    source = 'def f(db):\n    return db.execute("SELECT planned_at FROM actions WHERE dry_run = ?", (1,))\n'
    assert journal_sql_outside_the_journal("kansoku.alerts.heal.engine", source) == [
        "kansoku.alerts.heal.engine:2: SQL on actions"
    ]
    assert (
        journal_sql_outside_the_journal("m", 'x = "select the alerts from the table, update alerts"\n') == []
    )
