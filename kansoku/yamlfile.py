"""Load a user-written YAML file into a pydantic model, with errors as file:line:field.

Why: operators edit inventories, heal configs and bundle manifests by hand; when one is
wrong they need the exact line and field, not a pydantic traceback. PyYAML's composer
keeps the position of every node, so we map each validation error's location (a path of
keys and list indexes) back to the line of the node it points at.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kansoku.errors import ConfigError, FieldProblem

ModelT = TypeVar("ModelT", bound=BaseModel)


class LazyNode:
    """The node tree of a document, composed only when a line number is asked for.

    Why: line numbers are needed only to report a problem, and composing the tree costs
    about as much as loading the data (7 of 9 s for a 100k-cluster inventory).
    """

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._node: yaml.Node | None = None

    def get(self) -> yaml.Node | None:
        if self._text is not None:
            loader = _LOADER(self._text)
            try:
                with _no_gc():
                    self._node = loader.get_single_node()
            except yaml.YAMLError:
                self._node = None  # the data loaded, so this does not happen; no lines then
            finally:
                loader.dispose()
                self._text = None
        return self._node


#: a node tree, or one composed on demand
Node = yaml.Node | LazyNode


def _resolve(node: Node | None) -> yaml.Node | None:
    return node.get() if isinstance(node, LazyNode) else node


def _node_at(root: yaml.Node, path: tuple[int | str, ...]) -> yaml.Node:
    """The deepest node of `root` that `path` reaches (the parent when a key is missing)."""
    node = root
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == step:
                    node = value_node
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            return node
    return node


def _field_name(path: tuple[int | str, ...]) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


#: libyaml's loader when PyYAML was built with it (a Debian/PyPI wheel is): the pure-Python
#: scanner took 71 s for a 100k-cluster inventory, and the file used to be parsed twice
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: characters YAML 1.1 does not allow in a stream (C0 controls but TAB/LF/CR, DEL, C1 but NEL)
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x84\x86-\x9f\ufffe\uffff]")


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a big document becomes objects.

    Why: hundreds of thousands of new containers trigger full collections again and again,
    each walking everything built so far; that made a 20k-cluster inventory 3.5x slower
    than with collection paused, and growing faster than linear (nothing here makes cycles
    that need collecting).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def control_problem(name: str, text: str) -> FieldProblem | None:
    """Where the first character YAML refuses is, named (NUL, BEL...), or None."""
    match = _FORBIDDEN.search(text)
    if match is None:
        return None
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    code = ord(match.group())
    names = {0: "NUL", 7: "BEL", 8: "BS", 0x1B: "ESC", 0x7F: "DEL"}
    what = f"U+{code:04X}" + (f" ({names[code]})" if code in names else "")
    return FieldProblem(name, line, "", f"control character {what} at column {column}: not allowed in YAML")


def read_yaml(path: Path) -> tuple[Any, Node | None]:
    """Parse `path` into plain data and its node tree; every failure becomes ConfigError.

    The data is loaded with libyaml; the node tree (line numbers, for error messages) is
    composed only if someone asks for a line (`LazyNode`). Characters YAML refuses (NUL,
    BEL...) are reported with their line and column before parsing.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([FieldProblem(name, None, "", "file not found")]) from None
    except PermissionError:
        raise ConfigError([FieldProblem(name, None, "", "permission denied")]) from None
    except IsADirectoryError:
        raise ConfigError([FieldProblem(name, None, "", "is a directory, not a YAML file")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([FieldProblem(name, None, "", f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigError([FieldProblem(name, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    control = control_problem(name, text)
    if control is not None:
        raise ConfigError([control])
    loader = _LOADER(text)
    try:
        with _no_gc():
            data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([FieldProblem(name, line, "", f"YAML syntax: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([FieldProblem(name, None, "", f"YAML: {exc}")]) from None
    except RecursionError:
        raise ConfigError([FieldProblem(name, None, "", "YAML nested too deeply")]) from None
    finally:
        loader.dispose()
    return data, LazyNode(text)


def validate(model: type[ModelT], data: Any, node: Node | None, source: str) -> ModelT:
    """Validate `data` against `model`; every error names source:line:field."""
    try:
        with _no_gc():
            return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        tree = _resolve(node)
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _node_at(tree, loc).start_mark.line + 1 if tree is not None else None
            problems.append(FieldProblem(source, line, _field_name(loc), err["msg"]))
        raise ConfigError(problems) from None


def load_model(model: type[ModelT], path: Path) -> ModelT:
    """Read and validate one YAML file as `model`."""
    data, node = read_yaml(path)
    if data is None:
        raise ConfigError([FieldProblem(str(path), 1, "", "file is empty")])
    return validate(model, data, node, str(path))


def line_of(node: Node | None, *path: int | str) -> int | None:
    """The 1-based line of the value at `path`, for checks done after validation."""
    tree = _resolve(node)
    if tree is None:
        return None
    return _node_at(tree, tuple(path)).start_mark.line + 1
