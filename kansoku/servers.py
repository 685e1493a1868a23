"""Real servers on loopback: Prometheus, Alertmanager, etcd and RabbitMQ from Debian.

Used by the test fixtures and by `kansoku lab`. Each starter picks free ports, gives the
server its own directory under `base`, waits until it answers and returns a
`ManagedProcess` whose `ports` say where it listens. Facts these rely on (binary names,
flags, readiness times) are in shared/reference/real-servers.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from kansoku.errors import KansokuError
from kansoku.process import ManagedProcess, free_port, http_ok, stop_pid

PROMETHEUS_BIN = "prometheus"
PROMTOOL_BIN = "promtool"
ALERTMANAGER_BIN = "prometheus-alertmanager"
ETCD_BIN = "etcd"
ETCDCTL_BIN = "etcdctl"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


def require_binary(name: str, package: str) -> str:
    """The path of `name`, or an error naming the Debian package that provides it."""
    path = shutil.which(name) if not os.path.isabs(name) else (name if os.path.exists(name) else None)
    if path is None:
        raise KansokuError(
            f"{name} not found: install the Debian package {package} (apt-get install -y {package})"
        )
    return path


def start_prometheus(
    base: Path, config: dict[str, object], rule_files: dict[str, str] | None = None, timeout: float = 30.0
) -> ManagedProcess:
    """Prometheus with `config` (a prometheus.yml as a dict); rule files are written beside it."""
    binary = require_binary(PROMETHEUS_BIN, "prometheus")
    base.mkdir(parents=True, exist_ok=True)
    for name, text in (rule_files or {}).items():
        (base / name).write_text(text)
    (base / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    proc = ManagedProcess(
        "prometheus",
        [
            binary,
            f"--config.file={base / 'prometheus.yml'}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        base,
    )
    proc.ports["http"] = port
    proc.start()
    proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"), timeout)
    return proc


def start_alertmanager(base: Path, config: dict[str, object], timeout: float = 30.0) -> ManagedProcess:
    """Alertmanager with `config` (an alertmanager.yml as a dict), gossip off."""
    binary = require_binary(ALERTMANAGER_BIN, "prometheus-alertmanager")
    base.mkdir(parents=True, exist_ok=True)
    (base / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    proc = ManagedProcess(
        "alertmanager",
        [
            binary,
            f"--config.file={base / 'alertmanager.yml'}",
            f"--storage.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            f"--web.external-url=http://127.0.0.1:{port}",
        ],
        base,
    )
    proc.ports["http"] = port
    proc.start()
    proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"), timeout)
    return proc


def start_etcd(
    base: Path, name: str = "e1", data_dir: Path | None = None, timeout: float = 30.0
) -> ManagedProcess:
    """A single-member etcd; `data_dir` may hold a restored snapshot."""
    binary = require_binary(ETCD_BIN, "etcd-server")
    base.mkdir(parents=True, exist_ok=True)
    client, peer = free_port(), free_port()
    data = data_dir or base / f"{name}.etcd"
    proc = ManagedProcess(
        f"etcd-{name}",
        [
            binary,
            "--name",
            name,
            "--data-dir",
            str(data),
            "--listen-client-urls",
            f"http://127.0.0.1:{client}",
            "--advertise-client-urls",
            f"http://127.0.0.1:{client}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-cluster",
            f"{name}=http://127.0.0.1:{peer}",
        ],
        base,
    )
    proc.ports.update(client=client, peer=peer)
    proc.start()
    proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{client}/health"), timeout)
    return proc


class RabbitMQ(ManagedProcess):
    """RabbitMQ with the management plugin; stopping it also stops the epmd it started."""

    epmd_port: int = 0

    def stop(self, timeout: float = 15.0) -> None:
        super().stop(timeout)
        # epmd -daemon outlives the node; it inherited ERL_EPMD_PORT, which finds it.
        for pid in _epmd_pids(self.epmd_port):
            stop_pid(pid, 2.0)


def _epmd_pids(port: int) -> list[int]:
    """PIDs of epmd daemons whose environment names `port` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"epmd" not in (entry / "cmdline").read_bytes():
                continue
            if f"ERL_EPMD_PORT={port}".encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def start_rabbitmq(base: Path, name: str = "kansoku", timeout: float = 60.0) -> RabbitMQ:
    """RabbitMQ on loopback with management; guest/guest works from 127.0.0.1."""
    binary = require_binary(RABBITMQ_SERVER, "rabbitmq-server")
    base.mkdir(parents=True, exist_ok=True)
    amqp, mgmt, dist, epmd = free_port(), free_port(), free_port(), free_port()
    (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp}\n"
        "management.tcp.ip = 127.0.0.1\n"
        f"management.tcp.port = {mgmt}\n"
        "collect_statistics_interval = 1000\n"
        "loopback_users = none\n"
    )
    env = {
        "RABBITMQ_NODENAME": f"{name}-{amqp}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp),
        "RABBITMQ_DIST_PORT": str(dist),
        "ERL_EPMD_PORT": str(epmd),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
        "HOME": str(base),
    }
    proc = RabbitMQ("rabbitmq", [binary], base, env)
    proc.epmd_port = epmd
    proc.ports.update(amqp=amqp, management=mgmt, dist=dist, epmd=epmd)
    proc.start()
    auth = {"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="}  # guest:guest, RabbitMQ's loopback default
    proc.wait_ready(lambda: http_ok(f"http://127.0.0.1:{mgmt}/api/overview", headers=auth), timeout, 0.5)
    return proc
