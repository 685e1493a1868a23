"""Start a small real OpenStack on loopback: keystone, placement and nova-api (plus RPC pair).

Why this module exists: the tracer must learn its formats from logs written by real
OpenStack code, not by our own imitation of it. keystone, placement and nova's API are pure
Python wheels that run with SQLite; what it takes to get them going (config files, database
syncs, fernet keys, a catalog, a WSGI server whose argv oslo.config can parse) lives here.

Each WSGI app is served by `python -m kansoku.lab.services serve <service> <port>`: a stdlib
`wsgiref` server, because the apps parse `sys.argv` with oslo.config at import and choke on a
foreign server's options (gunicorn's). Logging is oslo.log's own, configured by the service's
config file: keystone and nova-api write the text format, placement the JSON formatter, so
the lab always produces both shapes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from kansoku.errors import KansokuError
from kansoku.process import ManagedProcess, tcp_open

#: The lab's admin user (created by `keystone-manage bootstrap`); a lab is loopback only.
ADMIN_USER = "admin"
ADMIN_PASSWORD = "kansoku-lab-secret"
REGION = "RegionOne"

#: Python packages the lab needs, with the distribution that provides each.
LAB_PACKAGES = {
    "keystone": "keystone",
    "placement": "openstack-placement",
    "nova": "nova",
    "glance": "glance",
    "glance_store": "glance-store",
    "keystonemiddleware": "keystonemiddleware",
    "oslo_messaging": "oslo.messaging",
}

#: WSGI application per service and the environment variable that names its config dir.
WSGI_APPS: dict[str, tuple[str, str]] = {
    "keystone": ("keystone.wsgi.api", "OS_KEYSTONE_CONFIG_DIR"),
    "placement": ("placement.wsgi.api", "OS_PLACEMENT_CONFIG_DIR"),
    "nova-api": ("nova.wsgi.osapi_compute", "OS_NOVA_CONFIG_DIR"),
    "glance": ("glance.wsgi.api", "OS_GLANCE_CONFIG_DIR"),
}


class ServiceRecord(BaseModel):
    """One process of a running lab, as `lab.json` records it for `status` and `down`."""

    name: str
    pid: int
    url: str | None = None
    log: str | None = Field(None, description="oslo.log file this service writes")
    extra_pids: list[int] = Field(default_factory=list, description="daemons it left behind (epmd)")


class LabState(BaseModel):
    """What `kansoku lab up` started; `traffic`, `status` and `down` read it back."""

    root: str
    keystone_url: str
    placement_url: str
    nova_url: str
    glance_url: str | None = Field(None, description="absent in labs from before glance")
    transport_url: str
    rpc_topic: str
    admin_user: str = ADMIN_USER
    admin_password: str = ADMIN_PASSWORD
    services: list[ServiceRecord] = Field(default_factory=list)

    @property
    def auth_url(self) -> str:
        return f"{self.keystone_url}/v3"

    def log_files(self) -> dict[str, Path]:
        return {s.name: Path(s.log) for s in self.services if s.log}


@dataclass(frozen=True)
class LabPaths:
    """Where each part of a lab lives: one directory per service, logs together."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def state(self) -> Path:
        return self.root / "lab.json"

    @property
    def traffic(self) -> Path:
        return self.root / "traffic.json"

    def service(self, name: str) -> Path:
        return self.root / name

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def check_installed() -> None:
    """Fail with the install command when the optional OpenStack packages are missing."""
    missing = [dist for mod, dist in LAB_PACKAGES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise KansokuError(
            f"the lab needs {', '.join(missing)}, which are not installed: pip install 'kansoku[lab]'"
        )


def _ini(sections: dict[str, dict[str, object]]) -> str:
    out: list[str] = []
    for section, values in sections.items():
        out.append(f"[{section}]")
        out.extend(f"{key} = {value}" for key, value in values.items())
        out.append("")
    return "\n".join(out)


def _logging(paths: LabPaths, name: str, use_json: bool) -> dict[str, object]:
    """oslo.log options: DEBUG on (the odd cases live there), one file per service."""
    return {
        "debug": True,
        "log_file": paths.log(name),
        "use_json": use_json,
        "use_stderr": False,
    }


def _authtoken(keystone_url: str) -> dict[str, object]:
    """keystonemiddleware in front of placement and nova-api, validating with the lab admin."""
    return {
        "www_authenticate_uri": f"{keystone_url}/v3",
        "auth_url": f"{keystone_url}/v3",
        "auth_type": "password",
        "username": ADMIN_USER,
        "password": ADMIN_PASSWORD,
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "region_name": REGION,
    }


def _run(argv: list[str], env: dict[str, str], what: str, cwd: Path, timeout: float = 120.0) -> None:
    """Run one setup command; its output is the error message when it fails."""
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise KansokuError(f"{what}: {argv[0]} is not installed: pip install 'kansoku[lab]'") from None
    except subprocess.TimeoutExpired:
        raise KansokuError(f"{what}: {' '.join(argv)} did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise KansokuError(f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n{tail}")


def _venv_bin(name: str) -> str:
    """Console scripts sit beside the interpreter in a virtualenv."""
    return str(Path(sys.executable).parent / name)


def prepare_keystone(paths: LabPaths, port: int) -> Path:
    """keystone.conf, SQLite schema, fernet and credential keys, admin user and endpoints."""
    base = paths.service("keystone")
    base.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    conf = base / "keystone.conf"
    conf.write_text(
        _ini(
            {
                "DEFAULT": _logging(paths, "keystone", use_json=False),
                "database": {"connection": f"sqlite:///{base / 'keystone.db'}"},
                "token": {"provider": "fernet"},
                "fernet_tokens": {"key_repository": base / "fernet-keys"},
                "fernet_receipts": {"key_repository": base / "fernet-receipts"},
                "credential": {"key_repository": base / "credential-keys"},
            }
        )
    )
    manage = [_venv_bin("keystone-manage"), "--config-file", str(conf)]
    # keystone-manage logs to the same file as the server: its lines become "startup" noise
    # that the tracer must tolerate, exactly like a real deployment's.
    env: dict[str, str] = {}
    user = ["--keystone-user", "root", "--keystone-group", "root"] if os.geteuid() == 0 else []
    _run([*manage, "db_sync"], env, "keystone db_sync", base)
    _run([*manage, "fernet_setup", *user], env, "keystone fernet_setup", base)
    _run([*manage, "credential_setup", *user], env, "keystone credential_setup", base)
    _run(
        [
            *manage,
            "bootstrap",
            "--bootstrap-password",
            ADMIN_PASSWORD,
            "--bootstrap-admin-url",
            f"{url}/v3",
            "--bootstrap-public-url",
            f"{url}/v3",
            "--bootstrap-internal-url",
            f"{url}/v3",
            "--bootstrap-region-id",
            REGION,
        ],
        env,
        "keystone bootstrap",
        base,
    )
    return base


def prepare_placement(paths: LabPaths, keystone_url: str) -> Path:
    """placement.conf (JSON logs, keystone auth) and its SQLite schema."""
    base = paths.service("placement")
    base.mkdir(parents=True, exist_ok=True)
    (base / "placement.conf").write_text(
        _ini(
            {
                "DEFAULT": _logging(paths, "placement", use_json=True),
                "api": {"auth_strategy": "keystone"},
                "placement_database": {"connection": f"sqlite:///{base / 'placement.db'}"},
                "keystone_authtoken": _authtoken(keystone_url),
            }
        )
    )
    _run(
        [_venv_bin("placement-manage"), "--config-file", str(base / "placement.conf"), "db", "sync"],
        {},
        "placement db sync",
        base,
    )
    return base


def _with_paste_config(paths: LabPaths, service: str, ini: str) -> Path:
    """The service's folder, holding a copy of the paste config pip installed in <prefix>/etc/."""
    base = paths.service(service)
    base.mkdir(parents=True, exist_ok=True)
    paste = Path(sys.prefix) / "etc" / service / ini
    if not paste.exists():
        raise KansokuError(f"{service}'s {ini} is missing at {paste}: pip install 'kansoku[lab]'")
    (base / ini).write_text(paste.read_text())
    return base


def prepare_glance(paths: LabPaths, keystone_url: str) -> Path:
    """glance-api.conf (keystone auth, SQLite, one `file` store), paste config, schema.

    nova 34 reads the image from glance before a server create reaches RPC, so the lab's
    five-service path needs glance. Multi-store (`enabled_backends`) is glance's current way;
    the staging and tasks stores it reserves need a directory each as well.
    """
    base = _with_paste_config(paths, "glance", "glance-api-paste.ini")
    for store in ("images", "staging", "tasks"):
        (base / store).mkdir(exist_ok=True)
    (base / "glance-api.conf").write_text(
        _ini(
            {
                "DEFAULT": {
                    **_logging(paths, "glance", use_json=False),
                    "enabled_backends": "fs:file",
                    "image_cache_dir": base / "cache",
                },
                "database": {"connection": f"sqlite:///{base / 'glance.db'}"},
                "glance_store": {"default_backend": "fs"},
                "fs": {"filesystem_store_datadir": base / "images"},
                "os_glance_staging_store": {"filesystem_store_datadir": base / "staging"},
                "os_glance_tasks_store": {"filesystem_store_datadir": base / "tasks"},
                "keystone_authtoken": _authtoken(keystone_url),
                "paste_deploy": {"flavor": "keystone", "config_file": base / "glance-api-paste.ini"},
                "oslo_concurrency": {"lock_path": base / "locks"},
            }
        )
    )
    _run(
        [_venv_bin("glance-manage"), "--config-file", str(base / "glance-api.conf"), "db_sync"],
        {},
        "glance-manage db_sync",
        base,
        timeout=240.0,
    )
    return base


def answers(url: str, timeout: float = 1.0) -> bool:
    """True once a server answers HTTP at all below 500 (401 is an answer: auth is on)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_wsgi(
    paths: LabPaths, service: str, config_dir: Path, port: int, timeout: float = 60.0
) -> ManagedProcess:
    """Serve one WSGI app on `port` and wait until it answers.

    A taken port is refused up front: otherwise the readiness probe would be answered by
    whatever already listens there and the lab would talk to the wrong server.
    """
    _module, env_var = WSGI_APPS[service]
    if tcp_open("127.0.0.1", port):
        raise KansokuError(f"cannot start {service}: port {port} on 127.0.0.1 is already taken")
    proc = ManagedProcess(
        service,
        [sys.executable, "-m", "kansoku.lab.services", "serve", service, str(port)],
        paths.service(service),
        env={env_var: str(config_dir), "PYTHONUNBUFFERED": "1"},
    )
    proc.ports["http"] = port
    proc.start()
    proc.wait_ready(lambda: answers(f"http://127.0.0.1:{port}/"), timeout, 0.2)
    return proc


def register_catalog(keystone_url: str, placement_url: str, nova_url: str, glance_url: str) -> None:
    """Add placement, compute and image to keystone's catalog, so SDK clients find them by type."""
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=f"{keystone_url}/v3",
        username=ADMIN_USER,
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    sess = ks_session.Session(auth=auth)
    catalog = (
        ("placement", "placement", placement_url),
        ("nova", "compute", nova_url),
        ("glance", "image", glance_url),
    )
    for name, stype, url in catalog:
        resp = sess.post(
            f"{keystone_url}/v3/services",
            json={"service": {"name": name, "type": stype, "enabled": True}},
            raise_exc=False,
        )
        if resp.status_code != 201:
            raise KansokuError(f"keystone refused to register service {name}: {resp.status_code} {resp.text}")
        service_id = resp.json()["service"]["id"]
        for interface in ("public", "internal", "admin"):
            ep = sess.post(
                f"{keystone_url}/v3/endpoints",
                json={
                    "endpoint": {
                        "service_id": service_id,
                        "interface": interface,
                        "url": url,
                        "region_id": REGION,
                    }
                },
                raise_exc=False,
            )
            if ep.status_code != 201:
                raise KansokuError(f"keystone refused the {name} {interface} endpoint: {ep.status_code}")


def serve(service: str, port: int) -> None:
    """Serve `service` on 127.0.0.1:`port` from this process (the lab's child entry point)."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    module_name, _env = WSGI_APPS[service]

    class Server(ThreadingMixIn, WSGIServer):
        """Threads, because nova-api calls placement while keystone validates both tokens."""

        daemon_threads = True

    class Handler(WSGIRequestHandler):
        """Access lines go to stdout (the .out file): keystone itself writes none."""

        def log_message(self, format: str, *args: object) -> None:
            sys.stdout.write(f"{self.address_string()} - [{time.strftime('%H:%M:%S')}] {format % args}\n")

    # Bind before the slow app import, so a port taken meanwhile fails here, at once.
    httpd = make_server("127.0.0.1", port, _not_ready, server_class=Server, handler_class=Handler)
    # oslo.config parses sys.argv when the app is imported: leave it nothing foreign.
    sys.argv = [sys.argv[0]]
    module = __import__(module_name, fromlist=["application"])
    app: Callable[..., object] = module.application
    httpd.set_app(app)  # type: ignore[arg-type]
    httpd.serve_forever()


def _not_ready(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    """Never called: serve_forever starts only after the real app is set."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


def read_state(paths: LabPaths) -> LabState:
    if not paths.state.exists():
        raise KansokuError(f"no lab in {paths.root}: run `kansoku lab up --dir {paths.root}` first")
    try:
        return LabState.model_validate_json(paths.state.read_text())
    except ValueError as exc:
        raise KansokuError(f"{paths.state}: not a lab state file: {exc}") from None


def write_state(paths: LabPaths, state: LabState) -> None:
    paths.state.write_text(json.dumps(state.model_dump(), indent=2) + "\n")


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[0] == "serve" and argv[1] in WSGI_APPS:
        serve(argv[1], int(argv[2]))
        return
    sys.stderr.write(f"usage: python -m kansoku.lab.services serve {{{','.join(WSGI_APPS)}}} PORT\n")
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
