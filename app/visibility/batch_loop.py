"""The batch operation loop: works running jobs a slice at a time, at each job's rate.

A worker claims a job whose lease is free (SKIP LOCKED on PostgreSQL, so one loop per job
across replicas), acts on its runs for a slice of time, then lets the lease go so that other
jobs (and other replicas) get their turn. A loop that dies keeps its lease until it expires;
then another loop resumes the job after the last run acted on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from functools import partial
from typing import Any

import sqlalchemy as sa

from app.context import ServerContext
from app.db.bounded import read_bounded
from app.db.outage import report_failure
from app.engine.matching.wakeups import Wakeups
from app.engine.service import Engine
from app.errors import PerdureError
from app.ids import new_id
from app.visibility import batches
from app.visibility import operator_batches as _operator_actions  # noqa: F401  (registers them)

log = logging.getLogger("perdure.batches")

WORKERS = 2  # jobs worked at once by one process
SLICE_SECONDS = 5.0  # then the lease is let go, and the oldest waiting job is taken
PAGE = 100  # runs read at a time


class BatchLoop:
    def __init__(self, ctx: ServerContext, engine: Engine, wakeups: Wakeups) -> None:
        self.ctx = ctx
        self.engine = engine
        self.wakeups = wakeups
        self.owner = new_id()  # this process's name on the leases it holds
        self.lease = ctx.settings.batch_lease_seconds

    async def run(self, stop: asyncio.Event) -> None:
        workers = [
            asyncio.create_task(self._worker(stop), name=f"perdure-batches-{i}")
            for i in range(WORKERS)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            for worker in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

    async def _worker(self, stop: asyncio.Event) -> None:
        fallback = self.ctx.settings.poll_fallback_seconds
        while not stop.is_set():
            try:
                async with self.wakeups.waiting(batches.BATCH_KEY) as woken:
                    if await self.tick():
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), fallback)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # One line while the database is away (as the other loops), a traceback else.
                report_failure(log, "batch operation tick", exc)
                await asyncio.sleep(1.0)

    async def tick(self) -> bool:
        """Claim a job and work one slice of it; False when no job was free."""
        async with self.ctx.db.read() as conn:
            if not await batches.any_claimable(conn, self.ctx.clock.now()):
                return False
        job = await self.engine.transact(lambda tx: batches.claim(tx, self.owner, self.lease))
        if job is None:
            return False
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lease(job, lost), name="perdure-batch-lease")
        try:
            finished = await self.work(job, lost)
        except batches.LeaseLost:
            return True  # stopped, or taken over: nothing of ours to let go
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        if not finished:
            await self.engine.transact(lambda tx: batches.release(tx, job, self.owner))
            self.wakeups.notify([batches.BATCH_KEY])
        return True

    async def _keep_lease(self, job: Any, lost: asyncio.Event) -> None:
        """Renew the job's lease every third of it while the job is worked (also through a
        slow job's pauses between runs), so that a holder that dies is replaced within about
        one lease (PERDURE_BATCH_LEASE_SECONDS) and a live one never is. Sets `lost` when the
        job was stopped or taken over."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                held = await self.engine.transact(
                    lambda tx: batches.renew(tx, job, self.owner, self.lease)
                )
            except Exception as exc:  # the database went away: try again at the next third
                report_failure(log, "batch lease renewal", exc)
                continue
            if not held:
                lost.set()
                return

    async def work(self, job: Any, lost: asyncio.Event | None = None) -> bool:
        """Act on the job's next runs for a slice of time; True when the job completed.
        Raises LeaseLost once `lost` is set (the job was stopped or taken over)."""
        deadline = time.monotonic() + SLICE_SECONDS
        interval = 1.0 / job["max_per_second"]
        next_at = time.monotonic()
        cursor = (job["cursor_start_time"], job["cursor_run_id"]) if job["cursor_run_id"] else None
        planned = None
        while time.monotonic() < deadline:
            async with self.ctx.db.read(transaction=True) as conn:
                if planned is None:
                    planned = await batches.job_plan(
                        conn, job, self.ctx.clock.now(), self.ctx.db.dialect
                    )
                query = batches.next_runs_query(planned, job, cursor, PAGE)
                rows = await read_bounded(
                    conn,
                    partial(_all_rows, query=query),
                    self.ctx.settings.visibility_query_timeout,
                )
            if not rows:
                await self.engine.transact(lambda tx: batches.finish(tx, job, self.owner))
                return True
            for row in rows:
                pause = next_at - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)  # the job's rate limit
                if lost is not None and lost.is_set():
                    raise batches.LeaseLost
                next_at = max(next_at, time.monotonic()) + interval
                await self.act(job, row)
                cursor = (row.start_time, row.id)
                if time.monotonic() >= deadline:
                    break
        return False

    async def act(self, job: Any, row: Any) -> None:
        try:
            await self.engine.transact(lambda tx: batches.act(tx, job, self.owner, self.lease, row))
        except PerdureError as refused:  # the action refused this run: kept as a failure
            error = refused
            await self.engine.transact(
                lambda tx: batches.record_failure(tx, job, self.owner, self.lease, row, error)
            )


def _all_rows(sync: sa.Connection, query: sa.Select[Any]) -> list[Any]:
    """Every row of `query` (run under read_bounded's time limit)."""
    return list(sync.execute(query).all())
