"""The receiver and the rails, over real HTTP (uvicorn on loopback) with a real journal.

Actions here are `run_command`s that append their request id to a file, so the tests see
exactly what ran and how often.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from kansoku.alerts.heal.app import create_app
from kansoku.alerts.heal.config import load_heal_config
from kansoku.alerts.heal.serve import Built, authenticator, build, history, set_paused
from kansoku.errors import ConfigError
from kansoku.ids import REQUEST_ID_RE
from kansoku.process import free_port
from tests.support.heal import AUTH, TOKEN, alert, message, uvicorn_thread, wait_for
from tests.support.loopback import LoopbackServer

CONFIG = """
journal: journal.sqlite
token_file: token
basic_auth: {{username: alertmanager, password_file: basic-password}}
max_body_bytes: 20000
cluster_sizes: {{c1: 10, c2: 10, c3: 10, c4: 10, c5: 10, c6: 10}}
safety:
  cooldown_seconds: {cooldown}
  max_unhealthy: "40%"
  fleet_budget_per_hour: {budget}
  storm_clusters: {storm}
hooks:
  - alert: KubeNodeNotReady
    action: run_command
    params:
      argv: ["/bin/sh", "-c", "echo \\"$KANSOKU_REQUEST_ID {{cluster}} {{node}}\\" >> {runs}"]
      verify_deadline_seconds: {verify}
      url: {sink}
    escalate_to: webhook
  - alert: ManagementAgentDisconnected
    action: run_command
    params:
      argv: ["/bin/sh", "-c", "echo \\"$KANSOKU_REQUEST_ID agent {{cluster}}\\" >> {runs}"]
"""


class Heal:
    def __init__(self, base: str, built: Built, runs: Path, config: Path) -> None:
        self.base, self.built, self.runs, self.config = base, built, runs, config

    def post(
        self, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> httpx.Response:
        content = raw if raw is not None else json.dumps(body).encode()
        return httpx.post(
            self.base + "/alertmanager",
            content=content,
            headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)},
        )

    def ran(self) -> list[str]:
        return self.runs.read_text().splitlines() if self.runs.exists() else []

    def decisions(self) -> list[tuple[str, str, str]]:
        self.settle()
        return [
            (r["alertname"], r["decision"], r["reason"])
            for r in self.built.journal.query("SELECT * FROM alerts ORDER BY id")
        ]

    def settle(self) -> None:
        wait_for(
            lambda: (
                not self.built.journal.query("SELECT 1 FROM alerts WHERE decided_at IS NULL")
                and not self.built.journal.query("SELECT 1 FROM actions WHERE state IN ('pending','running')")
            ),
            15,
            "decisions and actions to finish",
        )


@pytest.fixture
def heal(tmp_path: Path) -> Iterator[Callable[..., Heal]]:
    stack: list[Any] = []

    def start(
        cooldown: float = 0,
        budget: int = 100,
        storm: int = 100,
        verify: float = 30,
        dry_run: bool = False,
        checks: Callable[[], str | None] | None = None,
        sink: str = "http://127.0.0.1:9/none",
    ) -> Heal:
        (tmp_path / "token").write_text(TOKEN + "\n")
        (tmp_path / "basic-password").write_text("am-password\n")
        runs = tmp_path / "runs.log"
        path = tmp_path / "heal.yaml"
        path.write_text(
            CONFIG.format(cooldown=cooldown, budget=budget, storm=storm, runs=runs, verify=verify, sink=sink)
        )
        loaded = load_heal_config(path)
        built = build(loaded, dry_run=dry_run, checks=checks)
        built.healer.start()
        app = create_app(built.journal, built.engine, built.healer, authenticator(loaded))
        ctx = uvicorn_thread(app)
        base = ctx.__enter__()
        stack.append((ctx, built))
        return Heal(base, built, runs, path)

    yield start
    for ctx, built in stack:
        ctx.__exit__(None, None, None)
        built.healer.stop()
        built.journal.close()


def node(n: int, cluster: str = "c1", **kw: str) -> dict[str, Any]:
    return alert("KubeNodeNotReady", cluster=cluster, region="r1", node=f"{cluster}-node-{n}", **kw)


def test_auth_rejects_missing_and_wrong_credentials_and_accepts_bearer_and_basic(
    heal: Callable[..., Heal],
) -> None:
    h = heal()
    body = message(node(1))
    assert h.post(body, headers={}).status_code == 401
    assert h.post(body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    wrong_basic = base64.b64encode(b"alertmanager:nope").decode()
    assert h.post(body, headers={"Authorization": f"Basic {wrong_basic}"}).status_code == 401
    assert h.ran() == [] and h.built.journal.query("SELECT count(*) FROM alerts")[0][0] == 0
    basic = base64.b64encode(b"alertmanager:am-password").decode()
    ok = h.post(body, headers={"Authorization": f"Basic {basic}"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["alerts"][0]["note"] == "queued"
    h.settle()
    assert len(h.ran()) == 1
    # the journal is the audit log of every attempt, but holds no secret
    codes = [r[0] for r in h.built.journal.query("SELECT http_status FROM deliveries ORDER BY id")]
    # the first refusal of a client is its own row; the rest of its window become one summary
    assert codes == [401, 200]
    h.built.journal.query("PRAGMA wal_checkpoint(FULL)")
    for f in h.config.parent.glob("journal.sqlite*"):
        data = f.read_bytes()
        assert TOKEN.encode() not in data and b"am-password" not in data and basic.encode() not in data


def test_bad_input_is_rejected_with_a_clear_4xx_journaled_and_nothing_runs(heal: Callable[..., Heal]) -> None:
    h = heal()
    assert h.post(None, raw=b'{"version": "4", "alerts": [').status_code == 400
    v3 = message(node(1))
    v3["version"] = "3"
    r = h.post(v3)
    assert r.status_code == 400 and "unsupported webhook version '3'" in r.json()["error"]
    no_name = message(node(1))
    del no_name["alerts"][0]["labels"]["alertname"]
    assert "has no alertname label" in h.post(no_name).json()["error"]
    no_node = message(alert("KubeNodeNotReady", cluster="c1"))
    r = h.post(no_node)
    assert r.status_code == 422 and "lacks label(s) node" in r.json()["error"]
    no_fp = message(node(1))
    del no_fp["alerts"][0]["fingerprint"]
    assert h.post(no_fp).status_code == 422
    huge = message(*[node(i, annotations_pad="x" * 1000) for i in range(30)])
    r = h.post(huge)
    assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]
    unknown = message(alert("SomethingElse", cluster="c1", instance="x"))
    r = h.post(unknown)
    assert r.status_code == 200 and r.json()["alerts"][0]["note"].startswith("ignored")
    replay = h.post(unknown)
    assert replay.status_code == 409 and "replay" in replay.json()["error"]
    assert h.decisions() == [("SomethingElse", "no_hook", "no heal hook for this alert name")]
    assert h.ran() == []
    rejected = h.built.journal.query("SELECT http_status, reason FROM deliveries WHERE http_status != 200")
    assert [r[0] for r in rejected] == [400, 400, 422, 422, 422, 413, 409]
    assert all(r[1] for r in rejected)


def test_action_runs_once_with_request_id_and_closes_loop_on_resolved(heal: Callable[..., Heal]) -> None:
    h = heal()
    firing = node(3)
    assert h.post(message(firing)).status_code == 200
    h.settle()
    [line] = h.ran()
    request_id = line.split()[0]
    assert REQUEST_ID_RE.fullmatch(request_id) and line.endswith("c1 c1-node-3")
    [act] = h.built.journal.actions()
    assert act.state == "verifying" and act.request_id == request_id
    # Alertmanager re-notifies the same alert in another group: same idempotency key
    assert h.post(message(firing, group_key="{}:{other}")).status_code == 200
    resolved = dict(firing, status="resolved", endsAt="2026-11-23T17:00:00Z")
    assert h.post(message(resolved)).status_code == 200
    decisions = [d[1] for d in h.decisions()]
    assert decisions == ["act", "duplicate", "resolved"]
    assert h.built.journal.action(act.id).state == "healed"
    assert len(h.ran()) == 1
    metrics = httpx.get(h.base + "/metrics").text
    assert (
        'kansoku_heal_actions_total{action="run_command",cluster="c1",region="r1",result="success"} 1.0'
        in metrics
    )
    assert (
        'kansoku_heal_actions_total{action="run_command",cluster="c1",region="r1",result="skipped"} 1.0'
        in metrics
    )
    assert 'kansoku_heal_paused{cluster="fleet",region="all"} 0.0' in metrics
    rates = history(h.built.journal)["per_action"]["run_command"]
    assert rates["success"] == 1 and rates["success_rate"] == 1.0


def test_cooldown_per_target(heal: Callable[..., Heal]) -> None:
    h = heal(cooldown=600)
    h.post(message(node(1)))
    h.settle()
    h.post(message(node(1, starts="2026-11-23T16:30:00Z")))  # fired again later: new startsAt
    h.post(message(node(2)))  # another target is not affected
    got = h.decisions()
    assert [d[1] for d in got] == ["act", "cooldown", "act"]
    assert "c1/c1-node-1 was remediated" in got[1][2]
    assert len(h.ran()) == 2


def test_storm_half_the_cluster_in_one_webhook_stops_at_max_unhealthy(heal: Callable[..., Heal]) -> None:
    h = heal()
    r = h.post(message(*[node(i) for i in range(5)]))  # 5 of 10 nodes, max_unhealthy 40% = 4
    assert r.status_code == 200
    got = h.decisions()
    assert {d[1] for d in got} == {"max_unhealthy"}
    assert "5 unhealthy node targets in cluster c1 > max_unhealthy 40% of 10 nodes" in got[0][2]
    assert h.ran() == []


def test_storm_arriving_one_by_one_heals_at_most_max_unhealthy(heal: Callable[..., Heal]) -> None:
    h = heal()
    for i in range(5):
        assert h.post(message(node(i))).status_code == 200
        h.settle()
    assert [d[1] for d in h.decisions()] == ["act"] * 4 + ["max_unhealthy"]
    assert len(h.ran()) == 4


def test_fleet_budget_pauses_all_healing_raises_metric_and_resume_restores(heal: Callable[..., Heal]) -> None:
    h = heal(budget=3)
    for c in ("c1", "c2", "c3", "c4", "c5"):
        h.post(message(node(1, cluster=c)))
        h.settle()
    got = h.decisions()
    assert [d[1] for d in got] == ["act", "act", "act", "budget_exhausted", "paused"]
    assert "fleet budget exhausted: 3 remediations in the last hour" in got[3][2]
    assert len(h.ran()) == 3
    metrics = httpx.get(h.base + "/metrics").text
    assert 'kansoku_heal_paused{cluster="fleet",region="all"} 1.0' in metrics
    assert 'kansoku_heal_budget_remaining{cluster="fleet",region="all"} 0.0' in metrics
    kinds = [e["kind"] for e in h.built.journal.events()]
    assert kinds.count("budget_exhausted") == 1  # one alert, not one per webhook
    assert set_paused(h.config, False, "test").startswith("healing resumed")
    assert httpx.get(h.base + "/healthz").json()["paused"] is None


def test_pause_switch_is_persisted_and_obeyed(heal: Callable[..., Heal]) -> None:
    h = heal()
    assert set_paused(h.config, True, "operator-a") == "healing paused"
    assert set_paused(h.config, True, "operator-a").startswith("already paused")
    h.post(message(node(1)))
    assert h.decisions()[0][1] == "paused"
    set_paused(h.config, False, "operator-a")
    h.post(message(node(2)))
    assert h.decisions()[1][1] == "act"
    assert len(h.ran()) == 1


def test_many_clusters_alerting_at_once_is_a_shared_dependency(heal: Callable[..., Heal]) -> None:
    h = heal(storm=3)
    h.post(message(node(1, cluster="c1"), node(1, cluster="c2"), node(1, cluster="c3")))
    got = h.decisions()
    assert {d[1] for d in got} == {"shared_dependency_down", "paused"}
    assert "3 clusters alerting within 300s" in got[0][2]
    assert h.ran() == []
    assert h.built.journal.paused_reason() is not None


def test_kansoku_checks_saying_dependency_down_pause_healing(heal: Callable[..., Heal]) -> None:
    h = heal(checks=lambda: "keystone down in 3 regions (kansoku check keystone_token)")
    h.post(message(node(1)))
    assert h.decisions()[0][1:] == (
        "shared_dependency_down",
        "keystone down in 3 regions (kansoku check keystone_token)",
    )
    assert h.ran() == []


def test_dry_run_decides_and_journals_but_never_acts(heal: Callable[..., Heal]) -> None:
    h = heal(dry_run=True)
    h.post(message(node(1)))
    [(_, decision, reason)] = h.decisions()
    assert decision == "dry_run" and "would run run_command" in reason
    [act] = h.built.journal.actions()
    assert act.state == "dry_run" and act.plan and "run [" in act.plan[0]
    assert h.ran() == []


class _Sink(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Sink.seen.append((self.headers["X-OpenStack-Request-ID"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@contextmanager
def sink() -> Iterator[str]:
    with LoopbackServer(_Sink, threaded=False) as server:
        yield f"{server.url}/hook"


def test_not_healed_by_deadline_escalates_to_the_next_action(heal: Callable[..., Heal]) -> None:
    with sink() as url:
        h = heal(verify=0.3, sink=url)
        h.post(message(node(7)))
        wait_for(
            lambda: (
                len(h.built.journal.actions()) == 2
                and h.built.journal.actions()[1].state not in ("pending", "running")
            ),
            15,
            "the escalation",
        )
        first, second = h.built.journal.actions()
        assert (
            first.state == "not_healed" and second.action == "webhook" and second.escalated_from == first.id
        )
        [(rid, body)] = _Sink.seen
        assert rid == second.request_id and body["labels"]["node"] == "c1-node-7"
        assert [e["kind"] for e in h.built.journal.events()] == ["escalation"]


def test_config_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "heal.yaml"
    path.write_text(
        "hooks:\n  - alert: KubeNodeNotReady\n    action: reboot_everything\nsafety:\n  max_unhealthy: lots\n"
    )
    with pytest.raises(ConfigError) as err:
        load_heal_config(path)
    assert f"{path}:5: safety.max_unhealthy" in str(err.value)
    path.write_text("hooks:\n  - alert: KubeNodeNotReady\n    action: reboot_everything\n")
    with pytest.raises(ConfigError) as err:
        load_heal_config(path)
    assert f"{path}:3: hooks[0].action: unknown action 'reboot_everything'" in str(err.value)


def test_journal_survives_reopen_and_is_wal(tmp_path: Path) -> None:
    from kansoku.alerts.heal.journal import Journal

    j = Journal(tmp_path / "j.sqlite")
    j.pause("because")
    j.close()
    db = sqlite3.connect(tmp_path / "j.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT value FROM settings WHERE key='paused'").fetchone()[0] == "because"


def test_kansoku_collector_metrics_saying_a_region_is_down_pause_healing(tmp_path: Path) -> None:
    """The health area's exporter page (real exposition format from prometheus_client) read
    through HealthMetricsProbe and judged by kansoku.health.fleet."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    from kansoku.alerts.heal.health import HealthMetricsProbe

    registry = CollectorRegistry()
    gauge = Gauge("kansoku_check_state", "state", ["cluster", "region", "check", "state"], registry=registry)
    for i in range(4):
        gauge.labels(f"fra-{i}", "fra", "apiserver_readyz", "failing" if i < 3 else "ok").set(1)
        gauge.labels(f"fra-{i}", "fra", "kubelet_ready", "ok").set(1)
    page = generate_latest(registry)

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            return

    with LoopbackServer(Page, threaded=False) as server:
        probe = HealthMetricsProbe(f"{server.url}/metrics", {})
        reason = probe.shared_dependency_down()
        assert reason is not None and "region fra: 3 of 4 clusters" in reason
        dead = HealthMetricsProbe(f"http://127.0.0.1:{free_port()}/metrics", {})
        assert dead.shared_dependency_down() is None


def test_bundle_hooks_without_a_bundle_catalog_is_a_clear_error(tmp_path: Path) -> None:
    """The healer does not import the bundles: asked for their hooks with no catalog wired in,
    it says so instead of silently healing with heal.yaml's hooks only."""
    from kansoku.errors import KansokuError

    (tmp_path / "heal.yaml").write_text(
        "journal: j.sqlite\nbundle_hooks: true\ndry_run: true\n"
        "clusters:\n  - {id: c1, api_url: 'https://10.0.0.1:6443', k8s_version: 1.29.4}\n"
    )
    with pytest.raises(KansokuError, match="bundle_hooks is true but no bundle catalog"):
        build(load_heal_config(tmp_path / "heal.yaml"))


def test_heal_serve_and_rules_test_are_registered_with_the_bundles() -> None:
    """`heal serve` and `rules test` read the bundles, so the bundles' CLI adds them to the
    alerts area's command groups: the user sees one `heal` and one `rules` group as before."""
    from typer.testing import CliRunner

    from kansoku.cli import build_app

    app = build_app()
    heal = CliRunner().invoke(app, ["heal", "--help"])
    assert heal.exit_code == 0 and all(c in heal.output for c in ("serve", "history", "pause", "resume"))
    rules = CliRunner().invoke(app, ["rules", "--help"])
    assert rules.exit_code == 0 and "check" in rules.output and "test" in rules.output
    serve = CliRunner().invoke(app, ["heal", "serve", "--help"])
    assert serve.exit_code == 0 and "--dry-run" in serve.output


def test_bundle_heal_hooks_apply_per_cluster(tmp_path: Path) -> None:
    """Hooks shipped in the real kansoku-core bundle manifest (addon-bundles), chosen by the
    cluster's Kubernetes version, decide an alert when heal.yaml has no hook for it. The
    bundle catalog reaches the healer through its HookSource seam, as `kansoku heal serve` wires it."""
    from kansoku.addon_bundles.ops import CatalogHooks
    from kansoku.alerts.heal.journal import Journal

    (tmp_path / "heal.yaml").write_text(
        "journal: j.sqlite\nbundle_hooks: true\ndry_run: true\n"
        "clusters:\n  - {id: c1, api_url: 'https://10.0.0.1:6443', k8s_version: 1.29.4}\n"
        "cluster_sizes: {c1: 10}\n"
    )
    built = build(load_heal_config(tmp_path / "heal.yaml"), hook_sources=CatalogHooks)
    journal: Journal = built.journal
    try:
        body = message(
            node(2),
            alert("ManagementAgentDisconnected", cluster="c1", region="r1"),
            alert("KubeletDown", cluster="c1", region="r1", node="c1-node-5"),
        )
        from kansoku.alerts.heal.model import AMMessage

        assert built.engine.missing_labels(body["alerts"][0]["labels"]) == []
        journal.ingest(AMMessage.model_validate(body), "sha", "test", 1)
        built.healer.drain()
        got = {
            r["alertname"]: (r["decision"], r["hook_action"]) for r in journal.query("SELECT * FROM alerts")
        }
        # The bundle ships only hooks that need nothing site-specific: no kubelet restart
        # (that needs the operator's way onto the node), so KubeletDown has no hook.
        assert got == {
            "KubeNodeNotReady": ("dry_run", "replace_node"),
            "ManagementAgentDisconnected": ("dry_run", "restart_agent"),
            "KubeletDown": ("no_hook", None),
        }
    finally:
        journal.close()
