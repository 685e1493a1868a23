"""Stitching: from any one id to the whole request, every link explained, bounded, skew-proof."""

from __future__ import annotations

import uuid
from pathlib import Path

from kansoku.tracing.ingest.records import iter_records
from kansoku.tracing.model import LinkKind, SpanKey, Strength
from kansoku.tracing.stitch import build_trace, explain_link
from tests.support.scenarios import Cloud, MemorySource, boot_novalidhost, boot_port_binding_failed, rid


def _services(trace) -> list[str]:
    return [f"{s.service}@{s.host}" for s in trace.spans]


def test_from_local_id_reaches_every_service(tmp_path: Path) -> None:
    cloud = Cloud(tmp_path)
    sc = boot_novalidhost(cloud)
    trace = build_trace(cloud.source(), sc.ids["api"])
    assert _services(trace) == [
        "nova-api@ctl-1",
        "nova-conductor@ctl-1",
        "nova-scheduler@ctl-1",
        "placement-api@ctl-2",
        "placement-api@ctl-2",
    ]
    assert {sc.ids["api"], sc.ids["p1"], sc.ids["p2"]} <= trace.ids
    by_rid = {(s.service, s.request_id): s for s in trace.spans}
    api = by_rid[("nova-api", sc.ids["api"])]
    conductor = by_rid[("nova-conductor", sc.ids["api"])]
    scheduler = by_rid[("nova-scheduler", sc.ids["api"])]
    p2 = by_rid[("placement-api", sc.ids["p2"])]
    assert api.parent is None
    assert conductor.parent == api.key
    assert scheduler.parent == conductor.key  # RPC: the conductor drives the scheduler
    assert p2.parent == scheduler.key
    assert api.levels == {"INFO": 3, "DEBUG": 1}
    assert [e.location for e in conductor.errors] == [sc.where["conductor_error"]]
    assert api.start < api.end


def test_links_are_explained_with_file_and_line(tmp_path: Path) -> None:
    cloud = Cloud(tmp_path)
    sc = boot_novalidhost(cloud)
    trace = build_trace(cloud.source(), sc.ids["api"])
    by_target = {link.target: link for link in trace.links}
    p2 = next(s for s in trace.spans if s.request_id == sc.ids["p2"])
    link = by_target[p2.key]
    # The caller logged the callee's id: the strongest evidence, pointing at the caller's line.
    assert link.kind is LinkKind.CALLEE_ID
    assert link.evidence == sc.where["callee_evidence"]
    assert link.explain() == f"joined via callee_id at {sc.where['callee_evidence']}"
    conductor = next(s for s in trace.spans if s.service == "nova-conductor")
    assert by_target[conductor.key].kind is LinkKind.SHARED_LOCAL_ID
    assert by_target[conductor.key].evidence == sc.where["conductor_first"]
    assert "nova-conductor@ctl-1 ← nova-api@ctl-1: joined via shared_local_id at" in explain_link(
        by_target[conductor.key]
    )
    # every span but the root is explained
    assert set(by_target) == {s.key for s in trace.spans if s.parent is not None}


def test_from_callee_id_and_from_global_id(tmp_path: Path) -> None:
    cloud = Cloud(tmp_path)
    sc = boot_novalidhost(cloud)
    source = cloud.source()
    whole = build_trace(source, sc.ids["api"])
    from_callee = build_trace(source, sc.ids["p2"])  # placement's own local id
    assert {s.key for s in from_callee.spans} == {s.key for s in whole.spans}
    assert from_callee.query == sc.ids["p2"]


def test_global_id_without_callee_evidence_picks_caller_by_time(tmp_path: Path) -> None:
    """Neutron logs nova's id as global_request_id; without a keystoneauth line, time decides."""
    cloud = Cloud(tmp_path)
    sc = boot_port_binding_failed(cloud)
    lines, _ = cloud.parse()
    # drop the keystoneauth "used request id" line so only the global id joins neutron
    source = MemorySource(
        ln for ln in lines if "used request id" not in ln.message or "placement" in ln.message
    )
    trace = build_trace(source, sc.ids["api"])
    neutron = next(s for s in trace.spans if s.service == "neutron-server")
    compute = next(s for s in trace.spans if s.service == "nova-compute")
    assert neutron.parent == compute.key  # the latest span of req-A to start before the call
    link = next(ln for ln in trace.links if ln.target == neutron.key)
    assert link.kind is LinkKind.GLOBAL_ID
    assert link.evidence == sc.where["neutron_error"]
    assert "chosen by time" in link.detail
    assert sc.ids["other"] not in trace.ids  # the other request on cmp-1 stays out


def test_instance_links_only_on_request_and_weak(tmp_path: Path) -> None:
    cloud = Cloud(tmp_path)
    sc = boot_port_binding_failed(cloud)
    # a later, unrelated request on the same instance (a delete by the user)
    d = rid()
    cloud.log(
        "cmp-2",
        "nova-compute",
        30.0,
        "INFO",
        "nova.compute.manager",
        "Terminating instance",
        req=d,
        instance=sc.instance,
    )
    source = cloud.source()
    plain = build_trace(source, sc.ids["api"])
    assert d not in plain.ids and all(not s.weak for s in plain.spans)
    wide = build_trace(source, sc.ids["api"], include_instance=True)
    weak = [s for s in wide.spans if s.weak]
    assert [s.request_id for s in weak] == [d]
    link = next(ln for ln in wide.links if ln.target == weak[0].key)
    assert link.strength is Strength.WEAK
    assert "(weak)" in explain_link(link)


def test_from_instance_uuid(tmp_path: Path) -> None:
    cloud = Cloud(tmp_path)
    sc = boot_port_binding_failed(cloud)
    trace = build_trace(cloud.source(), sc.instance)
    assert sc.ids["api"] in trace.ids and sc.ids["neutron"] in trace.ids
    assert {s.service for s in trace.spans} >= {"nova-api", "nova-compute", "neutron-server"}


def test_expansion_is_bounded(tmp_path: Path) -> None:
    """A hot instance seen by many requests stops at the bound and says so."""
    cloud = Cloud(tmp_path)
    inst = str(uuid.uuid4())
    for i in range(40):
        cloud.log(
            "cmp-1",
            "nova-compute",
            float(i),
            "INFO",
            "nova.compute.manager",
            "VM Resumed (Lifecycle Event)",
            req=rid(),
            instance=inst,
        )
    trace = build_trace(cloud.source(), inst, max_ids=10)
    assert trace.truncated is not None and "10 ids" in trace.truncated
    assert len(trace.ids) == 10
    trace = build_trace(cloud.source(), inst, max_lines=5)
    assert trace.truncated is not None and sum(len(s.lines) for s in trace.spans) == 5


def test_clock_skew_keeps_causal_order(tmp_path: Path) -> None:
    """ctl-2's clock runs 5 s behind: placement spans still come after their caller."""
    cloud = Cloud(tmp_path, skew={"ctl-2": -5.0})
    sc = boot_novalidhost(cloud)
    trace = build_trace(cloud.source(), sc.ids["api"])
    order = [s.key for s in trace.spans]
    for span in trace.spans:
        if span.parent is not None:
            assert order.index(span.parent) < order.index(span.key)
    p2 = next(s for s in trace.spans if s.request_id == sc.ids["p2"])
    assert p2.start < trace.spans[0].start  # the skew is real in the data
    assert p2.parent is not None and p2.parent.service == "nova-scheduler"


def test_unparsed_lines_and_continuations_join_the_trace(tmp_path: Path) -> None:
    """A line in no known format that mentions the id is kept, timed by its neighbour."""
    cloud = Cloud(tmp_path)
    sc = boot_novalidhost(cloud)
    cloud.write()
    path = cloud.path("ctl-1", "nova-conductor")
    text = path.read_text().split("\n")
    # syslog-style line from a wrapper: a timestamp but not oslo.log's header -> unparsed
    text.insert(
        1, f"2026-11-23 09:53:20 nova-conductor[1037]: worker 3 restarted while handling {sc.ids['api']}"
    )
    path.write_text("\n".join(text))
    lines = []
    for p in sorted(tmp_path.rglob("*.log")):
        with p.open("rb") as fh:
            lines += [r for r in iter_records(fh, str(p), p.stem, p.parent.name) if not hasattr(r, "reason")]
    trace = build_trace(MemorySource(lines), sc.ids["api"])
    conductor = next(s for s in trace.spans if s.key == SpanKey("nova-conductor", "ctl-1", sc.ids["api"]))
    unparsed = [ln for ln in conductor.lines if ln.fmt == "unparsed"]
    assert len(unparsed) == 1 and unparsed[0].ts is None
    assert conductor.lines[1] is unparsed[0]  # timed by its neighbour, not sorted to time 0
    assert conductor.levels["UNPARSED"] == 1
    tb = next(ln for ln in conductor.lines if ln.exception)
    assert tb.n_lines > 5 and "NoValidHost" in tb.raw


def test_unknown_id_gives_empty_trace(tmp_path: Path) -> None:
    cloud = Cloud(tmp_path)
    boot_novalidhost(cloud)
    trace = build_trace(cloud.source(), rid())
    assert trace.spans == [] and trace.links == []


def test_span_of_only_untimed_lines_sits_at_the_trace_start(tmp_path: Path) -> None:
    """An id in a file of no known format (a proxy log) joins; it must not stretch the axis."""
    cloud = Cloud(tmp_path)
    sc = boot_novalidhost(cloud)
    lines, _ = cloud.parse()
    proxy = tmp_path / "lb-1" / "haproxy.log"
    proxy.parent.mkdir()
    proxy.write_text(f"nova_api_back/ctl-1 0/0/1/702/703 500 207 - - ---- 1/1/0/0/0 {{{sc.ids['api']}}}\n")
    with proxy.open("rb") as fh:
        lines += [r for r in iter_records(fh, str(proxy), "haproxy", "lb-1") if not hasattr(r, "reason")]
    trace = build_trace(MemorySource(lines), sc.ids["api"])
    span = next(s for s in trace.spans if s.service == "haproxy")
    assert span.lines[0].fmt == "unparsed" and span.lines[0].ts is None
    t0 = min(s.start for s in trace.spans if s is not span)
    assert span.start == span.end == t0


def test_devstack_service_names_follow_the_same_rules(tmp_path: Path) -> None:
    """devstack logs nova as n-api, n-cond-cell1, n-sch, n-cpu: the RPC rules still apply."""
    from kansoku.tracing.model import replace

    names = {"nova-api": "n-api", "nova-conductor": "n-cond-cell1", "nova-scheduler": "n-sch"}
    cloud = Cloud(tmp_path)
    sc = boot_novalidhost(cloud)
    lines, _ = cloud.parse()
    source = MemorySource(replace(ln, service=names.get(ln.service, ln.service)) for ln in lines)
    trace = build_trace(source, sc.ids["api"])
    by_service = {s.service: s for s in trace.spans}
    assert by_service["n-sch"].parent == by_service["n-cond-cell1"].key
    assert by_service["n-cond-cell1"].parent == by_service["n-api"].key
    assert [s.service for s in trace.spans][:3] == ["n-api", "n-cond-cell1", "n-sch"]
