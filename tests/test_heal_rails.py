"""Issue 11 items 7-10 and 13 (and issue 12's placeholders): the rails hold, bad input stays alone.

Real HTTP (uvicorn on loopback), a real journal, webhooks in Alertmanager 0.25's recorded
shape (tests/data/alertmanager-webhook-v4.json, same as
/work/shared/reference/samples/alertmanager-webhook-v4.json). Actions are `run_command`s
appending to a file, so the tests see exactly what ran.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kansoku.alerts.heal.app import create_app
from kansoku.alerts.heal.config import load_heal_config
from kansoku.alerts.heal.serve import authenticator, build
from kansoku.errors import ConfigError
from tests.support.heal import AUTH, TOKEN, alert, message, uvicorn_thread, wait_for
from tests.test_heal_receiver import Heal

BASE = """
journal: journal.sqlite
token_file: token
max_body_bytes: {max_body}
cluster_sizes: {{c1: 10}}
safety:
  cooldown_seconds: 0
  max_unhealthy: {max_unhealthy}
  fleet_budget_per_hour: 1000
  storm_clusters: {storm}
hooks:
"""

NODE_HOOK = """
  - alert: KubeNodeNotReady
    action: run_command
    params:
      argv: ["/bin/sh", "-c", "echo \\"$KANSOKU_REQUEST_ID {{cluster}} {{node}}\\" >> {runs}"]
"""


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Heal]]:
    stack: list[Any] = []

    def go(
        hooks: str = NODE_HOOK,
        storm: int = 1000,
        max_unhealthy: str = "1000",
        max_body: int = 1_048_576,
        checks: Callable[[], str | None] | None = None,
    ) -> Heal:
        (tmp_path / "token").write_text(TOKEN + "\n")
        runs = tmp_path / "runs.log"
        path = tmp_path / "heal.yaml"
        text = BASE.format(storm=storm, max_unhealthy=max_unhealthy, max_body=max_body)
        path.write_text(text + hooks.format(runs=runs))
        loaded = load_heal_config(path)
        built = build(loaded, checks=checks)
        built.healer.start()
        ctx = uvicorn_thread(create_app(built.journal, built.engine, built.healer, authenticator(loaded)))
        base = ctx.__enter__()
        stack.append((ctx, built))
        return Heal(base, built, runs, path)

    yield go
    for ctx, built in stack:
        ctx.__exit__(None, None, None)
        built.healer.stop()
        built.journal.close()


def node(n: int, cluster: str = "c1", name: str = "KubeNodeNotReady") -> dict[str, Any]:
    return alert(name, cluster=cluster, region="r1", node=f"{cluster}-node-{n}")


# -- item 7: a storm inside one webhook, right after another webhook ---------------------------


def test_storm_in_one_webhook_right_after_another_is_seen_by_every_decision(
    start: Callable[..., Heal],
) -> None:
    h = start(storm=5)
    assert h.post(message(node(1, cluster="c0"))).status_code == 200
    h.settle()  # the storm rail was just evaluated (a cached answer would say "no storm")
    storm = message(*[node(1, cluster=f"k{i:02d}", name="KubeNodeNotReady") for i in range(20)])
    assert h.post(storm).status_code == 200
    got = h.decisions()
    assert got[0][1] == "act"
    assert {d[1] for d in got[1:]} <= {"shared_dependency_down", "paused"}, got
    assert "clusters alerting within 300s" in got[1][2]
    assert len(h.ran()) == 1


# -- item 13: max_unhealthy counts targets of the same kind -----------------------------------


def test_unrelated_pod_alerts_do_not_block_replacing_one_node(start: Callable[..., Heal]) -> None:
    h = start(max_unhealthy='"40%"')
    pods = [alert("KubePodCrashLooping", cluster="c1", region="r1", pod=f"web-{i}") for i in range(48)]
    assert h.post(message(*pods)).status_code == 200
    assert h.post(message(node(1))).status_code == 200
    got = h.decisions()
    assert got[-1][:2] == ("KubeNodeNotReady", "act"), got[-1]
    assert len(h.ran()) == 1
    # five unhealthy nodes of ten (40% = 4) still stop, as Cluster API's MHC would; a storm
    # in one webhook is counted whole before any of it is decided
    assert h.post(message(*[node(i) for i in range(2, 6)])).status_code == 200
    last = h.decisions()[-4:]
    assert [d[1] for d in last] == ["max_unhealthy"] * 4, last
    assert "5 unhealthy node targets in cluster c1 > max_unhealthy 40% of 10 nodes" in last[-1][2]


# -- item 10: one bad body is rejected alone -------------------------------------------------


BAD_BODIES = {
    "5000-digit integer": lambda good: good.replace(
        '"truncatedAlerts": 0', '"truncatedAlerts": ' + "9" * 5000
    ),
    "lone surrogate": lambda good: good.replace('"severity": "critical"', '"severity": "\\ud800"', 1),
    "100k-deep nesting": lambda good: "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("kind", sorted(BAD_BODIES))
def test_one_bad_body_is_rejected_alone_while_other_senders_get_200(
    start: Callable[..., Heal], kind: str
) -> None:
    h = start()
    good = json.dumps(message(node(900)))
    assert '"truncatedAlerts": 0' in good
    bad = BAD_BODIES[kind](good).encode()
    codes: list[int] = []
    lock = threading.Lock()

    def sender(w: int) -> None:
        with httpx.Client(timeout=10) as client:
            for i in range(15):
                body = json.dumps(message(node(i, cluster=f"s{w}"))).encode()
                r = client.post(h.base + "/alertmanager", content=body, headers=AUTH)
                with lock:
                    codes.append(r.status_code)

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    bad_codes = [h.post(None, raw=bad).status_code for _ in range(10)]
    for t in threads:
        t.join()
    assert codes == [200] * 60
    assert set(bad_codes) <= {400, 422, 409}, bad_codes
    assert bad_codes[0] in (400, 422)
    rows = h.built.journal.query("SELECT http_status, reason FROM deliveries WHERE http_status != 200")
    assert rows and all(r["http_status"] in (400, 422, 409) and r["reason"] for r in rows)
    assert h.built.journal.query("SELECT count(*) FROM alerts")[0][0] == 60


# -- item 8: hook parameters validated at load; /healthz says when the worker is stuck ---------


@pytest.mark.parametrize(
    ("param", "field"),
    [
        ('timeout_seconds: "abc"', "timeout_seconds"),
        ('verify_deadline_seconds: "soon"', "verify_deadline_seconds"),
        ("argv: ls", "argv"),
        ("argvv: [ls]", "argvv"),
    ],
)
def test_hook_parameters_of_the_wrong_type_stop_the_load_with_file_line_field(
    tmp_path: Path, param: str, field: str
) -> None:
    path = tmp_path / "heal.yaml"
    path.write_text(
        "hooks:\n  - alert: KubeNodeNotReady\n    action: run_command\n    params:\n"
        f"      command: ls\n      {param}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_heal_config(path)
    assert f"{path}:6: hooks[0].params.{field}" in str(err.value), str(err.value)


def test_a_run_command_hook_needs_argv_or_command(tmp_path: Path) -> None:
    path = tmp_path / "heal.yaml"
    path.write_text("hooks:\n  - alert: KubeNodeNotReady\n    action: run_command\n")
    with pytest.raises(ConfigError) as err:
        load_heal_config(path)
    assert "hooks[0].params" in str(err.value) and "argv" in str(err.value)


def test_healthz_is_503_while_the_worker_cannot_decide(start: Callable[..., Heal]) -> None:
    broken = {"on": True}

    def check() -> str | None:
        if broken["on"]:
            raise RuntimeError("probe exploded")
        return None

    h = start(checks=check)
    assert httpx.get(h.base + "/healthz").status_code == 200
    assert h.post(message(node(1))).status_code == 200
    r = wait_for(
        lambda: (lambda r: r if r.status_code == 503 else None)(httpx.get(h.base + "/healthz")),
        10,
        "/healthz to turn 503",
    )
    assert "probe exploded" in r.json()["status"]
    broken["on"] = False
    wait_for(lambda: httpx.get(h.base + "/healthz").status_code == 200, 10, "/healthz to recover")
    h.settle()
    assert len(h.ran()) == 1


# -- issue 12: placeholders come from the hook's own parameters and from the alert ------------


ETCD_HOOK = """
  - alert: EtcdMemberDown
    action: etcd_restore
    params:
      snapshot_dir: "snapshots/{{cluster}}"
      data_dir: "restore/{{member}}-{{request_id}}"
      start_command: ["/bin/true", "{{member}}", "{{data_dir}}"]
"""


def test_a_placeholder_naming_a_parameter_is_not_a_required_label(start: Callable[..., Heal]) -> None:
    h = start(hooks=ETCD_HOOK)
    r = h.post(message(alert("EtcdMemberDown", cluster="c1", region="r1", member="etcd-1")))
    assert r.status_code == 200, r.text
    no_member = h.post(message(alert("EtcdMemberDown", cluster="c1", region="r1", instance="x")))
    assert no_member.status_code == 422 and "lacks label(s) member" in no_member.json()["error"]


@pytest.mark.parametrize("bad", ["{0}", "{member", "{data_dir.x}", "{bad-name}", "{a}{b}x{c!r}"])
def test_a_placeholder_that_names_neither_a_parameter_nor_a_label_fails_at_load(
    tmp_path: Path, bad: str
) -> None:
    path = tmp_path / "heal.yaml"
    path.write_text(
        f"hooks:\n  - alert: EtcdMemberDown\n    action: etcd_restore\n    params:\n      data_dir: '{bad}'\n"
    )
    with pytest.raises(ConfigError) as err:
        load_heal_config(path)
    assert f"{path}:5: hooks[0].params.data_dir" in str(err.value), str(err.value)


def test_parameters_referring_to_each_other_in_a_cycle_fail_at_load(tmp_path: Path) -> None:
    path = tmp_path / "heal.yaml"
    path.write_text(
        "hooks:\n  - alert: EtcdMemberDown\n    action: etcd_restore\n    params:\n"
        "      data_dir: '{snapshot_dir}/x'\n      snapshot_dir: '{data_dir}/y'\n"
    )
    with pytest.raises(ConfigError) as err:
        load_heal_config(path)
    assert "cycle" in str(err.value)


# -- item 9: label values placed into paths and argv -----------------------------------------


@pytest.mark.parametrize("member", ["../../../escaped/x", "..", "-rf", "a/b", "x\x00y"])
def test_a_label_that_would_escape_a_path_or_become_an_option_is_refused(
    start: Callable[..., Heal], tmp_path: Path, member: str
) -> None:
    h = start(hooks=ETCD_HOOK)
    r = h.post(message(alert("EtcdMemberDown", cluster="c1", region="r1", member=member)))
    assert r.status_code == 200
    [(_, decision, reason)] = h.decisions()
    assert decision == "invalid_hook", reason
    assert "label member" in reason
    assert not (tmp_path.parent / "escaped").exists()
    assert h.built.journal.actions() == []


def test_expand_refuses_unsafe_label_values_for_paths_and_argv(tmp_path: Path) -> None:
    from kansoku.alerts.heal.base import ActionContext, ActionFailed, Services

    def ctx(member: str) -> ActionContext:
        return ActionContext(
            action="etcd_restore",
            labels={"member": member, "cluster": "c1"},
            annotations={},
            params={"data_dir": "restore/{member}"},
            cluster=None,
            request_id="req-00000000-0000-0000-0000-000000000000",
            timeout=5,
            workdir=tmp_path,
            services=Services(storage=lambda: None, kube=lambda c, r: None, openstack=lambda r: None),  # type: ignore[arg-type, return-value]
        )

    assert ctx("etcd-1").path_param("data_dir", "x") == tmp_path / "restore" / "etcd-1"
    with pytest.raises(ActionFailed, match="label member"):
        ctx("../../../escaped/x").path_param("data_dir", "x")
    with pytest.raises(ActionFailed, match="label member"):
        ctx("-rf").label("member")


def test_serve_validates_the_whole_config_before_it_announces_or_binds(tmp_path: Path) -> None:
    """issue 12: `heal serve` printed "listening on ..." and then died on the config."""
    import subprocess
    import sys

    path = tmp_path / "heal.yaml"
    path.write_text(
        "journal: j.sqlite\nhooks:\n  - alert: KubeNodeNotReady\n    action: run_command\n"
        "    params: {command: ls, timeout_seconds: abc}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "kansoku", "heal", "serve", "--config", str(path), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "KANSOKU_HEAL_TOKEN": TOKEN},
    )
    assert proc.returncode != 0
    assert "listening" not in proc.stderr + proc.stdout
    assert f"{path}:5: hooks[0].params.timeout_seconds" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- item 11: one huge webhook does not hold up other senders ---------------------------------


def test_a_10k_alert_webhook_is_journaled_first_and_decided_in_slices(start: Callable[..., Heal]) -> None:
    """The other sender's 200 comes while the big webhook's decisions are still being made
    (before: the journal writer decided all 10,000 before committing anything else)."""
    h = start(max_unhealthy="0", max_body=16 * 1_048_576)
    big = message(*[node(i, cluster="big") for i in range(10_000)])
    assert h.post(big).status_code == 200
    small = h.post(message(node(1, cluster="other")))
    assert small.status_code == 200
    undecided = h.built.journal.query(
        "SELECT count(*) FROM alerts WHERE decided_at IS NULL AND cluster='big'"
    )[0][0]
    assert undecided > 0, "the small webhook's 200 waited for every decision of the big one"
    wait_for(
        lambda: not h.built.journal.query("SELECT 1 FROM alerts WHERE decided_at IS NULL"),
        120,
        "the backlog to be decided",
    )
    assert h.built.journal.query("SELECT count(*) FROM alerts WHERE decision='max_unhealthy'")[0][0] == 10_001


# -- item 12: /metrics from memory, refused requests aggregated, retention -------------------


def test_metrics_scrape_reads_no_journal_table(start: Callable[..., Heal]) -> None:
    h = start()
    assert h.post(message(node(1))).status_code == 200
    h.settle()
    seen: list[str] = []
    h.built.journal._db.set_trace_callback(seen.append)
    try:
        text = httpx.get(h.base + "/metrics").text
    finally:
        h.built.journal._db.set_trace_callback(None)
    scans = [s for s in seen if any(t in s for t in ("actions", "alerts", "deliveries"))]
    assert scans == [], scans
    assert 'kansoku_heal_webhooks_total{cluster="fleet",code="200",region="all"} 1.0' in text


def test_refused_requests_are_aggregated_rate_limited_and_still_counted(start: Callable[..., Heal]) -> None:
    h = start()
    body = json.dumps(message(node(1))).encode()
    codes = []
    with httpx.Client(timeout=10) as client:
        for _ in range(300):
            r = client.post(h.base + "/alertmanager", content=body, headers={"Authorization": "Bearer no"})
            codes.append(r.status_code)
    assert codes[0] == 401 and set(codes) <= {401, 429} and 429 in codes
    rows = h.built.journal.query("SELECT http_status, reason FROM deliveries")
    assert 1 <= len(rows) <= 3, rows  # not one durable row per refusal
    text = httpx.get(h.base + "/metrics").text
    assert 'code="401",region="all"}' in text and 'code="429",region="all"}' in text
    n401 = float(text.split('code="401",region="all"} ')[1].split()[0])
    n429 = float(text.split('code="429",region="all"} ')[1].split()[0])
    assert n401 + n429 == 300


def test_prune_drops_old_closed_rows_keeps_open_ones_and_the_counters(tmp_path: Path) -> None:
    import time

    from kansoku.alerts.heal.journal import Journal
    from kansoku.alerts.heal.journal.prune import prune
    from kansoku.alerts.heal.model import AMMessage

    (tmp_path / "token").write_text(TOKEN)
    runs = tmp_path / "runs.log"
    path = tmp_path / "heal.yaml"
    path.write_text(
        BASE.format(storm=1000, max_unhealthy="1000", max_body=1_048_576) + NODE_HOOK.format(runs=runs)
    )
    built = build(load_heal_config(path))
    journal: Journal = built.journal
    try:
        old = message(node(1), node(2))
        journal.ingest(AMMessage.model_validate(old), "sha-old", "test", 1)
        built.healer.drain()
        resolved = dict(old["alerts"][0], status="resolved")
        journal.ingest(AMMessage.model_validate(message(resolved)), "sha-res", "test", 1)
        built.healer.drain()
        journal.record_rejection(400, "malformed JSON", "test", "x", 3)
        before = journal.load_counters().snapshot()  # webhooks are counted by the app; here: recount
        assert before["webhooks"] == {"200": 2, "400": 1}
        # everything so far is 100 days old
        past = time.time() - 100 * 86400
        with journal.tx() as db:
            for table, col in (
                ("deliveries", "received_at"),
                ("alerts", "received_at"),
                ("actions", "planned_at"),
            ):
                db.execute(f"UPDATE {table} SET {col}=?", (past,))
            db.execute("UPDATE events SET ts=?", (past,))
        done = prune(journal, older_than_days=30)
        # node 1 resolved: its alerts, action and delivery rows go; node 2 still fires: kept
        assert done["actions"] == 1 and done["alerts"] == 2 and done["deliveries"] == 2, done
        left = {r["target"] for r in journal.query("SELECT target FROM actions")}
        assert left == {"c1-node-2"}
        assert journal.counters.snapshot() == before
    finally:
        journal.close()
    reopened = build(load_heal_config(path))
    try:
        assert reopened.journal.counters.snapshot() == before
    finally:
        reopened.journal.close()


def test_prune_refuses_a_horizon_inside_the_replay_window(tmp_path: Path) -> None:
    from kansoku.alerts.heal.journal import Journal
    from kansoku.alerts.heal.journal.prune import prune

    journal = Journal(tmp_path / "j.sqlite")
    try:
        with pytest.raises(Exception, match="replay"):
            prune(journal, older_than_days=0.01, keep_seconds=3600)
    finally:
        journal.close()


def test_a_closed_refusal_window_becomes_one_summary_row_per_status() -> None:
    from kansoku.alerts.heal.refusals import Refusals

    refusals = Refusals(window=60, limit=3)
    answers = [refusals.refuse("10.0.0.9", now=100.0 + i) for i in range(6)]
    assert answers == [(401, True), (401, False), (401, False), (429, False), (429, False), (429, False)]
    assert refusals.closed(now=150.0) == []  # the window is still open
    [summary] = refusals.closed(now=161.0)
    assert (summary.remote, summary.refused, summary.limited) == ("10.0.0.9", 5, 3)
    assert "5 more refused request(s) from 10.0.0.9" in summary.reason()
    assert refusals.refuse("10.0.0.9", now=162.0) == (401, True)  # a new window journals again
