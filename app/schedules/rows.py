"""The stored schedule: its row (locked and changed inside a transition) and its actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import schedule_actions, schedules
from app.engine.transition import Transition
from app.errors import NotFound
from app.schedules.buffer import OverlapPolicy, Start
from app.schedules.spec import CompiledSpec

# Temporal's: the catch-up window is at least 10 s, and a year by default.
MIN_CATCHUP_WINDOW = 10.0
DEFAULT_CATCHUP_WINDOW = 365 * 86400.0

UPDATE_SCHEDULE = sa.update(schedules).where(schedules.c.id == sa.bindparam("key"))


@dataclass
class Schedule:
    """A schedule's row, loaded for change; `flush` writes what `set` changed."""

    data: dict[str, Any]
    changes: dict[str, Any] = field(default_factory=dict)
    _spec: CompiledSpec | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None

    def set(self, **values: Any) -> None:
        self.data.update(values)
        self.changes.update(values)
        if "spec" in values:
            self._spec = None

    @property
    def compiled(self) -> CompiledSpec:
        if self._spec is None:
            seed = f"{self.data['namespace_id']}-{self.data['schedule_id']}"
            self._spec = CompiledSpec(orjson.loads(self.data["spec"]), seed)
        return self._spec

    @property
    def action(self) -> dict[str, Any]:
        return orjson.loads(self.data["action"])

    @property
    def policy(self) -> OverlapPolicy:
        return OverlapPolicy(self.data["overlap_policy"])

    @property
    def catchup_window(self) -> float:
        return max(MIN_CATCHUP_WINDOW, self.data["catchup_window"])

    def may_act(self, start: Start) -> bool:
        """Temporal's canTakeScheduledAction: triggers and backfills always; spec times unless
        paused or out of remaining actions."""
        if start.manual:
            return True
        if self.data["paused"]:
            return False
        return not self.data["limited_actions"] or self.data["remaining_actions"] > 0

    @property
    def idle(self) -> bool:
        """No spec time can be acted on: paused, or no actions remain."""
        return bool(self.data["paused"]) or (
            self.data["limited_actions"] and self.data["remaining_actions"] <= 0
        )

    async def flush(self, tx: Transition) -> None:
        if self.changes:
            await tx.conn.execute(UPDATE_SCHEDULE, {"key": self.data["id"], **self.changes})
            self.changes = {}


def _find(namespace_id: str, schedule_id: str) -> sa.Select:
    return sa.select(schedules).where(
        schedules.c.namespace_id == namespace_id, schedules.c.schedule_id == schedule_id
    )


def _not_found(schedule_id: str) -> NotFound:
    return NotFound(f"schedule '{schedule_id}' not found", schedule_id=schedule_id)


async def lock(tx: Transition, namespace_id: str, schedule_id: str) -> Schedule:
    """The schedule, locked for this transaction on PostgreSQL; NotFound when there is none."""
    query = _find(namespace_id, schedule_id)
    if tx.is_postgres:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).mappings().one_or_none()
    if row is None:
        raise _not_found(schedule_id)
    return Schedule(dict(row))


async def lock_by_key(tx: Transition, key: str) -> Schedule | None:
    query = sa.select(schedules).where(schedules.c.id == key)
    if tx.is_postgres:
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).mappings().one_or_none()
    return Schedule(dict(row)) if row is not None else None


async def read(conn: Connection, namespace_id: str, schedule_id: str) -> Schedule:
    row = (await conn.execute(_find(namespace_id, schedule_id))).mappings().one_or_none()
    if row is None:
        raise _not_found(schedule_id)
    return Schedule(dict(row))


# -- actions ---------------------------------------------------------------------------------


def _start_of(row: Any) -> Start:
    return Start(
        origin=row.origin,
        nominal=row.nominal_time,
        scheduled=row.scheduled_time,
        overlap=OverlapPolicy(row.overlap_policy) if row.overlap_policy else None,
        row_id=row.id,
    )


async def actions_in(conn: Connection, key: str, state: str) -> list[Any]:
    return list(
        (
            await conn.execute(
                sa.select(schedule_actions)
                .where(schedule_actions.c.schedule_key == key, schedule_actions.c.state == state)
                .order_by(schedule_actions.c.id)
            )
        ).all()
    )


async def buffered(conn: Connection, key: str) -> list[Start]:
    return [_start_of(row) for row in await actions_in(conn, key, "buffered")]


async def store_buffered(tx: Transition, schedule: Schedule, start: Start) -> None:
    start.row_id = (
        await tx.conn.execute(
            sa.insert(schedule_actions).returning(schedule_actions.c.id),
            {
                "schedule_key": schedule.id,
                "namespace_id": schedule.namespace_id,
                "origin": start.origin,
                "nominal_time": start.nominal,
                "scheduled_time": start.scheduled,
                "overlap_policy": start.overlap.value if start.overlap else None,
                "state": "buffered",
            },
        )
    ).scalar_one()


async def forget(tx: Transition, start: Start) -> None:
    if start.row_id is not None:
        await tx.conn.execute(
            sa.delete(schedule_actions).where(schedule_actions.c.id == start.row_id)
        )


async def record_started(
    tx: Transition,
    schedule: Schedule,
    start: Start,
    policy: OverlapPolicy,
    workflow_id: str,
    run_id: str,
) -> None:
    values = {
        "overlap_policy": policy.value,
        "state": "running",
        "workflow_id": workflow_id,
        "run_id": run_id,
        "started_at": tx.now,
        "status": "RUNNING",
    }
    if start.row_id is not None:
        await tx.conn.execute(
            sa.update(schedule_actions)
            .where(schedule_actions.c.id == start.row_id)
            .values(**values)
        )
        return
    await tx.conn.execute(
        sa.insert(schedule_actions),
        {
            "schedule_key": schedule.id,
            "namespace_id": schedule.namespace_id,
            "origin": start.origin,
            "nominal_time": start.nominal,
            "scheduled_time": start.scheduled,
            **values,
        },
    )


async def recent(conn: Connection, key: str, count: int) -> list[Any]:
    """The latest `count` started actions, newest first."""
    return list(
        (
            await conn.execute(
                sa.select(schedule_actions)
                .where(
                    schedule_actions.c.schedule_key == key,
                    schedule_actions.c.started_at.is_not(None),
                )
                .order_by(schedule_actions.c.started_at.desc(), schedule_actions.c.id.desc())
                .limit(count)
            )
        ).all()
    )


async def prune_done(tx: Transition, key: str, keep: int) -> None:
    """Forget finished actions older than the latest `keep` started ones."""
    kept = (
        sa.select(schedule_actions.c.id)
        .where(schedule_actions.c.schedule_key == key, schedule_actions.c.started_at.is_not(None))
        .order_by(schedule_actions.c.started_at.desc(), schedule_actions.c.id.desc())
        .limit(keep)
    )
    await tx.conn.execute(
        sa.delete(schedule_actions).where(
            schedule_actions.c.schedule_key == key,
            schedule_actions.c.state == "done",
            schedule_actions.c.id.not_in(kept.scalar_subquery()),
        )
    )


def json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def later(a: datetime, b: datetime) -> datetime:
    return a if a >= b else b
