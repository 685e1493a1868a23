"""Issue 11 item 15: passwords written into URLs are refused everywhere, and never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kansoku.errors import ConfigError, KansokuError
from kansoku.inventory import load_inventory
from kansoku.urls import inline_secret, redact

SECRET = "Zq8-s3cret"

#: oslo.messaging transport URLs that carry a password (every form its parser accepts)
TRANSPORT_FORMS = [
    f"rabbit://nova:{SECRET}@10.0.0.5:5672/",
    f"rabbit://nova:{SECRET}@10.0.0.5:5672,nova:{SECRET}@10.0.0.6:5672/nova",
    f"rabbit://10.0.0.5:5672,nova:{SECRET}@10.0.0.6:5672/",
    f"rabbit://nova:{SECRET}@[fd00::5]:5672/",
    f"rabbit://:{SECRET}@10.0.0.5/",
    f"rabbit://nova%3A{SECRET}@10.0.0.5/",
    f"rabbit:nova:{SECRET}@10.0.0.5",
    f"kombu+rabbit://nova:{SECRET}@10.0.0.5/",
    f"RABBIT://NOVA:{SECRET}@10.0.0.5/",
    f"  rabbit://nova:{SECRET}@10.0.0.5/",
    f"rabbit://nova:{SECRET}%40x@10.0.0.5/",
    f"amqp://nova:{SECRET}@10.0.0.5:5672//",
    f"rabbit://10.0.0.5/?password={SECRET}",
    f"rabbit://nova:{SECRET}@[::1",
]

BASE = "clusters: []\nopenstack:\n  cloud: cloud-fra\n"


@pytest.mark.parametrize("url", TRANSPORT_FORMS)
def test_every_transport_url_form_with_a_password_is_refused_without_printing_it(
    tmp_path: Path, url: str
) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(BASE + f"  transport_url: '{url}'\n")
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    text = str(err.value)
    assert f"{path}:4: openstack.transport_url" in text
    assert SECRET not in text and SECRET.lower() not in text.lower()


def test_transport_urls_without_a_password_still_load(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(BASE + "  transport_url: 'rabbit://nova@10.0.0.5:5672,10.0.0.6:5672/nova'\n")
    assert load_inventory(path).openstack.transport_url


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_url", f"https://admin:{SECRET}@10.0.0.1:6443"),
        ("prometheus", f"http://admin:{SECRET}@10.0.0.2:9090"),
        ("prometheus", f"http://10.0.0.2:9090/?token={SECRET}"),
        ("etcd", f"['https://root:{SECRET}@10.0.0.3:2379']"),
        ("api_url", "http://[::1"),
        ("api_url", "https://10.0.0.1:99999"),
    ],
)
def test_kansoku_check_refuses_inline_passwords_and_bad_urls_without_printing_them(
    tmp_path: Path, field: str, value: str
) -> None:
    path = tmp_path / "inventory.yaml"
    api = "https://10.0.0.1:6443" if field != "api_url" else value
    extra = f"    {field}: {value}\n" if field != "api_url" else ""
    path.write_text(f"clusters:\n  - id: c1\n    api_url: '{api}'\n{extra}")
    proc = subprocess.run(
        [sys.executable, "-m", "kansoku", "check", "--inventory", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"clusters[0].{field}" in out, out
    assert SECRET not in out and "Traceback" not in out, out


def test_otlp_url_with_a_password_is_refused_and_not_printed() -> None:
    from kansoku.tracing.outputs.otlp import endpoint_url

    with pytest.raises(KansokuError) as err:
        endpoint_url(f"http://user:{SECRET}@127.0.0.1:4318")
    assert SECRET not in str(err.value) and "***" in str(err.value)
    with pytest.raises(KansokuError) as err:
        endpoint_url("http://[::1")
    assert "not a valid URL" in str(err.value)
    assert endpoint_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"


def test_redact_and_detect() -> None:
    assert inline_secret("https://10.0.0.1:6443/api") is None
    assert inline_secret("rabbit://guest@10.0.0.1/") is None
    assert redact(f"rabbit://a:{SECRET}@h1,b:{SECRET}@h2/?password={SECRET}&ssl=1") == (
        "rabbit://***@h1,***@h2/?password=***&ssl=1"
    )
