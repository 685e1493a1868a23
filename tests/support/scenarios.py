"""Realistic multi-service OpenStack requests, written as real oslo.log text and parsed back.

Each scenario writes `<root>/<host>/<service>.log` files in oslo.log's default
`logging_context_format_string` (`[global_id local_id user project domain system_scope
user_domain project_domain]`, `None` when no caller id, exception-prefixed tracebacks), with
the call pattern real OpenStack has: nova-api's request id carried over RPC to conductor,
scheduler and compute; callers' ids as `global_request_id` in placement/neutron/glance/cinder;
keystoneauth's "GET call to placement for ... used request id req-..." lines on the caller.
The tracing tests import these scenarios; tests/test_scenario_logs.py checks that the text is
really parsed as oslo.log (no parse problems) so the scenarios cannot drift from the format.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kansoku.tracing.demo.writer import text_record
from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.model import LogLine, ParseProblem

T0 = 1795430000.0  # 2026-11-23 09:53:20 UTC
USER = "6f3b2d1c8a7e4b5f9c0d1e2f3a4b5c6d 9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d - - default default"


def rid() -> str:
    return f"req-{uuid.uuid4()}"


def fmt_ts(t: float) -> str:
    whole = int(t)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1000):03d}"


class MemorySource:
    """A LogSource over parsed lines, keyed like the on-disk index (request ids and instances)."""

    def __init__(self, lines: Iterable[LogLine]) -> None:
        self.by_id: dict[str, list[LogLine]] = defaultdict(list)
        self.files: set[str] = set()
        for line in lines:
            self.files.add(line.file)
            keys = {line.local_id, line.global_id, line.instance, *line.extra_ids}
            for key in keys:
                if key:
                    self.by_id[key].append(line)

    def lines_for(self, ids: Iterable[str]) -> Iterator[LogLine]:
        seen: set[int] = set()
        for key in ids:
            for line in self.by_id.get(key, ()):
                if id(line) not in seen:
                    seen.add(id(line))
                    yield line

    def describe(self) -> str:
        return f"{len(self.files)} files (in memory)"


@dataclass
class Cloud:
    """Writes log lines per host/service file, in time order per file, and parses them back."""

    root: Path
    skew: dict[str, float] = field(default_factory=dict)  # host -> seconds its clock is off
    pids: dict[str, int] = field(default_factory=dict)
    _lines: dict[Path, list[str]] = field(default_factory=lambda: defaultdict(list))

    def path(self, host: str, service: str) -> Path:
        return self.root / host / f"{service}.log"

    def log(
        self,
        host: str,
        service: str,
        t: float,
        level: str,
        logger: str,
        msg: str,
        *,
        req: str | None = None,
        gid: str | None = None,
        instance: str | None = None,
        tb: list[str] | None = None,
    ) -> str:
        """One record; returns its `file:line` so tests can assert on link evidence."""
        path = self.path(host, service)
        pid = self.pids.setdefault(f"{host}/{service}", 1000 + 37 * len(self.pids))
        stamp = fmt_ts(T0 + t + self.skew.get(host, 0.0))
        ctx = f"{gid or 'None'} {req} {USER}" if req else "-"
        # the demo cloud's writer: one formatter of oslo.log text records for both
        text = text_record(stamp, pid, level, logger, ctx, instance, msg, tb[-1] if tb else None, tb=tb)
        lines = self._lines[path]
        line_no = len(lines) + 1
        lines.extend(text.split("\n"))
        return f"{path}:{line_no}"

    def access(
        self,
        host: str,
        service: str,
        t: float,
        method: str,
        url: str,
        status: int,
        *,
        req: str,
        gid: str | None = None,
        duration: float = 0.05,
        logger: str = "",
    ) -> str:
        logger = logger or {
            "nova-api": "nova.osapi_compute.wsgi.server",
            "placement-api": "placement.requestlog",
            "neutron-server": "neutron.wsgi",
            "glance-api": "eventlet.wsgi.server",
            "cinder-api": "cinder.api.openstack.wsgi",
        }.get(service, f"{service.split('-')[0]}.wsgi")
        line = f'10.0.0.5 "{method} {url} HTTP/1.1" status: {status}  len: 512 time: {duration:.6f}'
        return self.log(host, service, t, "INFO", logger, line, req=req, gid=gid)

    def write(self) -> None:
        for path, lines in self._lines.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")

    def parse(self) -> tuple[list[LogLine], list[ParseProblem]]:
        self.write()
        lines: list[LogLine] = []
        problems: list[ParseProblem] = []
        for path in sorted(self._lines):
            with path.open("rb") as fh:
                for item in iter_records(fh, str(path), path.stem, path.parent.name):
                    if isinstance(item, ParseProblem):
                        problems.append(item)
                    else:
                        lines.append(item)
        return lines, problems

    def source(self) -> MemorySource:
        lines, problems = self.parse()
        assert not problems, problems
        return MemorySource(lines)


def traceback(frames: list[tuple[str, int, str, str]], final: str) -> list[str]:
    out = ["Traceback (most recent call last):"]
    for path, lineno, func, code in frames:
        out.append(f'  File "/usr/lib/python3/dist-packages/{path}", line {lineno}, in {func}')
        out.append(f"    {code}")
    out.append(final)
    return out


@dataclass
class Scenario:
    """A written request and what a correct trace and verdict must say about it."""

    cloud: Cloud
    ids: dict[str, str]
    where: dict[str, str]  # name -> file:line of notable records
    instance: str = ""


# -- the building blocks of a server boot ------------------------------------------------------


def api_create(c: Cloud, a: str, t: float = 0.0) -> str:
    """nova-api's wsgi DEBUG line for `POST /servers` under request id `a`; returns where it is."""
    return c.log(
        "ctl-1", "nova-api", t, "DEBUG", "nova.api.openstack.wsgi", "Action: 'create', calling method", req=a
    )


def api_boot(c: Cloud, a: str, inst: str, t: float) -> None:
    """nova-api accepting a server create: the wsgi line, then `Creating server` for `inst`."""
    api_create(c, a, t)
    c.log("ctl-1", "nova-api", t + 0.02, "INFO", "nova.compute.api", "Creating server", req=a, instance=inst)


def _placement_call(
    c: Cloud,
    caller_host: str,
    caller: str,
    a: str,
    t: float,
    method: str,
    url: str,
    status: int,
    gid: str | None,
) -> tuple[str, str, str]:
    """A placement call as keystoneauth logs it on the caller and placement logs it on ctl-2."""
    p = rid()
    where = c.access(
        "ctl-2", "placement-api", t + 0.01, method, url, status, req=p, gid=gid or a, duration=0.02
    )
    evidence = c.log(
        caller_host,
        caller,
        t + 0.04,
        "DEBUG",
        "keystoneauth.session",
        f"{method} call to placement for http://ctl-2:8778{url} used request id {p}",
        req=a,
        gid=gid,
    )
    return p, where, evidence


def boot_novalidhost(c: Cloud) -> Scenario:
    """Placement 409 on the allocation claim -> scheduler NoValidHost -> conductor -> nova-api 500."""
    a, inst = rid(), str(uuid.uuid4())
    where: dict[str, str] = {}
    where["api_first"] = c.access("ctl-1", "nova-api", 0.0, "GET", "/v2.1/flavors/m1.small", 200, req=a)
    api_boot(c, a, inst, 0.1)
    where["conductor_first"] = c.log(
        "ctl-1", "nova-conductor", 0.2, "DEBUG", "nova.conductor.manager", "Scheduling instance build", req=a
    )
    where["scheduler_first"] = c.log(
        "ctl-1",
        "nova-scheduler",
        0.25,
        "DEBUG",
        "nova.scheduler.manager",
        f"Starting to schedule for instances: ['{inst}']",
        req=a,
    )
    p1, _, ev1 = _placement_call(
        c,
        "ctl-1",
        "nova-scheduler",
        a,
        0.3,
        "GET",
        "/allocation_candidates?limit=1000&resources=VCPU%3A1",
        200,
        None,
    )
    c.log(
        "ctl-1",
        "nova-scheduler",
        0.4,
        "DEBUG",
        "nova.scheduler.manager",
        f"Attempting to claim resources in the placement API for instance {inst}",
        req=a,
    )
    p2, where["placement_409"], where["callee_evidence"] = _placement_call(
        c, "ctl-1", "nova-scheduler", a, 0.45, "PUT", f"/allocations/{inst}", 409, None
    )
    where["scheduler_warning"] = c.log(
        "ctl-1",
        "nova-scheduler",
        0.5,
        "WARNING",
        "nova.scheduler.client.report",
        f'Unable to submit allocation for instance {inst} (409 {{"errors": [{{"status": 409, "title": "Conflict", '
        '"detail": "There was a conflict when trying to complete your request.  Unable to allocate inventory: '
        "Unable to create allocation for 'VCPU' on resource provider 'cmp-1'. The requested amount would exceed "
        'the capacity.", "code": "placement.undefined_code"}]})',
        req=a,
    )
    where["conductor_error"] = c.log(
        "ctl-1",
        "nova-conductor",
        0.6,
        "ERROR",
        "nova.conductor.manager",
        "Failed to schedule instances",
        req=a,
        tb=traceback(
            [
                (
                    "nova/conductor/manager.py",
                    1654,
                    "schedule_and_build_instances",
                    "host_lists = self._schedule_instances(",
                ),
                (
                    "nova/scheduler/client/query.py",
                    41,
                    "select_destinations",
                    "return self.scheduler_rpcapi.select_destinations(",
                ),
                (
                    "nova/scheduler/rpcapi.py",
                    160,
                    "select_destinations",
                    "return cctxt.call(ctxt, 'select_destinations', **msg_args)",
                ),
                ("oslo_messaging/rpc/client.py", 190, "call", "result = self.transport._send("),
            ],
            "nova.exception_Remote.NoValidHost_Remote: No valid host was found. There are not enough hosts available.",
        ),
    )
    c.log(
        "ctl-1",
        "nova-conductor",
        0.62,
        "WARNING",
        "nova.scheduler.utils",
        "Setting instance to ERROR state.",
        req=a,
        instance=inst,
    )
    where["api_500"] = c.access("ctl-1", "nova-api", 0.7, "POST", "/v2.1/servers", 500, req=a, duration=0.6)
    return Scenario(c, {"api": a, "p1": p1, "p2": p2}, where | {"ev1": ev1}, inst)


def boot_port_binding_failed(c: Cloud) -> Scenario:
    """Boot lands on cmp-2 whose OVS agent is gone: neutron cannot bind, compute raises."""
    a, inst, port = rid(), str(uuid.uuid4()), str(uuid.uuid4())
    where: dict[str, str] = {}
    api_boot(c, a, inst, 0.0)
    where["api_202"] = c.access("ctl-1", "nova-api", 0.2, "POST", "/v2.1/servers", 202, req=a, duration=0.2)
    c.log(
        "ctl-1", "nova-conductor", 0.3, "DEBUG", "nova.conductor.manager", "Scheduling instance build", req=a
    )
    c.log(
        "ctl-1",
        "nova-scheduler",
        0.35,
        "DEBUG",
        "nova.scheduler.manager",
        f"Starting to schedule for instances: ['{inst}']",
        req=a,
    )
    _placement_call(c, "ctl-1", "nova-scheduler", a, 0.4, "PUT", f"/allocations/{inst}", 204, None)
    c.log(
        "ctl-1",
        "nova-conductor",
        0.6,
        "INFO",
        "nova.conductor.manager",
        "Casting build_and_run_instance to cmp-2",
        req=a,
    )
    where["compute_first"] = c.log(
        "cmp-2",
        "nova-compute",
        0.8,
        "INFO",
        "nova.compute.claims",
        "Claim successful on node cmp-2",
        req=a,
        instance=inst,
    )
    n = rid()
    where["neutron_error"] = c.log(
        "ctl-1",
        "neutron-server",
        1.0,
        "ERROR",
        "neutron.plugins.ml2.managers",
        f"Failed to bind port {port} on host cmp-2 for vnic_type normal using segments "
        "[{'id': 'f2a0c8b4-1b1a-4a4e-9c8e-3f5d2b7a6c1e', 'network_type': 'vxlan', 'physical_network': None, "
        "'segmentation_id': 1042, 'network_id': '0d6c5e9a-2b44-4a51-8d7e-1f3c9b2a4e6d'}]",
        req=n,
        gid=a,
    )
    c.access("ctl-1", "neutron-server", 1.05, "PUT", f"/v2.0/ports/{port}", 200, req=n, gid=a, duration=0.3)
    c.log(
        "cmp-2",
        "nova-compute",
        1.1,
        "DEBUG",
        "keystoneauth.session",
        f"PUT call to network for http://ctl-1:9696/v2.0/ports/{port} used request id {n}",
        req=a,
    )
    where["compute_error"] = c.log(
        "cmp-2",
        "nova-compute",
        1.2,
        "ERROR",
        "nova.compute.manager",
        "Instance failed to spawn",
        req=a,
        instance=inst,
        tb=traceback(
            [
                ("nova/compute/manager.py", 2743, "_build_resources", "yield resources"),
                (
                    "nova/network/neutron.py",
                    1512,
                    "_update_port_binding",
                    "raise exception.PortBindingFailed(port_id=port_id)",
                ),
            ],
            f"nova.exception.PortBindingFailed: Binding failed for port {port}, please check neutron logs for more information.",
        ),
    )
    # The healthy compute host serves other requests at the same time.
    other = rid()
    c.log(
        "cmp-1",
        "nova-compute",
        0.9,
        "INFO",
        "nova.compute.manager",
        "Took 4.21 seconds to spawn the instance on the hypervisor.",
        req=other,
        instance=str(uuid.uuid4()),
    )
    return Scenario(c, {"api": a, "neutron": n, "other": other}, where, inst)


def api_messaging_timeout(c: Cloud, callee_alive: bool = False) -> Scenario:
    """nova-api calls nova-compute over RPC; the callee is dead (no lines) or stuck (lines, no reply)."""
    a, inst = rid(), str(uuid.uuid4())
    where: dict[str, str] = {}
    api_create(c, a)
    if callee_alive:
        where["callee_last"] = c.log(
            "cmp-3",
            "nova-compute",
            0.5,
            "WARNING",
            "nova.virt.libvirt.driver",
            "Waiting for libvirt to release the domain lock",
            req=a,
            instance=inst,
        )
    where["api_timeout"] = c.log(
        "ctl-1",
        "nova-api",
        60.1,
        "ERROR",
        "nova.api.openstack.wsgi",
        "Unexpected exception in API method",
        req=a,
        instance=inst,
        tb=traceback(
            [
                (
                    "nova/api/openstack/compute/volumes.py",
                    336,
                    "create",
                    "device = self.compute_api.attach_volume(",
                ),
                (
                    "nova/compute/rpcapi.py",
                    1057,
                    "reserve_block_device_name",
                    "return cctxt.call(ctxt, 'reserve_block_device_name', **kw)",
                ),
                (
                    "oslo_messaging/_drivers/amqpdriver.py",
                    425,
                    "get",
                    "raise oslo_messaging.MessagingTimeout(",
                ),
            ],
            "oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply to message ID 3b9c1f0a7e2d4c6b8a5f1e0d9c8b7a6f",
        ),
    )
    where["api_500"] = c.access(
        "ctl-1",
        "nova-api",
        60.2,
        "POST",
        f"/v2.1/servers/{inst}/os-volume_attachments",
        500,
        req=a,
        duration=60.2,
    )
    return Scenario(c, {"api": a}, where, inst)


def token_expired(c: Cloud) -> Scenario:
    """An expired token: keystonemiddleware rejects it, nova-api answers 401; nothing else logs the id."""
    a = rid()
    where = {
        "api_401": c.access(
            "ctl-1", "nova-api", 0.0, "GET", "/v2.1/servers/detail", 401, req=a, duration=0.01
        )
    }
    return Scenario(c, {"api": a}, where)


def image_not_found(c: Cloud) -> Scenario:
    """Boot from an image that is gone: glance 404 -> nova-api 400."""
    a, g, image = rid(), rid(), str(uuid.uuid4())
    where: dict[str, str] = {}
    api_create(c, a)
    where["glance_404"] = c.access(
        "ctl-1", "glance-api", 0.05, "GET", f"/v2/images/{image}", 404, req=g, gid=a, duration=0.01
    )
    c.log(
        "ctl-1",
        "nova-api",
        0.1,
        "DEBUG",
        "keystoneauth.session",
        f"GET call to image for http://ctl-1:9292/v2/images/{image} used request id {g}",
        req=a,
    )
    c.log(
        "ctl-1",
        "nova-api",
        0.11,
        "INFO",
        "nova.api.openstack.wsgi",
        f"HTTP exception thrown: Image {image} could not be found.",
        req=a,
    )
    where["api_400"] = c.access("ctl-1", "nova-api", 0.12, "POST", "/v2.1/servers", 400, req=a, duration=0.12)
    return Scenario(c, {"api": a, "glance": g}, where)


def volume_attach_timeout(c: Cloud) -> Scenario:
    """nova-compute -> cinder-api (attachment update) -> cinder-volume stuck on iSCSI -> timeout."""
    a, cv, inst, vol = rid(), rid(), str(uuid.uuid4()), str(uuid.uuid4())
    where: dict[str, str] = {}
    c.access(
        "ctl-1",
        "nova-api",
        0.0,
        "POST",
        f"/v2.1/servers/{inst}/os-volume_attachments",
        200,
        req=a,
        duration=0.4,
    )
    c.log(
        "cmp-1",
        "nova-compute",
        0.5,
        "INFO",
        "nova.compute.manager",
        f"Attaching volume {vol} to /dev/vdb",
        req=a,
        instance=inst,
    )
    c.log(
        "ctl-3",
        "cinder-api",
        0.6,
        "INFO",
        "cinder.api.v3.attachments",
        f"Updating attachment for volume {vol}",
        req=cv,
        gid=a,
    )
    where["volume_last"] = c.log(
        "stor-1",
        "cinder-volume",
        0.7,
        "WARNING",
        "os_brick.initiator.connectors.iscsi",
        "Timed out waiting for iSCSI target iqn.2010-10.org.openstack:volume-"
        + vol
        + " to appear; retrying (3/3)",
        req=cv,
        gid=a,
    )
    where["cinder_timeout"] = c.log(
        "ctl-3",
        "cinder-api",
        60.6,
        "ERROR",
        "cinder.api.v3.attachments",
        "Unable to update the attachment.",
        req=cv,
        gid=a,
        tb=traceback(
            [
                (
                    "cinder/volume/api.py",
                    2366,
                    "attachment_update",
                    "self.volume_rpcapi.attachment_update(ctxt,",
                ),
                ("cinder/volume/rpcapi.py", 444, "attachment_update", "return cctxt.call(ctxt,"),
            ],
            "oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply to message ID 9f1e2d3c4b5a69788796a5b4c3d2e1f0",
        ),
    )
    where["cinder_500"] = c.access(
        "ctl-3",
        "cinder-api",
        60.65,
        "PUT",
        f"/v3/6f3b2d1c/attachments/{vol}",
        500,
        req=cv,
        gid=a,
        duration=60.0,
    )
    where["compute_error"] = c.log(
        "cmp-1",
        "nova-compute",
        60.7,
        "ERROR",
        "nova.virt.block_device",
        f"Driver failed to attach volume {vol} at /dev/vdb",
        req=a,
        instance=inst,
        tb=traceback(
            [("nova/volume/cinder.py", 924, "attachment_update", "raise exception.VolumeAttachFailed(")],
            "cinderclient.exceptions.ClientException: The server has either erred or is incapable of performing the requested operation. (HTTP 500)",
        ),
    )
    return Scenario(c, {"api": a, "cinder": cv}, where, inst)


ALL = {
    "novalidhost": boot_novalidhost,
    "port_binding": boot_port_binding_failed,
    "messaging_timeout": api_messaging_timeout,
    "token_expired": token_expired,
    "image_not_found": image_not_found,
    "volume_attach_timeout": volume_attach_timeout,
}
