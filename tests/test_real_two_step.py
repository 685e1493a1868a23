"""A two-step failure on real nova over RabbitMQ, traced from the request the user saw fail.

The lab runs nova-compute with nova's own `fake.FakeBuildAbortDriver`: every spawn raises
BuildAbortException, so `POST /servers` answers 202 and the instance ends in ERROR in
nova-compute. The user's next call, a soft reboot, is refused by nova-api with 409. From
the reboot's request id alone (what `openstack server reboot` prints), kansoku must name
nova-compute and the earlier create request, linked by the instance's UUID.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kansoku.lab.cli import lab_down, lab_up
from kansoku.lab.records import TrafficReport
from kansoku.lab.services import LabPaths
from kansoku.lab.two_step import ABORT_DRIVER, run_two_step
from kansoku.servers import RabbitMQ

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def two_step(
    tmp_path_factory: pytest.TempPathFactory, rabbitmq: RabbitMQ
) -> Iterator[tuple[LabPaths, TrafficReport]]:
    pytest.importorskip("nova", reason="pip install 'kansoku[lab]'")  # the lab extra, always in CI
    root = tmp_path_factory.mktemp("lab-two-step")
    lab_up(
        root,
        transport_url=f"rabbit://guest:guest@127.0.0.1:{rabbitmq.ports['amqp']}/",
        compute_driver=ABORT_DRIVER,
    )
    try:
        report = run_two_step(root)
        yield LabPaths(root.resolve()), report
    finally:
        lab_down(root)


def test_the_build_failed_in_nova_compute_and_the_reboot_was_refused(
    two_step: tuple[LabPaths, TrafficReport],
) -> None:
    paths, report = two_step
    build, reboot = report.by_name("server-create-build-abort"), report.by_name("server-reboot-refused")
    assert (build.status, build.final_state) == (202, "ERROR")
    assert reboot.status == 409
    assert build.resource_id and build.resource_id == reboot.resource_id
    compute = paths.log("nova-compute").read_text()
    assert "BuildAbortException" in compute and f"Build of instance {build.resource_id} aborted" in compute
    assert f"Cannot 'reboot' instance {build.resource_id} while it is in vm_state error" in (
        paths.log("nova-api").read_text()
    )


def test_from_the_refused_reboot_the_verdict_names_nova_compute_and_the_build(
    two_step: tuple[LabPaths, TrafficReport], tmp_path: Path
) -> None:
    from kansoku.tracing.chain import follow_chain
    from kansoku.tracing.index import build_index
    from kansoku.tracing.isolate import isolate
    from kansoku.tracing.model import LinkKind
    from kansoku.tracing.sources.index import IndexSource
    from kansoku.tracing.stitch import build_trace

    paths, report = two_step
    build, reboot = report.by_name("server-create-build-abort"), report.by_name("server-reboot-refused")
    build_index([paths.logs], tmp_path / "store")
    source = IndexSource(tmp_path / "store")
    assert reboot.local_request_id is not None
    trace = build_trace(source, reboot.local_request_id)
    alone = isolate(trace)
    assert alone.root_cause is not None and alone.root_cause.status == 409  # the refusal, alone
    _, verdict = follow_chain(source, trace, alone)
    rc = verdict.root_cause
    assert rc is not None and verdict.chain is not None, verdict.explanation
    assert rc.span.service == "nova-compute", verdict.explanation
    assert (rc.exception or "").endswith("BuildAbortException"), verdict.explanation
    assert verdict.chain.earlier_id in {build.local_request_id, build.sent_global_request_id}
    assert verdict.chain.resource.uuid == build.resource_id
    assert verdict.chain.link.kind is LinkKind.RESOURCE
    assert verdict.chain.state == "vm_state error"
    assert f"this request {reboot.local_request_id} was refused: 409" in verdict.explanation
