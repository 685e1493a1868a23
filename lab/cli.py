"""`kansoku lab up|traffic|status|down`: a small real OpenStack on loopback to trace.

Why: kansoku's tracer is only as good as the logs it was tried on. The lab starts real
keystone, placement, glance, nova-api, nova-conductor, nova-scheduler, nova-compute (fake
driver) and an RPC pair on nova's oslo.messaging over a real RabbitMQ,
drives traffic through them (`lab.traffic`) and leaves real oslo.log files that
`kansoku index` and `kansoku trace` read. Everything it starts is recorded by PID in
`<dir>/lab.json`, so `down` stops exactly that and nothing else.

Only typer and the stdlib are imported here; the services and clients load on use.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from kansoku.lab.services import LabState
    from kansoku.process import ManagedProcess

DEFAULT_DIR = Path("kansoku-lab")


def lab_up(
    root: Path,
    transport_url: str | None = None,
    step: Callable[[str], None] | None = None,
    compute_driver: str | None = None,
    service_down_time: int | None = None,
) -> LabState:
    """Start the lab in `root`; on any failure stop what was started and say which part failed.

    `transport_url` reuses a running RabbitMQ (the tests share one per session); without it
    the lab starts its own from the Debian package. `step(text)` is told each phase (the CLI
    shows it next to a spinner: `lab up` takes about 90 s). `compute_driver` picks nova's fake
    driver (`lab_nova.DEFAULT_COMPUTE_DRIVER` unless given; `fake.FakeBuildAbortDriver`
    fails every build in nova-compute). `service_down_time` (seconds) is how long after its last
    heartbeat Nova calls a service down (`lab_nova.SERVICE_DOWN_TIME` unless given).
    """
    say = step or (lambda _text: None)
    from kansoku.errors import KansokuError
    from kansoku.lab import nova_setup as lab_nova
    from kansoku.lab import rpc as lab_rpc
    from kansoku.lab import services as lab_services
    from kansoku.process import ManagedProcess, free_port, pid_exists
    from kansoku.servers import _epmd_pids, start_rabbitmq

    lab_services.check_installed()
    paths = lab_services.LabPaths(root.resolve())
    if paths.state.exists():
        old = lab_services.read_state(paths)
        running = [s.name for s in old.services if pid_exists(s.pid)]
        if running:
            raise KansokuError(
                f"a lab is already running in {paths.root} ({', '.join(running)}): "
                f"`kansoku lab down --dir {root}` first"
            )
    paths.logs.mkdir(parents=True, exist_ok=True)
    started: list[ManagedProcess] = []
    records: list[lab_services.ServiceRecord] = []
    try:
        ks_port, pl_port, nova_port, gl_port = free_port(), free_port(), free_port(), free_port()
        ks_url, pl_url = f"http://127.0.0.1:{ks_port}", f"http://127.0.0.1:{pl_port}"
        nova_url, gl_url = f"http://127.0.0.1:{nova_port}", f"http://127.0.0.1:{gl_port}"
        say(
            "configuring keystone, placement, glance, nova" + ("" if transport_url else "; starting RabbitMQ")
        )
        with ThreadPoolExecutor(max_workers=5) as pool:
            rabbit_f: Future[Any] | None = None
            if transport_url is None:
                rabbit_f = pool.submit(start_rabbitmq, paths.service("rabbitmq"), "kansoku-lab")
            ks_f = pool.submit(lab_services.prepare_keystone, paths, ks_port)
            pl_f = pool.submit(lab_services.prepare_placement, paths, ks_url)
            gl_f = pool.submit(lab_services.prepare_glance, paths, ks_url)
            rabbit = None
            if rabbit_f is not None:
                rabbit = rabbit_f.result()
                started.append(rabbit)
                transport_url = f"rabbit://guest:guest@127.0.0.1:{rabbit.ports['amqp']}/"
                records.append(
                    lab_services.ServiceRecord(
                        name="rabbitmq",
                        pid=rabbit.pid,
                        url=transport_url,
                        extra_pids=_epmd_pids(rabbit.ports["epmd"]),
                    )
                )
            assert transport_url is not None
            nova_f = pool.submit(
                lab_nova.prepare_nova,
                paths,
                ks_url,
                pl_url,
                transport_url,
                gl_url,
                service_down_time or lab_nova.SERVICE_DOWN_TIME,
            )
            ks_dir, pl_dir, nova_dir = ks_f.result(), pl_f.result(), nova_f.result()
            gl_dir = gl_f.result()

        def launch(proc: ManagedProcess, url: str | None, log: Path) -> None:
            started.append(proc)
            records.append(lab_services.ServiceRecord(name=proc.name, pid=proc.pid, url=url, log=str(log)))

        say("starting keystone")
        keystone = lab_services.start_wsgi(paths, "keystone", ks_dir, ks_port)
        launch(keystone, ks_url, paths.log("keystone"))
        lab_services.register_catalog(ks_url, pl_url, nova_url, gl_url)
        say("starting placement and glance")
        placement = lab_services.start_wsgi(paths, "placement", pl_dir, pl_port)
        launch(placement, pl_url, paths.log("placement"))
        glance = lab_services.start_wsgi(paths, "glance", gl_dir, gl_port)
        launch(glance, gl_url, paths.log("glance"))
        # conductor, scheduler and compute start while nova-api imports: compute waits for
        # conductor; compute reports its fake host to placement as it starts.
        say("starting nova-api, conductor, scheduler, compute")
        driver = compute_driver or lab_nova.DEFAULT_COMPUTE_DRIVER
        nova_rpc = [lab_nova.start_nova_service(paths, name, driver) for name in lab_nova.NOVA_RPC_SERVICES]
        for proc in nova_rpc:
            launch(proc, None, paths.log(proc.name))
        nova_api = lab_services.start_wsgi(paths, "nova-api", nova_dir, nova_port)
        launch(nova_api, nova_url, paths.log("nova-api"))
        say("waiting for nova services to report")
        for proc in nova_rpc:
            lab_nova.wait_nova_service(paths, proc)
        lab_nova.discover_hosts(paths)

        say("starting the RPC pair")
        rpc_dir = paths.service("rpc")
        rpc_dir.mkdir(parents=True, exist_ok=True)
        for side, use_json in (("server", False), ("client", True)):
            (rpc_dir / f"rpc-{side}.conf").write_text(
                lab_rpc.rpc_conf_text(paths.log(f"rpc-{side}"), transport_url, use_json, lab_rpc.SERVER_HOST)
            )
        rpc_server = ManagedProcess(
            "rpc-server",
            [sys.executable, "-m", "kansoku.lab.rpc", "server", str(rpc_dir / "rpc-server.conf")],
            rpc_dir,
        ).start()
        launch(rpc_server, None, paths.log("rpc-server"))
        rpc_server.wait_ready(
            lambda: lab_rpc.READY_LINE in _read(paths.log("rpc-server")),
            60.0,
            0.3,
        )
        state = lab_services.LabState(
            root=str(paths.root),
            keystone_url=ks_url,
            placement_url=pl_url,
            nova_url=nova_url,
            glance_url=gl_url,
            transport_url=transport_url,
            rpc_topic=lab_rpc.TOPIC,
            services=records,
        )
        # rpc-client writes its log from the traffic run; record it so the log list is whole.
        state.services.append(
            lab_services.ServiceRecord(name="rpc-client", pid=0, log=str(paths.log("rpc-client")))
        )
        lab_services.write_state(paths, state)
        return state
    except BaseException:
        for proc in reversed(started):
            proc.stop()
        raise


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def lab_down(root: Path) -> list[str]:
    """Stop every process `lab up` recorded in `root`, by PID; returns the names stopped."""
    from kansoku.lab import services as lab_services
    from kansoku.process import pid_exists, stop_pid

    paths = lab_services.LabPaths(root.resolve())
    state = lab_services.read_state(paths)
    stopped: list[str] = []
    for service in reversed(state.services):
        if service.pid and pid_exists(service.pid):
            stop_pid(service.pid)
            stopped.append(service.name)
        for pid in service.extra_pids:
            _stop_daemon(pid)
    return stopped


def _stop_daemon(pid: int) -> None:
    """SIGTERM, then SIGKILL, one daemon by PID (epmd daemonizes: it leads no process group
    of its own PID, so a process-group kill would miss it)."""
    import signal
    import time

    from kansoku.process import pid_exists

    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not pid_exists(pid):
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and pid_exists(pid):
            time.sleep(0.05)


def lab_status(root: Path) -> list[tuple[str, int, bool, str]]:
    """(name, pid, running, url-or-log) for each recorded process."""
    from kansoku.lab import services as lab_services
    from kansoku.process import pid_exists

    state = lab_services.read_state(lab_services.LabPaths(root.resolve()))
    return [
        (s.name, s.pid, bool(s.pid) and pid_exists(s.pid), s.url or s.log or "")
        for s in state.services
        if s.pid
    ]


def register(app: typer.Typer) -> None:
    lab = typer.Typer(help="A small real OpenStack (keystone, placement, glance, nova, RPC) on loopback.")
    dir_opt = typer.Option(DEFAULT_DIR, "--dir", help="lab directory (configs, databases, logs, PIDs)")

    @lab.command("up")
    def up(
        directory: Path = dir_opt,
        compute_driver: str | None = typer.Option(
            None,
            "--compute-driver",
            help="nova fake driver, e.g. fake.FakeBuildAbortDriver (every build fails)",
        ),
    ) -> None:
        """Start keystone, placement, glance, nova (api, conductor, scheduler, compute), RabbitMQ, RPC pair.

        Example: kansoku lab up --dir kansoku-lab
        """
        from kansoku.progress import status_line

        with status_line("lab up") as step:
            state = lab_up(directory, step=step, compute_driver=compute_driver)
        typer.echo(f"lab up in {state.root}")
        for s in state.services:
            if s.pid:
                typer.echo(f"  {s.name:<14} pid {s.pid:<7} {s.url or ''}")
        typer.echo(f"logs in {Path(state.root) / 'logs'}; next: kansoku lab traffic --dir {directory}")

    @lab.command("traffic")
    def traffic(directory: Path = dir_opt) -> None:
        """Drive the recorded scenarios; write <dir>/traffic.json.

        Example: kansoku lab traffic --dir kansoku-lab
        """
        from kansoku.lab.traffic import run_traffic

        report = run_traffic(directory)
        for item in report.requests:
            sent = item.sent_global_request_id or "-"
            typer.echo(f"  {item.name:<28} {item.status!s:<8} global {sent}  local {item.local_request_id}")
        typer.echo(f"wrote {Path(directory) / 'traffic.json'}")

    @lab.command("two-step")
    def two_step(directory: Path = dir_opt) -> None:
        """On a lab up with --compute-driver fake.FakeBuildAbortDriver: a build that fails in
        nova-compute, then a reboot refused with 409; write <dir>/traffic-two-step.json.

        Example: kansoku lab two-step --dir kansoku-lab
        """
        from kansoku.lab.two_step import run_two_step, two_step_path

        for item in run_two_step(directory).requests:
            sent = item.sent_global_request_id or "-"
            typer.echo(f"  {item.name:<28} {item.status!s:<8} global {sent}  local {item.local_request_id}")
        typer.echo(f"wrote {two_step_path(directory)}")

    @lab.command("status")
    def status(directory: Path = dir_opt) -> None:
        """Show the lab's processes and whether each still runs.

        Example: kansoku lab status --dir kansoku-lab
        """
        for name, pid, running, where in lab_status(directory):
            typer.echo(f"  {name:<14} pid {pid:<7} {'running' if running else 'STOPPED':<8} {where}")

    @lab.command("down")
    def down(directory: Path = dir_opt) -> None:
        """Stop every process the lab started (by recorded PID).

        Example: kansoku lab down --dir kansoku-lab
        """
        stopped = lab_down(directory)
        typer.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")

    app.add_typer(lab, name="lab")
