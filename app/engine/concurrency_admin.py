"""Creating, changing and removing per-key concurrency limits (`PUT/GET/DELETE
…/concurrency-limits/{name}`); the rules themselves are in app/engine/concurrency.py."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import concurrency_limits
from app.engine import concurrency, concurrency_slots
from app.engine.transition import Transition
from app.errors import FailedPrecondition, InvalidArgument, LimitExceeded, NotFound
from app.ids import new_id


def _where(namespace_id: str, name: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        concurrency_limits.c.namespace_id == namespace_id, concurrency_limits.c.name == name
    )


async def put(
    tx: Transition, namespace_id: str, name: str, spec: dict[str, Any]
) -> tuple[bool, Any]:
    """Create or change the limit `name`: (created?, its row). `spec`: applies_to, key,
    max_running, strategy, paused. Raising `max_running` or resuming hands free slots to
    waiters at once; lowering it preempts nothing. InvalidArgument for a key the limit cannot
    count by; FailedPrecondition (409) for a change of `applies_to` or `key` (slots are
    counted by the old one: delete and create again); LimitExceeded past MAX_LIMITS."""
    key = concurrency.check_key(spec["key"])
    if spec["applies_to"] == "workflows" and key == "activity_type":
        raise InvalidArgument("a limit on workflows cannot count by activity_type", field="key")
    current = (
        await tx.conn.execute(
            sa.select(concurrency_limits).where(_where(namespace_id, name)).with_for_update()
        )
    ).one_or_none()
    values = {
        "max_running": spec["max_running"],
        "strategy": spec["strategy"],
        "paused": spec["paused"],
        "updated_at": tx.now,
    }
    concurrency.forget(namespace_id)
    if current is None:
        count = await tx.conn.scalar(
            sa.select(sa.func.count()).where(concurrency_limits.c.namespace_id == namespace_id)
        )
        if (count or 0) >= concurrency.MAX_LIMITS:
            raise LimitExceeded(
                f"a namespace may have at most {concurrency.MAX_LIMITS} concurrency limits"
            )
        row = {
            "id": new_id(),
            "namespace_id": namespace_id,
            "name": name,
            "applies_to": spec["applies_to"],
            "key": key,
            "created_at": tx.now,
            **values,
        }
        await tx.conn.execute(sa.insert(concurrency_limits).values(row))
        return True, await get(tx.conn, namespace_id, name)
    if current.applies_to != spec["applies_to"] or current.key != key:
        raise FailedPrecondition(
            f"concurrency limit '{name}' counts {current.applies_to} by {current.key}; delete "
            "it and create it again to count otherwise",
            field="key",
        )
    await tx.conn.execute(
        sa.update(concurrency_limits).where(concurrency_limits.c.id == current.id).values(values)
    )
    await concurrency_slots.promote_all(tx, current.id)
    return False, await get(tx.conn, namespace_id, name)


async def get(conn: Connection, namespace_id: str, name: str) -> dict[str, Any]:
    """The limit with how many slots are taken and waited for; NotFound otherwise."""
    row = (
        await conn.execute(sa.select(concurrency_limits).where(_where(namespace_id, name)))
    ).one_or_none()
    if row is None:
        raise NotFound(f"concurrency limit '{name}' not found", name=name)
    counted = await concurrency.counts(conn, [row.id])
    return concurrency.describe(
        row, counted.get((row.id, "running"), 0), counted.get((row.id, "waiting"), 0)
    )


async def list_all(conn: Connection, namespace_id: str) -> list[dict[str, Any]]:
    """Every limit of the namespace (at most MAX_LIMITS), by name."""
    rows = (
        await conn.execute(
            sa.select(concurrency_limits)
            .where(concurrency_limits.c.namespace_id == namespace_id)
            .order_by(concurrency_limits.c.name)
        )
    ).all()
    counted = await concurrency.counts(conn, [r.id for r in rows])
    return [
        concurrency.describe(
            r, counted.get((r.id, "running"), 0), counted.get((r.id, "waiting"), 0)
        )
        for r in rows
    ]


async def delete(tx: Transition, namespace_id: str, name: str) -> None:
    """Remove the limit; what waited for it goes on at once. NotFound when there is none."""
    row = (
        await tx.conn.execute(
            sa.select(concurrency_limits).where(_where(namespace_id, name)).with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"concurrency limit '{name}' not found", name=name)
    concurrency.forget(namespace_id)
    await tx.conn.execute(sa.delete(concurrency_limits).where(concurrency_limits.c.id == row.id))
    await concurrency_slots.free_all(tx, row.id)
