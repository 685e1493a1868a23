"""Issue 16, end to end: an Alertmanager HA pair sends a storm to two `kansoku heal serve`
replicas coordinated in a real etcd; the leader is killed with SIGKILL mid-storm.

Real: etcd 3.4, two Alertmanager 0.25 gossiping (`--cluster.*`), two `kansoku heal serve`
subprocesses. The storm is 500 alerts/s for 3 s posted to both Alertmanagers (as Prometheus
does), one alert per node, every second one healable by a `run_command` that appends
`<request id> <node>` to a shared file. Checked: the standby takes over within the lease (plus
etcd's 0.5 s expiry tick and its own 0.25 s campaign period); every posted alert is in the
survivor's journal (lost: 0); no node's action ran twice; and after the killed replica is
restarted on its journal, every healable alert ran once, except those whose command the kill
interrupted (journaled `failed: interrupted`, never re-run because they may have acted).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from kansoku.alerts.heal.etcd_client import EtcdClient
from kansoku.process import ManagedProcess, free_port
from tests.support.heal import wait_for
from tests.support.heal_ha import (
    PREFIX,
    Storm,
    heal_config,
    journal_rows,
    leader,
    node_of,
    start_alertmanager_pair,
    start_replica,
)

LEASE = 2


def test_kill_9_of_the_leader_mid_storm_loses_nothing_and_runs_nothing_twice(
    tmp_path: Path, etcd: ManagedProcess, procs: list[ManagedProcess], need_alertmanager: None
) -> None:
    etcd_url = f"http://127.0.0.1:{etcd.ports['client']}"
    runs = tmp_path / "runs.log"
    ports = {name: free_port() for name in ("a", "b")}
    ams = start_alertmanager_pair(
        tmp_path / "am", [f"http://127.0.0.1:{port}/alertmanager" for port in ports.values()]
    )
    procs.extend(ams)
    configs = {name: heal_config(etcd_url, name, runs, LEASE) for name in ports}
    replicas = {name: start_replica(tmp_path, name, configs[name], ports[name]) for name in ports}
    procs.extend(replicas.values())
    first = wait_for(lambda: leader(etcd_url), 10, "a leader")
    second = "b" if first == "a" else "a"

    storm = Storm([f"http://127.0.0.1:{am.ports['http']}" for am in ams], rate=500, seconds=3)
    thread: threading.Thread = storm.start()
    wait_for(lambda: len(storm.posted) >= 600, 20, "600 alerts posted")
    os.killpg(replicas[first].pid, signal.SIGKILL)
    killed = time.time()
    assert replicas[first].proc is not None
    replicas[first].proc.wait()
    thread.join(timeout=30)
    assert storm.done.is_set() and storm.errors == 0
    wait_for(lambda: leader(etcd_url) == second, 10, f"{second} to lead")

    survivor = tmp_path / second / "journal.sqlite"
    posted = set(storm.posted)

    def journaled() -> set[str]:
        return {node_of(r[0]) for r in journal_rows(survivor, "SELECT labels FROM alerts")}

    wait_for(lambda: posted <= journaled(), 60, "every posted alert in the survivor's journal", 0.5)
    lost = posted - journaled()
    wait_for(
        lambda: (
            not journal_rows(
                survivor,
                "SELECT 1 FROM alerts WHERE decided_at IS NULL UNION ALL "
                "SELECT 1 FROM actions WHERE state IN ('pending', 'running')",
            )
        ),
        60,
        "the survivor to decide and run its backlog",
        0.5,
    )
    elected = journal_rows(survivor, "SELECT max(ts) FROM events WHERE kind='ha_leader'")[0][0]
    takeover = elected - killed
    time.sleep(1.0)  # commands started before the kill finish writing
    old = tmp_path / first / "journal.sqlite"
    healable = {n for n in posted if int(n[1:]) % 2 == 0}
    # what the dead leader was running at the kill: may have acted, so never run again
    interrupted = {
        node_of(r[0])
        for r in journal_rows(
            old,
            "SELECT al.labels FROM actions a JOIN alerts al ON al.id = a.alert_id WHERE a.state='running'",
        )
    }
    ran_before = Counter(line.split()[1] for line in runs.read_text().splitlines())
    # claims still the dead leader's: those it had started (in etcd) when it was killed
    node_by_fp = {
        r[0]: node_of(r[1]) for r in journal_rows(survivor, "SELECT fingerprint, labels FROM alerts")
    }
    client = EtcdClient([etcd_url])
    claims = client.range(f"{PREFIX}/claims/", f"{PREFIX}/claims0")
    client.close()
    owned_by_first = {
        node_by_fp[kv.key.removeprefix(f"{PREFIX}/claims/").split("|")[0]]
        for kv in claims
        if json.loads(kv.value)["replica"] == first
    }
    # before the dead leader comes back, the survivor has run everything else: it adopted
    # the claims the dead leader made and never started
    missing = healable - set(ran_before)
    assert missing <= owned_by_first, sorted(missing - owned_by_first)[:10]
    adopted = journal_rows(survivor, "SELECT count(*) FROM alerts WHERE reason LIKE '%adopted from%'")[0][0]

    # the killed replica comes back on its journal: its pending rows meet the claim gate
    # (adopted by the survivor: refused, not run); its interrupted rows fail, never re-run
    procs.append(start_replica(tmp_path, f"{first}", configs[first], free_port()))
    wait_for(
        lambda: not journal_rows(old, "SELECT 1 FROM actions WHERE state IN ('pending', 'running')"),
        30,
        "the restarted replica's own pending actions",
        0.5,
    )
    time.sleep(0.5)
    ran = Counter(line.split()[1] for line in runs.read_text().splitlines())
    twice = sorted(n for n, c in ran.items() if c > 1)
    never = healable - set(ran)
    by_survivor = journal_rows(survivor, "SELECT count(*) FROM actions")[0][0]
    by_first = journal_rows(old, "SELECT count(*) FROM actions")[0][0]
    print(
        f"\nposted {len(posted)}, lost {len(lost)}, healable {len(healable)}, ran {len(ran)}, "
        f"twice {len(twice)}, never {len(never)} (interrupted {len(interrupted)}), adopted {adopted}, "
        f"takeover {takeover:.2f} s (lease {LEASE} s), actions by {first} {by_first}, by {second} {by_survivor}"
    )
    assert not lost
    assert not twice, twice[:10]
    assert never <= interrupted, sorted(never - interrupted)[:10]
    assert set(ran) - set(ran_before) <= owned_by_first  # the restarted replica ran only its own
    assert set(ran) <= healable
    assert by_first > 0 and by_survivor > 0  # both really acted: the handoff happened mid-storm
    assert 0 < takeover < LEASE + 0.5 + 0.25 + 1.0, takeover
