"""Causal chains across requests, on oslo.log text indexed by the real on-disk index.

The user reports the request they saw fail (a reboot refused with 409, an attach refused
with 400); the fault is in an earlier request on the same resource (a build that broke in
nova-compute, a volume create that broke in cinder-volume). The two share only the
resource's UUID. These scenarios are written as real oslo.log lines (the format of
tests/support/scenarios.py) with upstream message texts.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import jsonschema
import pytest

from kansoku.tracing.chain import follow_chain, prefer_first_failure
from kansoku.tracing.index import build_index
from kansoku.tracing.isolate import isolate
from kansoku.tracing.model import LinkKind, Strength
from kansoku.tracing.resources import refusal, resource_refs
from kansoku.tracing.sources.index import IndexSource
from kansoku.tracing.stitch import build_trace
from kansoku.tracing.trace_cmd import trace_main
from tests.support.scenarios import Cloud, Scenario, api_boot, rid, traceback
from tests.test_render import SCHEMA

NOVA_TB = [
    ("nova/compute/manager.py", 2640, "_build_and_run_instance", "self.driver.spawn(context, instance,"),
    ("nova/virt/block_device.py", 412, "attach", "connector = bdm.connection_info.get('connector')"),
]


def _index(c: Cloud, tmp: Path) -> IndexSource:
    c.write()
    build_index([c.root / h for h in ("ctl-1", "cmp-3", "stor-1") if (c.root / h).is_dir()], tmp / "store")
    return IndexSource(tmp / "store")


def build_fails_in_compute(c: Cloud, t: float = 0.0) -> Scenario:
    """POST /servers 202; nova-compute on cmp-3 crashes in _build_and_run_instance; instance ERROR."""
    a, inst = rid(), str(uuid.uuid4())
    where: dict[str, str] = {}
    api_boot(c, a, inst, t)
    c.access("ctl-1", "nova-api", t + 0.2, "POST", "/v2.1/servers", 202, req=a, duration=0.2)
    c.log("ctl-1", "nova-conductor", t + 0.3, "DEBUG", "nova.conductor.manager", "Scheduling", req=a)
    c.log(
        "cmp-3", "nova-compute", t + 0.5, "INFO", "nova.compute.claims", "Claim successful on node cmp-3",
        req=a, instance=inst,
    )  # fmt: skip
    where["crash"] = c.log(
        "cmp-3",
        "nova-compute",
        t + 0.9,
        "ERROR",
        "nova.compute.manager",
        "Instance failed to spawn",
        req=a,
        instance=inst,
        tb=traceback(NOVA_TB, "AttributeError: 'NoneType' object has no attribute 'get'"),
    )
    where["error_state"] = c.log(
        "cmp-3",
        "nova-compute",
        t + 1.0,
        "ERROR",
        "nova.compute.manager",
        f"Build of instance {inst} aborted: 'NoneType' object has no attribute 'get'",
        req=a,
        instance=inst,
    )
    return Scenario(c, {"build": a}, where, inst)


def reboot_refused(c: Cloud, inst: str, t: float) -> Scenario:
    """POST /servers/I/action reboot on an ERROR instance: nova-api 409 (InstanceInvalidState)."""
    r = rid()
    where: dict[str, str] = {}
    c.log(
        "ctl-1", "nova-api", t, "DEBUG", "nova.api.openstack.wsgi", "Action: 'action', calling method", req=r
    )
    where["refusal"] = c.log(
        "ctl-1",
        "nova-api",
        t + 0.03,
        "INFO",
        "nova.api.openstack.wsgi",
        f"HTTP exception thrown: Cannot 'reboot' instance {inst} while it is in vm_state error",
        req=r,
    )
    where["409"] = c.access(
        "ctl-1", "nova-api", t + 0.04, "POST", f"/v2.1/servers/{inst}/action", 409, req=r, duration=0.04
    )
    return Scenario(c, {"reboot": r}, where, inst)


def volume_create_fails(c: Cloud, vol: str, t: float = 0.0) -> Scenario:
    """cinder-api 202, cinder-volume on stor-1 fails the create: the volume is left in `error`."""
    v = rid()
    where: dict[str, str] = {}
    c.access("ctl-1", "cinder-api", t + 0.1, "POST", "/v3/p1/volumes", 202, req=v, duration=0.1)
    c.log(
        "ctl-1",
        "cinder-api",
        t + 0.09,
        "INFO",
        "cinder.volume.api",
        "Create volume request issued successfully.",
        req=v,
    )
    where["crash"] = c.log(
        "stor-1",
        "cinder-volume",
        t + 0.6,
        "ERROR",
        "cinder.volume.manager",
        f"Volume {vol}: create failed",
        req=v,
        tb=traceback(
            [("cinder/volume/drivers/lvm.py", 472, "create_volume", "self.vg.create_volume(")],
            "oslo_concurrency.processutils.ProcessExecutionError: Unexpected error while running command.",
        ),
    )
    return Scenario(c, {"create": v}, where)


def attach_refused(c: Cloud, inst: str, vol: str, t: float) -> Scenario:
    """nova-api -> cinder-api attachment create: 400 Invalid volume (status error) -> nova-api 400."""
    a, cv = rid(), rid()
    where: dict[str, str] = {}
    c.log(
        "ctl-1", "nova-api", t, "DEBUG", "nova.api.openstack.wsgi",
        f"Action: 'create', calling method, body: {{\"volumeAttachment\": {{\"volumeId\": \"{vol}\"}}}}", req=a,
    )  # fmt: skip
    where["cinder_refusal"] = c.log(
        "ctl-1",
        "cinder-api",
        t + 0.05,
        "INFO",
        "cinder.api.openstack.wsgi",
        "HTTP exception thrown: Invalid volume: Volume status must be available to reserve, but the status is error.",
        req=cv,
        gid=a,
    )
    c.access("ctl-1", "cinder-api", t + 0.06, "POST", "/v3/p1/attachments", 400, req=cv, gid=a, duration=0.01)
    c.log(
        "ctl-1", "nova-api", t + 0.07, "DEBUG", "keystoneauth.session",
        f"POST call to volumev3 for http://ctl-1:8776/v3/p1/attachments used request id {cv}", req=a,
    )  # fmt: skip
    where["api_400"] = c.access(
        "ctl-1", "nova-api", t + 0.08, "POST", f"/v2.1/servers/{inst}/os-volume_attachments", 400, req=a
    )
    return Scenario(c, {"attach": a, "cinder": cv}, where, inst)


def test_refusal_texts_name_the_resource_and_state(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    inst, vol = str(uuid.uuid4()), str(uuid.uuid4())
    reboot_refused(c, inst, 0.0)
    attach_refused(c, inst, vol, 1.0)
    lines, _ = c.parse()
    found = [r for r in (refusal(ln) for ln in lines) if r is not None]
    assert sorted((r.kind, r.resource.uuid if r.resource else None, r.state) for r in found) == [
        ("instance", inst, "vm_state error"),
        ("volume", None, "status error"),
    ]
    access = next(ln for ln in lines if ln.access is not None and "os-volume_attachments" in ln.access.path)
    assert [(r.kind, r.uuid) for r in resource_refs(access)] == [("instance", inst)]
    body = next(ln for ln in lines if "volumeAttachment" in ln.message)
    assert ("volume", vol) in [(r.kind, r.uuid) for r in resource_refs(body)]


def test_reboot_refused_is_traced_to_the_build_that_broke_the_instance(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    build = build_fails_in_compute(c)
    # unrelated traffic on another instance in between
    other = build_fails_in_compute(c, 5.0)
    reboot = reboot_refused(c, build.instance, 60.0)
    source = _index(c, tmp_path)
    trace = build_trace(source, reboot.ids["reboot"])
    alone = isolate(trace)
    assert alone.root_cause is not None and alone.root_cause.status == 409  # what kansoku said before
    chained_trace, v = follow_chain(source, trace, alone)
    assert v.root_cause is not None and v.chain is not None
    assert (v.root_cause.span.service, v.root_cause.span.host) == ("nova-compute", "cmp-3")
    assert v.root_cause.exception == "AttributeError"
    assert v.root_cause.line.location == build.where["crash"]
    assert v.chain.earlier_id == build.ids["build"] != other.ids["build"]
    assert v.chain.resource.kind == "instance" and v.chain.resource.uuid == build.instance
    assert v.chain.state == "vm_state error" and v.chain.trigger == "refused"
    assert v.chain.refusal is not None and v.chain.refusal.status == 409
    link = v.chain.link
    assert link.kind is LinkKind.RESOURCE and link.strength is Strength.STRONG
    assert link.evidence == reboot.where["refusal"]
    assert link in chained_trace.links
    assert build.where["crash"] in v.chain.history
    assert v.explanation.startswith("root cause: nova-compute on cmp-3 — AttributeError: 'NoneType'")
    assert f"(earlier request {build.ids['build']} at " in v.explanation
    assert (
        f"left instance {build.instance} in vm_state error); this request {reboot.ids['reboot']} was refused: 409"
        in (v.explanation)
    )
    assert "ctl-1/nova-api.log:" in v.explanation
    # both requests' spans are in the trace, the earlier one first
    services = [(s.service, s.request_id) for s in chained_trace.spans]
    assert ("nova-compute", build.ids["build"]) in services and ("nova-api", reboot.ids["reboot"]) in services
    assert [p.status for p in v.propagated if p.span.request_id == reboot.ids["reboot"]] == [409]


def test_attach_refused_on_a_volume_left_in_error(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    vol = str(uuid.uuid4())
    inst = str(uuid.uuid4())
    create = volume_create_fails(c, vol)
    attach = attach_refused(c, inst, vol, 30.0)
    source = _index(c, tmp_path)
    trace = build_trace(source, attach.ids["attach"])
    _, v = follow_chain(source, trace, isolate(trace))
    assert v.chain is not None and v.root_cause is not None
    assert (v.root_cause.span.service, v.root_cause.span.host) == ("cinder-volume", "stor-1")
    assert v.root_cause.line.location == create.where["crash"]
    assert v.chain.resource.uuid == vol and v.chain.state == "status error"
    assert v.chain.earlier_id == create.ids["create"]
    assert v.chain.link.evidence == attach.where["cinder_refusal"]
    # the refusal named no UUID: the volume came from the request's own lines, a weaker link
    assert v.chain.link.strength is Strength.WEAK


def test_refusal_without_an_earlier_failure_keeps_the_verdict(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    inst = str(uuid.uuid4())
    c.log("ctl-1", "nova-api", 0.0, "INFO", "nova.compute.api", "Creating server", req=rid(), instance=inst)
    reboot = reboot_refused(c, inst, 10.0)
    source = _index(c, tmp_path)
    trace = build_trace(source, reboot.ids["reboot"])
    alone = isolate(trace)
    same_trace, v = follow_chain(source, trace, alone)
    assert v is alone and same_trace is trace and v.chain is None


def test_a_later_refusal_walks_back_past_earlier_refusals(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    build = build_fails_in_compute(c)
    reboot_refused(c, build.instance, 30.0)
    second = reboot_refused(c, build.instance, 60.0)
    source = _index(c, tmp_path)
    trace = build_trace(source, second.ids["reboot"])
    _, v = follow_chain(source, trace, isolate(trace))
    assert v.chain is not None and v.chain.earlier_id == build.ids["build"]


def test_novalidhost_after_a_compute_failure_in_the_same_request(tmp_path: Path) -> None:
    """A build fails on cmp-3, is rescheduled, and no host is left: nova-compute broke it."""
    c = Cloud(tmp_path)
    sc = build_fails_in_compute(c)
    a, inst = sc.ids["build"], sc.instance
    nvh = "No valid host was found. There are not enough hosts available."
    c.log(
        "ctl-1", "nova-scheduler", 1.5, "DEBUG", "nova.scheduler.manager",
        f"Starting to schedule for instances: ['{inst}']", req=a,
    )  # fmt: skip
    c.log(
        "ctl-1",
        "nova-conductor",
        1.6,
        "ERROR",
        "nova.conductor.manager",
        "Failed to schedule instances",
        req=a,
        tb=traceback(
            [("nova/scheduler/rpcapi.py", 160, "select_destinations", "return cctxt.call(")],
            f"nova.exception_Remote.NoValidHost_Remote: {nvh}",
        ),
    )
    c.log(
        "ctl-1", "nova-conductor", 1.61, "WARNING", "nova.scheduler.utils", "Setting instance to ERROR state.",
        req=a, instance=inst,
    )  # fmt: skip
    source = _index(c, tmp_path)
    trace = build_trace(source, a)
    v = prefer_first_failure(trace, isolate(trace))
    assert v.root_cause is not None
    assert v.root_cause.span.service == "nova-compute"
    assert v.root_cause.line.location == sc.where["crash"]
    assert v.explanation.startswith("root cause: nova-compute on cmp-3 — AttributeError")
    assert any("NoValidHost" in (p.exception or "") for p in v.propagated)


def test_trace_json_carries_the_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`kansoku trace ID --json` from the refused reboot: the chain, the resource link, both requests."""
    c = Cloud(tmp_path)
    build = build_fails_in_compute(c)
    reboot = reboot_refused(c, build.instance, 60.0)
    _index(c, tmp_path)
    assert trace_main([reboot.ids["reboot"], "--json", "--store", str(tmp_path / "store")]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)
    chain = doc["verdict"]["chain"]
    assert chain["earlier_request_id"] == build.ids["build"]
    assert chain["reported_request_id"] == reboot.ids["reboot"]
    assert chain["resource"] == {"kind": "instance", "uuid": build.instance}
    assert chain["state"] == "vm_state error" and chain["trigger"] == "refused"
    assert chain["refusal"]["status"] == 409
    assert chain["breaker"]["location"] == build.where["crash"]
    assert doc["lines"][chain["breaker"]["line"]]["exception"] == "AttributeError"
    assert chain["link"]["kind"] == "resource" and chain["link"]["evidence"] == reboot.where["refusal"]
    assert chain["link"] in doc["links"]
    rc = doc["verdict"]["root_cause"]
    assert (rc["service"], rc["host"], rc["request_id"]) == ("nova-compute", "cmp-3", build.ids["build"])
    assert {s["request_id"] for s in doc["spans"]} >= {build.ids["build"], reboot.ids["reboot"]}


def test_the_writer_of_the_data_it_crashed_on_is_a_suspect(tmp_path: Path) -> None:
    """nova-compute crashed in nova/virt/block_device.py: nova-api wrote the block-device mapping."""
    c = Cloud(tmp_path)
    build = build_fails_in_compute(c)
    reboot = reboot_refused(c, build.instance, 60.0)
    source = _index(c, tmp_path)
    for query in (build.ids["build"], reboot.ids["reboot"]):  # the build alone, and through the chain
        trace = build_trace(source, query)
        _, v = follow_chain(source, trace, isolate(trace))
        assert v.root_cause is not None and v.root_cause.span.service == "nova-compute"
        assert [(s.service, s.host, s.request_id, s.data) for s in v.suspects] == [
            ("nova-api", "ctl-1", build.ids["build"], "block-device mapping")
        ]
        crash_line = build.where["crash"].rsplit(":", 1)[1]
        # the innermost line naming the data: the code line of the block_device.py frame (`bdm.`)
        assert v.suspects[0].evidence == f"cmp-3/nova-compute.log:{int(crash_line) + 5}"
        assert "it crashed on the block-device mapping nova-api wrote" in v.explanation
        assert "suspect nova-api on ctl-1" in v.explanation


def test_no_suspect_for_a_crash_on_its_own_data_or_a_non_data_error(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    vol = str(uuid.uuid4())
    create = volume_create_fails(c, vol)  # ProcessExecutionError: not a crash on data
    source = _index(c, tmp_path)
    trace = build_trace(source, create.ids["create"])
    _, v = follow_chain(source, trace, isolate(trace))
    assert v.root_cause is not None and v.suspects == []


def test_chain_also_with_instance_following(tmp_path: Path) -> None:
    """--instance brings the build in as a weak span: the chain still names it as the breaker."""
    c = Cloud(tmp_path)
    build = build_fails_in_compute(c)
    reboot = reboot_refused(c, build.instance, 60.0)
    # nova's compute API logs the lookup with the instance prefix (compute/api.py get())
    c.log(
        "ctl-1", "nova-api", 60.01, "DEBUG", "nova.compute.api", "Fetching instance by UUID",
        req=reboot.ids["reboot"], instance=build.instance,
    )  # fmt: skip
    source = _index(c, tmp_path)
    trace = build_trace(source, reboot.ids["reboot"], include_instance=True)
    assert any(s.weak and s.request_id == build.ids["build"] for s in trace.spans)
    _, v = follow_chain(source, trace, isolate(trace))
    assert v.chain is not None and v.chain.earlier_id == build.ids["build"]
    assert v.root_cause is not None and v.root_cause.span.service == "nova-compute"


def test_otlp_exports_the_chained_trace_as_the_reported_request(tmp_path: Path) -> None:
    """The earlier request's spans come first, but the trace id is the refused request's."""
    from kansoku.tracing.outputs.otlp import root_request_id

    c = Cloud(tmp_path)
    build = build_fails_in_compute(c)
    reboot = reboot_refused(c, build.instance, 60.0)
    source = _index(c, tmp_path)
    trace = build_trace(source, reboot.ids["reboot"])
    chained, v = follow_chain(source, trace, isolate(trace))
    assert v.chain is not None and chained.spans[0].request_id == build.ids["build"]
    assert root_request_id(chained) == reboot.ids["reboot"] == root_request_id(trace)


def test_novalidhost_on_an_instance_an_earlier_request_broke(tmp_path: Path) -> None:
    """A later evacuate of the broken instance ends in NoValidHost: the build's failure is the cause."""
    c = Cloud(tmp_path)
    build = build_fails_in_compute(c)
    e, inst = rid(), build.instance
    c.log(
        "ctl-1",
        "nova-api",
        90.0,
        "DEBUG",
        "nova.api.openstack.wsgi",
        "Action: 'action', calling method",
        req=e,
    )
    c.access("ctl-1", "nova-api", 90.1, "POST", f"/v2.1/servers/{inst}/action", 200, req=e, duration=0.1)
    c.log(
        "ctl-1",
        "nova-conductor",
        90.5,
        "ERROR",
        "nova.conductor.manager",
        "Failed to schedule instances",
        req=e,
        instance=inst,
        tb=traceback(
            [("nova/scheduler/rpcapi.py", 160, "select_destinations", "return cctxt.call(")],
            "nova.exception_Remote.NoValidHost_Remote: No valid host was found. There are not enough hosts available.",
        ),
    )
    source = _index(c, tmp_path)
    trace = build_trace(source, e)
    _, v = follow_chain(source, trace, isolate(trace))
    assert v.chain is not None and v.chain.trigger == "no_valid_host"
    assert v.chain.earlier_id == build.ids["build"]
    assert v.root_cause is not None and v.root_cause.span.service == "nova-compute"
    assert f"this request {e} failed: " in v.explanation


def _delete_crashes(c: Cloud, inst: str, t: float) -> str:
    d = rid()
    c.access("ctl-1", "nova-api", t + 0.05, "DELETE", f"/v2.1/servers/{inst}", 204, req=d, duration=0.05)
    c.log(
        "cmp-3",
        "nova-compute",
        t + 0.4,
        "ERROR",
        "nova.compute.manager",
        "Failed to terminate instance",
        req=d,
        instance=inst,
        tb=traceback(
            [("nova/compute/manager.py", 3260, "_shutdown_instance", "bdms = context.bdms['root']")],
            "KeyError: 'root'",
        ),
    )
    return d


def test_a_failure_on_an_instance_an_earlier_request_left_broken_is_chained_weakly(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    build = build_fails_in_compute(c)
    d = _delete_crashes(c, build.instance, 120.0)
    source = _index(c, tmp_path)
    trace = build_trace(source, d)
    _, v = follow_chain(source, trace, isolate(trace))
    assert v.chain is not None and v.chain.trigger == "touched"
    assert v.chain.earlier_id == build.ids["build"]
    assert v.chain.link.strength is Strength.WEAK  # no refusal names the state: a weaker link
    assert f"this request {d} failed: " in v.explanation


def test_a_failure_on_an_instance_whose_earlier_failure_left_no_error_state_is_not_chained(
    tmp_path: Path,
) -> None:
    c = Cloud(tmp_path)
    inst, earlier = str(uuid.uuid4()), rid()
    # an earlier request failed on the instance, but nothing says it left the instance broken
    c.log(
        "ctl-1", "nova-api", 0.0, "ERROR", "nova.api.openstack.wsgi", "Unexpected exception in API method",
        req=earlier, instance=inst, tb=traceback([("nova/api/openstack/compute/servers.py", 1, "show", "x")], "KeyError: 'x'"),
    )  # fmt: skip
    d = _delete_crashes(c, inst, 60.0)
    source = _index(c, tmp_path)
    trace = build_trace(source, d)
    alone = isolate(trace)
    _, v = follow_chain(source, trace, alone)
    assert v.chain is None and v.root_cause is alone.root_cause
    assert v.explanation.startswith(alone.explanation)  # (plus the suspect: it crashed on `bdms`)
