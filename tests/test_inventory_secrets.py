"""Secrets stay out of the inventory: a transport URL with a password must live in a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kansoku.errors import ConfigError
from kansoku.inventory import load_inventory

BASE = "clusters:\n  - id: c1\n    api_url: https://10.0.0.1:6443\nopenstack:\n  cloud: prod\n"


def test_inline_password_in_transport_url_is_refused_with_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(BASE + "  transport_url: rabbit://monitoring:s3cret@10.0.0.5:5672/\n")
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    text = str(info.value)
    assert f"{path}:6: openstack.transport_url" in text
    assert "transport_url_file" in text
    assert "s3cret" not in text


def test_transport_url_is_read_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "transport-url"
    secret.write_text("rabbit://monitoring:s3cret@10.0.0.5:5672/\n")
    path = tmp_path / "inv.yaml"
    path.write_text(BASE + f"  transport_url_file: {secret}\n")
    inv = load_inventory(path)
    assert inv.openstack.notification_url() == "rabbit://monitoring:s3cret@10.0.0.5:5672/"


def test_missing_transport_url_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(BASE + f"  transport_url_file: {tmp_path / 'nope'}\n")
    inv = load_inventory(path)
    with pytest.raises(ConfigError, match=r"nope: openstack\.transport_url_file"):
        inv.openstack.notification_url()


def test_url_without_password_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(BASE + "  transport_url: rabbit://10.0.0.5:5672/\n")
    assert load_inventory(path).openstack.notification_url() == "rabbit://10.0.0.5:5672/"
