"""Group commit: concurrent webhooks share one journal transaction (one fsync).

Why: with synchronous=FULL each commit waits for an fsync, which on this kind of disk costs
2-16 ms; one commit per webhook would cap the receiver at the disk's fsync rate and block
the event loop while it waits. A single writer thread takes every write queued meanwhile,
runs them in one transaction, commits once and then answers each waiting request, so
throughput scales with the batch and each 200 still means "committed and fsynced".
Each caller's write runs in its own savepoint, so one that fails rolls back alone and the
rest of the batch still commits. The replay check runs inside the same transaction, so two identical bodies arriving
together cannot both be accepted. After answering a batch the writer calls `on_commit`
(the healer's `decide_now`), so decisions follow their commit on the same thread instead of
contending for the journal lock from another one.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from kansoku.alerts.heal.journal import Journal

#: most writes folded into one transaction (bounds the latency one commit adds)
MAX_BATCH = 256

Write = Callable[[sqlite3.Connection], Any]


class GroupCommitter:
    def __init__(self, journal: Journal, on_commit: Callable[[], None]) -> None:
        self.journal = journal
        self.on_commit = on_commit
        self._queue: queue.Queue[tuple[Write, asyncio.AbstractEventLoop, asyncio.Future[Any]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name="heal-journal-writer", daemon=True)
        self._thread.start()

    async def write(self, fn: Write) -> Any:
        """Run `fn(db)` in the next group transaction; returns its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((fn, loop, future))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            results: list[tuple[bool, Any]] = []
            committed = False
            try:
                with self.journal.tx() as db:
                    if len(batch) == 1:  # alone: its failure rolls back only itself anyway
                        results.append((True, batch[0][0](db)))
                    else:
                        for fn, _, _ in batch:
                            results.append(_isolated(db, fn))
                committed = True
            except Exception as exc:  # the whole transaction rolled back: every caller fails
                results = [(False, exc)] * len(batch)
            for (_, loop, future), (ok, value) in zip(batch, results, strict=True):
                loop.call_soon_threadsafe(_settle, future, ok, value)
            if committed:
                # after answering: the 200s wait for the fsync only, not for the decisions
                self.on_commit()


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


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
