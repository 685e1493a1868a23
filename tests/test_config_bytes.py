"""Issue 11 item 14: a control byte or a directory where a YAML file was is a clear error with
file and line, never a traceback, and `collect serve` keeps its last good inventory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kansoku.errors import ConfigError

INVENTORY = "clusters:\n  - id: prod-1\n    api_url: https://10.0.0.1:6443\n    region: fra\n"


def _loaders() -> dict[str, object]:
    from kansoku.alerts.heal.config import load_heal_config
    from kansoku.alerts.rules.model import load_rule_file
    from kansoku.inventory import load_inventory

    return {"inventory": load_inventory, "heal": load_heal_config, "rules": load_rule_file}


TEXTS = {
    "inventory": INVENTORY,
    "heal": "journal: j.sqlite\nsafety:\n  cooldown_seconds: 10\n",
    "rules": "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n",
}


@pytest.mark.parametrize("kind", sorted(TEXTS))
@pytest.mark.parametrize(("byte", "name"), [("\x00", "NUL"), ("\x07", "BEL"), ("\x1b", "ESC")])
def test_a_control_byte_names_file_line_and_character(
    tmp_path: Path, kind: str, byte: str, name: str
) -> None:
    lines = TEXTS[kind].splitlines(keepends=True)
    lines[2] = lines[2].replace(":", ":" + byte, 1)
    path = tmp_path / f"{kind}.yaml"
    path.write_text("".join(lines))
    load = _loaders()[kind]
    with pytest.raises(ConfigError) as err:
        load(path)  # type: ignore[operator]
    assert f"{path}:3:" in str(err.value) and name in str(err.value), str(err.value)


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_a_directory_instead_of_the_file_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.yaml"
    path.mkdir()
    with pytest.raises(ConfigError) as err:
        _loaders()[kind](path)  # type: ignore[operator]
    assert str(path) in str(err.value) and "directory" in str(err.value)


def test_collect_serve_keeps_the_last_good_inventory_on_a_bad_byte_or_a_directory(tmp_path: Path) -> None:
    from kansoku.collectors.serve import CollectService

    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY)
    service = CollectService(path)
    try:
        assert [c.id for c in service.monitor.inventory.clusters] == ["prod-1"]
        stamp = 1_000_000_000
        for bad in ("byte", "directory"):
            stamp += 10
            if bad == "byte":
                path.write_text(INVENTORY.replace("prod-1", "prod-\x002"))
            else:
                path.unlink()
                path.mkdir()
            os.utime(path, (stamp, stamp))
            assert service.reload_if_changed() is False
            assert [c.id for c in service.monitor.inventory.clusters] == ["prod-1"]
            assert service.reload_error is not None and str(path) in service.reload_error
            assert ("NUL" in service.reload_error) if bad == "byte" else ("directory" in service.reload_error)
        path.rmdir()
        path.write_text(INVENTORY.replace("prod-1", "prod-2"))
        os.utime(path, (stamp + 10, stamp + 10))
        assert service.reload_if_changed() is True and service.reload_error is None
        assert [c.id for c in service.monitor.inventory.clusters] == ["prod-2"]
    finally:
        service.close()


def test_a_large_inventory_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node tree (line numbers) is composed only when a problem needs a line: a valid
    100k-cluster inventory took 71 s, most of it composing and loading the text twice."""
    import yaml

    from kansoku.inventory import load_inventory

    composed: list[int] = []
    real = yaml.compose

    def counting(*args: object, **kw: object) -> object:
        composed.append(1)
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(yaml, "compose", counting)
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "clusters:\n"
        + "".join(f"  - id: c{i}\n    api_url: https://10.0.{i // 250}.{i % 250}:6443\n" for i in range(2000))
    )
    assert len(load_inventory(path).clusters) == 2000
    assert composed == []
    path.write_text(path.read_text() + "  - id: c1\n    api_url: https://10.9.9.9:6443\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    assert f"{path}:4002: clusters[2000].id: duplicate cluster id 'c1'" in str(err.value)
