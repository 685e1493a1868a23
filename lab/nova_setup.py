"""Setting up the lab's nova: nova.conf, the per-service overrides, its databases, and starting
nova-conductor, nova-scheduler and nova-compute (nova-api runs under `services.start_wsgi`)."""

from __future__ import annotations

from pathlib import Path

from kansoku.lab.services import (
    REGION,
    LabPaths,
    _authtoken,
    _ini,
    _logging,
    _run,
    _venv_bin,
    _with_paste_config,
)
from kansoku.process import ManagedProcess

#: How long after its last heartbeat nova-api calls a service down (nova's default is 60 s).
#: The lab uses 120 s with a heartbeat every 30 s: fewer service-state writes racing a
#: create's writes in SQLite (odd case 21). A test that stops a service and waits for Nova
#: to notice passes a shorter one to `lab_up`.
SERVICE_DOWN_TIME = 120


def nova_conf_text(
    paths: LabPaths,
    keystone_url: str,
    placement_url: str,
    transport_url: str,
    glance_url: str,
    service_down_time: int = SERVICE_DOWN_TIME,
) -> str:
    base = paths.service("nova")
    return _ini(
        {
            "DEFAULT": {
                **_logging(paths, "nova-api", use_json=False),
                "transport_url": transport_url,
                "state_path": base,
                "my_ip": "127.0.0.1",
                "host": "kansoku-lab",
                # a stuck nova-compute must show up as MessagingTimeout within the traffic run
                "rpc_response_timeout": 5,
                # heartbeats: see SERVICE_DOWN_TIME (nova wants the interval well below it)
                "report_interval": max(2, service_down_time // 4),
                "service_down_time": service_down_time,
            },
            "api": {"auth_strategy": "keystone"},
            "api_database": {"connection": _nova_sqlite(base / "nova_api.db")},
            "database": {"connection": _nova_sqlite(base / "nova.db")},
            "keystone_authtoken": _authtoken(keystone_url),
            "placement": {
                **_authtoken(keystone_url),
                "valid_interfaces": "public",
                "endpoint_override": placement_url,
            },
            # nova-api reads the image (and forwards the global id) with the caller's token
            "glance": {"valid_interfaces": "public", "endpoint_override": glance_url, "region_name": REGION},
            "scheduler": {"workers": 1},
            # no quota on cores/RAM: the oversized flavor must fail at the scheduler
            # (NoValidHost), not at nova-api's quota check (403)
            "quota": {"count_usage_from_placement": True, "cores": -1, "ram": -1},
            "oslo_concurrency": {"lock_path": base / "locks"},
            "wsgi": {"api_paste_config": base / "api-paste.ini"},
        }
    )


#: nova's own RPC services the lab runs with the console scripts nova ships; their topic
#: names the "Join ServiceGroup membership" line nova.service logs once they consume RPC.
NOVA_RPC_SERVICES: dict[str, str] = {
    "nova-conductor": "conductor",
    "nova-scheduler": "scheduler",
    "nova-compute": "compute",
}


#: nova's fake drivers the lab can run nova-compute with: the default boots everything;
#: `fake.FakeBuildAbortDriver` (nova/virt/fake.py) fails every spawn with BuildAbortException,
#: so a build ends in ERROR without a reschedule (the two-step failures).
DEFAULT_COMPUTE_DRIVER = "fake.FakeDriver"


def nova_service_conf_text(paths: LabPaths, name: str, compute_driver: str = DEFAULT_COMPUTE_DRIVER) -> str:
    """The per-service overrides read after nova.conf: own log file; compute: fake driver.

    nova-compute gets no database connection, as in a real deployment: it must reach the
    database through nova-conductor over RPC (with one configured it logs ERRORs).
    """
    default: dict[str, object] = {"log_file": paths.log(name)}
    sections: dict[str, dict[str, object]] = {"DEFAULT": default}
    if name == "nova-compute":
        default["compute_driver"] = compute_driver
        default["instances_path"] = paths.service("nova") / "instances"
        # the periodic cache heal asks neutron (not in the lab) about every instance: off
        default["heal_instance_info_cache_interval"] = -1
        sections["database"] = {"connection": ""}
        sections["api_database"] = {"connection": ""}
    if name == "nova-conductor":
        sections["conductor"] = {"workers": 1}
    return _ini(sections)


def start_nova_service(
    paths: LabPaths, name: str, compute_driver: str = DEFAULT_COMPUTE_DRIVER
) -> ManagedProcess:
    """Start nova-conductor, nova-scheduler or nova-compute from nova's console script (no wait)."""
    base = paths.service("nova")
    conf = base / f"{name}.conf"
    conf.write_text(nova_service_conf_text(paths, name, compute_driver))
    proc = ManagedProcess(
        name,
        [_venv_bin(name), "--config-file", str(base / "nova.conf"), "--config-file", str(conf)],
        paths.service(name),
    )
    return proc.start()


def wait_nova_service(paths: LabPaths, proc: ManagedProcess, timeout: float = 120.0) -> None:
    marker = f"Join ServiceGroup membership for this service {NOVA_RPC_SERVICES[proc.name]}"

    def ready() -> bool:
        try:
            return marker in paths.log(proc.name).read_text(errors="replace")
        except OSError:
            return False

    proc.wait_ready(ready, timeout, 0.3)


def discover_hosts(paths: LabPaths) -> None:
    """Map the started nova-compute into cell1, so nova-api can route RPC to it."""
    base = paths.service("nova")
    _run(
        [_venv_bin("nova-manage"), "--config-file", str(base / "nova.conf"), "cell_v2", "discover_hosts"],
        {},
        "nova-manage cell_v2 discover_hosts",
        base,
    )


def prepare_nova(
    paths: LabPaths,
    keystone_url: str,
    placement_url: str,
    transport_url: str,
    glance_url: str,
    service_down_time: int = SERVICE_DOWN_TIME,
) -> Path:
    """nova.conf, api-paste.ini and the API, cell0 and cell1 databases."""
    base = _with_paste_config(paths, "nova", "api-paste.ini")
    conf = base / "nova.conf"
    conf.write_text(
        nova_conf_text(paths, keystone_url, placement_url, transport_url, glance_url, service_down_time)
    )
    manage = [_venv_bin("nova-manage"), "--config-file", str(conf)]
    _run([*manage, "api_db", "sync"], {}, "nova-manage api_db sync", base)
    _run(
        [*manage, "cell_v2", "map_cell0", "--database_connection", _nova_sqlite(base / "nova_cell0.db")],
        {},
        "nova-manage cell_v2 map_cell0",
        base,
    )
    _run([*manage, "db", "sync"], {}, "nova-manage db sync", base)
    _run(
        [*manage, "cell_v2", "create_cell", "--name", "cell1", "--verbose"],
        {},
        "nova-manage cell_v2 create_cell",
        base,
    )
    for db in ("nova_api.db", "nova_cell0.db", "nova.db"):
        _write_ahead_log(base / db)
    return base


def _nova_sqlite(path: Path) -> str:
    """SQLite URL for nova's databases, which four processes (api, conductor, scheduler,
    nova-manage) and many native threads share: a writer waits up to 30 s for the lock
    instead of pysqlite's 5 s (the pysqlite dialect reads `timeout` from the URL)."""
    return f"sqlite:///{path}?timeout=30"


def _write_ahead_log(path: Path) -> None:
    """Switch a SQLite file to WAL (persistent in the file): readers no longer block the
    writer, which in the default rollback journal failed a server create at once with
    `database is locked` when conductor and nova-api touched the cell DB together."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
