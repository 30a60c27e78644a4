"""The deadline loop: fires every due timer (user sleeps, timeouts, retry back-offs, delayed
starts, schedule firings) exactly once, skips time when nothing can happen (time-skipping mode)
and purges runs past their retention. A tick is one call a test can make (`fire_due_timers`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

from app.db.outage import report_failure
from app.db.tables import history_events
from app.engine import deadlines, idempotency, retention
from app.engine.matching import queue_keys_cleanup
from app.engine.matching.wakeups import TIMERS_KEY
from app.engine.transition import Transition

if TYPE_CHECKING:
    from app.engine.service import Engine

log = logging.getLogger("perdure.engine")

RETENTION_EVERY_SECONDS = 300.0
MAX_PURGE_BATCHES = 50


class DeadlineLoop:
    """The deadline loop of one server process (`Engine.deadline_loop`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # When the loop plans to look next; a new timer before that wakes it (Engine.transact).
        self.wakes_at: datetime | None = None
        self._next_purge = 0.0
        # Time-skipping: the jumps made (engine time when made, length), newest last.
        self._skips: deque[tuple[datetime, timedelta]] = deque(maxlen=1000)

    async def fire_due_timers(self) -> int:
        """One tick of the deadline loop: fire everything due now. Returns how many fired."""
        fired = 0
        while True:
            async with self.engine.db.read() as conn:
                tx = Transition(
                    conn=conn, now=self.engine.clock.now(), is_postgres=self.engine.is_postgres
                )
                run_ids, schedule_keys = await deadlines.due_owners(tx, tx.now)
            if not run_ids and not schedule_keys:
                return fired
            count_before = fired
            for run_id in run_ids:
                fired += await self.engine.transact(partial(deadlines.fire_for_run, run_id=run_id))
            for key in schedule_keys:
                fired += await self.engine.transact(
                    partial(deadlines.fire_for_schedule, schedule_key=key)
                )
            if fired == count_before:
                return fired  # due timers are held by another replica right now

    async def skip_time_if_idle(self) -> bool:
        """Time-skipping mode: when nothing can happen before the next deadline, jump to it.

        Nothing can happen when no workflow task, activity attempt or query is in a worker's
        hands, and every task still waiting for a worker has waited at least
        `deadlines.UNSERVED_AFTER_SECONDS` (time skipped meanwhile not counted): its queue has
        no worker, so it must not stall the runs that do. Never while a test environment holds
        the lock (`time_lock`); a sleeper's moment (`POST /dev/clock/sleep-until`) is a
        deadline like a timer's."""
        if self.engine.time_lock.locked:
            return False
        async with self.engine.db.read() as conn:
            tx = Transition(
                conn=conn, now=self.engine.clock.now(), is_postgres=self.engine.is_postgres
            )
            next_at = _earliest(
                await deadlines.next_fire_time(tx), self.engine.time_lock.earliest_sleeper()
            )
            if next_at is None or next_at <= tx.now or await deadlines.worked_on(tx):
                return False
            newest = await deadlines.newest_waiting_since(tx)
        if newest is not None and self._waited_since(newest) < deadlines.UNSERVED_AFTER_SECONDS:
            return False
        now = self.engine.clock.now()
        self._skips.append((now, next_at - now))
        self.engine.clock.advance_to(next_at)
        self.engine.time_lock.moved()
        return True

    async def resume_skipped_time(self) -> None:
        """Time-skipping mode, at startup: the skipped time lives in this process's clock only,
        so a restarted server would start again from the wall clock, months behind the runs'
        history, with every started task's timeout as far ahead. The clock starts instead at
        the newest event recorded (time never goes back for a run), so that a task whose
        worker's answer was lost in the restart times out and is retried as it would have."""
        async with self.engine.db.read() as conn:
            newest = (
                await conn.execute(sa.select(sa.func.max(history_events.c.event_time)))
            ).scalar()
        if newest is not None:
            self.engine.clock.advance_to(newest)

    def _waited_since(self, queued_at: datetime) -> float:
        """Seconds since `queued_at` (engine clock), less the time skipped since."""
        skipped = sum((delta for at, delta in self._skips if at >= queued_at), timedelta(0))
        return (self.engine.clock.now() - queued_at - skipped).total_seconds()

    async def run(self, stop: asyncio.Event) -> None:
        """The loop: fire what is due, skip time when idle (time-skipping mode), purge past
        retention every few minutes, then sleep until the next timer or a wake-up."""
        while not stop.is_set():
            try:
                async with self.engine.wakeups.waiting(TIMERS_KEY) as woken:
                    if await self.fire_due_timers():
                        continue
                    if self.engine.ctx.settings.time_skipping and await self.skip_time_if_idle():
                        continue
                    if time.monotonic() >= self._next_purge:
                        self._next_purge = time.monotonic() + RETENTION_EVERY_SECONDS
                        await self.purge_expired_runs()
                    pause = await self._until_next_timer()
                    self.wakes_at = self.engine.clock.now() + timedelta(seconds=pause)
                    try:
                        await asyncio.wait_for(woken.wait(), pause)
                    except TimeoutError:
                        pass
                    self.wakes_at = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                report_failure(log, "deadline loop tick", exc)
                await asyncio.sleep(1.0)

    async def purge_expired_runs(self) -> int:
        """Delete closed runs past their namespace's retention, a batch per transaction,
        request ids past their time (app/engine/idempotency.py), and the fairness and rate
        rows of queue keys with nothing left in them; returns how many runs were purged."""
        purged = 0
        for _ in range(MAX_PURGE_BATCHES):
            batch = await self.engine.transact(retention.purge_expired_runs)
            purged += batch
            if batch < retention.BATCH:
                break
        for _ in range(MAX_PURGE_BATCHES):
            if await self.engine.transact(idempotency.forget_expired) < idempotency.FORGET_BATCH:
                break
        # Fairness and rate rows of keys with nothing left (app/engine/matching/queue_keys_cleanup.py).
        for _ in range(MAX_PURGE_BATCHES):
            if await self.engine.transact(queue_keys_cleanup.forget_idle_keys) < (
                queue_keys_cleanup.BATCH
            ):
                break
        return purged

    async def _until_next_timer(self) -> float:
        async with self.engine.db.read() as conn:
            tx = Transition(
                conn=conn, now=self.engine.clock.now(), is_postgres=self.engine.is_postgres
            )
            next_at = await deadlines.next_fire_time(tx)
        # Time-skipping: look again soon, the idle check may pass once in-flight work ends
        # (also with no timer yet: the work in flight may be about to start one).
        limit = 0.05 if self.engine.ctx.settings.time_skipping else self.engine.fallback
        if next_at is None:
            return limit
        seconds = (next_at - self.engine.clock.now()).total_seconds()
        return max(0.0, min(seconds, limit))


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return min(first, second)
