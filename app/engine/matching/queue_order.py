"""Where a new task stands in its queue: its priority, then its fairness pass.

Claims take a queue's tasks in (priority, fairness_pass, id) order (ix_tasks_queue_order), so
the whole of fairness is decided here, at enqueue, and the claim stays one indexed ORDER BY.
The scheme is stride scheduling, as Temporal's fairness does it: within one priority each
fairness key numbers its tasks `1 / weight` apart, starting no earlier than the head of the
queue's backlog, so keys take turns in proportion to their weights and a key that was quiet
does not jump ahead with credit saved up (nor wait behind another key's backlog). Within a key
the numbers rise: FIFO. Ties go by id.

A queue that has never seen a fairness key keeps pass 0 for every task (FIFO by id, and no
statement here beyond a look, once per `FAIR_LOOK_SECONDS` per process, at whether another
process has made the queue fair). Once keyed tasks appear, unkeyed tasks form the key "".
Tasks queued before that keep pass 0 and are served first (Temporal: "best-effort").

On a deployment's queue (Worker Versioning) the head is that of the tasks the new task's
pollers take (the claim's version filter): another version's backlog that nobody takes, such
as a pinned run's tasks whose workers are gone, would otherwise hold the virtual time back
and let a quiet key jump ahead with credit saved up. Keys' passes stay queue-wide.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from app.db.hot import hot
from app.db.statements import IS_FAIR, PASSES, UPSERT_PASS, passes
from app.db.tables import tasks
from app.engine.matching import queue_config
from app.engine.priority import NO_PRIORITY, Priority
from app.engine.versioning import routing

if TYPE_CHECKING:
    from app.engine.transition import Transition

FAIR_LOOK_SECONDS = 5.0
# (namespace_id, kind, task_queue) -> (when looked, whether the queue has fairness state).
_fair_queues: dict[tuple[str, str, str], tuple[float, bool]] = {}
# PASSES with the head among the tasks of a Route (routing.Route.params).
ROUTED_PASSES = hot(passes(routing.routed_filter(tasks)))


def mark_fair(namespace_id: str, kind: str, task_queue: str) -> None:
    _fair_queues[(namespace_id, kind, task_queue)] = (time.monotonic(), True)


async def _is_fair(tx: Transition, namespace_id: str, kind: str, task_queue: str) -> bool:
    key = (namespace_id, kind, task_queue)
    hit = _fair_queues.get(key)
    now = time.monotonic()
    if hit is not None and (hit[1] or now - hit[0] < FAIR_LOOK_SECONDS):
        return hit[1]
    params = {"namespace_id": namespace_id, "kind": kind, "task_queue": task_queue}
    fair = (await tx.conn.execute(IS_FAIR, params)).first() is not None
    _fair_queues[key] = (now, fair)
    return fair


async def place(
    tx: Transition,
    namespace_id: str,
    kind: str,
    task_queue: str,
    priority: Priority = NO_PRIORITY,
    target: routing.TaskTarget | None = None,
) -> dict[str, object]:
    """The ordering columns of a new task: `priority` (1..5), `fairness_key`,
    `fairness_weight` and `fairness_pass` (0.0 in a queue without fairness keys). `target`:
    where the task goes (app/engine/versioning/routing.py); None for an unversioned task."""
    key = priority.fairness_key or ""
    level = priority.effective_key
    weight = priority.fairness_weight or 1.0
    if not key and not await _is_fair(tx, namespace_id, kind, task_queue):
        return {
            "priority": level,
            "fairness_key": "",
            "fairness_weight": weight,
            "fairness_pass": 0.0,
        }
    config = await queue_config.cached(tx.conn, namespace_id, kind, task_queue)
    weight = config.weight_of(key, priority.fairness_weight)
    params = {
        "namespace_id": namespace_id,
        "kind": kind,
        "task_queue": task_queue,
        "priority": level,
        "fairness_key": key,
    }
    route = None if target is None else await target.route()
    statement = PASSES if route is None else ROUTED_PASSES
    extra = {} if route is None else route.params()
    own, head, high = (await tx.conn.execute(statement, {**params, **extra})).one()
    # A start tag, as start-time fair queuing computes it: one stride after the key's last
    # task, but never before the queue's virtual time now (the head of the backlog, or where
    # keys had reached when it emptied). A quiet key's task thus goes right after the head.
    now_pass = head if head is not None else (high or 0.0)
    new_pass = max((own or 0.0) + 1.0 / weight, now_pass)
    await tx.conn.execute(UPSERT_PASS[tx.is_postgres], {**params, "fairness_pass": new_pass})
    mark_fair(namespace_id, kind, task_queue)
    return {
        "priority": level,
        "fairness_key": key,
        "fairness_weight": weight,
        "fairness_pass": new_pass,
    }
