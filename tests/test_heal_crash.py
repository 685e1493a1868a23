"""kill -9 the receiver in the middle of a stream of webhooks, restart it on the same journal:
every alert that got a 200 is in the journal and decided, and no action ran twice.

The receiver runs as a real `kansoku heal serve` subprocess; the action is a `run_command`
that appends its request id to a file (the record of what really ran). The command runs in
its own session, so a command that was running when the server died still finishes, as a
real remediation would: that is exactly the case where re-running it would be wrong.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from kansoku.alerts.heal.journal import Journal
from kansoku.process import ManagedProcess, free_port
from tests.support.heal import AUTH, alert, message, wait_for
from tests.support.receiver import RUN_COMMAND_CONFIG, backlog_done, kill_9, serve_receiver


def test_kill_9_mid_stream_loses_no_accepted_alert_and_runs_no_action_twice(
    tmp_path: Path, procs: list[ManagedProcess]
) -> None:
    runs = tmp_path / "runs.log"
    (tmp_path / "heal.yaml").write_text(RUN_COMMAND_CONFIG.format(runs=runs))
    port = free_port()
    first = serve_receiver(tmp_path, port, "heal-1", ready_timeout=30)
    procs.append(first)
    url = f"http://127.0.0.1:{port}/alertmanager"
    accepted: dict[str, dict[str, object]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker: int) -> None:
        with httpx.Client(timeout=5) as client:
            for i in range(10_000):
                if stop.is_set():
                    return
                body = message(alert("KubeNodeNotReady", cluster="k", node=f"n-{worker}-{i}"))
                try:
                    resp = client.post(url, content=json.dumps(body), headers=AUTH)
                except httpx.HTTPError:
                    return  # the server is gone: this alert was not accepted
                if resp.status_code == 200:
                    with lock:
                        accepted[body["alerts"][0]["fingerprint"]] = body

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(accepted) >= 150, 60, "150 accepted webhooks")
    kill_9(first)  # mid stream, mid actions
    stop.set()
    for t in threads:
        t.join()
    assert len(accepted) >= 150

    second = serve_receiver(tmp_path, port, "heal-2", ready_timeout=30)
    procs.append(second)
    journal = Journal(tmp_path / "journal.sqlite")
    wait_for(
        lambda: backlog_done(journal),
        120,
        "the restarted healer to finish the backlog",
    )
    time.sleep(1.0)  # let commands started before the kill finish writing

    journaled = {r["fingerprint"] for r in journal.query("SELECT fingerprint FROM alerts")}
    assert set(accepted) <= journaled, f"lost {len(set(accepted) - journaled)} accepted alerts"
    ran = Counter(runs.read_text().split())
    assert ran and max(ran.values()) == 1, f"ran twice: {[k for k, v in ran.items() if v > 1]}"
    actions = journal.actions()
    assert len(actions) == len(journaled)  # one action per accepted alert, none forgotten
    for a in actions:
        if a.state == "verifying":
            assert ran[a.request_id] == 1
        else:
            assert a.state == "failed" and a.detail and a.detail.startswith("interrupted"), (
                a.state,
                a.detail,
            )
    assert set(ran) <= {a.request_id for a in actions}

    # Alertmanager resending after the restart: identical bodies are replays, new groups dedupe
    before = sum(ran.values())
    with httpx.Client(timeout=5) as client:
        for body in list(accepted.values())[:20]:
            assert client.post(url, content=json.dumps(body), headers=AUTH).status_code == 409
            again = dict(body, groupKey="{}:{resent}")
            assert client.post(url, content=json.dumps(again), headers=AUTH).status_code == 200
    wait_for(lambda: not journal.query("SELECT 1 FROM alerts WHERE decided_at IS NULL"), 30, "decisions")
    dup = journal.query("SELECT count(*) FROM alerts WHERE decision='duplicate'")[0][0]
    assert dup == 20
    assert sum(Counter(runs.read_text().split()).values()) == before
    journal.close()
