"""Advanced (PromQL) checks against a real Prometheus that scrapes itself."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kansoku.health.runner import Monitor
from kansoku.inventory import HealthSettings, Inventory, PromQLCheck
from kansoku.models import CheckState, Cluster
from kansoku.process import ManagedProcess, free_port
from kansoku.servers import start_prometheus

pytestmark = pytest.mark.real


def _checks(**specs: dict[str, object]) -> list[PromQLCheck]:
    return [PromQLCheck.model_validate({"name": name, **spec}) for name, spec in specs.items()]


def test_promql_thresholds_and_for(
    tmp_path: Path, procs: list[ManagedProcess], need_prometheus: None
) -> None:
    config: dict[str, object] = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
              "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": ["PLACEHOLDER"]}]}]}  # fmt: skip
    prom = start_prometheus(tmp_path / "p", config)
    procs.append(prom)
    base = f"http://127.0.0.1:{prom.ports['http']}"
    # scrape itself: rewrite the target now that the port is known, then reload
    (tmp_path / "p" / "prometheus.yml").write_text(
        (tmp_path / "p" / "prometheus.yml")
        .read_text()
        .replace("PLACEHOLDER", f"127.0.0.1:{prom.ports['http']}")
    )
    urllib.request.urlopen(urllib.request.Request(f"{base}/-/reload", method="POST"), timeout=5).close()
    q = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": "up"})
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        with urllib.request.urlopen(q, timeout=5) as resp:
            if json.load(resp)["data"]["result"]:
                break
        time.sleep(0.5)
    checks = _checks(
        target_down={"expr": "up", "op": "<", "threshold": 1},
        has_build_info={"expr": "prometheus_build_info", "op": ">", "threshold": 0},
        held={"expr": "prometheus_build_info", "op": ">", "threshold": 0, "for": "1h"},
        bad_query={"expr": "sum(", "op": ">", "threshold": 0},
    )
    clusters = [
        Cluster(id="c1", api_url="http://127.0.0.1:1", prometheus=base),
        Cluster(id="noprom", api_url="http://127.0.0.1:1", prometheus=f"http://127.0.0.1:{free_port()}"),
    ]
    inv = Inventory(clusters=clusters, checks=checks, settings=HealthSettings.model_validate({"timeout": 3}))
    monitor = Monitor(inv, checks=[])
    got = {(s.cluster, s.check): s for s in asyncio.run(monitor.round())}
    assert got[("c1", "target_down")].state is CheckState.OK
    assert got[("c1", "target_down")].reason == "not < 1 (max 1)"
    assert got[("c1", "has_build_info")].state is CheckState.FAILING
    assert got[("c1", "has_build_info")].reason.startswith("prometheus_build_info{")
    assert got[("c1", "held")].state is CheckState.OK  # breaching, but not yet for 1h
    assert got[("c1", "held")].reason.startswith("pending: ")
    assert got[("c1", "bad_query")].state is CheckState.UNKNOWN
    assert "parse error" in got[("c1", "bad_query")].reason
    assert got[("noprom", "target_down")].state is CheckState.UNKNOWN
    assert "connection refused" in got[("noprom", "target_down")].reason
    # an hour later (wall clock) the held breach becomes a failure, with how long it held
    later = time.time() + 3601
    monitor.advanced["held"]._clock = lambda: later
    got = {(s.cluster, s.check): s for s in asyncio.run(monitor.round(["c1"]))}
    assert got[("c1", "held")].state is CheckState.OK  # flap protection: 1 of 2 results so far
    assert got[("c1", "held")].pending is CheckState.FAILING
    got = {(s.cluster, s.check): s for s in asyncio.run(monitor.round(["c1"]))}
    assert got[("c1", "held")].state is CheckState.FAILING
    assert " for 360" in got[("c1", "held")].reason
