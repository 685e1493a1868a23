"""The demo cloud's state and the calls every scenario makes (ids, contexts, access lines, HTTP).

Id propagation as real OpenStack: every service makes its own ``req-`` id per incoming
request; the incoming ``X-OpenStack-Request-ID`` becomes its global id; nova calls
placement/neutron/glance/cinder with ``context.global_id`` and logs the callee's returned id
("... used request id req-...").
"""

from __future__ import annotations

import random
from pathlib import Path

from kansoku.tracing.demo.catalog import (
    COMPUTE_SERVICES,
    CONTROLLER_SERVICES,
    NETWORK_SERVICES,
    PORTS,
    S_KS_REQ,
    S_KSA,
    S_NEUTRON_WSGI,
    S_NOVA_REQLOG,
    S_NOVA_WSGI,
    S_PLACEMENT_REQLOG,
    STORAGE_SERVICES,
    WSGI_LOGGER,
)
from kansoku.tracing.demo.truth import Tracker
from kansoku.tracing.demo.writer import Ctx, LogFile, OsloLogWriter


class Cloud(OsloLogWriter):
    """The simulated cloud: hosts, users, images, servers and volumes, ids and HTTP calls.

    Scenarios (`traffic`, `boot`, `spawn`, `faults`, `periodic`, `chains`) are functions of a
    Cloud: they draw from its one random stream in a fixed order, so a seed gives the same bytes.
    """

    def __init__(
        self,
        out_dir: Path,
        seed: int,
        scale: int,
        json_services: frozenset[str],
        legacy_services: frozenset[str],
        start: float,
    ) -> None:
        super().__init__(start)
        self.rng = random.Random(seed)
        self.out_dir = out_dir
        self.scale = scale
        self.controllers = ["ctl-1", "ctl-2", "ctl-3"]
        self.computes = [f"cmp-{i}" for i in range(1, 4 * scale + 1)]
        self.network = ["net-1"]
        self.storage = ["stor-1"]
        self.hosts: dict[str, list[str]] = {}
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
        self.ovs_iter: dict[str, int] = {}

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
            self.emit(host, service, ts, "INFO", WSGI_LOGGER[service], ctx, msg, src=S_NEUTRON_WSGI)

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

    def nova_action(
        self, api: str, t: float, ctx: Ctx, what: tuple[str, str, str], body: str, at: str = "0x7f3a2c1b9d50"
    ) -> None:
        """nova-api's wsgi DEBUG line naming the controller method a request reached and its body;
        `what` is (action, bound method, controller as printed), `at` the controller's address."""
        self.emit(
            api,
            "nova-api",
            t,
            "DEBUG",
            "nova.api.openstack.wsgi",
            ctx,
            f"Action: '{what[0]}', calling method: <bound method {what[1]} of <{what[2]} object at "
            f"{at}>>, body: {body}",
            src=S_NOVA_WSGI,
        )

    def pick(self, hosts: list[str]) -> str:
        return hosts[self.rng.randrange(len(hosts))]
