"""The loops a server process runs beside the API: deadlines, webhook deliveries, batch
operations, Worker Versioning drainage, and the LISTEN relay."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.engine import make_url

from app.context import ServerContext
from app.definitions.http_invoke import HttpInvokeLoop
from app.engine.matching.wakeups import PostgresListener, Wakeups
from app.engine.service import Engine
from app.engine.versioning.drainage import DrainageLoop
from app.engine.versioning.replay_tasks import ReplayTimeoutLoop
from app.visibility.batch_loop import BatchLoop
from app.webhooks.loop import DeliveryLoop


def libpq_dsn(url: str) -> str:
    """The SQLAlchemy URL as a plain libpq connection string for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class BackgroundLoops:
    def __init__(self, ctx: ServerContext, engine: Engine, wakeups: Wakeups) -> None:
        self.ctx = ctx
        self.engine = engine
        self.wakeups = wakeups
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: PostgresListener | None = None

    async def start(self) -> None:
        if self.ctx.settings.time_skipping:
            await self.engine.deadline_loop.resume_skipped_time()
        if not self.ctx.db.is_sqlite:
            self._listener = PostgresListener(libpq_dsn(self.ctx.db.url), self.wakeups)
            self._listener.start()
        if self.ctx.settings.run_background_loops:
            self._tasks.append(
                asyncio.create_task(
                    self.engine.deadline_loop.run(self._stop), name="perdure-deadlines"
                )
            )
            http_invoke = HttpInvokeLoop(self.ctx, self.engine, self.wakeups)
            self._tasks.append(
                asyncio.create_task(http_invoke.run(self._stop), name="perdure-http-invoke")
            )
            webhooks = DeliveryLoop(self.ctx, self.engine, self.wakeups)
            self._tasks.append(
                asyncio.create_task(webhooks.run(self._stop), name="perdure-webhooks")
            )
            batch_operations = BatchLoop(self.ctx, self.engine, self.wakeups)
            self._tasks.append(
                asyncio.create_task(batch_operations.run(self._stop), name="perdure-batches")
            )
            replay_timeouts = ReplayTimeoutLoop(self.engine)
            self._tasks.append(
                asyncio.create_task(replay_timeouts.run(self._stop), name="perdure-replay")
            )
            drainage = DrainageLoop(self.engine)
            self._tasks.append(
                asyncio.create_task(drainage.run(self._stop), name="perdure-drainage")
            )

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener:
            await self._listener.stop()
