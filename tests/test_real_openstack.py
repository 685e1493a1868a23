"""Real keystone, placement, glance, nova (api, conductor, scheduler, compute) and an RPC pair
over real RabbitMQ, traced by kansoku.

One lab per module (it takes ~40 s to prepare and start), one traffic run, then every test
reads the logs real OpenStack wrote: first that the harness did what traffic.json says
(servers answered, ids went where they should), then that kansoku's index, stitcher and
isolator make the right trace and verdict out of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kansoku.errors import KansokuError
from kansoku.ids import REQUEST_ID_RE
from kansoku.lab.cli import lab_down, lab_status, lab_up
from kansoku.lab.records import TrafficRecord, TrafficReport
from kansoku.lab.services import LabPaths, LabState, answers, start_wsgi
from kansoku.lab.traffic import run_traffic
from kansoku.servers import RabbitMQ

pytestmark = pytest.mark.real

REQ = r"req-[0-9a-f-]{36}"


class Lab:
    def __init__(self, state: LabState, report: TrafficReport) -> None:
        self.state, self.report = state, report
        self.paths = LabPaths(Path(state.root))

    def log(self, service: str) -> Path:
        return self.paths.log(service)

    def text(self, service: str) -> str:
        return self.log(service).read_text()

    def json_lines(self, service: str) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.text(service).splitlines() if line.strip()]

    def placement_local_for_global(self, gid: str) -> str:
        """placement's own local id for a request whose global id was `gid` (from its JSON log)."""
        for rec in self.json_lines("placement"):
            ctx = rec["context"]
            assert isinstance(ctx, dict)
            if ctx.get("global_request_id") == gid:
                return str(ctx["request_id"])
        raise AssertionError(f"placement never logged global id {gid}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, rabbitmq: RabbitMQ) -> Iterator[Lab]:
    pytest.importorskip("nova", reason="pip install 'kansoku[lab]'")  # the lab extra, always in CI
    root = tmp_path_factory.mktemp("lab")
    state = lab_up(root, transport_url=f"rabbit://guest:guest@127.0.0.1:{rabbitmq.ports['amqp']}/")
    try:
        report = run_traffic(root)
        yield Lab(state, report)
    finally:
        lab_down(root)


# --- the harness: real servers answered, ids recorded, logs contain them -------------------


def test_every_lab_service_runs_and_answers(lab: Lab) -> None:
    status = {name: running for name, _pid, running, _where in lab_status(Path(lab.state.root))}
    assert status == {
        "keystone": True,
        "placement": True,
        "glance": True,
        "nova-api": True,
        "nova-conductor": True,
        "nova-scheduler": True,
        "nova-compute": True,
        "rpc-server": True,
    }
    assert lab.state.glance_url is not None
    for url in (
        lab.state.keystone_url + "/v3",
        lab.state.placement_url,
        lab.state.nova_url,
        lab.state.glance_url,
    ):
        assert answers(url), url


def test_traffic_got_the_expected_status_for_every_scenario(lab: Lab) -> None:
    got = {r.name: (r.status, r.expected_status) for r in lab.report.requests}
    assert {name: status for name, (status, _) in got.items()} == {
        name: expected for name, (_, expected) in got.items()
    }
    final = {r.name: (r.final_state, r.expected_final_state) for r in lab.report.requests}
    assert {n: f for n, (f, _) in final.items()} == {n: e for n, (_, e) in final.items()}
    # and the scenarios the issue asks for are all there
    assert {
        "bad-password",
        "invalid-token",
        "rp-duplicate",
        "allocation-conflict",
        "rp-not-found",
        "placement-bad-microversion",
        "nova-bad-microversion",
        "rpc-timeout",
        "rpc-remote-error",
        "limits-chain",
        "invalid-global-id",
        "nova-invalid-token",
        "compute-rpc-raises",
        "compute-rpc-timeout",
        "server-create",
        "server-create-no-valid-host",
    } <= set(got)
    assert json.loads(lab.paths.traffic.read_text()) == lab.report.model_dump()


def test_recorded_ids_are_request_ids_and_local_differs_from_global(lab: Lab) -> None:
    for rec in lab.report.requests:
        assert rec.local_request_id and REQUEST_ID_RE.fullmatch(rec.local_request_id), rec.name
        if rec.sent_global_request_id is not None:
            assert REQUEST_ID_RE.fullmatch(rec.sent_global_request_id)
            assert rec.local_request_id != rec.sent_global_request_id, rec.name


@pytest.mark.parametrize(
    "service",
    [
        "keystone",
        "placement",
        "glance",
        "nova-api",
        "nova-conductor",
        "nova-scheduler",
        "nova-compute",
        "rpc-server",
        "rpc-client",
    ],
)
def test_each_service_logged_its_requests_with_global_and_local_id(lab: Lab, service: str) -> None:
    text = lab.text(service)
    mine = [r for r in lab.report.requests if service in r.services]
    assert mine
    for rec in mine:
        rpc_hop = rec.name.startswith(("compute-rpc", "server-create")) and service.startswith("nova-")
        if rec.service == service or rec.service == "rpc-client" or rpc_hop:
            assert str(rec.local_request_id) in text, (service, rec.name)  # RPC keeps the caller's id
        if rec.sent_global_request_id is not None:
            assert rec.sent_global_request_id in text, (service, rec.name)


def test_text_log_pairs_global_and_local_id_in_the_context_brackets(lab: Lab) -> None:
    rec = lab.report.by_name("server-not-found")
    pattern = rf"\[{rec.sent_global_request_id} {rec.local_request_id} [0-9a-f]{{32}} [0-9a-f]{{32}} "
    assert re.search(pattern, lab.text("nova-api"))


def test_nova_forwards_its_local_id_as_placements_global_id_when_none_was_sent(lab: Lab) -> None:
    rec = lab.report.by_name("limits-no-global")
    assert rec.local_request_id is not None
    placement_local = lab.placement_local_for_global(rec.local_request_id)
    assert placement_local != rec.local_request_id
    # nova-api logs `None` for the global id it never got
    assert f"[None {rec.local_request_id} " in lab.text("nova-api")


def test_invalid_incoming_request_id_is_dropped_and_logged_as_none(lab: Lab) -> None:
    rec = lab.report.by_name("invalid-global-id")
    mine = [
        r
        for r in lab.json_lines("placement")
        if isinstance(r["context"], dict) and r["context"].get("request_id") == rec.local_request_id
    ]
    assert mine
    assert all(r["context"]["global_request_id"] is None for r in mine)  # type: ignore[index]
    assert "not-a-request-id" not in lab.text("placement")


def test_keystone_never_sees_the_global_id_of_a_token_check(lab: Lab) -> None:
    """keystonemiddleware validates without forwarding the global id: keystone logs `None`."""
    chain = lab.report.by_name("limits-chain")
    assert str(chain.sent_global_request_id) not in lab.text("keystone")
    validations = re.findall(
        rf"\[None ({REQ}) [0-9a-f]{{32}} .*identity:validate_token", lab.text("keystone")
    )
    assert validations


def test_keystone_logs_token_validation_under_another_local_id_than_it_returns(lab: Lab) -> None:
    rec = lab.report.by_name("token-issue")
    text = lab.text("keystone")
    assert f"[{rec.sent_global_request_id} {rec.local_request_id} " in text
    # the validation phase of the authenticated requests before it uses a different local id
    before = re.findall(rf"\[None ({REQ}) - - - - - -\] Validating token access rules", text)
    after = set(re.findall(rf"\[None ({REQ}) [0-9a-f]{{32}} [0-9a-f]{{32}} ", text))
    assert before and after and not set(before) & after


def test_nova_refused_token_leaves_no_id(lab: Lab) -> None:
    """nova-api's context is built after keystonemiddleware: the 401 is logged with `[-]` only."""
    rec = lab.report.by_name("nova-invalid-token")
    text = lab.text("nova-api")
    assert str(rec.sent_global_request_id) not in text
    assert str(rec.local_request_id) not in text  # the id the client got back is never logged
    assert re.search(r"WARNING keystonemiddleware\.auth_token \[-\] Authorization failed for token", text)
    assert re.search(
        r'INFO nova\.api\.openstack\.requestlog \[-\] 127\.0\.0\.1 "GET /v2\.1/limits" status: 401', text
    )


def test_real_nova_rpc_carries_the_callers_ids_to_nova_compute(lab: Lab) -> None:
    """nova-api -> RabbitMQ -> nova-compute: compute logs under nova-api's global and local id."""
    rec = lab.report.by_name("compute-rpc-raises")
    compute = lab.text("nova-compute")
    head = f"ERROR oslo_messaging.rpc.server [{rec.sent_global_request_id} {rec.local_request_id} "
    assert head in compute
    assert "Exception during message handling: NotImplementedError" in compute
    late = lab.report.by_name("compute-rpc-timeout")
    api = lab.text("nova-api")
    assert re.search(
        rf"\[{late.sent_global_request_id} {late.local_request_id} .*\n(.*\n)*.*MessagingTimeout", api
    )
    assert f"[{late.sent_global_request_id} {late.local_request_id} " in compute  # handled late


def test_rpc_server_logs_under_the_callers_ids(lab: Lab) -> None:
    rec = lab.report.by_name("rpc-remote-error")
    server = lab.text("rpc-server")
    assert f"[{rec.sent_global_request_id} {rec.local_request_id} lab-user lab-project" in server
    assert "nova.exception.InstanceNotFound" in server
    client = [r for r in lab.json_lines("rpc-client") if r["levelname"] == "ERROR"]
    assert any("InstanceNotFound_Remote" in str(r["message"]) for r in client)
    assert any("MessagingTimeout" in str(r["message"]) or "Timed out" in str(r["message"]) for r in client)


def test_lab_refuses_a_second_up_in_the_same_directory(lab: Lab) -> None:
    with pytest.raises(KansokuError, match="already running"):
        lab_up(Path(lab.state.root), transport_url=lab.state.transport_url)


def test_a_taken_port_is_reported_with_the_service_output(lab: Lab) -> None:
    taken = int(lab.state.keystone_url.rsplit(":", 1)[1])
    with pytest.raises(KansokuError, match=rf"cannot start placement: port {taken} .* already taken"):
        start_wsgi(lab.paths, "placement", lab.paths.service("placement"), taken, timeout=60)


# --- kansoku on the real logs -------------------------------------------------------------


@pytest.fixture(scope="module")
def source(lab: Lab, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from kansoku.tracing.index import build_index
    from kansoku.tracing.sources.index import IndexSource

    store = tmp_path_factory.mktemp("index")
    report = build_index([lab.paths.logs], store)
    assert report.files_seen == 9
    return IndexSource(store)


def _trace(source, query: str):  # type: ignore[no-untyped-def]
    from kansoku.tracing.stitch import build_trace

    return build_trace(source, query)


CHAIN = {"nova-api", "placement", "rpc-client", "rpc-server"}


def test_chain_is_stitched_from_the_global_id(lab: Lab, source) -> None:  # type: ignore[no-untyped-def]
    chain = lab.report.by_name("limits-chain")
    assert chain.sent_global_request_id is not None
    trace = _trace(source, chain.sent_global_request_id)
    assert {s.service for s in trace.spans} == CHAIN
    # nova forwards the *client's* global id, so nova-api and placement share it as siblings:
    # what joins them is a global-id link from nova-api (the earlier span) to placement.
    assert trace.spans[0].service == "nova-api"
    assert any(
        link.source.service == "nova-api" and link.target.service == "placement" for link in trace.links
    ), [str(link) for link in trace.links]


def test_chain_is_stitched_from_any_services_local_id(lab: Lab, source) -> None:  # type: ignore[no-untyped-def]
    chain = lab.report.by_name("limits-chain")
    rpc = lab.report.by_name("limits-chain-rpc")
    assert chain.sent_global_request_id and chain.local_request_id and rpc.local_request_id
    placement_local = lab.placement_local_for_global(chain.sent_global_request_id)
    for start in (chain.local_request_id, placement_local, rpc.local_request_id):
        trace = _trace(source, start)
        assert {s.service for s in trace.spans} == CHAIN, start


def _request_ids(lab: Lab, rec: TrafficRecord) -> set[str]:
    ids = {i for i in (rec.sent_global_request_id, rec.local_request_id) if i}
    if rec.name == "limits-chain":
        ids.add(lab.report.by_name("limits-chain-rpc").local_request_id or "")
        ids.add(lab.placement_local_for_global(rec.sent_global_request_id or ""))
    if rec.name == "limits-no-global":
        ids.add(lab.placement_local_for_global(rec.local_request_id or ""))
    return ids


@pytest.mark.parametrize(
    "name",
    ["limits-chain", "limits-no-global", "allocation-conflict", "rpc-remote-error", "compute-rpc-raises"],
)
def test_every_line_carrying_the_requests_ids_is_in_the_trace(lab: Lab, source, name: str) -> None:  # type: ignore[no-untyped-def]
    rec = lab.report.by_name(name)
    ids = _request_ids(lab, rec)
    trace = _trace(source, rec.sent_global_request_id or rec.local_request_id or "")
    covered = {(ln.file, ln.line_no + k) for ln in trace.lines() for k in range(ln.n_lines)}
    expected = set()
    for log in lab.paths.logs.glob("*.log"):
        for no, line in enumerate(log.read_text().splitlines(), 1):
            if any(i in line for i in ids):
                expected.add((str(log), no))
    assert expected
    assert expected - covered == set()


FAILURES = [
    "bad-password",
    "invalid-token",
    "server-not-found",
    "nova-bad-microversion",
    "rp-duplicate",
    "allocation-conflict",
    "rp-not-found",
    "placement-bad-microversion",
    "rpc-timeout",
    "compute-rpc-raises",
    "compute-rpc-timeout",
    "rpc-remote-error",
    "server-create-no-valid-host",
]


@pytest.mark.parametrize("name", FAILURES)
def test_failing_request_is_isolated_to_the_right_service(lab: Lab, source, name: str) -> None:  # type: ignore[no-untyped-def]
    from kansoku.tracing.isolate import isolate

    rec = lab.report.by_name(name)
    verdict = isolate(_trace(source, rec.sent_global_request_id or rec.local_request_id or ""))
    root = verdict.root_cause
    assert root is not None, verdict.explanation
    assert root.span.service == rec.failing_service
    if isinstance(rec.expected_status, int) and rec.failing_service == rec.service:
        assert root.status == rec.expected_status or (root.exception or "").endswith(rec.exception or "?")
    if rec.exception:
        text = f"{root.exception} {root.message}"
        assert rec.exception in text


def test_compute_timeout_shows_the_callers_messaging_timeout(lab: Lab, source) -> None:  # type: ignore[no-untyped-def]
    rec = lab.report.by_name("compute-rpc-timeout")
    trace = _trace(source, rec.sent_global_request_id or "")
    assert {s.service for s in trace.spans} == {"nova-api", "nova-compute"}
    api = next(s for s in trace.spans if s.service == "nova-api")
    assert any("MessagingTimeout" in (ln.exception or "") + ln.raw for ln in api.errors or api.lines)
    compute = next(s for s in trace.spans if s.service == "nova-compute")
    assert compute.parent == api.key  # RPC_UPSTREAM: nova-compute is called by nova-api
    assert compute.start > api.start


def test_successful_requests_have_no_root_cause(lab: Lab, source) -> None:  # type: ignore[no-untyped-def]
    from kansoku.tracing.isolate import isolate

    for name in ("token-issue", "rp-create", "limits-chain", "invalid-global-id"):
        rec = lab.report.by_name(name)
        verdict = isolate(_trace(source, rec.sent_global_request_id or rec.local_request_id or ""))
        assert verdict.root_cause is None, (name, verdict.explanation)


# --- a server create across the five nova-side services -------------------------------------

#: Where a booted server's request shows: nova-api reads the image from glance and counts usage
#: in placement; conductor -> scheduler (claims in placement) -> compute (fake driver).
CREATE = {"nova-api", "glance", "placement", "nova-conductor", "nova-scheduler", "nova-compute"}


def test_compute_reports_its_fake_host_to_placement(lab: Lab) -> None:
    """The scheduler can only place on a provider nova-compute registered (`host = kansoku-lab`)."""
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=lab.state.auth_url,
        username=lab.state.admin_user,
        password=lab.state.admin_password,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    sess = ks_session.Session(auth=auth)
    providers = sess.get(f"{lab.state.placement_url}/resource_providers?name=kansoku-lab").json()
    [rp] = providers["resource_providers"]
    inventory = sess.get(f"{lab.state.placement_url}/resource_providers/{rp['uuid']}/inventories").json()
    assert inventory["inventories"]["MEMORY_MB"]["total"] == 800000  # nova.virt.fake.FakeDriver


def test_server_create_reached_every_service_under_the_global_id(lab: Lab) -> None:
    rec = lab.report.by_name("server-create")
    assert rec.final_state == "ACTIVE" and rec.resource_id
    for service in CREATE:
        assert str(rec.sent_global_request_id) in lab.text(service), service
    compute = lab.text("nova-compute")
    assert f"[{rec.sent_global_request_id} {rec.local_request_id} " in compute
    assert re.search(rf"\[instance: {rec.resource_id}\] Took [0-9.]+ seconds to build instance", compute)


def test_no_valid_host_create_is_refused_by_the_scheduler_and_set_to_error(lab: Lab) -> None:
    rec = lab.report.by_name("server-create-no-valid-host")
    assert rec.final_state == "ERROR"
    head = f"[{rec.sent_global_request_id} {rec.local_request_id} "
    scheduler = [ln for ln in lab.text("nova-scheduler").splitlines() if head in ln]
    assert any("Got no allocation candidates from the Placement API" in ln for ln in scheduler)
    conductor = lab.text("nova-conductor")
    assert "NoValidHost" in conductor and head in conductor
    assert str(rec.sent_global_request_id) not in lab.text("nova-compute")  # never got that far


@pytest.mark.parametrize("start", ["global", "nova-api-local"])
def test_server_create_is_stitched_across_the_services(lab: Lab, source, start: str) -> None:  # type: ignore[no-untyped-def]
    rec = lab.report.by_name("server-create")
    query = rec.sent_global_request_id if start == "global" else rec.local_request_id
    trace = _trace(source, query or "")
    assert {s.service for s in trace.spans} == CREATE
    by_service = {s.service: s for s in trace.spans if s.service != "placement"}
    api = by_service["nova-api"].key
    # the RPC hops: nova-api casts to conductor, which calls the scheduler and casts to compute
    assert by_service["nova-conductor"].parent == api
    assert by_service["nova-scheduler"].parent == by_service["nova-conductor"].key
    assert by_service["nova-compute"].parent == by_service["nova-conductor"].key


def test_server_create_trace_is_rooted_at_nova_api_not_glance(lab: Lab, source) -> None:  # type: ignore[no-untyped-def]
    rec = lab.report.by_name("server-create")
    trace = _trace(source, rec.sent_global_request_id or "")
    assert trace.spans[0].service == "nova-api"
    glance = next(s for s in trace.spans if s.service == "glance")
    assert glance.parent is not None and glance.parent.service == "nova-api"


def test_every_line_of_the_server_create_is_in_the_trace(lab: Lab, source) -> None:  # type: ignore[no-untyped-def]
    rec = lab.report.by_name("server-create")
    ids = {str(rec.sent_global_request_id), str(rec.local_request_id)}
    trace = _trace(source, rec.sent_global_request_id or "")
    covered = {(ln.file, ln.line_no + k) for ln in trace.lines() for k in range(ln.n_lines)}
    expected = {
        (str(log), no)
        for log in lab.paths.logs.glob("*.log")
        for no, line in enumerate(log.read_text().splitlines(), 1)
        if any(i in line for i in ids)
    }
    assert expected and expected - covered == set()


def _server_create_errors(lab: Lab, source) -> list[str]:  # type: ignore[no-untyped-def]
    rec = lab.report.by_name("server-create")
    trace = _trace(source, rec.sent_global_request_id or "")
    # every ERROR line, also those kansoku knows are not request failures (span.errors leaves them out)
    return [ln.raw for s in trace.spans for ln in s.lines if ln.level in ("ERROR", "CRITICAL")]


def test_the_booted_servers_only_error_is_a_plugin_load_in_the_conductor(lab: Lab, source) -> None:  # type: ignore[no-untyped-def]
    """The create succeeded (ACTIVE); the only ERROR its ids may carry is stevedore failing to
    load oslo.cache's memcache backend (no `memcache` module) at the conductor's first cache use
    (absent when that first use fell on a retried attempt)."""
    errors = _server_create_errors(lab, source)
    assert all("ERROR stevedore.extension" in e and "oslo_cache.memcache_pool" in e for e in errors), errors


def test_the_booted_server_has_no_root_cause(lab: Lab, source) -> None:  # type: ignore[no-untyped-def]
    """Odd case 19: stevedore's plugin-load ERROR under the create's ids is not a failure of the
    create (it went ACTIVE), so there is no root cause."""
    from kansoku.tracing.isolate import isolate

    rec = lab.report.by_name("server-create")
    verdict = isolate(_trace(source, rec.sent_global_request_id or ""))
    assert verdict.root_cause is None, verdict.explanation
