"""The demo cloud: a realistic multi-host OpenStack log tree with injected faults of known kind.

Why a generator and not recorded logs: the demo, the end-to-end tests and the 1 GB benchmark
all need logs whose answer is known (a ground-truth file), in the formats OpenStack really
writes, at any size, identical for one seed. Everything here mirrors upstream behaviour read
from the installed sources:

* text lines follow oslo.log's defaults (``_options.py``): the context format
  ``%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(global_request_id)s
  %(request_id)s %(user_identity)s] %(instance)s%(message)s`` where a missing global id prints
  ``None`` and the user identity has six fields (``user project domain system_scope
  user_domain project_domain``, false values as ``-``); ``[-]`` without a context; the DEBUG
  suffix ``funcName pathname:lineno``; ``: <error summary>`` after WARNING+ messages logged
  inside an ``except``; tracebacks with every line prefixed by ``logging_exception_prefix``
  (which says ERROR whatever the record's level);
* one service (cinder-volume, an older release on the storage node) writes the older form
  without the global id: ``[req-... user project - - -]``;
* JSON services (placement-api and neutron-server by default) write oslo.log's JSONFormatter
  objects, one per line, with the context nested under ``context``;
* id propagation as real OpenStack: every service makes its own ``req-`` id per incoming
  request; the incoming ``X-OpenStack-Request-ID`` becomes its global id; nova passes its
  RequestContext over RPC (conductor, scheduler and compute log nova-api's ids); nova calls
  placement/neutron/glance/cinder with ``context.global_id`` and logs the callee's returned id
  ("... used request id req-..."); keystonemiddleware's token validation is logged by keystone
  under its own id with no global id.

Speed matters (the tracing benchmark needs >= 1 GB in minutes): lines are built from
templates with string formatting, timestamps come from a per-second cache, JSON records are
assembled from precomputed pieces with the C string encoder, and output is written in large
buffered chunks, sorted per file within a time window.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from kansoku.errors import KansokuError

#: The demo's clock starts here (UTC, written as the hosts' local time).
DEFAULT_START = datetime(2026, 11, 20, 6, 0, 0, tzinfo=UTC).timestamp()
DEFAULT_SEED = 20261120
#: Requests per simulated second (background traffic mix).
REQUEST_RATE = 4.0
#: How many requests are generated between flushes to disk.
BATCH = 1500
#: A request starting at t logs nothing before t - FLUSH_MARGIN (keystone checks come first).
FLUSH_MARGIN = 1.0
#: Rotation: each file ends as <svc>.log.2.gz (oldest), <svc>.log.1, <svc>.log (newest).
SEGMENTS = 3
FAULT_KINDS = (
    "placement_conflict",
    "port_binding_failed",
    "image_not_found",
    "volume_attach_timeout",
    "expired_token",
    "rpc_timeout",
)
DEFAULT_JSON_SERVICES = frozenset({"placement-api", "neutron-server"})
DEFAULT_LEGACY_SERVICES = frozenset({"cinder-volume"})

PY = "/usr/lib/python3/dist-packages"
CONTROLLER_SERVICES = (
    "keystone",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "placement-api",
    "neutron-server",
    "glance-api",
    "cinder-api",
    "cinder-scheduler",
)
NETWORK_SERVICES = ("neutron-dhcp-agent", "neutron-l3-agent", "neutron-openvswitch-agent")
COMPUTE_SERVICES = ("nova-compute", "neutron-openvswitch-agent")
STORAGE_SERVICES = ("cinder-volume",)
PROJECT_OF = {
    "keystone": "keystone",
    "nova-api": "nova",
    "nova-conductor": "nova",
    "nova-scheduler": "nova",
    "nova-compute": "nova",
    "placement-api": "placement",
    "neutron-server": "neutron",
    "neutron-dhcp-agent": "neutron",
    "neutron-l3-agent": "neutron",
    "neutron-openvswitch-agent": "neutron",
    "glance-api": "glance",
    "cinder-api": "cinder",
    "cinder-scheduler": "cinder",
    "cinder-volume": "cinder",
}
PORTS = {
    "nova-api": 8774,
    "placement-api": 8778,
    "neutron-server": 9696,
    "glance-api": 9292,
    "cinder-api": 8776,
}
LEVELNO = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


@dataclass(frozen=True, slots=True)
class Src:
    """Where a message is logged in the upstream source: the DEBUG suffix and JSON keys."""

    func: str
    path: str
    line: int

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def module(self) -> str:
        return self.filename[:-3]


def _s(func: str, rel: str, line: int) -> Src:
    return Src(func, f"{PY}/{rel}", line)


S_KSA = _s("_log_request_id", "keystoneauth1/session.py", 1102)
S_NOVA_WSGI = _s("_process_stack", "nova/api/openstack/wsgi.py", 513)
S_NOVA_REQLOG = _s("_log_req", "nova/api/openstack/requestlog.py", 86)
S_SCHED = _s("select_destinations", "nova/scheduler/manager.py", 215)
S_FILTER = _s("get_filtered_objects", "nova/filters.py", 102)
S_CLAIM = _s("claim_resources", "nova/scheduler/utils.py", 1345)
S_RT_AUDIT = _s("_update_available_resource", "nova/compute/resource_tracker.py", 937)
S_RT_FINAL = _s("_report_final_resource_view", "nova/compute/resource_tracker.py", 1168)
S_PERIODIC = _s("run_periodic_tasks", "oslo_service/periodic_task.py", 210)
S_LOCK = _s("inner", "oslo_concurrency/lockutils.py", 405)
S_COMPUTE = _s("_build_and_run_instance", "nova/compute/manager.py", 2640)
S_NEUTRON_NET = _s("_update_port_binding_for_instance", "nova/network/neutron.py", 3600)
S_PLACEMENT_REQLOG = _s("write_log", "placement/requestlog.py", 108)
S_PLACEMENT_HANDLER = _s("__call__", "placement/requestlog.py", 52)
S_ML2 = _s("_bind_port_level", "neutron/plugins/ml2/managers.py", 810)
S_ML2_PORT = _s("update_port", "neutron/plugins/ml2/plugin.py", 1890)
S_NEUTRON_WSGI = _s("write", "oslo_service/wsgi.py", 209)
S_DHCP = _s("_dhcp_ready_ports_loop", "neutron/agent/dhcp/agent.py", 555)
S_OVS = _s("rpc_loop", "neutron/plugins/ml2/drivers/openvswitch/agent/ovs_neutron_agent.py", 2859)
S_KS_REQ = _s("log_request_info", "keystone/server/flask/request_processing/req_logging.py", 26)
S_KS_APP = _s("_handle_keystone_exception", "keystone/server/flask/application.py", 145)
S_KSM = _s("fetch_token", "keystonemiddleware/auth_token/__init__.py", 767)
S_CINDER_WSGI = _s("__call__", "cinder/api/openstack/wsgi.py", 1040)
S_CINDER_SCHED = _s("_schedule", "cinder/scheduler/filter_scheduler.py", 380)
S_CINDER_VOL = _s("initialize_connection", "cinder/volume/manager.py", 1810)
S_GLANCE = _s("_image_get", "glance/db/sqlalchemy/api.py", 213)
S_RPC = _s("_send", "oslo_messaging/_drivers/amqpdriver.py", 726)

# ---------------------------------------------------------------------------------------
# Ground truth


@dataclass
class FaultRecord:
    """One injected fault: the id the user would report and what kansoku must answer."""

    kind: str
    request_id: str  # what the user reports (nova-api's x-openstack-request-id)
    root_service: str
    root_host: str
    exception: str | None  # exception type the root-cause line names, if it names one
    status: int | None  # HTTP status of the root-cause line, if it is an access line
    evidence: str  # a substring of the root-cause line
    propagated: list[str]  # services whose errors are only consequences
    services: list[str] = field(default_factory=list)  # "service@host" lines with the reported id
    reachable: list[str] = field(default_factory=list)  # "service@host" joined only via other ids
    files: list[str] = field(default_factory=list)  # files with lines of this request
    time: str = ""
    note: str = ""
    # two-step faults: the earlier request that broke the resource, and the resource's UUID
    earlier_request_id: str = ""
    resource: str = ""


@dataclass
class BigRequest:
    """One request spanning many services and thousands of lines (trace assembly benchmark)."""

    request_id: str
    services: list[str]
    lines: int
    files: list[str]


@dataclass
class GroundTruth:
    seed: int
    scale: int
    start: str
    end: str
    hosts: dict[str, list[str]]
    json_services: list[str]
    legacy_services: list[str]
    files: list[str]
    total_bytes: int
    total_lines: int
    requests: int
    faults: list[FaultRecord]
    big_request: BigRequest | None
    # two-step faults (tracing.demo_chains): the reported request was refused for a resource
    # an earlier request broke; `earlier_request_id` names that request
    chain_faults: list[FaultRecord] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @staticmethod
    def load(path: Path) -> GroundTruth:
        """Read a ``ground-truth.json`` written by `generate`."""
        data = json.loads(path.read_text())
        faults = [FaultRecord(**f) for f in data.pop("faults")]
        chains = [FaultRecord(**f) for f in data.pop("chain_faults", [])]
        big = data.pop("big_request")
        return GroundTruth(
            **data, faults=faults, big_request=BigRequest(**big) if big else None, chain_faults=chains
        )


class Tracker:
    """Counts where one request's lines land, to write a ground truth that matches the logs."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.direct: dict[tuple[str, str], int] = {}
        self.indirect: dict[tuple[str, str], int] = {}
        self.segments: set[tuple[str, str, int]] = set()
        self.lines = 0


# ---------------------------------------------------------------------------------------
# Contexts and files


class Ctx:
    """An oslo.context RequestContext as it appears in log lines (text and JSON forms)."""

    __slots__ = ("_json", "global_id", "is_admin", "legacy", "project", "request_id", "text", "track", "user")

    def __init__(
        self,
        request_id: str,
        global_id: str | None,
        user: str | None,
        project: str | None,
        is_admin: bool = False,
        track: Tracker | None = None,
    ) -> None:
        self.request_id = request_id
        self.global_id = global_id
        self.user = user
        self.project = project
        self.is_admin = is_admin
        self.track = track
        if user:
            ident = f"{user} {project or '-'} - - default default"
            legacy_ident = f"{user} {project or '-'} - - -"
        else:
            ident = "- - - - - -"
            legacy_ident = "- - - - -"
        self.text = f"{global_id} {request_id} {ident}"
        self.legacy = f"{request_id} {legacy_ident}"
        self._json: str | None = None

    def json(self) -> str:
        """The nested ``context`` object of oslo.log's JSONFormatter (get_logging_values).

        Assembled as text (ids and hex user/project ids never need escaping): json.dumps of a
        dict per request was the generator's largest single cost.
        """
        if self._json is None:
            u = self.user
            if u:
                p = f'"{self.project}"'
                who = (
                    f'"user": "{u}", "project_id": {p}, "system_scope": null, "project": {p}, "domain": null, '
                    '"user_domain": "default", "project_domain": "default"'
                )
                token, roles = '"***"', '["member", "reader"]'
                ident = f"{u} {self.project} - default default"
            else:
                who = (
                    '"user": null, "project_id": null, "system_scope": null, "project": null, "domain": null, '
                    '"user_domain": null, "project_domain": null'
                )
                token, roles, ident = "null", "[]", "- - - - -"
            gid = f'"{self.global_id}"' if self.global_id else "null"
            self._json = (
                '{"user_name": null, "project_name": null, "domain_name": null, "user_domain_name": null, '
                f'"project_domain_name": null, {who}, "is_admin": {"true" if self.is_admin else "false"}, '
                f'"read_only": false, "show_deleted": false, "auth_token": {token}, '
                f'"request_id": "{self.request_id}", "global_request_id": {gid}, "resource_uuid": null, '
                f'"roles": {roles}, "user_identity": "{ident}", "is_admin_project": true}}'
            )
        return self._json


class LogFile:
    """One ``<host>/<service>.log`` being written: pending records sorted per time window."""

    __slots__ = (
        "bytes",
        "fmt",
        "handle",
        "host",
        "lines",
        "out_dir",
        "pending",
        "pid",
        "seg_paths",
        "segment",
        "service",
    )

    def __init__(self, out_dir: Path, host: str, service: str, pid: int, fmt: str) -> None:
        self.out_dir = out_dir
        self.host = host
        self.service = service
        self.pid = pid
        self.fmt = fmt  # text | json | legacy
        self.pending: list[tuple[float, str]] = []
        self.segment = 0
        self.handle: Any = None
        self.lines = 0
        self.bytes = 0
        self.seg_paths: list[Path] = []

    def _open(self) -> Any:
        if self.handle is None:
            path = self.out_dir / self.host / f"{self.service}.log.seg{self.segment}"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.seg_paths.append(path)
            self.handle = open(path, "w", encoding="utf-8", buffering=1 << 18)  # noqa: SIM115
        return self.handle

    def flush(self, upto: float | None) -> None:
        """Write every pending record older than `upto` (all of them when None), in time order."""
        if not self.pending:
            return
        self.pending.sort(key=_first)
        if upto is None:
            out, self.pending = self.pending, []
        else:
            cut = bisect_right(self.pending, upto, key=_first)
            if cut == 0:
                return
            out, self.pending = self.pending[:cut], self.pending[cut:]
        text = "\n".join([r[1] for r in out]) + "\n"
        self._open().write(text)
        self.lines += text.count("\n")
        self.bytes += len(text)

    def rotate(self) -> None:
        """Start the next segment (logrotate's daily cut); a quiet file still gets an empty one,
        so every service has the same `.log`, `.log.1`, `.log.2.gz` set."""
        self._open().close()
        self.handle = None
        self.segment += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _first(rec: tuple[float, str]) -> float:
    return rec[0]


# ---------------------------------------------------------------------------------------
# The simulator


class Cloud:
    """Emits the log records of whole requests into per-host, per-service files."""

    def __init__(
        self,
        out_dir: Path,
        seed: int,
        scale: int,
        json_services: frozenset[str],
        legacy_services: frozenset[str],
        start: float,
    ) -> None:
        self.rng = random.Random(seed)
        self.out_dir = out_dir
        self.scale = scale
        self.start = start
        self.controllers = ["ctl-1", "ctl-2", "ctl-3"]
        self.computes = [f"cmp-{i}" for i in range(1, 4 * scale + 1)]
        self.network = ["net-1"]
        self.storage = ["stor-1"]
        self.hosts: dict[str, list[str]] = {}
        self.logs: dict[tuple[str, str], LogFile] = {}
        for hosts, services in (
            (self.controllers, CONTROLLER_SERVICES),
            (self.network, NETWORK_SERVICES),
            (self.computes, COMPUTE_SERVICES),
            (self.storage, STORAGE_SERVICES),
        ):
            for host in hosts:
                self.hosts[host] = list(services)
                for svc in services:
                    fmt = "json" if svc in json_services else "legacy" if svc in legacy_services else "text"
                    self.logs[(host, svc)] = LogFile(out_dir, host, svc, self.rng.randint(900, 64000), fmt)
        self.ips = {h: f"10.20.{i // 250}.{i % 250 + 2}" for i, h in enumerate(self.hosts)}
        self.users = [self.hexid() for _ in range(24)]
        self.projects = [self.hexid() for _ in range(9)]
        self.images = [self.uuid() for _ in range(12)]
        self.networks = [self.uuid() for _ in range(6)]
        self.flavors = ["m1.small", "m1.medium", "m1.large", "c2.xlarge"]
        self.servers: list[tuple[str, str]] = [
            (self.uuid(), self.rng.choice(self.computes)) for _ in range(40)
        ]
        self.volumes = [self.uuid() for _ in range(30)]
        self.rps = {h: self.uuid() for h in self.computes}
        self._sec_cache: dict[int, str] = {}
        self._asc_cache: dict[int, str] = {}
        self.ovs_iter: dict[str, int] = {}

    # ids ---------------------------------------------------------------------------------
    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def req(self) -> str:
        return "req-" + self.uuid()

    def hexid(self) -> str:
        """Keystone user/project ids and oslo.messaging message ids: 32 hex digits."""
        return f"{self.rng.getrandbits(128):032x}"

    def ctx_user(self, track: Tracker | None = None, request_id: str | None = None) -> Ctx:
        i = self.rng.randrange(len(self.users))
        return Ctx(
            request_id or self.req(), None, self.users[i], self.projects[i % len(self.projects)], False, track
        )

    def callee_ctx(self, caller: Ctx) -> Ctx:
        """A service receiving an HTTP call: own local id, the caller's global_id as global."""
        return Ctx(
            self.req(),
            caller.global_id or caller.request_id,
            caller.user,
            caller.project,
            False,
            caller.track,
        )

    # time ----------------------------------------------------------------------------------
    def stamp(self, ts: float) -> str:
        sec = int(ts)
        base = self._sec_cache.get(sec)
        if base is None:
            if len(self._sec_cache) > 50000:
                self._sec_cache.clear()
            base = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%d %H:%M:%S")
            self._sec_cache[sec] = base
        return f"{base}.{int((ts - sec) * 1000):03d}"

    def asctime(self, ts: float) -> str:
        sec = int(ts)
        return f"{self.stamp(float(sec))[:-4]},{int((ts - sec) * 1000):03d}"

    # records -------------------------------------------------------------------------------
    def emit(
        self,
        host: str,
        service: str,
        ts: float,
        level: str,
        logger: str,
        ctx: Ctx | None,
        msg: str,
        *,
        inst: str | None = None,
        src: Src | None = None,
        summary: str | None = None,
        tb: list[str] | None = None,
    ) -> None:
        log = self.logs[(host, service)]
        if ctx is not None and ctx.track is not None:
            tr = ctx.track
            key = (service, host)
            rid = tr.request_id
            direct = ctx.request_id == rid or (ctx.global_id == rid and log.fmt != "legacy")
            bucket = tr.direct if direct else tr.indirect
            bucket[key] = bucket.get(key, 0) + 1
            tr.segments.add((host, service, log.segment))
            tr.lines += 1
        if log.fmt == "json":
            log.pending.append(
                (ts, self._json_record(log, ts, level, logger, ctx, msg, inst, src, summary, tb))
            )
            return
        stamp = self.stamp(ts)
        inst_s = f"[instance: {inst}] " if inst else ""
        if ctx is None:
            cstr = "-"
        elif log.fmt == "legacy":
            cstr = ctx.legacy
        else:
            cstr = ctx.text
        text = f"{stamp} {log.pid} {level} {logger} [{cstr}] {inst_s}{msg}"
        if summary is not None and level != "DEBUG" and level != "INFO":
            text += ": " + summary
        if level == "DEBUG" and src is not None:
            text += f" {src.func} {src.path}:{src.line}"
        if tb:
            prefix = f"\n{stamp} {log.pid} ERROR {logger} {inst_s}"
            text += prefix + prefix.join(tb) + prefix
        log.pending.append((ts, text))

    def _json_record(
        self,
        log: LogFile,
        ts: float,
        level: str,
        logger: str,
        ctx: Ctx | None,
        msg: str,
        inst: str | None,
        src: Src | None,
        summary: str | None,
        tb: list[str] | None,
    ) -> str:
        """oslo.log JSONFormatter's object, assembled from pieces (same keys, same order)."""
        src = src or _GENERIC_SRC.get(log.service, S_NEUTRON_WSGI)
        m = encode_basestring_ascii(msg)
        sec = int(ts)
        msecs = (ts - sec) * 1000
        extra = f'{{"project": "{PROJECT_OF[log.service]}", "version": "unknown"'
        if inst:
            extra += f', "instance": {{"uuid": "{inst}"}}'
        extra += "}"
        err = encode_basestring_ascii(summary) if summary is not None and LEVELNO[level] >= 30 else '""'
        tbs = encode_basestring_ascii("\n".join(tb)) if tb else "null"
        return (
            f'{{"message": {m}, "asctime": "{self.asctime(ts)}", "name": "{logger}", "msg": {m}, "args": [], '
            f'"levelname": "{level}", "levelno": {LEVELNO[level]}, "pathname": "{src.path}", '
            f'"filename": "{src.filename}", "module": "{src.module}", "lineno": {src.line}, '
            f'"funcname": "{src.func}", "created": {ts:.6f}, "msecs": {msecs:.1f}, '
            f'"relative_created": {(ts - self.start) * 1000:.3f}, "thread": 140245{log.pid % 9999:04d}112, '
            f'"thread_name": "MainThread", "process_name": "MainProcess", "process": {log.pid}, '
            f'"traceback": {tbs}, "hostname": "{log.host}", "error_summary": {err}, '
            f'"context": {ctx.json() if ctx is not None else "{}"}, "extra": {extra}}}'
        )

    # access lines ------------------------------------------------------------------------
    def access(
        self,
        host: str,
        service: str,
        ts: float,
        ctx: Ctx | None,
        client: str,
        method: str,
        uri: str,
        status: int,
        length: int,
        dur: float,
        mv: str = "-",
    ) -> None:
        """The access line each API service really writes (nova/placement requestlog, oslo.service wsgi)."""
        if service == "nova-api":
            msg = (
                f'{client} "{method} {uri}" status: {status} len: {length} microversion: {mv} time: {dur:.6f}'
            )
            self.emit(host, service, ts, "INFO", "nova.api.openstack.requestlog", ctx, msg, src=S_NOVA_REQLOG)
        elif service == "placement-api":
            msg = f'{client} "{method} {uri}" status: {status} len: {length} microversion: {mv}'
            self.emit(host, service, ts, "INFO", "placement.requestlog", ctx, msg, src=S_PLACEMENT_REQLOG)
        elif service == "cinder-api":
            url = f"http://{self.ips[host]}:8776{uri}"
            self.emit(host, service, ts - dur, "INFO", "cinder.api.openstack.wsgi", ctx, f"{method} {url}")
            self.emit(
                host,
                service,
                ts,
                "INFO",
                "cinder.api.openstack.wsgi",
                ctx,
                f"{url} returned with HTTP {status}",
            )
            msg = f'{client} "{method} {uri} HTTP/1.1" status: {status}  len: {length} time: {dur:.7f}'
            self.emit(host, service, ts, "INFO", "eventlet.wsgi.server", ctx, msg)
        else:
            msg = f'{client} "{method} {uri} HTTP/1.1" status: {status}  len: {length} time: {dur:.7f}'
            self.emit(host, service, ts, "INFO", _WSGI_LOGGER[service], ctx, msg, src=S_NEUTRON_WSGI)

    def http(
        self,
        t: float,
        caller: tuple[str, str],
        cctx: Ctx,
        service: str,
        host: str,
        method: str,
        uri: str,
        status: int = 200,
        length: int | None = None,
        dur: float | None = None,
        mv: str = "-",
        service_type: str | None = None,
        logger: str = "keystoneauth.session",
    ) -> tuple[Ctx, float]:
        """An HTTP call with X-OpenStack-Request-ID: the callee logs it, the caller logs its id."""
        rng = self.rng
        dur = dur if dur is not None else 0.004 + rng.random() * 0.05
        length = length if length is not None else 200 + rng.randrange(4000)
        ctx = self.callee_ctx(cctx)
        self.access(host, service, t + dur, ctx, self.ips[caller[0]], method, uri, status, length, dur, mv)
        stype = service_type or {
            "placement-api": "placement",
            "neutron-server": "network",
            "glance-api": "image",
        }.get(service, "volumev3")
        url = f"http://{self.ips[host]}:{PORTS[service]}{uri}"
        self.emit(
            caller[0],
            caller[1],
            t + dur + 0.0004,
            "DEBUG",
            logger,
            cctx,
            f"{method} call to {stype} for {url} used request id {ctx.request_id}",
            src=S_KSA,
        )
        return ctx, t + dur + 0.0005

    def token_check(self, t: float) -> None:
        """keystonemiddleware validating a token: keystone logs it under its own id, no global id."""
        kh = self.rng.choice(self.controllers)
        kctx = Ctx(self.req(), None, self.users[0], self.projects[0], True)
        for k, v in (
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", "/identity"),
            ("PATH_INFO", "/v3/auth/tokens"),
        ):
            self.emit(
                kh,
                "keystone",
                t,
                "DEBUG",
                "keystone.server.flask.request_processing.req_logging",
                kctx,
                f"{k}: `{v}`",
                src=S_KS_REQ,
            )

    def pick(self, hosts: list[str]) -> str:
        return hosts[self.rng.randrange(len(hosts))]

    # background requests -----------------------------------------------------------------
    def bg_request(self, t: float) -> None:
        r = self.rng.random()
        if r < 0.24:
            self.list_servers(t)
        elif r < 0.38:
            self.show_server(t)
        elif r < 0.48:
            self.neutron_list(t)
        elif r < 0.56:
            self.glance_list(t)
        elif r < 0.64:
            self.cinder_list(t)
        elif r < 0.74:
            self.token_issue(t)
        elif r < 0.86:
            self.boot(t)
        elif r < 0.92:
            self.delete_server(t)
        elif r < 0.97:
            self.attach_volume(t)
        else:
            self.console_output(t)

    def list_servers(self, t: float) -> None:
        h = self.pick(self.controllers)
        ctx = self.ctx_user()
        if self.rng.random() < 0.3:
            self.token_check(t - 0.01)
        self.emit(
            h,
            "nova-api",
            t,
            "DEBUG",
            "nova.api.openstack.wsgi",
            ctx,
            "Calling method '<bound method ServersController.detail of <nova.api.openstack.compute."
            "servers.ServersController object at 0x7f3a2c1b9d50>>'",
            src=S_NOVA_WSGI,
        )
        dur = 0.05 + self.rng.random() * 0.3
        self.access(
            h,
            "nova-api",
            t + dur,
            ctx,
            "10.30.0.15",
            "GET",
            "/v2.1/servers/detail?limit=50",
            200,
            1200 + self.rng.randrange(30000),
            dur,
            "2.79",
        )

    def show_server(self, t: float) -> None:
        h = self.pick(self.controllers)
        ctx = self.ctx_user()
        sid, _ = self.servers[self.rng.randrange(len(self.servers))]
        dur = 0.02 + self.rng.random() * 0.1
        _ctx2, t2 = self.http(
            t + 0.01,
            (h, "nova-api"),
            ctx,
            "neutron-server",
            self.pick(self.controllers),
            "GET",
            f"/v2.0/ports?device_id={sid}&fields=binding%3Ahost_id&fields=binding%3Avif_type",
        )
        self.access(
            h,
            "nova-api",
            t2 + dur,
            ctx,
            "10.30.0.15",
            "GET",
            f"/v2.1/servers/{sid}",
            200,
            1800 + self.rng.randrange(900),
            t2 + dur - t,
            "2.79",
        )

    def neutron_list(self, t: float) -> None:
        h = self.pick(self.controllers)
        ctx = self.ctx_user()
        nets = self.networks[self.rng.randrange(len(self.networks))]
        dur = 0.01 + self.rng.random() * 0.2
        self.emit(
            h,
            "neutron-server",
            t,
            "DEBUG",
            "neutron.api.v2.base",
            ctx,
            "Request body: None",
            src=S_NEUTRON_WSGI,
        )
        self.access(
            h,
            "neutron-server",
            t + dur,
            ctx,
            "10.30.0.15",
            "GET",
            f"/v2.0/ports?network_id={nets}",
            200,
            500 + self.rng.randrange(20000),
            dur,
        )

    def glance_list(self, t: float) -> None:
        self._api_get(t, "glance-api", lambda ctx: "/v2/images?limit=20", 0.01, 3000)

    def cinder_list(self, t: float) -> None:
        self._api_get(t, "cinder-api", lambda ctx: f"/v3/{ctx.project}/volumes/detail", 0.02, 400)

    def _api_get(
        self, t: float, service: str, path: Callable[[Ctx], str], min_dur: float, min_len: int
    ) -> None:
        """A background GET that one access line tells about: a user listing things."""
        h = self.pick(self.controllers)
        ctx = self.ctx_user()
        dur = min_dur + self.rng.random() * 0.1
        self.access(
            h,
            service,
            t + dur,
            ctx,
            "10.30.0.15",
            "GET",
            path(ctx),
            200,
            min_len + self.rng.randrange(9000),
            dur,
        )

    def token_issue(self, t: float) -> None:
        h = self.pick(self.controllers)
        ctx = Ctx(self.req(), None, None, None)
        for k, v in (
            ("REQUEST_METHOD", "POST"),
            ("SCRIPT_NAME", "/identity"),
            ("PATH_INFO", "/v3/auth/tokens"),
        ):
            self.emit(
                h,
                "keystone",
                t,
                "DEBUG",
                "keystone.server.flask.request_processing.req_logging",
                ctx,
                f"{k}: `{v}`",
                src=S_KS_REQ,
            )
        if self.rng.random() < 0.04:
            # a wrong password: keystone answers 401 and says so (application.py's handler)
            self.emit(
                h,
                "keystone",
                t + 0.03,
                "WARNING",
                "keystone.server.flask.application",
                ctx,
                "Authorization failed. The request you have made requires authentication. from 10.30.0.15",
            )

    def delete_server(self, t: float) -> None:
        h = self.pick(self.controllers)
        ctx = self.ctx_user()
        sid, cmp = self.servers[self.rng.randrange(len(self.servers))]
        self.access(
            h, "nova-api", t + 0.08, ctx, "10.30.0.15", "DELETE", f"/v2.1/servers/{sid}", 204, 0, 0.08, "2.79"
        )
        t2 = t + 0.1
        self.emit(
            cmp, "nova-compute", t2, "INFO", "nova.compute.manager", ctx, "Terminating instance", inst=sid
        )
        self.emit(
            cmp,
            "nova-compute",
            t2 + 0.4,
            "INFO",
            "nova.virt.libvirt.driver",
            ctx,
            "Instance destroyed successfully.",
            inst=sid,
        )
        _, t3 = self.http(
            t2 + 0.5,
            (cmp, "nova-compute"),
            ctx,
            "neutron-server",
            self.pick(self.controllers),
            "DELETE",
            f"/v2.0/ports/{self.uuid()}",
            204,
            0,
        )
        self.emit(
            cmp,
            "nova-compute",
            t3 + 0.1,
            "INFO",
            "nova.compute.manager",
            ctx,
            f"Took {t3 + 0.1 - t2:.2f} seconds to destroy the instance on the hypervisor.",
            inst=sid,
        )
        self.http(
            t3 + 0.2,
            (cmp, "nova-compute"),
            ctx,
            "placement-api",
            self.pick(self.controllers),
            "DELETE",
            f"/allocations/{sid}",
            204,
            0,
            mv="1.36",
            logger="nova.scheduler.client.report",
        )

    def console_output(self, t: float) -> None:
        h = self.pick(self.controllers)
        ctx = self.ctx_user()
        sid, cmp = self.servers[self.rng.randrange(len(self.servers))]
        self.emit(
            cmp,
            "nova-compute",
            t + 0.02,
            "DEBUG",
            "nova.virt.libvirt.driver",
            ctx,
            "Getting console output",
            inst=sid,
            src=S_COMPUTE,
        )
        self.access(
            h,
            "nova-api",
            t + 0.15,
            ctx,
            "10.30.0.15",
            "POST",
            f"/v2.1/servers/{sid}/action",
            200,
            4000 + self.rng.randrange(20000),
            0.15,
            "2.79",
        )

    # boot ------------------------------------------------------------------------------------
    def boot(
        self,
        t: float,
        ctx: Ctx | None = None,
        fault: str | None = None,
        target: str | None = None,
        count: int = 1,
        from_volume: bool = False,
    ) -> dict[str, Any]:
        """POST /servers: nova-api -> conductor -> scheduler -> placement -> compute -> neutron/glance/cinder."""
        rng = self.rng
        api = self.pick(self.controllers)
        ctx = ctx or self.ctx_user()
        info: dict[str, Any] = {"api_host": api, "t0": t}
        inst_ids = [self.uuid() for _ in range(count)]
        image = self.images[rng.randrange(len(self.images))]
        self.emit(
            api,
            "nova-api",
            t,
            "DEBUG",
            "nova.api.openstack.wsgi",
            ctx,
            "Action: 'create', calling method: <bound method ServersController.create of "
            "<nova.api.openstack.compute.servers.ServersController object at 0x7f3a2c1b9d50>>, body: "
            f'{{"server": {{"name": "vm-{inst_ids[0][:6]}", "imageRef": "{image}", '
            f'"flavorRef": "{rng.choice(self.flavors)}", "min_count": {count}, "max_count": {count}, '
            f'"networks": [{{"uuid": "{self.networks[0]}"}}]}}}}',
            src=S_NOVA_WSGI,
        )
        gh = self.pick(self.controllers)
        _, t = self.http(t + 0.01, (api, "nova-api"), ctx, "glance-api", gh, "GET", f"/v2/images/{image}")
        nh = self.pick(self.controllers)
        _, t = self.http(
            t + 0.01,
            (api, "nova-api"),
            ctx,
            "neutron-server",
            nh,
            "GET",
            f"/v2.0/networks?id={self.networks[0]}",
        )
        self.access(
            api,
            "nova-api",
            t + 0.02,
            ctx,
            "10.30.0.15",
            "POST",
            "/v2.1/servers",
            202,
            412,
            t + 0.02 - info["t0"],
            "2.79",
        )
        # conductor -> scheduler (RPC call, same context)
        cond = self.pick(self.controllers)
        sched = self.pick(self.controllers)
        t += 0.05
        self.emit(
            cond,
            "nova-conductor",
            t,
            "DEBUG",
            "oslo_concurrency.lockutils",
            ctx,
            'Acquiring lock "compute-rpcapi-router" by "nova.conductor.manager.ComputeTaskManager.'
            'build_instances"',
            src=S_LOCK,
        )
        t += 0.01
        self.emit(
            sched,
            "nova-scheduler",
            t,
            "DEBUG",
            "nova.scheduler.manager",
            ctx,
            f"Starting to schedule for instances: {inst_ids}",
            src=S_SCHED,
        )
        ph = self.pick(self.controllers)
        _, t = self.http(
            t + 0.01,
            (sched, "nova-scheduler"),
            ctx,
            "placement-api",
            ph,
            "GET",
            "/allocation_candidates?limit=1000&resources=DISK_GB%3A20%2CMEMORY_MB%3A2048%2CVCPU%3A1",
            mv="1.36",
            logger="nova.scheduler.client.report",
        )
        for flt, n in (("AvailabilityZoneFilter", 9), ("ComputeFilter", 8), ("ImagePropertiesFilter", 8)):
            t += 0.0005
            self.emit(
                sched,
                "nova-scheduler",
                t,
                "DEBUG",
                "nova.filters",
                ctx,
                f"Filter {flt} returned {n} host(s)",
                src=S_FILTER,
            )
        hosts_for: list[str] = []
        for i, iid in enumerate(inst_ids):
            self.emit(
                sched,
                "nova-scheduler",
                t,
                "DEBUG",
                "nova.scheduler.utils",
                ctx,
                f"Attempting to claim resources in the placement API for instance {iid}",
                src=S_CLAIM,
            )
            ph = self.pick(self.controllers)
            if fault == "placement_conflict":
                return self._placement_conflict(t, ctx, sched, cond, ph, iid, info)
            _, t = self.http(
                t + 0.005,
                (sched, "nova-scheduler"),
                ctx,
                "placement-api",
                ph,
                "PUT",
                f"/allocations/{iid}",
                204,
                0,
                mv="1.36",
                logger="nova.scheduler.client.report",
            )
            host = target if target and i == 0 else self.computes[rng.randrange(len(self.computes))]
            hosts_for.append(host)
            self.emit(
                sched,
                "nova-scheduler",
                t,
                "INFO",
                "nova.scheduler.manager",
                ctx,
                f"Selected host: (host: {host}, node: {host}) ram: 2048MB disk: 20480MB io_ops: 0 instances: 3",
            )
        # compute side, one per instance
        tc = t + 0.05
        for iid, host in zip(inst_ids, hosts_for, strict=True):
            tc = self._spawn(tc, ctx, host, iid, image, fault if host == target else None, from_volume, info)
            if fault == "port_binding_failed" and host == target:
                break
        info["instances"] = inst_ids
        return info

    def _placement_conflict(
        self, t: float, ctx: Ctx, sched: str, cond: str, ph: str, iid: str, info: dict[str, Any]
    ) -> dict[str, Any]:
        rp = self.rps[self.computes[0]]
        detail = (
            "There was a conflict when trying to complete your request.\\n\\n Unable to allocate inventory: "
            f"Unable to create allocation for 'VCPU' on resource provider '{rp}'. The requested amount would "
            "exceed the capacity.  "
        )
        body = (
            f'{{"errors": [{{"status": 409, "title": "Conflict", "detail": "{detail}", '
            f'"code": "placement.undefined_code", "request_id": "__RID__"}}]}}'
        )
        pctx = self.callee_ctx(ctx)
        t += 0.005
        self.emit(
            ph,
            "placement-api",
            t + 0.01,
            "WARNING",
            "placement.objects.allocation",
            pctx,
            f"Over capacity for VCPU on resource provider {rp}. Needed: 1, Used: 64, Capacity: 64.0",
            src=_s("_check_capacity_exceeded", "placement/objects/allocation.py", 287),
        )
        self.access(
            ph,
            "placement-api",
            t + 0.02,
            pctx,
            self.ips[sched],
            "PUT",
            f"/allocations/{iid}",
            409,
            389,
            0.02,
            "1.36",
        )
        url = f"http://{self.ips[ph]}:8778/allocations/{iid}"
        t += 0.021
        self.emit(
            sched,
            "nova-scheduler",
            t,
            "DEBUG",
            "nova.scheduler.client.report",
            ctx,
            f"PUT call to placement for {url} used request id {pctx.request_id}",
            src=S_KSA,
        )
        self.emit(
            sched,
            "nova-scheduler",
            t + 0.001,
            "WARNING",
            "nova.scheduler.client.report",
            ctx,
            f"Failed to save allocation for {iid}. Got HTTP 409: {body.replace('__RID__', pctx.request_id)}",
        )
        self.emit(
            sched,
            "nova-scheduler",
            t + 0.002,
            "DEBUG",
            "nova.scheduler.manager",
            ctx,
            "There are 0 hosts available but 1 instances requested to build.",
            src=S_SCHED,
        )
        t += 0.01
        remote = "No valid host was found. There are not enough hosts available."
        tb = [
            "Traceback (most recent call last):",
            f'  File "{PY}/nova/conductor/manager.py", line 1654, in schedule_and_build_instances',
            "    host_lists = self._schedule_instances(context, request_specs[0],",
            f'  File "{PY}/nova/conductor/manager.py", line 942, in _schedule_instances',
            "    host_lists = self.query_client.select_destinations(",
            f'  File "{PY}/nova/scheduler/client/query.py", line 41, in select_destinations',
            "    return self.scheduler_rpcapi.select_destinations(context, spec_obj,",
            f'  File "{PY}/nova/scheduler/rpcapi.py", line 160, in select_destinations',
            "    return cctxt.call(ctxt, 'select_destinations', **msg_args)",
            f'  File "{PY}/oslo_messaging/rpc/client.py", line 190, in call',
            "    result = self.transport._send(",
            f'  File "{PY}/oslo_messaging/_drivers/amqpdriver.py", line 780, in _send',
            "    raise result",
            f"nova.exception_Remote.NoValidHost_Remote: {remote}",
            "Traceback (most recent call last):",
            f'  File "{PY}/oslo_messaging/rpc/server.py", line 244, in inner',
            "    return func(*args, **kwargs)",
            f'  File "{PY}/nova/scheduler/manager.py", line 230, in select_destinations',
            "    raise exception.NoValidHost(reason=e.message)",
            f"nova.exception.NoValidHost: {remote}",
        ]
        self.emit(
            cond,
            "nova-conductor",
            t,
            "ERROR",
            "nova.conductor.manager",
            ctx,
            "Failed to schedule instances",
            summary=f"nova.exception_Remote.NoValidHost_Remote: {remote}",
            tb=tb,
        )
        self.emit(
            cond,
            "nova-conductor",
            t + 0.003,
            "WARNING",
            "nova.scheduler.utils",
            ctx,
            f"Failed to compute_task_build_instances: {remote}",
            summary=f"nova.exception_Remote.NoValidHost_Remote: {remote}",
        )
        self.emit(
            cond,
            "nova-conductor",
            t + 0.004,
            "WARNING",
            "nova.scheduler.utils",
            ctx,
            "Setting instance to ERROR state.",
            inst=iid,
            summary=f"nova.exception_Remote.NoValidHost_Remote: {remote}",
        )
        info.update(root=("placement-api", ph), instances=[iid], evidence=f"/allocations/{iid}")
        return info

    def _spawn(
        self,
        t: float,
        ctx: Ctx,
        host: str,
        iid: str,
        image: str,
        fault: str | None,
        from_volume: bool,
        info: dict[str, Any],
    ) -> float:
        rng = self.rng
        c = (host, "nova-compute")
        t_spawn = t
        self.emit(
            host,
            "nova-compute",
            t,
            "DEBUG",
            "oslo_concurrency.lockutils",
            ctx,
            f'Lock "{iid}" acquired by "nova.compute.manager.ComputeManager.build_and_run_instance.'
            '<locals>._locked_do_build_and_run_instance" :: waited 0.000s',
            inst=iid,
            src=S_LOCK,
        )
        self.emit(
            host,
            "nova-compute",
            t + 0.01,
            "INFO",
            "nova.compute.claims",
            ctx,
            f"Claim successful on node {host}",
            inst=iid,
        )
        self.emit(
            host,
            "nova-compute",
            t + 0.02,
            "DEBUG",
            "nova.compute.manager",
            ctx,
            "Start building networks asynchronously for instance.",
            inst=iid,
            src=S_COMPUTE,
        )
        t += 0.03
        if from_volume:
            t = self._create_volume(t, ctx, c, iid, image)
        nh = self.pick(self.controllers)
        port = self.uuid()
        nctx, t = self.http(
            t, c, ctx, "neutron-server", nh, "POST", "/v2.0/ports", 201, 1100, service_type="network"
        )
        self.emit(
            nh,
            "neutron-server",
            t - 0.002,
            "DEBUG",
            "neutron.db.ipam_backend_mixin",
            nctx,
            f"Allocated IP 10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(2, 250)} "
            f"(network {self.networks[0]}/subnet {self.networks[1]}/port {port})",
            src=S_ML2_PORT,
        )
        if rng.random() < 0.6:
            dh = self.network[0]
            self.emit(
                dh,
                "neutron-dhcp-agent",
                t + 0.05,
                "DEBUG",
                "neutron.agent.dhcp.agent",
                nctx,
                f"Calling driver for network: {self.networks[0]} action: reload_allocations",
                src=S_DHCP,
            )
            self.emit(
                dh,
                "neutron-dhcp-agent",
                t + 0.08,
                "INFO",
                "neutron.agent.dhcp.agent",
                nctx,
                f"Trigger reload_allocations for port admin_state_up=True, device_id={iid}, "
                f"fixed_ips=[{{'subnet_id': '{self.networks[1]}'}}], id={port}",
                src=S_DHCP,
            )
        # bind the port to this host
        pctx = self.callee_ctx(ctx)
        t += 0.02
        self.emit(
            nh,
            "neutron-server",
            t,
            "DEBUG",
            "neutron.plugins.ml2.managers",
            pctx,
            f"Attempting to bind port {port} on host {host} for vnic_type normal with profile ",
            src=S_ML2,
        )
        if fault == "port_binding_failed":
            seg = (
                f"[{{'id': '{self.networks[2]}', 'network_type': 'vxlan', 'physical_network': None, "
                f"'segmentation_id': 1042, 'network_id': '{self.networks[0]}'}}]"
            )
            self.emit(
                nh,
                "neutron-server",
                t + 0.004,
                "WARNING",
                "neutron.plugins.ml2.drivers.mech_agent",
                pctx,
                f"Refusing to bind port {port} to dead agent: {{'binary': 'neutron-openvswitch-agent', "
                f"'host': '{host}', 'alive': False}}",
            )
            self.emit(
                nh,
                "neutron-server",
                t + 0.005,
                "ERROR",
                "neutron.plugins.ml2.managers",
                pctx,
                f"Failed to bind port {port} on host {host} for vnic_type normal using segments {seg}",
            )
            self.access(
                nh,
                "neutron-server",
                t + 0.02,
                pctx,
                self.ips[host],
                "PUT",
                f"/v2.0/ports/{port}",
                200,
                1290,
                0.02,
            )
            url = f"http://{self.ips[nh]}:9696/v2.0/ports/{port}"
            self.emit(
                host,
                "nova-compute",
                t + 0.021,
                "DEBUG",
                "keystoneauth.session",
                ctx,
                f"PUT call to network for {url} used request id {pctx.request_id}",
                src=S_KSA,
            )
            msg = f"Binding failed for port {port}, please check neutron logs for more information."
            tb = [
                "Traceback (most recent call last):",
                f'  File "{PY}/nova/compute/manager.py", line 2874, in _build_resources',
                "    yield resources",
                f'  File "{PY}/nova/compute/manager.py", line 2621, in _build_and_run_instance',
                "    self.driver.spawn(context, instance, image_meta,",
                f'  File "{PY}/nova/virt/libvirt/driver.py", line 4720, in spawn',
                "    xml = self._get_guest_xml(context, instance, network_info,",
                f'  File "{PY}/nova/virt/libvirt/vif.py", line 569, in get_config',
                "    raise exception.PortBindingFailed(port_id=vif['id'])",
                f"nova.exception.PortBindingFailed: {msg}",
            ]
            self.emit(
                host,
                "nova-compute",
                t + 0.3,
                "ERROR",
                "nova.compute.manager",
                ctx,
                "Instance failed to spawn",
                inst=iid,
                summary=f"nova.exception.PortBindingFailed: {msg}",
                tb=tb,
            )
            self.emit(
                host,
                "nova-compute",
                t + 0.31,
                "INFO",
                "nova.compute.manager",
                ctx,
                "Terminating instance",
                inst=iid,
            )
            info.update(
                root=("neutron-server", nh), evidence=f"Failed to bind port {port} on host {host}", port=port
            )
            return t + 0.4
        self.access(
            nh,
            "neutron-server",
            t + 0.03,
            pctx,
            self.ips[host],
            "PUT",
            f"/v2.0/ports/{port}",
            200,
            1290,
            0.03,
        )
        url = f"http://{self.ips[nh]}:9696/v2.0/ports/{port}"
        self.emit(
            host,
            "nova-compute",
            t + 0.031,
            "DEBUG",
            "keystoneauth.session",
            ctx,
            f"PUT call to network for {url} used request id {pctx.request_id}",
            src=S_KSA,
        )
        self.emit(
            host,
            "neutron-openvswitch-agent",
            t + 0.2,
            "INFO",
            "neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent",
            pctx,
            f"Port {port} updated. Details: {{'device': '{port}', 'network_id': '{self.networks[0]}', "
            f"'admin_state_up': True, 'network_type': 'vxlan', 'segmentation_id': 1042, "
            f"'device_owner': 'compute:nova'}}",
        )
        for k, (level, logger, text) in enumerate(_SPAWN_STEPS):
            self.emit(
                host, "nova-compute", t + 0.21 + k * 0.05, level, logger, ctx, text, inst=iid, src=S_COMPUTE
            )
        t += 0.6 + rng.random() * 4
        self.emit(
            host,
            "nova-compute",
            t,
            "INFO",
            "nova.compute.manager",
            ctx,
            f"Took {t - t_spawn:.2f} seconds to spawn the instance on the hypervisor.",
            inst=iid,
        )
        self.emit(
            host,
            "nova-compute",
            t + 0.1,
            "INFO",
            "nova.compute.manager",
            ctx,
            f"Took {t + 0.1 - info.get('t0', t):.2f} seconds to build instance.",
            inst=iid,
        )
        self.servers[rng.randrange(len(self.servers))] = (iid, host)
        # builds of a multi-instance request overlap, but never start before the request
        return max(t_spawn + 0.05, t - 4.0 * rng.random())

    def _create_volume(self, t: float, ctx: Ctx, c: tuple[str, str], iid: str, image: str) -> float:
        """Boot from volume: nova-compute -> cinder-api -> cinder-scheduler -> cinder-volume (RPC)."""
        ch = self.pick(self.controllers)
        vol = self.uuid()
        cctx, t2 = self.http(
            t,
            c,
            ctx,
            "cinder-api",
            ch,
            "POST",
            f"/v3/{ctx.project}/volumes",
            202,
            780,
            service_type="volumev3",
        )
        self.emit(
            ch,
            "cinder-api",
            t2 - 0.003,
            "INFO",
            "cinder.volume.api",
            cctx,
            "Create volume request issued successfully.",
            src=S_CINDER_WSGI,
        )
        self.emit(
            ch,
            "cinder-scheduler",
            t2 + 0.01,
            "DEBUG",
            "cinder.scheduler.base_filter",
            cctx,
            "Filter CapacityFilter returned 1 host(s)",
            src=S_CINDER_SCHED,
        )
        self.emit(
            ch,
            "cinder-scheduler",
            t2 + 0.011,
            "DEBUG",
            "cinder.scheduler.filter_scheduler",
            cctx,
            f"Choosing stor-1@lvm#LVM for volume {vol}",
            src=S_CINDER_SCHED,
        )
        sv = self.storage[0]
        self.emit(
            sv,
            "cinder-volume",
            t2 + 0.05,
            "INFO",
            "cinder.volume.flows.manager.create_volume",
            cctx,
            f"Volume {vol}: being created as image with specification: {{'status': 'creating', "
            f"'volume_name': 'volume-{vol}', 'volume_size': 20, 'image_id': '{image}'}}",
        )
        self.emit(
            sv,
            "cinder-volume",
            t2 + 2.5,
            "INFO",
            "cinder.volume.flows.manager.create_volume",
            cctx,
            f"Volume volume-{vol} ({vol}): created successfully",
        )
        self.emit(
            sv,
            "cinder-volume",
            t2 + 2.6,
            "INFO",
            "cinder.volume.manager",
            cctx,
            "Initialize volume connection completed successfully.",
        )
        self.emit(
            c[0],
            c[1],
            t2 + 2.7,
            "INFO",
            "nova.virt.block_device",
            ctx,
            f"Booting with volume {vol} at /dev/vda",
            inst=iid,
        )
        return t2 + 2.8

    # faults --------------------------------------------------------------------------------
    def attach_volume(self, t: float, ctx: Ctx | None = None, fault: bool = False) -> dict[str, Any]:
        """POST os-volume_attachments: nova-api -> compute (RPC) -> cinder-api -> cinder-volume (RPC)."""
        api = self.pick(self.controllers)
        ctx = ctx or self.ctx_user()
        sid, cmp = self.servers[self.rng.randrange(len(self.servers))]
        vol = self.volumes[self.rng.randrange(len(self.volumes))]
        ch = self.pick(self.controllers)
        _, t2 = self.http(
            t + 0.01,
            (api, "nova-api"),
            ctx,
            "cinder-api",
            ch,
            "GET",
            f"/v3/{ctx.project}/volumes/{vol}",
            service_type="volumev3",
        )
        self.emit(
            cmp,
            "nova-compute",
            t2 + 0.01,
            "DEBUG",
            "oslo_concurrency.lockutils",
            ctx,
            f'Lock "{sid}" acquired by "nova.compute.manager.ComputeManager.reserve_block_device_name'
            '.<locals>.do_reserve" :: waited 0.000s',
            inst=sid,
            src=S_LOCK,
        )
        self.access(
            api,
            "nova-api",
            t2 + 0.1,
            ctx,
            "10.30.0.15",
            "POST",
            f"/v2.1/servers/{sid}/os-volume_attachments",
            200,
            178,
            t2 + 0.1 - t,
            "2.79",
        )
        t3 = t2 + 0.2
        self.emit(
            cmp,
            "nova-compute",
            t3,
            "INFO",
            "nova.compute.manager",
            ctx,
            f"Attaching volume {vol} to /dev/vdb",
            inst=sid,
        )
        att = self.uuid()
        cctx = self.callee_ctx(ctx)
        sv = self.storage[0]
        self.emit(
            sv,
            "cinder-volume",
            t3 + 0.05,
            "DEBUG",
            "cinder.volume.manager",
            cctx,
            f"Initialize connection for volume {vol}",
            src=S_CINDER_VOL,
        )
        uri = f"/v3/{ctx.project}/attachments/{att}"
        url = f"http://{self.ips[ch]}:8776{uri}"
        if not fault:
            self.emit(
                sv,
                "cinder-volume",
                t3 + 0.4,
                "INFO",
                "cinder.volume.manager",
                cctx,
                "Initialize volume connection completed successfully.",
            )
            self.access(ch, "cinder-api", t3 + 0.5, cctx, self.ips[cmp], "PUT", uri, 200, 1100, 0.5)
            self.emit(
                cmp,
                "nova-compute",
                t3 + 0.51,
                "DEBUG",
                "keystoneauth.session",
                ctx,
                f"PUT call to volumev3 for {url} used request id {cctx.request_id}",
                src=S_KSA,
            )
            return {}
        reason = (
            "Bad or unexpected response from the storage volume backend API: Timed out waiting for iSCSI target "
            f"iqn.2010-10.org.openstack:volume-{vol} to become ready after 60 seconds"
        )
        tb = [
            "Traceback (most recent call last):",
            f'  File "{PY}/cinder/volume/manager.py", line 1805, in initialize_connection',
            "    conn_info = self.driver.initialize_connection(volume, connector)",
            f'  File "{PY}/cinder/volume/drivers/lvm.py", line 873, in initialize_connection',
            "    return self.target_driver.initialize_connection(volume, connector)",
            f'  File "{PY}/cinder/volume/targets/iscsi.py", line 288, in initialize_connection',
            "    raise exception.VolumeBackendAPIException(data=msg)",
            f"cinder.exception.VolumeBackendAPIException: {reason}",
        ]
        t4 = t3 + 60.05
        self.emit(
            sv,
            "cinder-volume",
            t4,
            "ERROR",
            "cinder.volume.manager",
            cctx,
            f"Driver initialize connection failed (error: {reason}).",
            summary=f"cinder.exception.VolumeBackendAPIException: {reason}",
            tb=tb,
        )
        self.emit(
            ch,
            "cinder-api",
            t4 + 0.02,
            "ERROR",
            "cinder.api.v3.attachments",
            cctx,
            "Unable to update the attachment.",
            summary=f"oslo_messaging.rpc.client.RemoteError: Remote error: VolumeBackendAPIException {reason}",
        )
        self.access(ch, "cinder-api", t4 + 0.03, cctx, self.ips[cmp], "PUT", uri, 500, 243, 60.3)
        self.emit(
            cmp,
            "nova-compute",
            t4 + 0.031,
            "DEBUG",
            "keystoneauth.session",
            ctx,
            f"PUT call to volumev3 for {url} used request id {cctx.request_id}",
            src=S_KSA,
        )
        cmsg = (
            "The server has either erred or is incapable of performing the requested operation. (HTTP 500) "
            f"(Request-ID: {cctx.request_id})"
        )
        tb2 = [
            "Traceback (most recent call last):",
            f'  File "{PY}/nova/virt/block_device.py", line 716, in _do_attach',
            "    self._volume_attach(context, volume, connector, instance,",
            f'  File "{PY}/nova/volume/cinder.py", line 863, in attachment_update',
            "    attachment_ref = cinderclient(",
            f'  File "{PY}/cinderclient/client.py", line 224, in request',
            "    raise exceptions.from_response(resp, body)",
            f"cinderclient.exceptions.ClientException: {cmsg}",
        ]
        self.emit(
            cmp,
            "nova-compute",
            t4 + 0.05,
            "ERROR",
            "nova.virt.block_device",
            ctx,
            f"Driver failed to attach volume {vol} at /dev/vdb",
            inst=sid,
            summary=f"cinderclient.exceptions.ClientException: {cmsg}",
            tb=tb2,
        )
        return {
            "root": ("cinder-volume", sv),
            "evidence": "Driver initialize connection failed",
            "compute": cmp,
        }

    def image_not_found(self, t: float, ctx: Ctx) -> dict[str, Any]:
        api = self.pick(self.controllers)
        gh = self.pick(self.controllers)
        image = self.uuid()
        self.emit(
            api,
            "nova-api",
            t,
            "DEBUG",
            "nova.api.openstack.wsgi",
            ctx,
            "Action: 'create', calling method: <bound method ServersController.create of "
            "<nova.api.openstack.compute.servers.ServersController object at 0x7f3a2c1b9d50>>, body: "
            f'{{"server": {{"name": "web-1", "imageRef": "{image}", "flavorRef": "m1.small"}}}}',
            src=S_NOVA_WSGI,
        )
        gctx = self.callee_ctx(ctx)
        self.emit(
            gh,
            "glance-api",
            t + 0.01,
            "DEBUG",
            "glance.db.sqlalchemy.api",
            gctx,
            f"No image found with ID {image}",
            src=S_GLANCE,
        )
        self.access(
            gh, "glance-api", t + 0.012, gctx, self.ips[api], "GET", f"/v2/images/{image}", 404, 404, 0.011
        )
        url = f"http://{self.ips[gh]}:9292/v2/images/{image}"
        self.emit(
            api,
            "nova-api",
            t + 0.013,
            "DEBUG",
            "keystoneauth.session",
            ctx,
            f"GET call to image for {url} used request id {gctx.request_id}",
            src=S_KSA,
        )
        self.emit(
            api,
            "nova-api",
            t + 0.014,
            "INFO",
            "nova.api.openstack.wsgi",
            ctx,
            f"HTTP exception thrown: Image {image} could not be found.",
        )
        self.access(
            api, "nova-api", t + 0.015, ctx, "10.30.0.15", "POST", "/v2.1/servers", 400, 92, 0.015, "2.79"
        )
        return {"root": ("glance-api", gh), "evidence": f"/v2/images/{image}"}

    def expired_token(self, t: float, ctx: Ctx) -> dict[str, Any]:
        """keystonemiddleware in nova-api rejects an expired token; keystone logs its own id only."""
        api = self.pick(self.controllers)
        kh = self.pick(self.controllers)
        kctx = Ctx(self.req(), None, self.users[0], self.projects[0], True)
        for k, v in (
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", "/identity"),
            ("PATH_INFO", "/v3/auth/tokens"),
        ):
            self.emit(
                kh,
                "keystone",
                t + 0.002,
                "DEBUG",
                "keystone.server.flask.request_processing.req_logging",
                kctx,
                f"{k}: `{v}`",
                src=S_KS_REQ,
            )
        self.emit(
            kh,
            "keystone",
            t + 0.006,
            "DEBUG",
            "keystone.server.flask.application",
            kctx,
            "Failed to validate token",
            src=S_KS_APP,
        )
        anon = Ctx(ctx.request_id, None, None, None, False, ctx.track)
        tb = [
            "Traceback (most recent call last):",
            f'  File "{PY}/keystonemiddleware/auth_token/__init__.py", line 760, in fetch_token',
            "    data = self._identity_server.verify_token(",
            f'  File "{PY}/keystonemiddleware/auth_token/_identity.py", line 154, in verify_token',
            "    auth_ref = self._request_strategy.verify_token(",
            f'  File "{PY}/keystonemiddleware/auth_token/_identity.py", line 97, in verify_token',
            "    raise ksm_exceptions.InvalidToken(msg)",
            "keystonemiddleware.auth_token._exceptions.InvalidToken: Token authorization failed",
        ]
        self.emit(
            api,
            "nova-api",
            t + 0.008,
            "DEBUG",
            "keystonemiddleware.auth_token",
            anon,
            "Token validation failure.",
            src=S_KSM,
            tb=tb,
        )
        self.emit(
            api,
            "nova-api",
            t + 0.0085,
            "WARNING",
            "keystonemiddleware.auth_token",
            anon,
            "Authorization failed for token",
        )
        self.access(
            api, "nova-api", t + 0.009, anon, "10.30.0.15", "GET", "/v2.1/servers/detail", 401, 114, 0.009
        )
        return {
            "root": ("nova-api", api),
            "evidence": "InvalidToken: Token authorization failed",
            "keystone": kh,
        }

    def rpc_timeout(self, t: float, ctx: Ctx) -> dict[str, Any]:
        """nova-api calls a compute host that never answers: MessagingTimeout after 60 s."""
        api = self.pick(self.controllers)
        sid, cmp = self.servers[self.rng.randrange(len(self.servers))]
        self.emit(
            api,
            "nova-api",
            t,
            "DEBUG",
            "nova.api.openstack.wsgi",
            ctx,
            "Action: 'action', calling method: <bound method ConsoleOutputController.get_console_output of "
            "<nova.api.openstack.compute.console_output.ConsoleOutputController object at 0x7f3a2c0e1f10>>, "
            'body: {"os-getConsoleOutput": {"length": 50}}',
            src=S_NOVA_WSGI,
        )
        mid = self.hexid()
        self.emit(
            api,
            "nova-api",
            t + 0.002,
            "DEBUG",
            "oslo_messaging._drivers.amqpdriver",
            ctx,
            f"CALL msg_id: {mid} exchange 'nova' topic 'compute.{cmp}'",
            src=S_RPC,
        )
        msg = f"Timed out waiting for a reply to message ID {mid}"
        tb = [
            "Traceback (most recent call last):",
            f'  File "{PY}/oslo_messaging/_drivers/amqpdriver.py", line 441, in get',
            "    return self._queues[msg_id].get(block=True, timeout=timeout)",
            f'  File "{PY}/eventlet/queue.py", line 322, in get',
            "    return waiter.wait()",
            "_queue.Empty",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            f'  File "{PY}/nova/api/openstack/wsgi.py", line 797, in wrapped',
            "    return f(*args, **kwargs)",
            f'  File "{PY}/nova/api/openstack/compute/console_output.py", line 51, in get_console_output',
            "    output = self.compute_api.get_console_output(context,",
            f'  File "{PY}/nova/compute/api.py", line 4794, in get_console_output',
            "    output = self.compute_rpcapi.get_console_output(context,",
            f'  File "{PY}/nova/compute/rpcapi.py", line 764, in get_console_output',
            "    return cctxt.call(ctxt, 'get_console_output',",
            f'  File "{PY}/oslo_messaging/rpc/client.py", line 190, in call',
            "    result = self.transport._send(",
            f'  File "{PY}/oslo_messaging/_drivers/amqpdriver.py", line 780, in _send',
            "    result = self._waiter.wait(msg_id, timeout,",
            f'  File "{PY}/oslo_messaging/_drivers/amqpdriver.py", line 550, in wait',
            "    raise oslo_messaging.MessagingTimeout(",
            f"oslo_messaging.exceptions.MessagingTimeout: {msg}",
        ]
        t2 = t + 60.003
        self.emit(
            api,
            "nova-api",
            t2,
            "ERROR",
            "nova.api.openstack.wsgi",
            ctx,
            "Unexpected exception in API method",
            summary=f"oslo_messaging.exceptions.MessagingTimeout: {msg}",
            tb=tb,
        )
        self.emit(
            api,
            "nova-api",
            t2 + 0.001,
            "INFO",
            "nova.api.openstack.wsgi",
            ctx,
            "HTTP exception thrown: Unexpected API Error. Please report this at "
            "http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n"
            "<class 'oslo_messaging.exceptions.MessagingTimeout'>",
        )
        self.access(
            api,
            "nova-api",
            t2 + 0.002,
            ctx,
            "10.30.0.15",
            "POST",
            f"/v2.1/servers/{sid}/action",
            500,
            216,
            60.004,
            "2.79",
        )
        return {"root": ("nova-api", api), "evidence": "Unexpected exception in API method", "compute": cmp}

    # periodic tasks ------------------------------------------------------------------------
    def periodic(self, t0: float, t1: float) -> None:
        """Everything that runs on a timer between t0 and t1, logged with ``[-]`` or an admin context."""
        rng = self.rng
        for p in range(int(t0 // 60) + 1, int(t1 // 60) + 1):
            base = p * 60.0
            for i, host in enumerate(self.computes):
                t = base + (i * 1.37) % 50
                ctx = Ctx(self.req(), None, None, None, True)
                self.emit(
                    host,
                    "nova-compute",
                    t,
                    "DEBUG",
                    "oslo_service.periodic_task",
                    ctx,
                    "Running periodic task ComputeManager.update_available_resource",
                    src=S_PERIODIC,
                )
                self.emit(
                    host,
                    "nova-compute",
                    t + 0.01,
                    "DEBUG",
                    "nova.compute.resource_tracker",
                    ctx,
                    f"Auditing locally available compute resources for {host} (node: {host})",
                    src=S_RT_AUDIT,
                )
                used = rng.randrange(4, 60)
                self.emit(
                    host,
                    "nova-compute",
                    t + 0.2,
                    "DEBUG",
                    "nova.compute.resource_tracker",
                    ctx,
                    f"Final resource view: name={host} phys_ram=257712MB used_ram={used * 2048 + 512}MB "
                    f"phys_disk=1787GB used_disk={used * 20}GB total_vcpus=64 used_vcpus={used} "
                    "pci_stats=[]",
                    src=S_RT_FINAL,
                )
                self.http(
                    t + 0.21,
                    (host, "nova-compute"),
                    ctx,
                    "placement-api",
                    self.pick(self.controllers),
                    "GET",
                    f"/resource_providers/{self.rps[host]}/inventories",
                    mv="1.26",
                    logger="nova.scheduler.client.report",
                )
            for host in self.controllers:
                ctx = Ctx(self.req(), None, None, None, True)
                self.emit(
                    host,
                    "nova-scheduler",
                    base + 3.1,
                    "DEBUG",
                    "oslo_service.periodic_task",
                    ctx,
                    "Running periodic task SchedulerManager._discover_hosts_in_cells",
                    src=S_PERIODIC,
                )
                self.emit(
                    host,
                    "nova-conductor",
                    base + 7.3,
                    "DEBUG",
                    "oslo_service.periodic_task",
                    ctx,
                    "Running periodic task ConductorManager._heal_instance_info_cache",
                    src=S_PERIODIC,
                )
                self.emit(
                    host,
                    "cinder-scheduler",
                    base + 11.0,
                    "DEBUG",
                    "cinder.scheduler.host_manager",
                    None,
                    "Received volume service update from stor-1@lvm: {'volume_backend_name': 'LVM', "
                    f"'free_capacity_gb': {rng.randrange(900, 4000)}, 'total_capacity_gb': 4096}}",
                    src=S_CINDER_SCHED,
                )
            self.emit(
                "stor-1",
                "cinder-volume",
                base + 10.5,
                "DEBUG",
                "cinder.manager",
                None,
                "Notifying Schedulers of capabilities ...",
                src=_s("_publish_service_capabilities", "cinder/manager.py", 196),
            )
        for p in range(int(t0 // 10) + 1, int(t1 // 10) + 1):
            base = p * 10.0
            for host in (*self.network, *self.computes):
                n = self.ovs_iter.get(host, 0) + 1
                self.ovs_iter[host] = n
                self.emit(
                    host,
                    "neutron-openvswitch-agent",
                    base + 0.3,
                    "DEBUG",
                    "neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent",
                    None,
                    f"Agent rpc_loop - iteration:{n} completed. Processed ports statistics: "
                    "{'regular': {'added': 0, 'updated': 0, 'removed': 0}}. Elapsed:0.004",
                    src=S_OVS,
                )
            if p % 3 == 0:
                self.emit(
                    self.network[0],
                    "neutron-l3-agent",
                    base + 1.1,
                    "DEBUG",
                    "neutron.agent.l3.agent",
                    None,
                    "Starting router update for 0 routers, action None, priority 1",
                    src=_s("_process_router_update", "neutron/agent/l3/agent.py", 789),
                )
                self.emit(
                    self.network[0],
                    "neutron-dhcp-agent",
                    base + 1.5,
                    "DEBUG",
                    "neutron.agent.dhcp.agent",
                    None,
                    "Synchronizing state complete",
                    src=S_DHCP,
                )

    # files ---------------------------------------------------------------------------------
    def flush(self, upto: float | None) -> None:
        for log in self.logs.values():
            log.flush(upto)

    def rotate(self) -> None:
        for log in self.logs.values():
            log.rotate()


#: What nova-compute and its libvirt driver log while a guest is built (upstream texts).
_SPAWN_STEPS = (
    ("DEBUG", "nova.compute.manager", "Start spawning the instance on the hypervisor."),
    ("INFO", "nova.virt.libvirt.driver", "Creating image(s)"),
    (
        "DEBUG",
        "nova.virt.libvirt.driver",
        "Ensure instance console log exists: /var/lib/nova/instances/console.log",
    ),
    ("INFO", "nova.compute.manager", "VM Started (Lifecycle Event)"),
    (
        "INFO",
        "nova.compute.manager",
        "During sync_power_state the instance has a pending task (spawning). Skip.",
    ),
    ("INFO", "nova.virt.libvirt.driver", "Instance spawned successfully."),
)
#: Who writes the oslo.service/eventlet access line in each service.
_WSGI_LOGGER = {"neutron-server": "neutron.wsgi", "glance-api": "eventlet.wsgi.server"}
_GENERIC_SRC = {
    "placement-api": S_PLACEMENT_HANDLER,
    "neutron-server": S_NEUTRON_WSGI,
}


# ---------------------------------------------------------------------------------------
# generate()


def _finish_files(cloud: Cloud, out_dir: Path) -> dict[tuple[str, str, int], str]:
    """Rename segments to logrotate names: newest .log, then .log.1, then .log.2.gz (gzip)."""
    names: dict[tuple[str, str, int], str] = {}
    for log in cloud.logs.values():
        log.close()
        n = len(log.seg_paths)
        for i, path in enumerate(log.seg_paths):
            age = n - 1 - i
            base = out_dir / log.host / f"{log.service}.log"
            if age == 0:
                final = base
                path.rename(final)
            elif age == 1:
                final = base.with_name(base.name + ".1")
                path.rename(final)
            else:
                final = base.with_name(f"{base.name}.{age}.gz")
                # mtime=0 and no file name in the header: the same seed gives the same bytes
                with (
                    open(path, "rb") as src,
                    open(final, "wb") as raw,
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as dst,
                ):
                    shutil.copyfileobj(src, dst, 1 << 20)
                path.unlink()
            names[(log.host, log.service, i)] = str(final.relative_to(out_dir))
    return names


def _clear_previous_demo(out: Path) -> None:
    """Remove an earlier demo cloud's logs; refuse to touch a directory that holds other logs.

    The generator rewrites `<host>/<service>.log*` names; pointed by mistake at a real log
    tree (``/var/log``) it must not delete anything, so only a directory with our
    ``ground-truth.json`` (or without logs) is accepted.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KansokuError(f"{out}: cannot create the output directory ({err.strerror})") from None
    logs = list(out.glob("*/*.log*"))
    if logs and not (out / "ground-truth.json").exists():
        raise KansokuError(
            f"{out}: holds log files ({logs[0]}) but no ground-truth.json: not a demo cloud, "
            "refusing to overwrite; choose an empty directory"
        )
    for stale in logs:
        stale.unlink()


def generate(
    out_dir: Path | str,
    *,
    seed: int = DEFAULT_SEED,
    scale: int = 1,
    target_bytes: int | None = None,
    json_services: frozenset[str] = DEFAULT_JSON_SERVICES,
    legacy_services: frozenset[str] = DEFAULT_LEGACY_SERVICES,
    big_request: bool = True,
    extra: Mapping[str, tuple[float, Injector]] | None = None,
) -> GroundTruth:
    """Write the demo cloud's log tree and ``ground-truth.json`` into `out_dir`.

    `scale` multiplies hosts (4 compute hosts per unit) and traffic (3,000 requests per unit);
    `target_bytes`, when given, keeps generating traffic until about that many bytes are
    written (the 1 GB benchmark corpus). `extra`: more faults, kind -> (fraction of the
    traffic, injector), written in addition to the traffic into `chain_faults` (the demo's
    two-step faults: `tracing.demo_chains.generate_cloud`). The same arguments always give
    the same bytes.
    """
    out = Path(out_dir)
    if scale < 1:
        raise KansokuError(f"scale must be >= 1, not {scale}")
    _clear_previous_demo(out)
    cloud = Cloud(out, seed, scale, json_services, legacy_services, DEFAULT_START)
    rng = cloud.rng
    n_requests = 3000 * scale
    if target_bytes is not None:
        # about 4.5 kB of logs per request: place faults and rotations across the whole corpus
        n_requests = max(n_requests, target_bytes // 4500)
    t = DEFAULT_START
    # Faults (and the big request) sit at fixed fractions of the traffic, so some land in the
    # rotated and gzipped files: a trace must read those too.
    fault_at = {
        int(n_requests * f): k for f, k in zip((0.86, 0.2, 0.55, 0.7, 0.93, 0.4), FAULT_KINDS, strict=True)
    }
    big_at = int(n_requests * 0.5) if big_request else -1
    chain_at = {int(n_requests * f): (k, inject) for k, (f, inject) in (extra or {}).items()}
    chain_faults: list[FaultRecord] = []
    faults: list[FaultRecord] = []
    trackers: list[tuple[FaultRecord, Tracker]] = []
    big: tuple[Tracker, dict[str, Any]] | None = None
    rotations = [int(n_requests * f) for f in (1 / 3, 2 / 3)]
    i = 0
    last_flush_t = t
    while True:
        if i >= n_requests and (
            target_bytes is None or sum(log.bytes for log in cloud.logs.values()) >= target_bytes
        ):
            break
        t += rng.expovariate(REQUEST_RATE)
        if i in rotations:
            cloud.periodic(last_flush_t, t)
            last_flush_t = t
            cloud.flush(t - FLUSH_MARGIN)
            cloud.rotate()
        kind = fault_at.get(i)
        if kind is not None:
            rec, tracker = _inject(cloud, kind, t)
            faults.append(rec)
            trackers.append((rec, tracker))
        elif i == big_at:
            tr = Tracker(cloud.req())
            ctx = cloud.ctx_user(tr, tr.request_id)
            info = cloud.boot(t, ctx, count=70, from_volume=True)
            big = (tr, info)
        else:
            cloud.bg_request(t)
        extra_at = chain_at.get(i)
        if extra_at is not None:
            # in addition to the request at i (the injector draws from its own random stream)
            rec, tracker = extra_at[1](cloud, extra_at[0], t, seed)
            chain_faults.append(rec)
            trackers.append((rec, tracker))
        i += 1
        if i % BATCH == 0:
            cloud.periodic(last_flush_t, t)
            last_flush_t = t
            cloud.flush(t - FLUSH_MARGIN)
    cloud.periodic(last_flush_t, t + 120)
    cloud.flush(None)
    names = _finish_files(cloud, out)
    for rec, tracker in trackers:
        rec.services = sorted(f"{s}@{h}" for s, h in tracker.direct)
        rec.reachable = sorted(f"{s}@{h}" for s, h in tracker.indirect if (s, h) not in tracker.direct)
        rec.files = sorted({names[k] for k in tracker.segments if k in names})
    big_rec = None
    if big is not None:
        tr, _ = big
        services = sorted({s for s, _ in tr.direct} | {s for s, _ in tr.indirect})
        big_rec = BigRequest(
            tr.request_id, services, tr.lines, sorted({names[k] for k in tr.segments if k in names})
        )
    files = sorted(names.values())
    gt = GroundTruth(
        seed=seed,
        scale=scale,
        start=datetime.fromtimestamp(DEFAULT_START, UTC).isoformat(),
        end=datetime.fromtimestamp(t, UTC).isoformat(),
        hosts=cloud.hosts,
        json_services=sorted(json_services),
        legacy_services=sorted(legacy_services),
        files=files,
        total_bytes=sum(log.bytes for log in cloud.logs.values()),
        total_lines=sum(log.lines for log in cloud.logs.values()),
        requests=i,
        faults=faults,
        big_request=big_rec,
        chain_faults=chain_faults,
    )
    (out / "ground-truth.json").write_text(gt.to_json())
    return gt


#: An extra fault: (cloud, kind, time, seed) -> its ground truth and the tracker of its reported id.
Injector = Callable[["Cloud", str, float, int], tuple[FaultRecord, Tracker]]


def _inject(cloud: Cloud, kind: str, t: float) -> tuple[FaultRecord, Tracker]:
    """One faulty request of `kind`, returning its ground-truth record."""
    tracker = Tracker(cloud.req())
    ctx = cloud.ctx_user(tracker, tracker.request_id)
    scenario, exception, status, propagated, note = _FAULTS[kind]
    info = scenario(cloud, t, ctx)
    service, host = info["root"]
    rec = FaultRecord(
        kind=kind,
        request_id=ctx.request_id,
        root_service=service,
        root_host=host,
        exception=exception,
        status=status,
        evidence=info["evidence"],
        propagated=list(propagated),
        time=datetime.fromtimestamp(t, UTC).isoformat(),
        note=note.format(**info),
    )
    return rec, tracker


def _f_placement(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    return cloud.boot(t, ctx, fault="placement_conflict")


def _f_binding(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    target = cloud.computes[len(cloud.computes) // 2]
    return {**cloud.boot(t, ctx, fault="port_binding_failed", target=target), "target": target}


def _f_image(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    return cloud.image_not_found(t, ctx)


def _f_volume(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    return cloud.attach_volume(t, ctx, fault=True)


def _f_token(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    return cloud.expired_token(t, ctx)


def _f_rpc(cloud: Cloud, t: float, ctx: Ctx) -> dict[str, Any]:
    return cloud.rpc_timeout(t, ctx)


#: kind -> (scenario, root exception type, root HTTP status, propagated services, note)
_FAULTS: dict[str, tuple[Any, str | None, int | None, tuple[str, ...], str]] = {
    "placement_conflict": (
        _f_placement,
        None,
        409,
        ("nova-scheduler", "nova-conductor"),
        "placement refused the allocation (409); the scheduler found no host and the conductor set the "
        "instance to ERROR with NoValidHost",
    ),
    "port_binding_failed": (
        _f_binding,
        None,
        None,
        ("nova-compute",),
        "the openvswitch agent on {target} is dead, so ML2 cannot bind the port there; nova-compute fails "
        "the spawn with nova.exception.PortBindingFailed",
    ),
    "image_not_found": (
        _f_image,
        None,
        404,
        ("nova-api",),
        "the server create names an image glance does not have; nova-api answers 400",
    ),
    "volume_attach_timeout": (
        _f_volume,
        "cinder.exception.VolumeBackendAPIException",
        None,
        ("cinder-api", "nova-compute"),
        "the iSCSI target never became ready; cinder-volume (older release, no global id in its lines) is "
        "reached through cinder-api's own request id",
    ),
    "expired_token": (
        _f_token,
        "keystonemiddleware.auth_token._exceptions.InvalidToken",
        401,
        (),
        "keystone on {keystone} answered the validation under its own request id (no global id): only time "
        "links it",
    ),
    "rpc_timeout": (
        _f_rpc,
        "oslo_messaging.exceptions.MessagingTimeout",
        500,
        (),
        "nova-compute on {compute} never answered the RPC call",
    ),
}


def main(argv: list[str] | None = None) -> None:
    """``python -m kansoku.tracing.demo_gen OUT [--scale N] [--bytes N] [--seed N]``."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--scale", type=int, default=1)
    p.add_argument("--bytes", type=int, default=None)
    a = p.parse_args(argv)
    try:
        gt = generate(a.out, seed=a.seed, scale=a.scale, target_bytes=a.bytes)
    except KansokuError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"{gt.total_lines} lines, {gt.total_bytes} bytes, {len(gt.files)} files in {a.out}")


if __name__ == "__main__":
    main()
