"""Fixtures shared by all tests; every real server comes from here.

Real servers (Prometheus, Alertmanager, etcd, RabbitMQ) are started on 127.0.0.1 with
free ports and their own directories, and stopped by PID when the test ends, pass or fail.
A missing binary is a failure, never a skip: these tests are the point.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kansoku.process import ManagedProcess
from kansoku.servers import (
    ALERTMANAGER_BIN,
    ETCD_BIN,
    PROMETHEUS_BIN,
    RABBITMQ_SERVER,
    RabbitMQ,
    start_etcd,
    start_rabbitmq,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "tests" / "data"
SHARED_SAMPLES = REPO.parent / "shared" / "reference" / "samples"


def require(binary: str, package: str) -> None:
    """Real-component tests need the Debian package; its absence fails the test, never skips it."""
    found = os.path.exists(binary) if os.path.isabs(binary) else shutil.which(binary) is not None
    if not found:
        pytest.fail(f"{binary} is not installed: apt-get install -y {package} (.ci/run installs it)")


@pytest.fixture
def procs() -> Iterator[list[ManagedProcess]]:
    """Append every process a test starts; all are stopped by PID at teardown."""
    started: list[ManagedProcess] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[ManagedProcess]:
    require(ETCD_BIN, "etcd-server")
    proc = start_etcd(tmp_path / "etcd")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """One RabbitMQ for the session: it takes ~5 s to start."""
    require(RABBITMQ_SERVER, "rabbitmq-server")
    proc = start_rabbitmq(tmp_path_factory.mktemp("rabbitmq"))
    yield proc
    proc.stop()


@pytest.fixture
def need_prometheus() -> None:
    require(PROMETHEUS_BIN, "prometheus")
    require("promtool", "prometheus")


@pytest.fixture
def need_alertmanager() -> None:
    require(ALERTMANAGER_BIN, "prometheus-alertmanager")


@pytest.fixture
def shared_sample() -> Callable[[str], Path]:
    """A real payload recorded in shared/reference/samples (or its copy in tests/data)."""

    def find(name: str) -> Path:
        for base in (SAMPLES, SHARED_SAMPLES):
            if (base / name).exists():
                return base / name
        raise FileNotFoundError(name)

    return find


@pytest.fixture
def fake_es() -> Iterator[Any]:
    """A loopback server that answers like Elasticsearch with documented response bodies."""
    from tests.support.es import serve_fake_es

    with serve_fake_es() as state:
        yield state


@pytest.fixture(scope="module")
def oslo_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small log tree written by real oslo.log (text and JSON), shared by a test module."""
    from tests.support.es import make_oslo_tree

    return make_oslo_tree(tmp_path_factory.mktemp("logs"))
