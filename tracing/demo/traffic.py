"""The demo cloud's background traffic: the ordinary requests around the faults.

The mix is data (`BACKGROUND`); each scenario writes one whole request with the texts the
real services log (nova/placement requestlog, oslo.service wsgi, keystonemiddleware).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kansoku.tracing.demo.boot import boot
from kansoku.tracing.demo.catalog import S_COMPUTE, S_KS_REQ, S_NEUTRON_WSGI, S_NOVA_WSGI
from kansoku.tracing.demo.cloud import Cloud
from kansoku.tracing.demo.faults import attach_volume
from kansoku.tracing.demo.writer import Ctx


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of background request: chosen when the draw is below `upto` (and above the one before)."""

    name: str
    upto: float
    run: Callable[[Cloud, float], object]


def background_request(cloud: Cloud, t: float) -> None:
    """One request of the background mix (`BACKGROUND`), chosen by one draw."""
    r = cloud.rng.random()
    for scenario in BACKGROUND[:-1]:
        if r < scenario.upto:
            scenario.run(cloud, t)
            return
    BACKGROUND[-1].run(cloud, t)


def list_servers(cloud: Cloud, t: float) -> None:
    h = cloud.pick(cloud.controllers)
    ctx = cloud.ctx_user()
    if cloud.rng.random() < 0.3:
        cloud.token_check(t - 0.01)
    cloud.emit(
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
    dur = 0.05 + cloud.rng.random() * 0.3
    cloud.access(
        h,
        "nova-api",
        t + dur,
        ctx,
        "10.30.0.15",
        "GET",
        "/v2.1/servers/detail?limit=50",
        200,
        1200 + cloud.rng.randrange(30000),
        dur,
        "2.79",
    )


def show_server(cloud: Cloud, t: float) -> None:
    h = cloud.pick(cloud.controllers)
    ctx = cloud.ctx_user()
    sid, _ = cloud.servers[cloud.rng.randrange(len(cloud.servers))]
    dur = 0.02 + cloud.rng.random() * 0.1
    _ctx2, t2 = cloud.http(
        t + 0.01,
        (h, "nova-api"),
        ctx,
        "neutron-server",
        cloud.pick(cloud.controllers),
        "GET",
        f"/v2.0/ports?device_id={sid}&fields=binding%3Ahost_id&fields=binding%3Avif_type",
    )
    cloud.access(
        h,
        "nova-api",
        t2 + dur,
        ctx,
        "10.30.0.15",
        "GET",
        f"/v2.1/servers/{sid}",
        200,
        1800 + cloud.rng.randrange(900),
        t2 + dur - t,
        "2.79",
    )


def neutron_list(cloud: Cloud, t: float) -> None:
    h = cloud.pick(cloud.controllers)
    ctx = cloud.ctx_user()
    nets = cloud.networks[cloud.rng.randrange(len(cloud.networks))]
    dur = 0.01 + cloud.rng.random() * 0.2
    cloud.emit(
        h,
        "neutron-server",
        t,
        "DEBUG",
        "neutron.api.v2.base",
        ctx,
        "Request body: None",
        src=S_NEUTRON_WSGI,
    )
    cloud.access(
        h,
        "neutron-server",
        t + dur,
        ctx,
        "10.30.0.15",
        "GET",
        f"/v2.0/ports?network_id={nets}",
        200,
        500 + cloud.rng.randrange(20000),
        dur,
    )


def glance_list(cloud: Cloud, t: float) -> None:
    _api_get(cloud, t, "glance-api", lambda ctx: "/v2/images?limit=20", 0.01, 3000)


def cinder_list(cloud: Cloud, t: float) -> None:
    _api_get(cloud, t, "cinder-api", lambda ctx: f"/v3/{ctx.project}/volumes/detail", 0.02, 400)


def _api_get(
    cloud: Cloud, t: float, service: str, path: Callable[[Ctx], str], min_dur: float, min_len: int
) -> None:
    """A background GET that one access line tells about: a user listing things."""
    h = cloud.pick(cloud.controllers)
    ctx = cloud.ctx_user()
    dur = min_dur + cloud.rng.random() * 0.1
    cloud.access(
        h,
        service,
        t + dur,
        ctx,
        "10.30.0.15",
        "GET",
        path(ctx),
        200,
        min_len + cloud.rng.randrange(9000),
        dur,
    )


def token_issue(cloud: Cloud, t: float) -> None:
    h = cloud.pick(cloud.controllers)
    ctx = Ctx(cloud.req(), None, None, None)
    for k, v in (
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", "/identity"),
        ("PATH_INFO", "/v3/auth/tokens"),
    ):
        cloud.emit(
            h,
            "keystone",
            t,
            "DEBUG",
            "keystone.server.flask.request_processing.req_logging",
            ctx,
            f"{k}: `{v}`",
            src=S_KS_REQ,
        )
    if cloud.rng.random() < 0.04:
        # a wrong password: keystone answers 401 and says so (application.py's handler)
        cloud.emit(
            h,
            "keystone",
            t + 0.03,
            "WARNING",
            "keystone.server.flask.application",
            ctx,
            "Authorization failed. The request you have made requires authentication. from 10.30.0.15",
        )


def delete_server(cloud: Cloud, t: float) -> None:
    h = cloud.pick(cloud.controllers)
    ctx = cloud.ctx_user()
    sid, cmp = cloud.servers[cloud.rng.randrange(len(cloud.servers))]
    cloud.access(
        h, "nova-api", t + 0.08, ctx, "10.30.0.15", "DELETE", f"/v2.1/servers/{sid}", 204, 0, 0.08, "2.79"
    )
    t2 = t + 0.1
    cloud.emit(cmp, "nova-compute", t2, "INFO", "nova.compute.manager", ctx, "Terminating instance", inst=sid)
    cloud.emit(
        cmp,
        "nova-compute",
        t2 + 0.4,
        "INFO",
        "nova.virt.libvirt.driver",
        ctx,
        "Instance destroyed successfully.",
        inst=sid,
    )
    _, t3 = cloud.http(
        t2 + 0.5,
        (cmp, "nova-compute"),
        ctx,
        "neutron-server",
        cloud.pick(cloud.controllers),
        "DELETE",
        f"/v2.0/ports/{cloud.uuid()}",
        204,
        0,
    )
    cloud.emit(
        cmp,
        "nova-compute",
        t3 + 0.1,
        "INFO",
        "nova.compute.manager",
        ctx,
        f"Took {t3 + 0.1 - t2:.2f} seconds to destroy the instance on the hypervisor.",
        inst=sid,
    )
    cloud.http(
        t3 + 0.2,
        (cmp, "nova-compute"),
        ctx,
        "placement-api",
        cloud.pick(cloud.controllers),
        "DELETE",
        f"/allocations/{sid}",
        204,
        0,
        mv="1.36",
        logger="nova.scheduler.client.report",
    )


def console_output(cloud: Cloud, t: float) -> None:
    h = cloud.pick(cloud.controllers)
    ctx = cloud.ctx_user()
    sid, cmp = cloud.servers[cloud.rng.randrange(len(cloud.servers))]
    cloud.emit(
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
    cloud.access(
        h,
        "nova-api",
        t + 0.15,
        ctx,
        "10.30.0.15",
        "POST",
        f"/v2.1/servers/{sid}/action",
        200,
        4000 + cloud.rng.randrange(20000),
        0.15,
        "2.79",
    )


#: The background mix: cumulative shares of the traffic, in the order drawn.
BACKGROUND: tuple[Scenario, ...] = (
    Scenario("list_servers", 0.24, list_servers),
    Scenario("show_server", 0.38, show_server),
    Scenario("neutron_list", 0.48, neutron_list),
    Scenario("glance_list", 0.56, glance_list),
    Scenario("cinder_list", 0.64, cinder_list),
    Scenario("token_issue", 0.74, token_issue),
    Scenario("boot", 0.86, boot),
    Scenario("delete_server", 0.92, delete_server),
    Scenario("attach_volume", 0.97, attach_volume),
    Scenario("console_output", 1.0, console_output),
)
