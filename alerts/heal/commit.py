"""Group commit: concurrent webhooks share one journal transaction (one fsync).

Why: with synchronous=FULL each commit waits for an fsync, which on this kind of disk costs
2-16 ms; one commit per webhook would cap the receiver at the disk's fsync rate and block
the event loop while it waits. A single writer thread takes every write queued meanwhile,
runs them in one transaction, commits once and then answers each waiting request, so
throughput scales with the batch and each 200 still means "committed and fsynced".
Each caller's write runs in its own savepoint, so one that fails rolls back alone and the
rest of the batch still commits. The replay check runs inside the same transaction, so two
identical bodies arriving together cannot both be accepted. Before committing, the writer
calls `decide` (the healer's `decide_in`): the batch's alerts are decided in the same
transaction, so one commit and one fsync cover both; what `decide` returns runs after the
answers (starting actions, counters). Deciding on the writer's own thread also keeps the
decide thread from contending for the journal lock.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from kansoku.alerts.heal.journal import Journal

#: most writes folded into one transaction (bounds the latency one commit adds)
MAX_BATCH = 256
#: under load, a batch is committed once its oldest write has waited this long (see `_gather`)
COMMIT_DELAY_SECONDS = 0.006

Write = Callable[[sqlite3.Connection], Any]
#: a queued write: the write, the loop and future to answer, when it was queued (monotonic)
_Item = tuple[Write, asyncio.AbstractEventLoop, "asyncio.Future[Any]", float]
#: runs in the group transaction after its writes; returns what to do once it committed
Decide = Callable[[sqlite3.Connection], Callable[[], None]]


class GroupCommitter:
    def __init__(self, journal: Journal, decide: Decide) -> None:
        self.journal = journal
        self.decide = decide
        # SimpleQueue: the C one; Queue's Condition cost a lock round per put and per get
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        #: when the last write gathered so far was queued (monotonic)
        self._last_queued = float("-inf")
        self._thread = threading.Thread(target=self._run, name="heal-journal-writer", daemon=True)
        self._thread.start()

    async def write(self, fn: Write) -> Any:
        """Run `fn(db)` in the next group transaction; returns its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((fn, loop, future, time.monotonic()))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _gather(self, first: _Item) -> list[_Item]:
        """`first` and the writes queued behind it; under load, once `first` has waited
        COMMIT_DELAY_SECONDS.

        Why wait: a commit costs about as much CPU as the webhooks in it (WAL frames, fsync,
        thread wake-ups), and at 500 webhooks/s the writer found only one or two queued per
        commit. Sleeping a few milliseconds gathers several, and the writer is not woken for
        each one. Under load means: the previous write came less than the delay before this
        one; a lone webhook (or the first after a pause) is committed at once, and a write
        that already waited that long (behind the previous commit) is not delayed at all.

        Why not longer: a commit writes about 14 WAL frames its webhooks share (the
        tables' last pages, appended index entries) and 3.5 more per alert (random index
        leaves): 17 frames per alert alone, 6.5 in batches of 5, 4.6 in batches of 10. A
        10 ms delay (batches of about 5 at 500 alerts/s) cut the CPU per alert by 5-10 %
        in bench_heal --hog, but small senders at 100 webhooks/s then waited for batches
        that gathered little: their p99 in bench_heal_burst.py went from 15 to 55 ms.
        """
        batch = [first]
        queued = first[3]
        if queued - self._last_queued < COMMIT_DELAY_SECONDS:
            delay = queued + COMMIT_DELAY_SECONDS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        while len(batch) < MAX_BATCH:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)
                break
            batch.append(more)
        self._last_queued = batch[-1][3]
        return batch

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = self._gather(item)
            results: list[tuple[bool, Any]] = []
            committed = False
            after: Callable[[], None] | None = None
            try:
                with self.journal.tx() as db:
                    if len(batch) == 1:  # alone: its failure rolls back only itself anyway
                        results.append((True, batch[0][0](db)))
                    else:
                        for fn, _, _, _ in batch:
                            results.append(_isolated(db, fn))
                    after = self.decide(db)
                committed = True
            except Exception as exc:  # the whole transaction rolled back: every caller fails
                results = [(False, exc)] * len(batch)
            settle: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
            for (_, loop, future, _), (ok, value) in zip(batch, results, strict=True):
                settle.setdefault(loop, []).append((future, ok, value))
            for loop, answers in settle.items():  # one wake-up of each event loop per batch
                loop.call_soon_threadsafe(_settle, answers)
            if committed and after is not None:
                after()  # after answering: starting actions does not hold the 200s


def _isolated(db: sqlite3.Connection, fn: Write) -> tuple[bool, Any]:
    """Run one caller's write in a savepoint: if it fails, only its own rows roll back.

    Why: before, one webhook that SQLite refused (a lone surrogate in a label) failed the
    shared transaction, and every other sender in the batch got a 500 for a good webhook.
    """
    db.execute("SAVEPOINT one_write")
    try:
        value = fn(db)
    except Exception as exc:
        db.execute("ROLLBACK TO one_write")
        db.execute("RELEASE one_write")
        return False, exc
    db.execute("RELEASE one_write")
    return True, value


def _settle(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in answers:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
