"""Wake-ups for long polls: in-process events, and PostgreSQL LISTEN/NOTIFY across processes.

A wake-up only says "look again"; the database stays the truth. A waiter registers before it
looks, so a notification between its look and its wait is never lost. A slow fallback poll
covers a notification lost with a dropped connection.

Task queue keys (`q|…`) are not broadcast: each new task is offered to one waiting poll by the
`Matcher` (app/engine/matching/lines.py). Every other key wakes all its waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping

from app.db.outage import describe, outages
from app.engine.matching.lines import DRAIN, TASK, Matcher
from app.engine.versioning import routing

log = logging.getLogger("perdure.wakeups")

CHANNEL = "perdure_wakeups"
# NOTIFY payloads must stay under 8000 bytes; a batch larger than this is split.
MAX_NOTIFY_PAYLOAD = 7000


def queue_key(namespace_id: str, kind: str, task_queue: str, version: str | None = None) -> str:
    """A queue's line of waiting polls: its unversioned pollers', or with `version` (a
    canonical deployment version) that version's pollers' (Worker Versioning: a new task is
    offered only to a poller that may take it)."""
    if version is None:
        return f"q|{namespace_id}|{kind}|{task_queue}"
    return f"q|{namespace_id}|{kind}|{task_queue}#{version}"


def versioning_key(namespace_id: str) -> str:
    """A queue of the namespace joined a deployment: forget what this process cached of them."""
    return f"v|{namespace_id}"


def run_key(run_id: str) -> str:
    """New events in a run's history."""
    return f"r|{run_id}"


def run_closed_key(run_id: str) -> str:
    """The run closed (result waiters listen only to this)."""
    return f"c|{run_id}"


TIMERS_KEY = "timers"
# Shutdown began: every long poll answers now (see Wakeups.begin_drain).
DRAIN_KEY = "drain"


class Wakeups:
    """Named wake-up points. `waiting(key)` yields an event that `notify(key)` sets."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self.matcher = Matcher()
        self.draining = False
        # The first line of this app's NOTIFY payloads: its listener skips its own
        # notifications, which were delivered in-process after commit.
        self.origin = f"@{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def begin_drain(self) -> None:
        """The process is shutting down: long polls waiting on DRAIN_KEY (with their own key)
        wake and answer empty, and new ones answer at once (they check `draining`)."""
        self.draining = True
        self.notify([DRAIN_KEY])
        self.matcher.wake_all()

    @contextlib.asynccontextmanager
    async def waiting(self, *keys: str) -> AsyncIterator[asyncio.Event]:
        event = asyncio.Event()
        for key in keys:
            self._waiters[key].add(event)
        try:
            yield event
        finally:
            for key in keys:
                waiters = self._waiters.get(key)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._waiters[key]

    def notify(self, keys: Iterable[str], task_counts: Mapping[str, int] | None = None) -> None:
        """Wake the waiters of `keys`. A task queue key offers its new tasks to one waiting
        poll each when `task_counts` counts them (this process's commits); without a count
        (a NOTIFY, or a query) it makes one DRAIN offer (app/engine/matching/lines.py)."""
        for key in keys:
            if key.startswith("q|"):
                count = task_counts.get(key) if task_counts else None
                if count:
                    self.matcher.offer(key, count, TASK)
                else:
                    self.matcher.offer(key, 1, DRAIN)
                continue
            if key.startswith("v|"):
                routing.forget_namespace(key[2:])
                continue
            for event in self._waiters.get(key, ()):
                event.set()

    def queue_waiters(self) -> dict[str, int]:
        """Long polls waiting on task queues now, by task kind (for the pollers gauge)."""
        return self.matcher.waiting_counts()

    def has_waiters(self, key: str) -> bool:
        return bool(self._waiters.get(key))


class PostgresListener:
    """Relays NOTIFYs from other processes into the local `Wakeups` (own autocommit connection)."""

    def __init__(self, dsn: str, wakeups: Wakeups) -> None:
        self.dsn = dsn
        self.wakeups = wakeups
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="perdure-pg-listener")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for note in conn.notifies():
                        keys = note.payload.split("\n")
                        if keys[0] == self.wakeups.origin:
                            continue  # ours: delivered in-process after commit
                        self.wakeups.notify(keys[1:] if keys[0].startswith("@") else keys)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect: waiters still have their fallback poll
                outages.report(f"LISTEN connection lost, reconnecting: {describe(exc)}")
                await asyncio.sleep(1.0)


def notify_payloads(keys: Iterable[str], origin: str) -> list[str]:
    """Group keys into NOTIFY payloads that fit PostgreSQL's limit, each headed by `origin`
    (the sending `Wakeups.origin`)."""
    head = origin
    payloads: list[str] = []
    current: list[str] = [head]
    size = len(head) + 1
    for key in sorted(set(keys)):
        if len(current) > 1 and size + len(key) + 1 > MAX_NOTIFY_PAYLOAD:
            payloads.append("\n".join(current))
            current, size = [head], len(head) + 1
        current.append(key)
        size += len(key) + 1
    if len(current) > 1:
        payloads.append("\n".join(current))
    return payloads
