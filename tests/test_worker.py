"""nova-api switching request id mid-request: the rest of the request joins with a weak `same_worker` link.

Written as real oslo.log text: the reported id logs one line; the ERROR, its traceback and the
500 access line follow in the same process under a new id with an empty context
(`[None req-Y - - - - - -]`), as issue 18 describes from real failures.
"""

from __future__ import annotations

from pathlib import Path

from kansoku.tracing.chain import follow_chain
from kansoku.tracing.index import build_index
from kansoku.tracing.isolate import isolate
from kansoku.tracing.model import LinkKind, Strength
from kansoku.tracing.sources.index import IndexSource
from kansoku.tracing.stitch import build_trace
from kansoku.tracing.worker import empty_context
from tests.support.scenarios import USER, Cloud, api_create, rid, traceback


def _empty(c: Cloud, host: str, service: str, req: str) -> None:
    """Rewrite the records just logged under `req` to an empty context (no user, no global id)."""
    lines = c._lines[c.path(host, service)]
    for i, text in enumerate(lines):
        lines[i] = text.replace(f"[None {req} {USER}]", f"[None {req} - - - - - -]")


def switched(
    c: Cloud, answered_in_other_pid: bool = False, x_answers: bool = False, periodic_first: bool = False
) -> dict[str, str]:
    x, y, z, p = rid(), rid(), rid(), rid()
    where: dict[str, str] = {}
    c.pids["ctl-1/nova-api"] = 4242
    where["x_line"] = api_create(c, x)
    if x_answers:
        c.access("ctl-1", "nova-api", 0.05, "POST", "/v2.1/servers", 202, req=x)
    # another worker of the same service writes to the same file in between
    c.pids["ctl-1/nova-api"] = 4243
    c.log("ctl-1", "nova-api", 0.01, "INFO", "nova.api.openstack.wsgi", "GET /v2.1/servers/detail", req=z)
    c.pids["ctl-1/nova-api"] = 4242
    if periodic_first:  # an admin-context task of the same worker, empty context, no access line
        c.log("ctl-1", "nova-api", 0.1, "DEBUG", "oslo_service.periodic_task", "Running periodic task", req=p)
        _empty(c, "ctl-1", "nova-api", p)
    where["y_error"] = c.log(
        "ctl-1",
        "nova-api",
        0.2,
        "ERROR",
        "nova.api.openstack.wsgi",
        "Unexpected exception in API method",
        req=y,
        tb=traceback(
            [
                (
                    "nova/api/openstack/compute/servers.py",
                    780,
                    "create",
                    "flavor_id = server_dict['flavorRef']",
                )
            ],
            "KeyError: 'flavorRef'",
        ),
    )
    if answered_in_other_pid:
        c.pids["ctl-1/nova-api"] = 4243
    where["y_500"] = c.access("ctl-1", "nova-api", 0.3, "POST", "/v2.1/servers", 500, req=y, duration=0.3)
    _empty(c, "ctl-1", "nova-api", y)
    return {"x": x, "y": y, **where}


def _verdict(c: Cloud, tmp_path: Path, query: str):
    c.write()
    build_index([c.root / "ctl-1"], tmp_path / "store")
    source = IndexSource(tmp_path / "store")
    trace = build_trace(source, query)
    return trace, *follow_chain(source, trace, isolate(trace))


def test_the_request_continued_under_a_new_id_in_the_same_worker(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    ids = switched(c)
    before, trace, v = _verdict(c, tmp_path, ids["x"])
    assert isolate(before).root_cause is None  # what kansoku said before: "nothing failed"
    assert v.root_cause is not None
    assert v.root_cause.span.request_id == ids["y"] and v.root_cause.exception == "KeyError"
    assert v.root_cause.line.location == ids["y_error"]
    link = next(ln for ln in trace.links if ln.kind is LinkKind.SAME_WORKER)
    assert link.strength is Strength.WEAK
    assert link.evidence == ids["y_error"]
    assert (link.source.request_id, link.target.request_id) == (ids["x"], ids["y"])
    assert ids["x"] in link.detail and ids["y_500"] in link.detail and "pid 4242" in link.detail
    assert f"continued as {ids['y']} in the same nova-api worker" in v.explanation
    assert [p.status for p in v.propagated] == []  # the 500 is in the root cause's own span
    assert {s.request_id for s in trace.spans} == {ids["x"], ids["y"]}


def _assert_no_join(tmp_path: Path, **switch: bool) -> None:
    """The `switched` story told with `switch`: no same-worker link, no root cause."""
    c = Cloud(tmp_path)
    ids = switched(c, **switch)
    _, trace, v = _verdict(c, tmp_path, ids["x"])
    assert v.root_cause is None
    assert not any(ln.kind is LinkKind.SAME_WORKER for ln in trace.links)


def test_no_join_when_the_request_answered_under_its_own_id(tmp_path: Path) -> None:
    _assert_no_join(tmp_path, x_answers=True)


def test_no_join_when_the_new_id_answered_in_another_process(tmp_path: Path) -> None:
    _assert_no_join(tmp_path, answered_in_other_pid=True)


def test_empty_context_means_no_user_and_no_caller(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    ids = switched(c)
    lines, _ = c.parse()
    by_req = {ln.local_id: ln for ln in lines}
    assert empty_context(by_req[ids["y"]]) and not empty_context(by_req[ids["x"]])


def test_an_empty_context_record_that_never_answers_is_passed_over(tmp_path: Path) -> None:
    c = Cloud(tmp_path)
    ids = switched(c, periodic_first=True)
    _, trace, v = _verdict(c, tmp_path, ids["x"])
    assert v.root_cause is not None and v.root_cause.span.request_id == ids["y"]
    link = next(ln for ln in trace.links if ln.kind is LinkKind.SAME_WORKER)
    assert link.target.request_id == ids["y"]
