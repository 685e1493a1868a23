"""Inventory files: valid examples load; a mistake rejects the whole file with file:line:field."""

from __future__ import annotations

from pathlib import Path

import pytest

from kansoku.errors import ConfigError
from kansoku.inventory import load_inventory, parse_duration

REPO = Path(__file__).resolve().parent.parent


def test_example_inventory_loads() -> None:
    inv = load_inventory(REPO / "examples" / "inventory.yaml")
    assert [c.id for c in inv.clusters] == ["prod-fra-001", "dev-fra-017"]
    # relative to the inventory file, not to the working directory
    assert inv.clusters[0].credentials.token_file == str(REPO / "examples/secrets/tokens/prod-fra-001")
    assert inv.checks[0].for_s == 600.0
    assert inv.settings.timeout_s == 2.0
    assert inv.openstack.cloud == "openstack"
    assert {s.type for s in inv.sources} == {"rancher", "magnum"}


def test_bad_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        "clusters:\n"
        "  - id: a\n"
        "    api_url: https://a:6443\n"
        "  - id: b\n"
        "    api_url: https://b:6443\n"
        "    etcd: not-a-list\n"
    )
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    (problem,) = err.value.problems
    assert problem.file == str(path)
    assert problem.line == 6
    assert problem.field == "clusters[1].etcd"


def test_duplicate_ids_and_unknown_check_cluster(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        "clusters:\n"
        "  - {id: a, api_url: 'https://a:6443'}\n"
        "  - {id: a, api_url: 'https://b:6443'}\n"
        "checks:\n"
        "  - name: x\n"
        "    expr: up\n"
        "    clusters: [nope]\n"
    )
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    text = str(err.value)
    assert f"{path}:3: clusters[1].id: duplicate cluster id 'a'" in text
    assert f"{path}:7: checks[0].clusters[0]: unknown cluster 'nope'" in text


def test_secret_inline_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("clusters:\n  - id: a\n    api_url: https://a\n    credentials:\n      token: s3cret\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert err.value.problems[0].field == "clusters[0].credentials.token"
    assert err.value.problems[0].line == 5


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30.0), ("5m", 300.0), ("500ms", 0.5), (2, 2.0)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_is_a_field_error(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text("settings:\n  timeout: soon\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert err.value.problems[0].field == "settings.timeout"
    assert err.value.problems[0].line == 2
