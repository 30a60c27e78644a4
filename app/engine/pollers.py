"""Who polls which task queue: recorded at most every few seconds per poller, so that a busy
worker's polls do not each cost a write. A record holds when the poll started and when it
will end at the latest (`open_until`): a poller is present while a poll of it may be open."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.clock import Clock
from app.db.database import Database
from app.db.tables import task_queue_pollers

RECORD_EVERY_SECONDS = 10.0
MAX_REMEMBERED = 10_000


class PollerRegistry:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        # Per poller: (monotonic time recorded, monotonic end of the poll recorded).
        self._recorded: dict[tuple[str, str, str, str], tuple[float, float]] = {}

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
        insert = pg_insert if not self.db.is_sqlite else sqlite_insert
        now = self.clock.now()
        values = {
            "namespace_id": namespace_id,
            "task_queue": task_queue,
            "kind": kind,
            "identity": identity,
            "last_poll_time": now,
            "open_until": now + timedelta(seconds=wait),
        }
        statement = insert(task_queue_pollers).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["namespace_id", "task_queue", "kind", "identity"],
            set_={
                "last_poll_time": statement.excluded.last_poll_time,
                "open_until": statement.excluded.open_until,
            },
        )
        async with self.db.write() as conn:
            await conn.execute(statement)
