"""Versions from polls: a version exists once a worker of it polls (Temporal's rule). A
versioned poll records its deployment, its version and the task queue (and task kind) it
polls, at most every RECORD_EVERY_SECONDS per version, queue and process, so that a busy
worker's polls do not each cost a write; the first record of a queue is written before the
poll claims, so routing knows the queue from that claim on.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.tables import (
    worker_deployment_task_queues,
    worker_deployment_versions,
    worker_deployments,
)
from app.engine.matching.wakeups import versioning_key
from app.engine.versioning import deletion, runs
from app.engine.versioning.deployments import version_key

if TYPE_CHECKING:
    from app.engine.service import Engine
    from app.engine.transition import Transition

RECORD_EVERY_SECONDS = 10.0
MAX_REMEMBERED = 10_000
# Temporal's WorkerVersioningMode values; UNVERSIONED (or no deployment_options) polls as
# an unversioned worker.
VERSIONED = "VERSIONED"
UNVERSIONED = "UNVERSIONED"


def poller_version(options: dict[str, Any] | None) -> tuple[str, str] | None:
    """The poller's version from a poll's or completion's `deployment_options`
    (`{deployment_name, build_id, worker_versioning_mode}`); None when unversioned.
    InvalidArgument for a malformed version."""
    if options is None or options.get("worker_versioning_mode", UNVERSIONED) != VERSIONED:
        return None
    return runs.validate_version(options, "deployment_options")


class VersionRegistry:
    """Records versioned polls (per process: when each was last written)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._recorded: dict[tuple[str, str, str, str, str], float] = {}

    async def seen(
        self, namespace_id: str, version: tuple[str, str], task_queue: str, kind: str
    ) -> None:
        """A worker of `version` polls `task_queue` for `kind` tasks now."""
        key = (namespace_id, *version, task_queue, kind)
        last = self._recorded.get(key)
        now = time.monotonic()
        if last is not None and now - last < RECORD_EVERY_SECONDS:
            return
        if len(self._recorded) >= MAX_REMEMBERED:
            self._recorded.clear()

        async def record(tx: Transition) -> None:
            await self._record(tx, namespace_id, version, task_queue, kind, first=last is None)

        await self.engine.transact(record)
        self._recorded[key] = now

    async def _record(
        self,
        tx: Transition,
        namespace_id: str,
        version: tuple[str, str],
        task_queue: str,
        kind: str,
        *,
        first: bool,
    ) -> None:
        insert = pg_insert if tx.is_postgres else sqlite_insert
        now = tx.now
        name, build = version
        await tx.conn.execute(
            insert(worker_deployments)
            .values(
                namespace_id=namespace_id,
                name=name,
                created_at=now,
                current_build_id="",
                conflict_token=str(uuid.uuid4()),
            )
            .on_conflict_do_nothing(index_elements=["namespace_id", "name"])
        )
        await _make_room(tx, namespace_id, name, build)
        versions = insert(worker_deployment_versions).values(
            namespace_id=namespace_id,
            deployment_name=name,
            build_id=build,
            created_at=now,
            last_poll_time=now,
        )
        await tx.conn.execute(
            versions.on_conflict_do_update(
                index_elements=["namespace_id", "deployment_name", "build_id"],
                set_={"last_poll_time": now},
            )
        )
        queues = insert(worker_deployment_task_queues).values(
            namespace_id=namespace_id,
            deployment_name=name,
            build_id=build,
            task_queue=task_queue,
            kind=kind,
            first_poll_time=now,
            last_poll_time=now,
        )
        await tx.conn.execute(
            queues.on_conflict_do_update(
                index_elements=[
                    "namespace_id",
                    "deployment_name",
                    "build_id",
                    "task_queue",
                    "kind",
                ],
                set_={"last_poll_time": now},
            )
        )
        if first:
            # The queue may have just joined a deployment: every process reads its
            # namespace's versioned queues again (after commit; NOTIFY on PostgreSQL).
            tx.wake_keys.add(versioning_key(namespace_id))


async def _make_room(tx: Transition, namespace_id: str, name: str, build: str) -> None:
    """Before a poll records a version that does not exist yet: room for it among the
    deployment's 100 (the oldest deletable one removed), else the poll is refused with 409
    too-many-versions (Temporal's errTooManyVersions). One primary-key read per record."""
    known = await tx.conn.scalar(
        sa.select(worker_deployment_versions.c.build_id).where(
            version_key(namespace_id, name, build)
        )
    )
    if known is None and not await deletion.make_room_for_version(
        tx.conn, namespace_id, name, tx.now
    ):
        raise deletion.too_many_versions(name, build)
