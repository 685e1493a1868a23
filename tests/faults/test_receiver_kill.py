"""Fault loop: kill -9 the real `kansoku heal serve` again and again under load (bounded, seeded).

Each round starts the receiver on the same journal and port, lets four httpx senders post
webhooks on loopback (Alertmanager 0.25's recorded shape), and kills the whole process
group with SIGKILL at a seeded random moment. Some senders resend what was accepted
earlier, as Alertmanager does after a restart. After the last round a final receiver
works off the backlog. The promises checked:

- every webhook answered 200 is in the journal (0 lost) and gets decided;
- no action ran twice (a `run_command` appends its request id to a file: the record of
  what really ran), every action row ran at most once, and an action interrupted by a kill
  is `failed: interrupted`, never re-run;
- every resend of an accepted body is a 409 replay or a `duplicate` decision.

`KANSOKU_FAULT_SEED` and `KANSOKU_FAULT_ROUNDS` (default 3) vary the run; the seed is in
the failure message.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from kansoku.alerts.heal.journal import Journal
from kansoku.process import ManagedProcess, free_port
from tests.support.heal import AUTH, alert, message, wait_for
from tests.support.receiver import RUN_COMMAND_CONFIG, backlog_done, kill_9, serve_receiver

SEED = int(os.environ.get("KANSOKU_FAULT_SEED", "20261204"))
ROUNDS = int(os.environ.get("KANSOKU_FAULT_ROUNDS", "3"))


def test_kill_9_loop_loses_nothing_and_runs_nothing_twice(
    tmp_path: Path, procs: list[ManagedProcess]
) -> None:
    rng = random.Random(SEED)
    runs = tmp_path / "runs.log"
    (tmp_path / "heal.yaml").write_text(RUN_COMMAND_CONFIG.format(runs=runs))
    port = free_port()
    url = f"http://127.0.0.1:{port}/alertmanager"
    accepted: dict[str, dict[str, Any]] = {}
    resent: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()
    counter = iter(range(10**9))

    for round_no in range(ROUNDS):
        server = serve_receiver(tmp_path, port, f"heal-{round_no}")
        procs.append(server)
        stop = threading.Event()

        def sender(worker: int, resend: bool, rnd: int = round_no, halt: threading.Event = stop) -> None:
            mine = random.Random(SEED * 31 + rnd * 7 + worker)
            with httpx.Client(timeout=10) as client:
                while not halt.is_set():
                    with lock:
                        old = list(accepted.values())
                    if resend and old and mine.random() < 0.3:
                        body = mine.choice(old)
                    else:
                        body = message(alert("KubeNodeNotReady", cluster="k", node=f"n-{next(counter)}"))
                    try:
                        resp = client.post(url, content=json.dumps(body), headers=AUTH)
                    except httpx.HTTPError:
                        return  # the server is gone: not accepted
                    fp = body["alerts"][0]["fingerprint"]
                    with lock:
                        if fp in accepted:
                            resent.append((resp.status_code, body))
                        elif resp.status_code == 200:
                            accepted[fp] = body

        threads = [threading.Thread(target=sender, args=(w, w == 3)) for w in range(4)]
        for t in threads:
            t.start()
        target = len(accepted) + rng.randint(40, 120)
        wait_for(lambda n=target: len(accepted) >= n, 60, f"{target} accepted webhooks (seed {SEED})")
        time.sleep(rng.uniform(0.0, 0.3))
        kill_9(server)  # mid stream, mid decisions, mid actions
        stop.set()
        for t in threads:
            t.join()

    final = serve_receiver(tmp_path, port, "heal-final")
    procs.append(final)
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        wait_for(
            lambda: backlog_done(journal),
            120,
            f"the final healer to finish the backlog (seed {SEED})",
        )
        time.sleep(1.0)  # commands started before a kill run in their own session: let them finish
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200

        journaled = {r["fingerprint"] for r in journal.query("SELECT fingerprint FROM alerts")}
        lost = set(accepted) - journaled
        assert not lost, f"seed {SEED}: lost {len(lost)} accepted alerts"
        ran = Counter(runs.read_text().split())
        twice = [k for k, v in ran.items() if v > 1]
        assert ran and not twice, f"seed {SEED}: ran twice: {twice}"
        actions = journal.actions()
        by_fp = Counter(a.fingerprint for a in actions)
        assert max(by_fp.values()) == 1, f"seed {SEED}: two actions for one alert"
        assert set(by_fp) == journaled  # one action per accepted alert, none forgotten
        for a in actions:
            if a.state == "verifying":
                assert ran[a.request_id] == 1, (a.id, a.request_id)
            else:
                assert a.state == "failed" and a.detail and a.detail.startswith("interrupted"), (
                    a.state,
                    a.detail,
                )
        assert set(ran) <= {a.request_id for a in actions}
        assert all(code in (200, 409) for code, _ in resent), Counter(c for c, _ in resent)
        dup = journal.query("SELECT count(*) FROM alerts WHERE decision='duplicate'")[0][0]
        assert dup == sum(1 for code, _ in resent if code == 200)
    finally:
        journal.close()
