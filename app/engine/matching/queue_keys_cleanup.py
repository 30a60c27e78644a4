"""Forgetting the per-key rows of fairness and rate limits once a key has nothing left in
them, so that a stream of ever-new fairness keys (one per end customer, say) does not grow
`task_queue_fairness` and `task_queue_key_rates` without end. Run in small batches by the
deadline loop with retention (app/engine/deadline_loop.py).

A key's fairness row holds the pass of its last task. Once no task of the key is queued, the
row says nothing a new task would miss beyond one stride: the key's next task starts at the
queue's virtual time, as a new key's does (fairness stays best-effort, as Temporal says). The
highest row of each queue and priority stays: it is that virtual time when the backlog
empties. A key's rate row whose arrival time
has passed holds no state: the key conforms, as a key without a row does.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables import task_queue_fairness, task_queue_key_rates, tasks
from app.engine.transition import Transition

BATCH = 500  # rows per table and transaction

_f = task_queue_fairness
# A task of the row's key still queued: the key's tasks have passes up to the row's, so this
# is a range of ix_tasks_queue_order (the tasks at or before the key's pass), filtered by key.
_key_backlog = (
    sa.select(tasks.c.id)
    .where(
        tasks.c.namespace_id == _f.c.namespace_id,
        tasks.c.kind == _f.c.kind,
        tasks.c.task_queue == _f.c.task_queue,
        tasks.c.priority == _f.c.priority,
        tasks.c.fairness_pass <= _f.c.fairness_pass,
        tasks.c.fairness_key == _f.c.fairness_key,
    )
    .correlate(_f)
    .exists()
)
_top = _f.alias("top")
# A row above this one in its queue and priority (by pass, then key): the one without any is
# the queue's virtual time and stays (ix_task_queue_fairness_pass).
_above = (
    sa.select(_top.c.fairness_key)
    .where(
        _top.c.namespace_id == _f.c.namespace_id,
        _top.c.kind == _f.c.kind,
        _top.c.task_queue == _f.c.task_queue,
        _top.c.priority == _f.c.priority,
        sa.tuple_(_top.c.fairness_pass, _top.c.fairness_key)
        > sa.tuple_(_f.c.fairness_pass, _f.c.fairness_key),
    )
    .correlate(_f)
    .exists()
)
_fairness_pk = sa.tuple_(
    _f.c.namespace_id, _f.c.kind, _f.c.task_queue, _f.c.priority, _f.c.fairness_key
)
_r = task_queue_key_rates
_rates_pk = sa.tuple_(_r.c.namespace_id, _r.c.kind, _r.c.task_queue, _r.c.fairness_key)


async def forget_idle_keys(tx: Transition) -> int:
    """Delete up to BATCH idle fairness rows and BATCH spent rate rows; returns how many were
    deleted (call again while it returns BATCH or more). On PostgreSQL, rows a concurrent
    enqueue or claim holds are skipped (SKIP LOCKED): that key is busy, not idle."""
    idle = sa.select(*_fairness_pk.clauses).where(~_key_backlog, _above).limit(BATCH)
    spent = (
        sa.select(*_rates_pk.clauses).where(_r.c.rate_next_at <= tx.now.timestamp()).limit(BATCH)
    )
    if tx.is_postgres:
        idle = idle.with_for_update(skip_locked=True)
        spent = spent.with_for_update(skip_locked=True)
    fairness_rows = [tuple(row) for row in await tx.conn.execute(idle)]
    rate_rows = [tuple(row) for row in await tx.conn.execute(spent)]
    if fairness_rows:
        await tx.conn.execute(sa.delete(_f).where(_fairness_pk.in_(fairness_rows)))
    if rate_rows:
        await tx.conn.execute(sa.delete(_r).where(_rates_pk.in_(rate_rows)))
    return max(len(fairness_rows), len(rate_rows))
