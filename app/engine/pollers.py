"""Who polls which task queue: recorded at most every few seconds per poller, so that a busy
worker's polls do not each cost a write."""

from __future__ import annotations

import time

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
        self._recorded: dict[tuple[str, str, str, str], float] = {}

    async def seen(self, namespace_id: str, task_queue: str, kind: str, identity: str) -> None:
        key = (namespace_id, task_queue, kind, identity)
        last = self._recorded.get(key)
        now = time.monotonic()
        if last is not None and now - last < RECORD_EVERY_SECONDS:
            return
        if len(self._recorded) > MAX_REMEMBERED:
            self._recorded.clear()
        self._recorded[key] = now
        insert = pg_insert if not self.db.is_sqlite else sqlite_insert
        values = {
            "namespace_id": namespace_id,
            "task_queue": task_queue,
            "kind": kind,
            "identity": identity,
            "last_poll_time": self.clock.now(),
        }
        statement = insert(task_queue_pollers).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["namespace_id", "task_queue", "kind", "identity"],
            set_={"last_poll_time": statement.excluded.last_poll_time},
        )
        async with self.db.write() as conn:
            await conn.execute(statement)
