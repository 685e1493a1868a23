"""Opt-in: the binary checks against a real Kubernetes cluster named by KANSOKU_TEST_KUBECONFIG."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import yaml

from kansoku.health.runner import check_once
from kansoku.inventory import HealthSettings, Inventory
from kansoku.models import CheckState, Cluster, Credentials

pytestmark = pytest.mark.live

KUBECONFIG = os.environ.get("KANSOKU_TEST_KUBECONFIG")


@pytest.mark.skipif(
    not KUBECONFIG, reason="opt-in: set KANSOKU_TEST_KUBECONFIG to a kubeconfig of a real cluster"
)
def test_live_cluster_checks() -> None:
    assert KUBECONFIG is not None
    doc = yaml.safe_load(Path(KUBECONFIG).read_text())
    ctx = {c["name"]: c["context"] for c in doc["contexts"]}[doc["current-context"]]
    server = {c["name"]: c["cluster"] for c in doc["clusters"]}[ctx["cluster"]]["server"]
    cluster = Cluster(id="live", api_url=server, credentials=Credentials(kubeconfig=KUBECONFIG))
    inv = Inventory(clusters=[cluster], settings=HealthSettings.model_validate({"timeout": 10}))
    got = {s.check: s for s in asyncio.run(check_once(inv))}
    assert got["apiserver_readyz"].state is CheckState.OK, got["apiserver_readyz"].reason
    assert got["apiserver_livez"].state is CheckState.OK, got["apiserver_livez"].reason
    for name in ("kubelet_ready", "componentstatus"):
        # whatever the cluster's health, our parsing of its real answers must not be the problem
        assert not got[name].reason.startswith(("unexpected", "invalid JSON")), got[name].reason
        assert got[name].state is not CheckState.UNKNOWN or "HTTP 403" in got[name].reason, got[name].reason
