"""Heal HA (issue 16) against a real etcd 3.4 (Debian) through its v3 JSON gateway.

Claims run exactly once under contention and are refused to a replica that only believes it
leads; a standby takes over after the leader's lease expires; the rails that count actions
(fleet budget, cooldown, the pause switch) hold across two replicas with separate journals.
Replicas here are `build()`s of the very healer `kansoku heal serve` runs, stepped by hand so
every election is deterministic; tests/test_heal_ha_e2e.py runs real `heal serve` processes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kansoku.alerts.heal.config import load_heal_config
from kansoku.alerts.heal.etcd_client import EtcdClient
from kansoku.alerts.heal.ha import PAUSE_READ_EVERY, Claim, EtcdRails, Leadership
from kansoku.alerts.heal.ha_config import HaSettings
from kansoku.alerts.heal.model import AMMessage
from kansoku.alerts.heal.serve import Built, build
from kansoku.errors import ConfigError
from kansoku.process import ManagedProcess
from tests.support.heal import alert, message, wait_for

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "heal-ha.yaml"


def endpoint(etcd: ManagedProcess) -> str:
    return f"http://127.0.0.1:{etcd.ports['client']}"


def replica(etcd: ManagedProcess, name: str, lease: int = 2) -> tuple[EtcdClient, Leadership, EtcdRails]:
    settings = HaSettings(etcd=[endpoint(etcd)], lease_seconds=lease, prefix="/t/heal")
    client = EtcdClient(settings.etcd)
    leadership = Leadership(client, settings, name)
    return client, leadership, EtcdRails(client, settings, leadership)


def test_claims_run_exactly_once_under_contention(etcd: ManagedProcess) -> None:
    a = replica(etcd, "a")
    b = replica(etcd, "b")
    a[1].step()
    b[1].step()
    assert a[1].is_leader() and not b[1].is_leader()
    assert b[1].holder == "a"
    results: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    def claimer(rails: EtcdRails, who: str) -> None:
        for i in range(60):
            got = rails.claim(
                f"fp{i}|run_command|t0", "c1", f"n{i}", "run_command", f"req-{who}-{i}", time.time()
            )
            with lock:
                results[(who, got.outcome)] += 1

    # three threads on the leader and three on the standby race for the same 60 keys
    threads = [
        threading.Thread(target=claimer, args=(r[2], f"{n}{k}"))
        for k in range(3)
        for n, r in (("a", a), ("b", b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = sum(n for (who, outcome), n in results.items() if outcome == Claim.CLAIMED)
    assert claimed == 60, results
    assert all(outcome != Claim.CLAIMED for (who, outcome) in results if who.startswith("b"))
    assert a[2].used_last_hour() == 60
    for client, *_ in (a, b):
        client.close()


def test_a_replica_that_only_believes_it_leads_claims_nothing(etcd: ManagedProcess) -> None:
    client_a, lead_a, rails_a = replica(etcd, "a")
    client_b, lead_b, rails_b = replica(etcd, "b")
    lead_a.step()
    assert lead_a.is_leader()
    # a's lease ends behind its back (a long GC pause, a partition): etcd revokes it
    client_b.revoke(lead_a.lease)
    lead_b.step()
    assert lead_b.is_leader()
    assert lead_a.is_leader()  # a's local belief, until its next keepalive
    got = rails_a.claim("fp|run_command|t0", "c1", "n1", "run_command", "req-a", time.time())
    assert got.outcome == Claim.NOT_LEADER and "leader is b" in got.detail
    assert not lead_a.is_leader()  # the refused claim made it step down at once
    assert (
        rails_b.claim("fp|run_command|t0", "c1", "n1", "run_command", "req-b", time.time()).outcome
        == "claimed"
    )
    client_a.close()
    client_b.close()


def test_a_standby_takes_over_after_the_leaders_lease_expires(etcd: ManagedProcess) -> None:
    client_a, lead_a, _ = replica(etcd, "a", lease=2)
    client_b, lead_b, _ = replica(etcd, "b", lease=2)
    elected: list[float] = []
    lead_b.on_elected = lambda: elected.append(time.monotonic())
    lead_a.start()
    wait_for(lead_a.is_leader, 5, "a to lead")
    lead_b.start()
    time.sleep(0.5)
    assert not lead_b.is_leader() and not elected
    lead_a.stop(resign=False)  # like kill -9: no revoke, the lease must expire
    killed = time.monotonic()
    wait_for(lead_b.is_leader, 6, "b to take over")
    takeover = elected[0] - killed
    # etcd checks expiry every 500 ms, a standby campaigns every 250 ms
    assert 0.5 < takeover < 2 + 0.5 + 0.25 + 0.5, takeover
    lead_b.stop()
    client_a.close()
    client_b.close()


HEAL = {
    "journal": "journal.sqlite",
    "safety": {
        "cooldown_seconds": 600,
        "max_unhealthy": 100,
        "fleet_budget_per_hour": 3,
        "storm_clusters": 100,
    },
    "hooks": [
        {
            "alert": "KubeNodeNotReady",
            "action": "run_command",
            "params": {"argv": ["/bin/sh", "-c", 'echo "$KANSOKU_REQUEST_ID {node}" >> {runs}']},
        }
    ],
}


@pytest.fixture
def two(tmp_path: Path, etcd: ManagedProcess) -> Iterator[Callable[[], tuple[Built, Built, Path]]]:
    built: list[Built] = []

    def go() -> tuple[Built, Built, Path]:
        runs = tmp_path / "runs.log"
        for name in ("a", "b"):
            config: dict[str, Any] = json.loads(json.dumps(HEAL).replace("{runs}", str(runs)))
            config["ha"] = {
                "etcd": [endpoint(etcd)],
                # no test here waits for expiry (they revoke): a long lease keeps a loaded
                # machine's stalls between two manual `step()`s from ending the lead
                "lease_seconds": 10,
                "prefix": "/t/heal",
                "replica": name,
            }
            (tmp_path / name).mkdir()
            (tmp_path / name / "heal.yaml").write_text(yaml.safe_dump(config))
            built.append(build(load_heal_config(tmp_path / name / "heal.yaml")))
        return built[0], built[1], runs

    yield go
    for b in built:
        b.healer.stop()
        if b.ha is not None:
            b.ha.stop(resign=False)
        b.journal.close()


def deliver(b: Built, *alerts: dict[str, Any]) -> None:
    body = message(*alerts)
    raw = json.dumps(body)
    b.journal.ingest(
        AMMessage.model_validate(body), hashlib.sha256(raw.encode()).hexdigest(), "test", len(raw)
    )


def decisions(b: Built) -> list[str]:
    return [str(r["decision"]) for r in b.journal.query("SELECT decision FROM alerts ORDER BY id")]


def test_rails_hold_across_two_replicas_and_a_takeover(two: Callable[[], tuple[Built, Built, Path]]) -> None:
    a, b, runs = two()
    assert a.ha is not None and b.ha is not None
    a.ha.leadership.step()
    b.ha.leadership.step()
    first = [alert("KubeNodeNotReady", cluster="c1", node=f"n{i}") for i in range(2)]
    for replica_ in (a, b):  # Alertmanager sends to every replica
        deliver(replica_, *first)
        replica_.healer.drain()
    assert decisions(a) == ["act", "act"]
    assert decisions(b) == ["standby", "standby"]
    # the leader dies; b's lease is the only one left
    a.ha.leadership._leading = False
    a.ha.client.revoke(a.ha.leadership.lease)
    b.ha.leadership.step()
    assert b.ha.leadership.is_leader()
    # elected: its `standby` alerts that still fire are undecided again (serve's on_elected)
    assert decisions(b) == ["None", "None"]
    # n0, n1 (re-opened): a ran them, so their claims are taken; n0 again with a new onset:
    # a's claim set its cooldown in etcd; n2, n3: the budget (3/h) has one left, counted
    # across both replicas
    again = alert("KubeNodeNotReady", starts="2026-11-23T17:00:00Z", cluster="c1", node="n0")
    fresh = [alert("KubeNodeNotReady", cluster="c1", node=f"n{i}") for i in (2, 3)]
    deliver(b, again, *fresh)
    b.healer.drain()
    assert decisions(b) == ["duplicate", "duplicate", "cooldown", "act", "budget_exhausted"]
    reasons = [str(r["reason"]) for r in b.journal.query("SELECT reason FROM alerts ORDER BY id")]
    assert all("already claimed fleet-wide by a" in r for r in reasons[:2])
    assert "claimed in etcd" in reasons[2]
    assert "3 remediations in the last hour" in reasons[4]
    ran = Counter(line.split()[1] for line in runs.read_text().splitlines())
    assert ran == {"n0": 1, "n1": 1, "n2": 1}
    # the budget pause is the fleet's: in etcd, where a finds it when it leads again
    assert b.ha.rails.paused_reason() is not None
    fleet = a.ha.client.get("/t/heal/paused")
    assert fleet is not None and fleet.value == b.ha.rails.paused_reason()


def test_a_claim_whose_owner_died_before_starting_it_is_adopted_and_runs_once(
    two: Callable[[], tuple[Built, Built, Path]],
) -> None:
    a, b, runs = two()
    assert a.ha is not None and b.ha is not None
    a.ha.leadership.step()
    b.ha.leadership.step()
    alerts = [alert("KubeNodeNotReady", cluster="c1", node=f"n{i}") for i in range(3)]
    deliver(a, *alerts)
    deliver(b, *alerts)
    # a claims all three ... (in one generous slice: three etcd claims took 10-25 ms on a
    # loaded machine, and past the default 20 ms slice the third was left to b)
    planned = a.engine.decide_pending(budget=10.0)
    a.healer.run_action(planned[0])  # ... runs one, and dies before starting the others
    b.healer.drain()
    assert decisions(b) == ["standby"] * 3
    a.ha.leadership._leading = False
    a.ha.client.revoke(a.ha.leadership.lease)
    b.ha.leadership.step()  # elected: its standby alerts re-open
    b.healer.drain()
    reasons = [str(r["reason"]) for r in b.journal.query("SELECT reason FROM alerts ORDER BY id")]
    assert decisions(b) == ["duplicate", "act", "act"], reasons
    assert "already claimed fleet-wide by a" in reasons[0] and "started" in reasons[0]
    assert all("adopted from a" in r for r in reasons[1:]), reasons
    # a comes back on its journal: its two pending rows meet the gate and are not run
    for action_id in planned[1:]:
        a.healer.run_action(action_id)
    assert [(r.state, r.detail) for r in a.journal.actions()][1:] == [
        ("refused", "not run here: adopted by b after this replica lost the lead")
    ] * 2
    ran = Counter(line.split()[1] for line in runs.read_text().splitlines())
    assert ran == {"n0": 1, "n1": 1, "n2": 1}


def test_ha_settings_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "heal.yaml"
    path.write_text(
        "journal: j.sqlite\nha:\n  etcd: ['http://root:hunter2@127.0.0.1:2379']\n  lease_seconds: 1\n"
    )
    with pytest.raises(ConfigError) as err:
        load_heal_config(path)
    text = str(err.value)
    assert f"{path}:3: ha.etcd" in text and "hunter2" not in text
    assert f"{path}:4: ha.lease_seconds" in text


def test_the_example_loads() -> None:
    loaded = load_heal_config(EXAMPLE)
    assert loaded.config.ha is not None
    assert loaded.config.ha.lease_seconds == 10
    assert loaded.config.ha.prefix == "/kansoku/heal"


def test_dry_run_claims_nothing_and_pause_resume_reach_etcd(
    two: Callable[[], tuple[Built, Built, Path]], tmp_path: Path
) -> None:
    a, _b, runs = two()
    assert a.ha is not None
    a.ha.leadership.step()
    a.engine.dry_run = True  # as `heal serve --dry-run`
    deliver(a, alert("KubeNodeNotReady", cluster="c1", node="n0"))
    a.healer.drain()
    assert decisions(a) == ["dry_run"]
    # a dry run never acts: its claims would block the real fleet's actions
    assert a.ha.client.range("/t/heal/claims/", "/t/heal/claims0") == []
    assert a.ha.rails.used_last_hour() == 0
    assert not runs.exists()
    from kansoku.alerts.heal.serve import set_paused

    config = tmp_path / "b" / "heal.yaml"
    assert a.ha.rails.paused_reason() is None
    assert set_paused(config, True, "ops") == "healing paused"
    # the fleet's switch, not only b's journal; the leader re-reads it within PAUSE_READ_EVERY
    time.sleep(PAUSE_READ_EVERY + 0.05)
    assert a.ha.rails.paused_reason() == "paused by ops"
    set_paused(config, False, "ops")
    time.sleep(PAUSE_READ_EVERY + 0.05)
    assert a.ha.rails.paused_reason() is None


def test_prune_drops_only_what_no_rail_looks_back_on(etcd: ManagedProcess) -> None:
    client, leadership, rails = replica(etcd, "a")
    leadership.step()
    now = time.time()
    for i, age in enumerate((7200.0, 1800.0, 10.0)):  # 2 h, 30 min, 10 s ago
        got = rails.claim(f"fp{i}|run_command|t", "c1", f"n{i}", "run_command", f"req-{i}", now - age)
        assert got.outcome == Claim.CLAIMED
    assert rails.used_last_hour(now) == 2
    # keep claims 1 h, cooldown 600 s: the 2 h claim, its budget record and 2 cooldowns go
    assert rails.prune(now, 3600, 600) == 1 + 1 + 2
    assert rails.used_last_hour(now) == 2
    left = [kv.key for kv in client.range("/t/heal/", "/t/heal0")]
    assert "/t/heal/claims/fp0|run_command|t" not in left
    assert "/t/heal/claims/fp1|run_command|t" in left and "/t/heal/cooldown/c1/n2" in left
    assert "/t/heal/cooldown/c1/n1" not in left
    client.close()


def test_metrics_say_which_replica_leads(two: Callable[[], tuple[Built, Built, Path]]) -> None:
    from kansoku.alerts.heal.metrics import registry_for

    a, b, _ = two()
    assert a.ha is not None and b.ha is not None
    a.ha.leadership.step()
    b.ha.leadership.step()
    for built, expected in ((a, 1.0), (b, 0.0)):
        registry = registry_for(built.journal, built.engine)
        assert (
            registry.get_sample_value("kansoku_heal_leader", {"cluster": "fleet", "region": "all"})
            == expected
        )


def test_a_leader_past_its_own_deadline_re_decides_what_met_standby(etcd: ManagedProcess) -> None:
    client, leadership, _rails = replica(etcd, "a")
    elected: list[float] = []
    leadership.on_elected = lambda: elected.append(time.monotonic())
    leadership.step()
    assert leadership.is_leader() and len(elected) == 1
    leadership._valid_until = time.monotonic() - 0.01  # a long stall: its clock says it may not lead
    assert not leadership.is_leader()
    leadership.step()  # its lease survived: it leads again, through an election
    assert leadership.is_leader() and len(elected) == 2
    client.close()
