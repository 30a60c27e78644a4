"""Rate limits of a queue's dispatch (Temporal's queue rate limit and fairness-key rate limit
default): generic cell rate algorithm limiters kept in the database, so that every server
process draws from one budget.

A limiter stores its theoretical arrival time `rate_next_at` (epoch seconds): a dispatch
conforms when it is not later than now plus the burst tolerance. The queue's limiter allows a
burst of one second's worth (at least one task); a key's allows one task at a time, at the
default rate times the key's weight. A rate of 0 stops dispatch. Only queues with a limit pay
for this: the claim of a queue without one does not come here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.db.tables import task_queue_configs, task_queue_key_rates
from app.engine.matching.queue_config import QueueConfig

if TYPE_CHECKING:
    from app.engine.transition import Transition

NEVER = 1e18  # rate_next_at of a limiter at 0 per second
MIN_WAIT = 0.01  # a throttled poll looks again no sooner than this (seconds)
MAX_WAIT = 5.0  # nor later: a limit raised by another process is seen within this


@dataclass(frozen=True)
class Throttled:
    """The queue has tasks but its limits allow none now; try again in `seconds`."""

    seconds: float


@dataclass
class Gate:
    """What a claim may take now: at most `limit` tasks, none of the `excluded` keys."""

    limit: int
    excluded: list[str] = field(default_factory=list)
    queue_tat: float | None = None  # the queue limiter's arrival time, if it has a limit
    key_wait: float | None = None  # seconds until the first excluded key may go


def _queue_where(namespace_id: str, kind: str, task_queue: str) -> list[sa.ColumnElement[bool]]:
    return [
        task_queue_configs.c.namespace_id == namespace_id,
        task_queue_configs.c.kind == kind,
        task_queue_configs.c.task_queue == task_queue,
    ]


async def open_gate(
    tx: Transition, namespace_id: str, kind: str, task_queue: str, config: QueueConfig, limit: int
) -> Gate | Throttled:
    """How much of the queue a claim may take now under `config`'s limits (locking the
    queue's limiter on PostgreSQL until the claim commits)."""
    now = tx.now.timestamp()
    gate = Gate(limit)
    rate = config.queue_rate
    if rate is not None:
        if rate <= 0:
            return Throttled(MAX_WAIT)
        query = sa.select(task_queue_configs.c.rate_next_at).where(
            *_queue_where(namespace_id, kind, task_queue)
        )
        if tx.is_postgres:
            query = query.with_for_update()
        tat = max(float(await tx.conn.scalar(query) or 0.0), now)
        burst = max(1.0, rate)
        available = math.floor(burst - (tat - now) * rate + 1e-9)
        if available < 1:
            wait = tat - now - (burst - 1.0) / rate
            return Throttled(min(max(wait, MIN_WAIT), MAX_WAIT))
        gate.limit = min(limit, available)
        gate.queue_tat = tat
    if config.key_rate is not None:
        if config.key_rate <= 0:
            return Throttled(MAX_WAIT)
        gate.limit = 1  # a key's limiter lets one task through at a time
        rows = await tx.conn.execute(
            sa.select(
                task_queue_key_rates.c.fairness_key, task_queue_key_rates.c.rate_next_at
            ).where(
                task_queue_key_rates.c.namespace_id == namespace_id,
                task_queue_key_rates.c.kind == kind,
                task_queue_key_rates.c.task_queue == task_queue,
                task_queue_key_rates.c.rate_next_at > now,
            )
        )
        for key, next_at in rows:
            gate.excluded.append(key)
            wait = next_at - now
            gate.key_wait = wait if gate.key_wait is None else min(gate.key_wait, wait)
    return gate


async def spend(
    tx: Transition,
    namespace_id: str,
    kind: str,
    task_queue: str,
    config: QueueConfig,
    gate: Gate,
    taken: list[tuple[str, float]],
) -> None:
    """Charge the limiters for the tasks taken: `(fairness_key, fairness_weight)` each."""
    if not taken:
        return
    now = tx.now.timestamp()
    rate = config.queue_rate
    if gate.queue_tat is not None and rate:
        await tx.conn.execute(
            sa.update(task_queue_configs)
            .where(*_queue_where(namespace_id, kind, task_queue))
            .values(rate_next_at=gate.queue_tat + len(taken) / rate)
        )
    key_rate = config.key_rate
    if key_rate is None:
        return
    insert = (postgresql.insert if tx.is_postgres else sqlite.insert)(task_queue_key_rates)
    for key, weight in taken:
        scaled = key_rate * weight
        next_at = NEVER if scaled <= 0 else now + 1.0 / scaled
        await tx.conn.execute(
            insert.values(
                namespace_id=namespace_id,
                kind=kind,
                task_queue=task_queue,
                fairness_key=key,
                rate_next_at=next_at,
            ).on_conflict_do_update(
                index_elements=["namespace_id", "kind", "task_queue", "fairness_key"],
                set_={"rate_next_at": next_at},
            )
        )


def throttled_for(gate: Gate) -> Throttled | None:
    """After a claim found nothing: whether keys held back by their limits are why."""
    if not gate.excluded or gate.key_wait is None:
        return None
    return Throttled(min(max(gate.key_wait, MIN_WAIT), MAX_WAIT))
