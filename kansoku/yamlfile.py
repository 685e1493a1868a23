"""Load a user-written YAML file into a pydantic model, with errors as file:line:field.

Why: operators edit inventories, heal configs and bundle manifests by hand; when one is
wrong they need the exact line and field, not a pydantic traceback. PyYAML's composer
keeps the position of every node, so we map each validation error's location (a path of
keys and list indexes) back to the line of the node it points at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kansoku.errors import ConfigError, FieldProblem

ModelT = TypeVar("ModelT", bound=BaseModel)


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


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse `path` into plain data and its node tree; syntax errors become ConfigError."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([FieldProblem(name, None, "", "file not found")]) from None
    except PermissionError:
        raise ConfigError([FieldProblem(name, None, "", "permission denied")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([FieldProblem(name, None, "", f"not UTF-8 text ({exc.reason})")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([FieldProblem(name, line, "", f"YAML syntax: {exc.problem}")]) from None
    return data, node


def validate(model: type[ModelT], data: Any, node: yaml.Node | None, source: str) -> ModelT:
    """Validate `data` against `model`; every error names source:line:field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _node_at(node, loc).start_mark.line + 1 if node is not None else None
            problems.append(FieldProblem(source, line, _field_name(loc), err["msg"]))
        raise ConfigError(problems) from None


def load_model(model: type[ModelT], path: Path) -> ModelT:
    """Read and validate one YAML file as `model`."""
    data, node = read_yaml(path)
    if data is None:
        raise ConfigError([FieldProblem(str(path), 1, "", "file is empty")])
    return validate(model, data, node, str(path))


def line_of(node: yaml.Node | None, *path: int | str) -> int | None:
    """The 1-based line of the value at `path`, for checks done after validation."""
    if node is None:
        return None
    return _node_at(node, tuple(path)).start_mark.line + 1
