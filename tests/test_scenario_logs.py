"""The shared scenarios (tests/support/scenarios.py) are real oslo.log text: parsed back cleanly."""

from __future__ import annotations

from pathlib import Path

from tests.support.scenarios import ALL, Cloud


def test_scenarios_are_real_oslo_log(tmp_path: Path) -> None:
    """Every record parses as oslo.log text: ids, levels, tracebacks and access lines come out."""
    cloud = Cloud(tmp_path)
    for build in ALL.values():
        build(cloud)
    lines, problems = cloud.parse()
    assert problems == []
    assert all(ln.fmt == "text" for ln in lines)
    exceptions = {ln.exception for ln in lines if ln.exception}
    assert "nova.exception.NoValidHost" in exceptions
    assert "oslo_messaging.exceptions.MessagingTimeout" in exceptions
    tb = next(ln for ln in lines if ln.exception == "nova.exception.PortBindingFailed")
    assert tb.n_lines > 3 and tb.local_id and tb.instance
    statuses = sorted({ln.access.status for ln in lines if ln.access})
    assert statuses == [200, 202, 204, 400, 401, 404, 409, 500]
    callee = [ln for ln in lines if "used request id" in ln.message]
    assert callee and all(len(ln.extra_ids) == 1 for ln in callee)
    placement = [ln for ln in lines if ln.service == "placement-api"]
    assert placement and all(ln.global_id and ln.global_id != ln.local_id for ln in placement)
