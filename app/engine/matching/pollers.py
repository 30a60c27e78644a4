"""Who polls which task queue: recorded at most every few seconds per poller, so that a busy
worker's polls do not each cost a write. A record holds when the poll started and when it
will end at the latest (`open_until`): a poller is present while a poll of it may be open.

Records are written in batches, one transaction for every poller seen in the last
FLUSH_AFTER_SECONDS: a fleet of 2,000 workers arriving together costs a few writes, not 2,000
(Temporal keeps its poller history in memory; ours is shared by every replica through the
table). Reads of the table in this process flush first (`flush`), so they see their own polls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.clock import Clock
from app.db.database import Database
from app.db.outage import report_failure
from app.db.tables import task_queue_pollers

log = logging.getLogger("perdure.pollers")

RECORD_EVERY_SECONDS = 10.0
MAX_REMEMBERED = 10_000
FLUSH_AFTER_SECONDS = 0.25


class PollerRegistry:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        # Per poller: (monotonic time recorded, monotonic end of the poll recorded).
        self._recorded: dict[tuple[str, str, str, str], tuple[float, float]] = {}
        # Seen, not yet written: (engine time the poll started, when it ends at the latest).
        self._pending: dict[tuple[str, str, str, str], tuple[datetime, datetime]] = {}
        self._flushing: asyncio.Task[None] | None = None

    async def seen(
        self, namespace_id: str, task_queue: str, kind: str, identity: str, wait: float
    ) -> None:
        """A poll of `identity` started now and waits up to `wait` seconds."""
        key = (namespace_id, task_queue, kind, identity)
        last = self._recorded.get(key)
        now = time.monotonic()
        if (
            last is not None
            and now - last[0] < RECORD_EVERY_SECONDS
            and now + wait < last[1] + RECORD_EVERY_SECONDS  # the recorded end still holds
        ):
            return
        if len(self._recorded) > MAX_REMEMBERED:
            self._recorded.clear()
        self._recorded[key] = (now, now + wait)
        started = self.clock.now()
        self._pending[key] = (started, started + timedelta(seconds=wait))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_soon(), name="perdure-pollers")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_AFTER_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        """Write the pollers seen since the last flush, in one transaction (sorted, so that
        replicas flushing together lock rows in one order). A failure is logged and the batch
        dropped: the records are observations, and the next polls make them again."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        rows = [
            {
                "namespace_id": namespace_id,
                "task_queue": task_queue,
                "kind": kind,
                "identity": identity,
                "last_poll_time": started,
                "open_until": until,
            }
            for (namespace_id, task_queue, kind, identity), (started, until) in sorted(
                batch.items()
            )
        ]
        insert = pg_insert if not self.db.is_sqlite else sqlite_insert
        statement = insert(task_queue_pollers)
        statement = statement.on_conflict_do_update(
            index_elements=["namespace_id", "task_queue", "kind", "identity"],
            set_={
                "last_poll_time": statement.excluded.last_poll_time,
                "open_until": statement.excluded.open_until,
            },
        )
        try:
            async with self.db.write() as conn:
                await conn.execute(statement, rows)
        except Exception as exc:
            report_failure(log, "recording task queue pollers", exc)

    async def close(self) -> None:
        """Write what is pending (process shutdown)."""
        if self._flushing is not None and not self._flushing.done():
            self._flushing.cancel()
        await self.flush()
