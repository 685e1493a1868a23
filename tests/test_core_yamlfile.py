"""User-written YAML errors name file, line and field (kansoku.yamlfile)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from kansoku.errors import ConfigError
from kansoku.models import Cluster
from kansoku.yamlfile import line_of, load_model, read_yaml


class Fleet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clusters: list[Cluster]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return path


def test_valid_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path, "clusters:\n  - id: prod-1\n    api_url: https://10.0.0.1:6443\n    k8s_version: 1.29.4\n"
    )
    fleet = load_model(Fleet, path)
    assert fleet.clusters[0].id == "prod-1"
    assert fleet.clusters[0].credentials.kubeconfig is None


def test_missing_and_unknown_fields_name_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "clusters:\n"
        "  - id: prod-1\n"
        "    api_url: https://10.0.0.1:6443\n"
        "  - id: prod-2\n"  # line 4: api_url missing
        "    etcd: [http://10.0.0.2:2379]\n"
        "    tokn: oops\n",  # line 6: unknown field
    )
    with pytest.raises(ConfigError) as info:
        load_model(Fleet, path)
    text = str(info.value)
    assert f"{path}:4: clusters[1].api_url: Field required" in text
    assert f"{path}:6: clusters[1].tokn: Extra inputs are not permitted" in text
    assert len(info.value.problems) == 2


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    path = write(
        tmp_path, "clusters:\n  - id: a\n    api_url: https://x\n    etcd:\n      - 12\n      - [1, 2]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_model(Fleet, path)
    lines = {p.line for p in info.value.problems}
    fields = {p.field for p in info.value.problems}
    assert 6 in lines and "clusters[0].etcd[1]" in fields


def test_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "clusters:\n  - id: a\n   api_url: [\n")
    with pytest.raises(ConfigError) as info:
        load_model(Fleet, path)
    assert info.value.problems[0].line is not None
    assert "YAML syntax" in str(info.value)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_model(Fleet, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="file is empty"):
        load_model(Fleet, write(tmp_path, "# nothing here\n"))


def test_line_of_finds_nested_values(tmp_path: Path) -> None:
    _, node = read_yaml(write(tmp_path, "a:\n  b:\n    - x\n    - y\n"))
    assert line_of(node, "a", "b", 1) == 4
