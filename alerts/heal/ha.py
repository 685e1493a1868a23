"""Heal high availability: leader election, fleet-wide claims and rails in etcd v3.

Two or three `kansoku heal serve` replicas each journal every webhook they receive
(Alertmanager's receiver lists every replica). One of them leads: it holds the key
`<prefix>/leader`, attached to its lease. The others decide each alert `standby` and act on
nothing; when the leader dies its lease expires, a standby's campaign succeeds, and it re-opens
its own `standby` alerts that still fire, so nothing accepted is lost.

Why claims and not "only the leader acts": leadership seen by a process is a belief (a paused
leader may not know its lease expired). Each action is claimed by its idempotency key in one
etcd transaction whose compare says "the leader key is still attached to my lease" and "nobody
claimed this key", so two replicas that both believe they lead can never both act: exactly
one claim succeeds fleet-wide. The same transaction records the action's time for the fleet
budget and sets the target's cooldown, so the rails that count actions hold across replicas
and across a takeover. The pause switch lives in etcd too (a storm pause on the old leader
stays a pause on the new one).

The rails that count *alerts* (storm, max_unhealthy) read the firing set each replica journals
itself: every replica receives every notification, so each journal holds the fleet's firing
set (a replica that was down catches up at Alertmanager's next repeat).

Why step down on the local clock too: `_valid_until` is the send time of the last successful
keepalive plus the TTL it returned, never later than etcd's own expiry, so a leader cut off
from etcd stops claiming before another can be elected (and the compare above still guards).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from kansoku.alerts.heal.etcd_client import (
    EtcdClient,
    EtcdUnavailable,
    KeyValue,
    absent,
    b64,
    get,
    held_by,
    prefix_end,
    put,
    responses_kv,
    unchanged,
)
from kansoku.alerts.heal.ha_config import HaSettings
from kansoku.errors import KansokuError

#: a standby tries to take the leader key at least this often (seconds)
CAMPAIGN_EVERY = 0.25
#: the leader re-reads the fleet's pause switch at most this often (seconds)
PAUSE_READ_EVERY = 1.0

log = logging.getLogger("kansoku.heal.ha")


def replica_name(settings: HaSettings, journal: str = "") -> str:
    """Stable across restarts (host and journal path): a replica that comes back must know
    its own claims, to run the ones it made and never started (`EtcdRails.start`)."""
    return settings.replica or f"{socket.gethostname()}:{journal or os.getpid()}"


class Claim(StrEnum):
    CLAIMED = "claimed"  # this replica owns the action: it runs it
    TAKEN = "taken"  # another replica (or an earlier run) claimed this key: never again
    NOT_LEADER = "not_leader"  # the leader key is not attached to this replica's lease


@dataclass(frozen=True)
class ClaimResult:
    outcome: Claim
    detail: str


class Leadership:
    """Campaign, keep alive, step down; `on_elected` runs (in this thread) on each election."""

    def __init__(
        self,
        client: EtcdClient,
        settings: HaSettings,
        replica: str,
        on_elected: Callable[[], None] | None = None,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.replica = replica
        self.key = f"{settings.prefix}/leader"
        self.on_elected = on_elected
        self.on_change = on_change
        self.lease = 0
        self._leading = False
        self._valid_until = 0.0
        self._unreachable = False  # etcd did not answer the last step (logged once per outage)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the leader key's holder last seen (for /healthz and logs)
        self.holder: str | None = None
        self.elected_at: float | None = None

    def is_leader(self) -> bool:
        return self._leading and time.monotonic() < self._valid_until

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="heal-ha-leader", daemon=True)
        self._thread.start()

    def stop(self, resign: bool = True) -> None:
        """Stop campaigning; `resign` revokes the lease so a standby takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if resign and self.lease:
            with contextlib.suppress(KansokuError):  # else the lease expires by itself
                self.client.revoke(self.lease)
        self._step_down("stopped")

    def step(self) -> None:
        """One round: keep the lease alive, campaign if not leading (the loop and tests call it)."""
        ttl = self.settings.lease_seconds
        sent = time.monotonic()
        if self.lease:
            left = self.client.keepalive(self.lease)
            if left <= 0:
                self.lease = 0
                self._step_down("lease expired")
            elif self.is_leader():
                self._valid_until = sent + left
                return
            else:  # led, but past its own deadline: alerts met `standby` meanwhile; re-elect
                self._step_down("lease not renewed in time")
        if not self.lease:
            sent = time.monotonic()
            self.lease = self.client.grant(ttl)
        ok, responses = self.client.txn(
            [absent(self.key)], [put(self.key, self.replica, self.lease)], [get(self.key)]
        )
        held = None if ok else responses_kv(responses, 0)
        # ours already: a lost answer, or this replica stepped down on its clock while etcd
        # was slow and its lease survived; either way it leads again, and re-decides
        if ok or (held is not None and held.lease == self.lease):
            self._leading = True
            self._valid_until = sent + ttl
            self.holder = self.replica
            self.elected_at = time.time()
            self._call(self.on_change, "ha_leader", f"{self.replica} leads (lease {self.lease:x})")
            self._call(self.on_elected)
            return
        self.holder = held.value if held else None

    @staticmethod
    def _call(callback: Callable[..., None] | None, *args: str) -> None:
        """A callback's failure (the journal, say) must not end the election thread."""
        if callback is not None:
            with contextlib.suppress(Exception):
                callback(*args)

    def lost(self) -> None:
        """A claim found the leader key not ours: stop acting now (the loop campaigns again)."""
        self._step_down("the leader key is not attached to this replica's lease")

    def _step_down(self, why: str) -> None:
        if self._leading:
            self._call(self.on_change, "ha_standby", f"{self.replica} stops leading: {why}")
        self._leading = False
        self._valid_until = 0.0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
                self._unreachable = False
            except EtcdUnavailable as exc:
                # no step down here: is_leader() turns False by itself when _valid_until passes
                if not self._unreachable:  # said once per outage, not at every campaign tick
                    log.warning("etcd unreachable (%s); leading until the lease runs out at the latest", exc)
                self._unreachable = True
            except Exception as exc:  # e.g. the lease is unknown to etcd, a garbled answer:
                self.lease = 0  # start over with a new lease; never let this thread die
                self._step_down(f"etcd error: {type(exc).__name__}: {exc}")
            if time.monotonic() >= self._valid_until:
                self._step_down("lease not renewed in time")
            wait = self.settings.lease_seconds / 3 if self._leading else CAMPAIGN_EVERY
            self._stop.wait(wait)


class EtcdRails:
    """Claims, the fleet budget, cooldowns and the pause switch, in etcd (see the module doc)."""

    def __init__(self, client: EtcdClient, settings: HaSettings, leadership: Leadership) -> None:
        self.client = client
        self.prefix = settings.prefix
        self.leadership = leadership
        #: claim times of the last hour, read from etcd once per leadership term, then kept
        #: here: while it leads, only this replica writes budget records (the lease compare)
        self._times: deque[float] | None = None
        self._term: float | None = None
        #: the pause switch as last read, and when (monotonic)
        self._paused: tuple[float, str | None] | None = None

    # -- keys ----------------------------------------------------------------------------------

    def _claim_key(self, idem_key: str) -> str:
        return f"{self.prefix}/claims/{idem_key}"

    def _cooldown_key(self, cluster: str, target: str) -> str:
        return f"{self.prefix}/cooldown/{cluster}/{target}"

    def _done_prefix(self) -> str:
        return f"{self.prefix}/done/"

    # -- the engine's seam (kansoku.alerts.heal.engine.FleetRails) ------------------------------

    def leader(self) -> bool:
        return self.leadership.is_leader()

    def paused_reason(self) -> str | None:
        """The fleet's pause switch, read at most every PAUSE_READ_EVERY seconds (it was a
        read per decision batch, and batches are one alert each at a steady rate)."""
        now = time.monotonic()
        if self._paused is None or now - self._paused[0] > PAUSE_READ_EVERY or self._new_term():
            kv = self.client.get(f"{self.prefix}/paused")
            self._paused = (now, kv.value if kv else None)
        return self._paused[1]

    def pause(self, reason: str) -> None:
        self.client.txn([absent(f"{self.prefix}/paused")], [put(f"{self.prefix}/paused", reason)])
        self._paused = None

    def resume(self) -> bool:
        self._paused = None
        return self.client.delete(f"{self.prefix}/paused") > 0

    def used_last_hour(self, now: float | None = None) -> int:
        now = now or time.time()
        if self._times is None or self._new_term():
            done = self._done_prefix()
            keys = self.client.range(f"{done}{(now - 3600) * 1000:015.0f}", prefix_end(done))
            self._times = deque(sorted(int(kv.key[len(done) :].split("-", 1)[0]) / 1000 for kv in keys))
            self._term = self.leadership.elected_at
        while self._times and self._times[0] < now - 3600:
            self._times.popleft()
        return len(self._times)

    def _new_term(self) -> bool:
        return self._term != self.leadership.elected_at

    def last_action_on(self, cluster: str, target: str, idem_key: str) -> float | None:
        """When the target was last acted on fleet-wide; None if never, or if that was the
        claim of `idem_key` itself (a claimed action a new leader may adopt, not a cooldown)."""
        kv = self.client.get(self._cooldown_key(cluster, target))
        if kv is None:
            return None
        cooldown = json.loads(kv.value)
        return None if cooldown["key"] == idem_key else float(cooldown["at"])

    def prune(self, now: float, keep_claims_seconds: float, cooldown_seconds: float) -> int:
        """Drop what no rail looks back on any more (the leader, hourly with the journal's
        retention): budget records older than an hour, cooldowns that ended, claims older
        than the retention. Returns how many keys went."""
        done = self._done_prefix()
        gone = self.client.delete(done, f"{done}{(now - 3600) * 1000:015.0f}")
        for prefix, horizon in (
            (f"{self.prefix}/cooldown/", now - cooldown_seconds),
            (f"{self.prefix}/claims/", now - keep_claims_seconds),
        ):
            for kv in self._scan(prefix):
                if float(json.loads(kv.value)["at"]) < horizon and self.client.delete_if(kv.key, kv.value):
                    gone += 1
        return gone

    def _scan(self, prefix: str, page: int = 1000) -> list[KeyValue]:
        out: list[KeyValue] = []
        start, end = prefix, prefix_end(prefix)
        while True:
            kvs = self.client.range(start, end, page)
            out.extend(kvs)
            if len(kvs) < page:
                return out
            start = kvs[-1].key + "\0"

    def claim(
        self, idem_key: str, cluster: str, target: str, action: str, request_id: str, now: float
    ) -> ClaimResult:
        """Claim `idem_key` under the leader's lease; records budget and cooldown with it."""
        lease = self.leadership.lease
        if not lease or not self.leadership.is_leader():
            return ClaimResult(Claim.NOT_LEADER, "not the leader")
        record = self._record(action, request_id, now, "claimed")
        claim_key = self._claim_key(idem_key)
        leader_key = self.leadership.key
        ok, responses = self.client.txn(
            [held_by(leader_key, lease), absent(claim_key)],
            [
                put(claim_key, record),
                put(f"{self._done_prefix()}{now * 1000:015.0f}-{request_id}", idem_key),
                put(self._cooldown_key(cluster, target), json.dumps({"at": now, "key": idem_key})),
            ],
            [get(leader_key), get(claim_key)],
        )
        if ok:
            if self._times is not None:
                self._times.append(now)
            return ClaimResult(Claim.CLAIMED, f"claimed by {self.leadership.replica}")
        held, taken = responses_kv(responses, 0), responses_kv(responses, 1)
        if held is None or held.lease != lease:
            self.leadership.lost()
            return ClaimResult(Claim.NOT_LEADER, f"leader is {held.value if held else 'nobody'}")
        assert taken is not None  # the leader compare held, so the claim key exists
        return self._adopt(claim_key, taken, lease, request_id)

    def _adopt(self, claim_key: str, taken: KeyValue, lease: int, request_id: str) -> ClaimResult:
        """A claim another replica made and never started (it died, or lost the lead first)
        becomes this leader's, in a txn that compares the claim's revision: the old owner's
        `start` compares it too, so exactly one of them runs the action.

        Never our own: a claim by this replica whose journal row is missing looks the same as
        a concurrent decision; at most once beats twice (docs/heal.md)."""
        by = json.loads(taken.value)
        owner = by.get("replica")
        if by.get("state") != "claimed" or owner == self.leadership.replica:
            return ClaimResult(
                Claim.TAKEN,
                f"already claimed fleet-wide by {owner} ({by.get('request_id')}, {by.get('state')})",
            )
        record = {**by, "replica": self.leadership.replica, "request_id": request_id, "adopted_from": owner}
        ok, _ = self.client.txn(
            [held_by(self.leadership.key, lease), unchanged(claim_key, taken.mod_revision)],
            [put(claim_key, json.dumps(record, sort_keys=True))],
        )
        if ok:
            return ClaimResult(Claim.CLAIMED, f"adopted from {owner}, which claimed it and never started it")
        return ClaimResult(Claim.TAKEN, f"already claimed fleet-wide by {owner} (started meanwhile)")

    def _record(self, action: str, request_id: str, at: float, state: str) -> str:
        """A claim's value, rebuilt byte for byte by `start` from the journal's action row."""
        body = {"replica": self.leadership.replica, "at": at, "action": action, "request_id": request_id}
        return json.dumps({**body, "state": state}, sort_keys=True)

    def existing_claim(self, idem_key: str) -> tuple[bool, str] | None:
        """None if nobody claimed `idem_key`; else (adoptable, why): adoptable when another
        replica claimed it and never started it (`claim` will adopt it)."""
        kv = self.client.get(self._claim_key(idem_key))
        if kv is None:
            return None
        by = json.loads(kv.value)
        owner, state = by.get("replica"), by.get("state")
        if state == "claimed" and owner != self.leadership.replica:
            return True, f"claimed by {owner}, never started"
        return False, f"already claimed fleet-wide by {owner} ({by.get('request_id')}, {state})"

    def start(self, idem_key: str, action: str, request_id: str, at: float) -> str | None:
        """The gate before an action runs: None to run it, else why not (it was adopted).

        Any replica runs its own claims, leader or not (they are its own; e.g. after a
        restart); a claim a new leader adopted is refused here. `claimed -> started` compares
        the claim's value (rebuilt from the action row: one round trip in the usual case) or
        its revision, so it races `_adopt` safely."""
        me = self.leadership.replica
        key = self._claim_key(idem_key)
        mine = self._record(action, request_id, at, "claimed")
        ok, responses = self.client.txn(
            [{"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(mine)}],
            [put(key, self._record(action, request_id, at, "started"))],
            [get(key)],
        )
        if ok:
            return None
        kv = responses_kv(responses, 0)
        for _ in range(3):
            if kv is None:
                return None  # planned without a claim (before `ha` was configured)
            by = json.loads(kv.value)
            if by.get("replica") != me:
                return f"not run here: adopted by {by.get('replica')} after this replica lost the lead"
            if by.get("state") == "started":
                return None  # our start committed in etcd but not our journal's `running`
            ok, _ = self.client.txn(
                [unchanged(kv.key, kv.mod_revision)],
                [put(kv.key, json.dumps({**by, "state": "started"}, sort_keys=True))],
            )
            if ok:
                return None
            kv = self.client.get(key)
        return "not run: its claim kept changing in etcd"


@dataclass
class HaNode:
    """What `build` wires when heal.yaml has `ha`: the client, the election and the rails."""

    client: EtcdClient
    leadership: Leadership
    rails: EtcdRails

    def start(self) -> None:
        self.leadership.start()

    def stop(self, resign: bool = True) -> None:
        self.leadership.stop(resign)
        self.client.close()


def ha_node(
    settings: HaSettings,
    journal: str,
    on_elected: Callable[[], None] | None = None,
    on_change: Callable[[str, str], None] | None = None,
) -> HaNode:
    client = EtcdClient(settings.etcd)
    leadership = Leadership(client, settings, replica_name(settings, journal), on_elected, on_change)
    return HaNode(client, leadership, EtcdRails(client, settings, leadership))
