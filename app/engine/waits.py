"""Long waits on runs: one watcher per process that every wait on a run shares.

`result?wait=`, history `wait_new_event`, event streams (and Workflow Update's waits) register
here while they wait. They are woken by the run's own change — the wake-up a transition sends
after commit, in-process or by PostgreSQL NOTIFY (app/engine/matching/wakeups.py) — and never look at
the database on a timer of their own. A lost wake-up (a NOTIFY dropped with its connection) is
covered by one fallback look per process: every `fallback_seconds` a single statement reads
the FINGERPRINT (next event id, status, update counts, workflow task state) of every run
someone here waits on, and wakes the waiters of each run that changed. Idle waits cost memory only: 3,000 streams on 3,000 runs cost one statement every
two seconds, not 1,500 a second (issue 28).

Use it as:

    async with waits.watching(run_id) as change:     # before the first look
        while True:
            change.clear()
            found = await look()                     # a read of your own
            if found or waits.draining: ...
            await change.wait(timeout)               # woken by the run's next change

`watching(run_id, closed_only=True)` wakes only when the run closes (result waits). A wait
always registers before it looks, so a change between its look and its wait is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import sqlalchemy as sa

from app.db.database import Database
from app.db.outage import report_failure
from app.db.tables import workflow_runs
from app.engine.matching.wakeups import DRAIN_KEY, Wakeups, run_closed_key, run_key

log = logging.getLogger("perdure.waits")

# Runs read by one fallback statement (an IN list PostgreSQL and SQLite both plan well).
FALLBACK_CHUNK = 500
# What the fallback compares between two looks: every change a waiter waits for moves one of
# these — a new event, the status, an update admitted or rejected (no event), a workflow task's
# state. The status is second (the closing wakes result waits).
FINGERPRINT = (
    workflow_runs.c.next_event_id,
    workflow_runs.c.status,
    workflow_runs.c.updates_total,
    workflow_runs.c.updates_admitted,
    workflow_runs.c.wft_state,
)


class Change:
    """What a waiter holds while it waits: set when the run it watches (may have) changed."""

    __slots__ = ("_event",)

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    def clear(self) -> None:
        """Call before each look: a change after it sets this again."""
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self, seconds: float) -> bool:
        """Wait at most `seconds` for a change (or the server's drain); True when woken."""
        if self._event.is_set():
            return True
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


class RunWaits:
    """The runs this process's waits watch (with how many waiters each), and their fallback."""

    def __init__(self, db: Database, wakeups: Wakeups, fallback_seconds: float) -> None:
        self.db = db
        self.wakeups = wakeups
        self.fallback_seconds = fallback_seconds
        self._watched: dict[str, int] = {}
        # FINGERPRINT of each watched run at the previous fallback look.
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self.fallback_looks = 0  # statements the fallback ran (benches and tests read it)

    @property
    def draining(self) -> bool:
        """The server is shutting down: waits answer with what they have now."""
        return self.wakeups.draining

    def watched(self) -> int:
        """Runs watched now (each counted once however many wait on it)."""
        return len(self._watched)

    @contextlib.asynccontextmanager
    async def watching(self, run_id: str, *, closed_only: bool = False) -> AsyncIterator[Change]:
        """Register a wait on `run_id` for the block's length. The `Change` is set by each new
        event of the run (only its closing with `closed_only`) and by the server's drain."""
        key = run_closed_key(run_id) if closed_only else run_key(run_id)
        self._watched[run_id] = self._watched.get(run_id, 0) + 1
        self._ensure_fallback()
        try:
            async with self.wakeups.waiting(key, DRAIN_KEY) as event:
                yield Change(event)
        finally:
            left = self._watched[run_id] - 1
            if left:
                self._watched[run_id] = left
            else:
                del self._watched[run_id]
                self._seen.pop(run_id, None)

    def _ensure_fallback(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._fallback(), name="perdure-run-waits-fallback"
            )

    async def close(self) -> None:
        """Stop the fallback look (the process is stopping)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _fallback(self) -> None:
        """Every `fallback_seconds` while anything is watched, `look_once`; ends when idle."""
        while self._watched:
            await asyncio.sleep(self.fallback_seconds)
            try:
                await self.look_once()
            except Exception as exc:  # the database went away: waits keep their deadlines
                report_failure(log, "run waits' fallback look", exc)

    async def look_once(self) -> int:
        """Read every watched run once and wake the waiters of those that changed since the
        previous look. The first look of a run only notes it: its waiters looked themselves
        after registering. Answers how many runs were woken."""
        runs = list(self._watched)
        woken: list[str] = []
        for start in range(0, len(runs), FALLBACK_CHUNK):
            chunk = runs[start : start + FALLBACK_CHUNK]
            async with self.db.read() as conn:
                rows = await conn.execute(
                    sa.select(workflow_runs.c.id, *FINGERPRINT).where(workflow_runs.c.id.in_(chunk))
                )
                self.fallback_looks += 1
                woken.extend(self._changed(rows))
        if woken:
            self.wakeups.notify(woken)
        return sum(1 for key in woken if key == run_key(key[2:]))

    def _changed(self, rows: Iterable[Any]) -> list[str]:
        keys: list[str] = []
        for run_id, *fingerprint in rows:
            if run_id not in self._watched:
                continue
            now = tuple(fingerprint)
            before = self._seen.get(run_id)
            self._seen[run_id] = now
            if before is not None and before != now:
                keys.append(run_key(run_id))
                if before[1] != now[1]:  # the status: its closing
                    keys.append(run_closed_key(run_id))
        return keys
