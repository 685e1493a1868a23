"""Fault isolation on realistic failures: the verdict names the right service, host and error."""

from __future__ import annotations

from pathlib import Path

from kansoku.tracing.isolate import isolate
from kansoku.tracing.stitch import build_trace
from tests.support.scenarios import (
    Cloud,
    Scenario,
    api_messaging_timeout,
    boot_novalidhost,
    boot_port_binding_failed,
    image_not_found,
    rid,
    token_expired,
    volume_attach_timeout,
)


def _verdict(sc: Scenario, query: str | None = None):
    trace = build_trace(sc.cloud.source(), query or sc.ids["api"])
    return isolate(trace)


def test_placement_conflict_then_novalidhost_then_500(tmp_path: Path) -> None:
    sc = boot_novalidhost(Cloud(tmp_path))
    v = _verdict(sc)
    assert v.root_cause is not None
    assert (v.root_cause.span.service, v.root_cause.span.host) == ("placement-api", "ctl-2")
    assert v.root_cause.status == 409
    assert v.root_cause.line.location == sc.where["placement_409"]
    assert "Unable to allocate inventory" in v.root_cause.message  # the 409 body's detail
    assert [(p.span.service, p.exception, p.status) for p in v.propagated] == [
        ("nova-conductor", "nova.exception.NoValidHost", None),
        ("nova-api", None, 500),
    ]
    assert v.explanation.startswith("root cause: placement-api on ctl-2 — 409 Conflict: PUT /allocations/")
    assert v.explanation.endswith("propagated: nova-conductor NoValidHost, nova-api 500")
    assert "ctl-2/placement-api.log:" in v.explanation


def test_same_verdict_from_any_id(tmp_path: Path) -> None:
    sc = boot_novalidhost(Cloud(tmp_path))
    assert _verdict(sc, sc.ids["p1"]).explanation == _verdict(sc).explanation
    assert _verdict(sc, sc.instance).root_cause is not None


def test_novalidhost_without_placement_blames_the_scheduler(tmp_path: Path) -> None:
    """No host passed the filters: the conductor's remote NoValidHost points at the scheduler."""
    c = Cloud(tmp_path)
    sc = boot_novalidhost(c)
    lines, _ = c.parse()
    from tests.support.scenarios import MemorySource

    source = MemorySource(
        ln for ln in lines if ln.service != "placement-api" and ln.logger != "keystoneauth.session"
    )
    v = isolate(build_trace(source, sc.ids["api"]))
    assert v.root_cause is not None
    assert v.root_cause.span.service == "nova-scheduler"
    assert v.root_cause.line.location == sc.where["scheduler_warning"]
    assert "raised NoValidHost back to nova-conductor" in v.root_cause.message
    assert [p.span.service for p in v.propagated] == ["nova-conductor", "nova-api"]


def test_messaging_timeout_with_dead_callee(tmp_path: Path) -> None:
    sc = api_messaging_timeout(Cloud(tmp_path))
    v = _verdict(sc)
    assert v.root_cause is not None
    assert v.root_cause.span.service == "nova-api"
    assert v.root_cause.exception == "oslo_messaging.exceptions.MessagingTimeout"
    assert v.root_cause.line.location == sc.where["api_timeout"]
    assert "nova-compute never logged this request" in v.explanation  # named from compute/rpcapi.py
    assert v.propagated == []


def test_messaging_timeout_with_stuck_callee(tmp_path: Path) -> None:
    sc = api_messaging_timeout(Cloud(tmp_path), callee_alive=True)
    v = _verdict(sc)
    assert v.root_cause is not None
    assert (v.root_cause.span.service, v.root_cause.span.host) == ("nova-compute", "cmp-3")
    assert v.root_cause.line.location == sc.where["callee_last"]
    assert "did not answer nova-api's RPC in time" in v.root_cause.message
    assert [(p.span.service, p.exception) for p in v.propagated] == [
        ("nova-api", "oslo_messaging.exceptions.MessagingTimeout")
    ]


def test_port_binding_failure_on_one_compute_host(tmp_path: Path) -> None:
    sc = boot_port_binding_failed(Cloud(tmp_path))
    v = _verdict(sc)
    assert v.root_cause is not None
    assert v.root_cause.span.service == "neutron-server"
    assert v.root_cause.line.location == sc.where["neutron_error"]
    assert "on host cmp-2" in v.root_cause.message
    assert [(p.span.service, p.span.host, p.exception) for p in v.propagated] == [
        ("nova-compute", "cmp-2", "nova.exception.PortBindingFailed")
    ]
    # the healthy host's traffic is not part of this request
    assert "cmp-1" not in v.explanation


def test_expired_token_401(tmp_path: Path) -> None:
    sc = token_expired(Cloud(tmp_path))
    v = _verdict(sc)
    assert v.root_cause is not None
    assert v.root_cause.status == 401
    assert v.root_cause.span.service == "nova-api"
    assert "401 Unauthorized: GET /v2.1/servers/detail" in v.explanation
    assert "token rejected" in v.explanation


def test_image_not_found(tmp_path: Path) -> None:
    sc = image_not_found(Cloud(tmp_path))
    v = _verdict(sc)
    assert v.root_cause is not None
    assert (v.root_cause.span.service, v.root_cause.status) == ("glance-api", 404)
    assert v.root_cause.line.location == sc.where["glance_404"]
    assert [(p.span.service, p.status) for p in v.propagated] == [("nova-api", 400)]


def test_volume_attach_timeout_blames_the_volume_service(tmp_path: Path) -> None:
    sc = volume_attach_timeout(Cloud(tmp_path))
    v = _verdict(sc)
    assert v.root_cause is not None
    assert (v.root_cause.span.service, v.root_cause.span.host) == ("cinder-volume", "stor-1")
    assert "iSCSI target" in v.root_cause.message
    assert [p.span.service for p in v.propagated] == ["cinder-api", "nova-compute"]
    assert v.propagated[0].exception == "oslo_messaging.exceptions.MessagingTimeout"


def test_successful_request_has_no_root_cause(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    a = rid()
    c.log("ctl-1", "nova-api", 0.0, "INFO", "nova.compute.api", "Creating server", req=a)
    # an absorbed 404 in a successful request is not a failure
    g = rid()
    c.access("ctl-1", "glance-api", 0.1, "GET", "/v2/images/cirros", 404, req=g, gid=a)
    c.access("ctl-1", "nova-api", 0.2, "POST", "/v2.1/servers", 202, req=a)
    v = isolate(build_trace(c.source(), a))
    assert v.root_cause is None and v.propagated == []
    assert v.explanation == "no errors: 2 spans, 3 lines, nothing failed"


def test_independent_failure_is_listed_apart(tmp_path: Path) -> None:
    """An error off the root cause's call path is reported as 'also failed', not propagated."""
    c = Cloud(tmp_path)
    sc = boot_novalidhost(c)
    n = rid()
    c.log(
        "ctl-1",
        "neutron-server",
        0.65,
        "ERROR",
        "neutron.db.api",
        "DB error while listing ports",
        req=n,
        gid=sc.ids["api"],
    )
    v = _verdict(sc)
    assert v.root_cause is not None and v.root_cause.span.service == "placement-api"
    assert [o.span.service for o in v.others] == ["neutron-server"]
    assert "also failed: neutron-server" in v.explanation


def test_messaging_timeout_with_late_but_healthy_callee(tmp_path: Path) -> None:
    """The callee finished, without trouble, after the caller gave up: the caller's timeout is it."""
    c = Cloud(tmp_path)
    sc = api_messaging_timeout(c)
    a = sc.ids["api"]
    c.log(
        "cmp-3",
        "nova-compute",
        1.0,
        "INFO",
        "nova.compute.manager",
        "Get console output",
        req=a,
        instance=sc.instance,
    )
    c.log(
        "cmp-3",
        "nova-compute",
        72.0,
        "INFO",
        "nova.compute.manager",
        "console output done",
        req=a,
        instance=sc.instance,
    )
    v = _verdict(sc)
    assert v.root_cause is not None
    assert (v.root_cause.span.service, v.root_cause.exception) == (
        "nova-api",
        "oslo_messaging.exceptions.MessagingTimeout",
    )
    assert "nova-compute on cmp-3 answered late: still working 11.9 s after nova-api gave up" in v.explanation


def test_devstack_journald_lines_give_the_same_verdict_as_oslo_lines(tmp_path: Path) -> None:
    """devstack's journald lines (`Nov 23 ... devstack@n-cond-cell1.service[pid]: ERROR ...`)
    wrap oslo.log in a prefix: parsed like oslo lines, placement's 409 is the root cause and
    the conductor's NoValidHost only propagates it (as in the demo's placement conflict)."""
    from kansoku.tracing.ingest.records import iter_records
    from tests.support.scenarios import MemorySource

    a, p = rid(), rid()
    user = "tempest-ServersNegativeTest-1 tempest-ServersNegativeTest-1-project-member"
    files = {
        "n-api": [
            f'Nov 23 10:00:00.100000 devstack devstack@n-api.service[801]: INFO nova.api.openstack.requestlog [None {a} {user}] 10.0.0.5 "POST /compute/v2.1/servers" status: 202 len: 400 microversion: 2.1 time: 0.2',
        ],
        "placement-api": [
            f'Nov 23 10:00:00.300000 devstack devstack@placement-api.service[802]: INFO placement.requestlog [{a} {p} {user}] 10.0.0.5 "PUT /placement/allocations/x" status: 409 len: 300 microversion: 1.36',
        ],
        "n-cond-cell1": [
            f"Nov 23 10:00:00.400000 devstack devstack@n-cond-cell1.service[803]: ERROR nova.conductor.manager [None {a} {user}] Failed to schedule instances: nova.exception_Remote.NoValidHost_Remote: No valid host was found.",
        ],
    }
    lines = []
    for service, text in files.items():
        path = tmp_path / f"screen-{service}.txt"
        path.write_text("\n".join(text) + "\n")
        with path.open("rb") as fh:
            lines += [r for r in iter_records(fh, str(path), service, "devstack") if not hasattr(r, "reason")]
    v = isolate(build_trace(MemorySource(lines), a))
    assert v.root_cause is not None, v.explanation
    assert v.root_cause.span.service == "placement-api"
    assert v.root_cause.status == 409
    assert [e.span.service for e in v.propagated] == ["n-cond-cell1"]
    assert v.propagated[0].exception == "nova.exception.NoValidHost"
