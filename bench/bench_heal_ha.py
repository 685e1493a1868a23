"""Benchmark: heal HA on etcd (issue 16): takeover time after kill -9 of the leader, and
throughput with 2 replicas against 1 (and against today's single healer without `ha`), all in
this script on this machine. Writes bench/results/heal_ha.md.

Real pieces: etcd 3.4 (Debian) and `kansoku heal serve` subprocesses, each with its own
journal. Throughput: N webhooks of one healable alert each (a `run_command` appending the node
to a file), sent by 16 client threads; with two replicas each webhook goes to both, as
Alertmanager does with one URL per replica. Measured from the first send until the leader has
decided every alert and every action has finished; every node must have run exactly once.
Takeover: two idle replicas, kill -9 of the leader's process group, time until the standby's
`ha_leader` event (its own clock, same machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from machine import cpu_model  # noqa: E402

from kansoku.process import ManagedProcess  # noqa: E402
from kansoku.servers import start_etcd  # noqa: E402
from tests.support.heal import AUTH, alert, message  # noqa: E402
from tests.support.heal_ha import heal_config, journal_rows, leader, start_replica  # noqa: E402

RESULTS = REPO / "bench" / "results" / "heal_ha.md"


def _wait(probe: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def throughput(base: Path, replicas: int, ha: bool, n: int) -> dict[str, Any]:
    base.mkdir(parents=True)
    etcd = start_etcd(base / "etcd") if ha else None
    procs: list[ManagedProcess] = [etcd] if etcd else []
    runs = base / "runs.log"
    try:
        url = f"http://127.0.0.1:{etcd.ports['client']}" if etcd else ""
        names = ["a", "b"][:replicas]
        servers = {}
        for name in names:
            config = heal_config(url, name, runs, 10)
            if not ha:
                del config["ha"]
            servers[name] = start_replica(base, name, config)
            procs.append(servers[name])
        first = _wait(lambda: leader(url), 15, "a leader") if ha else names[0]
        bodies = [
            json.dumps(message(alert("KubeNodeNotReady", cluster="c1", node=f"n{i:05d}"))) for i in range(n)
        ]
        targets = [f"http://127.0.0.1:{servers[name].ports['http']}/alertmanager" for name in names]
        clients = [httpx.Client(timeout=30) for _ in range(16)]

        def send(i: int) -> int:
            client = clients[i % len(clients)]
            return sum(client.post(t, content=bodies[i], headers=AUTH).status_code == 200 for t in targets)

        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            accepted = sum(pool.map(send, range(n)))
        sent = time.monotonic() - started
        journal = base / first / "journal.sqlite"
        _wait(
            lambda: (
                journal_rows(journal, "SELECT count(*) FROM alerts WHERE decided_at IS NOT NULL")[0][0] >= n
                and not journal_rows(journal, "SELECT 1 FROM actions WHERE state IN ('pending','running')")
            ),
            300,
            "every decision and action",
            0.02,
        )
        done = time.monotonic() - started
        for c in clients:
            c.close()
        ran = Counter(line.split()[1] for line in runs.read_text().splitlines())
        return {
            "accepted": accepted,
            "sent_s": sent,
            "done_s": done,
            "rate": n / done,
            "ran": len(ran),
            "twice": sum(1 for c in ran.values() if c > 1),
        }
    finally:
        for proc in reversed(procs):
            proc.stop()


def takeover(base: Path, lease: int) -> float:
    base.mkdir(parents=True)
    etcd = start_etcd(base / "etcd")
    procs: list[ManagedProcess] = [etcd]
    try:
        url = f"http://127.0.0.1:{etcd.ports['client']}"
        servers = {}
        for name in ("a", "b"):
            servers[name] = start_replica(base, name, heal_config(url, name, base / "runs.log", lease))
            procs.append(servers[name])
        first = _wait(lambda: leader(url), 15, "a leader")
        second = "b" if first == "a" else "a"
        time.sleep(lease / 2)  # mid-way between two keepalives on average
        os.killpg(servers[first].pid, signal.SIGKILL)
        killed = time.time()
        _wait(lambda: leader(url) == second, lease + 10, "the standby to lead")
        journal = base / second / "journal.sqlite"
        elected = _wait(
            lambda: journal_rows(journal, "SELECT max(ts) FROM events WHERE kind='ha_leader'")[0][0],
            5,
            "event",
        )
        return float(elected) - killed
    finally:
        for proc in reversed(procs):
            proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="1,000 alerts and 2 takeovers instead of 3,000 and 5"
    )
    args = parser.parse_args()
    n = 1000 if args.quick else 3000
    trials = 2 if args.quick else 5
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-heal-ha-") as tmp:
        root = Path(tmp)
        modes = [
            ("1 replica, no `ha` (baseline)", 1, False),
            ("1 replica, `ha`", 1, True),
            ("2 replicas, `ha`", 2, True),
        ]
        rows = {label: throughput(root / f"t{i}", reps, ha, n) for i, (label, reps, ha) in enumerate(modes)}
        short = [takeover(root / f"k2-{i}", 2) for i in range(trials)]
        long = [takeover(root / "k10", 10)]
    load_after = os.getloadavg()[0]
    base = rows[modes[0][0]]["rate"]
    lines = [
        "## heal HA on etcd: throughput with 2 replicas against 1, takeover after kill -9",
        "",
        f"Machine: {os.cpu_count()} cores (`nproc`), {cpu_model()}; Python {platform.python_version()}. "
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{' (--quick)' if args.quick else ''}; "
        f"load average {load_before:.2f} before, {load_after:.2f} after. etcd 3.4 (Debian), "
        f"`kansoku heal serve` subprocesses. {n:,} webhooks of one healable alert each (a `run_command` "
        "per alert), 16 client threads; with 2 replicas each webhook goes to both (as Alertmanager does). "
        "Time from the first send until the leader decided every alert and every action finished. "
        "Command: `python bench/bench_heal_ha.py`.",
        "",
        "| mode | alerts decided and acted per s | ratio to baseline | sending took | actions run | run twice |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        lines.append(
            f"| {label} | {row['rate']:.0f} | {row['rate'] / base:.2f}x | {row['sent_s']:.1f} s | "
            f"{row['ran']} of {n} | {row['twice']} |"
        )
    lines += [
        "",
        "Takeover: two idle replicas, kill -9 of the leader half a keepalive period after it was "
        "elected, until the standby's `ha_leader` event. Expected: the lease's remaining time "
        "(etcd expires it) + up to 0.5 s (etcd's expiry tick) + up to 0.25 s (the standby's campaign period).",
        "",
        "| lease | takeover (each trial) | median |",
        "|---|---|---|",
        f"| 2 s | {', '.join(f'{t:.2f} s' for t in short)} | {statistics.median(short):.2f} s |",
        f"| 10 s | {', '.join(f'{t:.2f} s' for t in long)} | {statistics.median(long):.2f} s |",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
