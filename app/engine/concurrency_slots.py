"""The slots of per-key concurrency limits: taken when an activity attempt is dispatched or a
run starts, waited for when none is free, freed when the attempt ends (completed, failed,
timed out — a killed worker's attempt frees its slot when it times out) or the run closes.

A limit's row is locked (PostgreSQL) while its slots are counted and changed, so every server
process sees one count. A held activity task leaves its queue for a `waiting` row and comes
back, with the slot `reserved` for it, when one frees; a held run stays RUNNING without a
first workflow task until then. Lock order: the run, then the limit, then (promoting a held
run) that run — which, held back, never takes a limit's lock while locked itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.db.tables import activities, concurrency_limits, concurrency_slots
from app.engine import concurrency, workflow_tasks
from app.engine.concurrency import Limit
from app.engine.payloads import dump, load
from app.engine.transition import Run, Transition
from app.errors import FailedPrecondition

RUNNING, RESERVED, WAITING = "running", "reserved", "waiting"
HELD = object()  # an activity task now waits for a slot
FIELDS_OF_TASK = (
    "namespace_id",
    "task_queue",
    "kind",
    "run_id",
    "scheduled_event_id",
    "attempt",
    "priority",
    "fairness_key",
    "fairness_pass",
    "fairness_weight",
)


class ConcurrencyLimitReached(FailedPrecondition):
    """CANCEL_NEWEST refused a new run: its key value has no free slot."""


@dataclass(frozen=True)
class Refused:
    """CANCEL_NEWEST refused an activity attempt: `message` says why."""

    message: str


@dataclass
class RunAdmission:
    """What a new run takes: slots of `acquire`; or a wait on `held` (limit, value); and runs
    CANCEL_IN_PROGRESS asks to cancel (the caller, app/engine/lifecycle.py, asks)."""

    acquire: list[tuple[Limit, str]] = field(default_factory=list)
    held: tuple[Limit, str] | None = None
    cancel_run_ids: list[str] = field(default_factory=list)


async def _lock(tx: Transition, limit_id: str) -> Any:
    """The limit's row as it is now, locked until commit on PostgreSQL; None when deleted."""
    query = sa.select(concurrency_limits).where(concurrency_limits.c.id == limit_id)
    if tx.is_postgres:
        query = query.with_for_update()
    return (await tx.conn.execute(query)).one_or_none()


async def _running(tx: Transition, limit_id: str, value: str) -> int:
    """Slots held or reserved for the value (ix_concurrency_slots_value)."""
    return int(
        await tx.conn.scalar(
            sa.select(sa.func.count()).where(
                concurrency_slots.c.limit_id == limit_id,
                concurrency_slots.c.key_value == value,
                concurrency_slots.c.state.in_([RUNNING, RESERVED]),
            )
        )
        or 0
    )


def _slot(
    tx: Transition, run: Run, limit_id: str, value: str, state: str, ref: int
) -> dict[str, Any]:
    return {
        "namespace_id": run.namespace_id,
        "limit_id": limit_id,
        "key_value": value,
        "state": state,
        "run_id": run.id,
        "scheduled_event_id": ref,
        "task": None,
        "created_at": tx.now,
    }


def _full_text(row: Any, limit: Limit, value: str, running: int) -> str:
    text = f"{running} of {row.max_running} running for {concurrency.describe_value(limit, value)}"
    return f"concurrency limit '{row.name}' is paused ({text})" if row.paused else text


async def _oldest_running(tx: Transition, limit_id: str, value: str) -> Any:
    return (
        await tx.conn.execute(
            sa.select(concurrency_slots)
            .where(
                concurrency_slots.c.limit_id == limit_id,
                concurrency_slots.c.key_value == value,
                concurrency_slots.c.state == RUNNING,
            )
            .order_by(concurrency_slots.c.id)
            .limit(1)
        )
    ).one_or_none()


# -- activities ---------------------------------------------------------------------------------


async def admit_activity(
    tx: Transition, run: Run, activity: Any, task: Any
) -> object | Refused | None:
    """Take the slots the attempt needs now: None when it may start, HELD when its task now
    waits for a slot, Refused under CANCEL_NEWEST."""
    limits = await concurrency.limits(tx.conn, run.namespace_id, "activities")
    if not limits:
        return None
    fields = concurrency.activity_fields(run.data, activity)
    applicable = [
        (limit, value)
        for limit in sorted(limits, key=lambda item: item.id)
        if (value := concurrency.key_value(limit, fields)) is not None
    ]
    if not applicable:
        return None
    ref = activity["scheduled_event_id"]
    mine = {
        (row.limit_id, row.key_value): row.id
        for row in await tx.conn.execute(
            sa.select(concurrency_slots).where(
                concurrency_slots.c.run_id == run.id,
                concurrency_slots.c.scheduled_event_id == ref,
                concurrency_slots.c.state == RESERVED,
            )
        )
    }
    for limit, value in applicable:
        row = await _lock(tx, limit.id)
        if row is None or (limit.id, value) in mine:
            continue
        running = await _running(tx, limit.id, value)
        if not row.paused and running < row.max_running:
            continue
        if row.strategy == "CANCEL_NEWEST" and not row.paused:
            return Refused(f"{_full_text(row, limit, value, running)} (CANCEL_NEWEST)")
        if row.strategy == "CANCEL_IN_PROGRESS" and not row.paused:
            await _cancel_oldest_attempt(tx, limit.id, value)
        await _hold_task(tx, run, limit.id, value, task)
        return HELD
    for limit, value in applicable:
        if (limit.id, value) in mine:
            await tx.conn.execute(
                sa.update(concurrency_slots)
                .where(concurrency_slots.c.id == mine[(limit.id, value)])
                .values(state=RUNNING)
            )
        else:
            await tx.conn.execute(
                sa.insert(concurrency_slots).values(_slot(tx, run, limit.id, value, RUNNING, ref))
            )
    await _mark_activity(tx, run, ref)
    return None


async def _mark_activity(tx: Transition, run: Run, ref: int) -> None:
    await tx.conn.execute(
        sa.update(activities)
        .where(activities.c.run_id == run.id, activities.c.scheduled_event_id == ref)
        .values(holds_concurrency_slot=True)
    )
    if run.concurrency_state != "holding":
        run.set(concurrency_state="holding")


async def _hold_task(tx: Transition, run: Run, limit_id: str, value: str, task: Any) -> None:
    row = _slot(tx, run, limit_id, value, WAITING, task.scheduled_event_id)
    row["task"] = dump(
        {**{name: getattr(task, name) for name in FIELDS_OF_TASK}, "created_at": task.created_at}
    )
    await tx.conn.execute(sa.insert(concurrency_slots).values(row))
    await _mark_activity(tx, run, task.scheduled_event_id)


async def _cancel_oldest_attempt(tx: Transition, limit_id: str, value: str) -> None:
    """CANCEL_IN_PROGRESS: the oldest running attempt is asked to stop through its heartbeat
    answer; asked to cancel, it is not retried. Its slot frees when it ends."""
    oldest = await _oldest_running(tx, limit_id, value)
    if oldest is None:
        return
    query = (
        sa.select(activities.c.run_id)
        .where(
            activities.c.run_id == oldest.run_id,
            activities.c.scheduled_event_id == oldest.scheduled_event_id,
        )
        .with_for_update(skip_locked=True)
    )
    if tx.is_postgres and (await tx.conn.execute(query)).first() is None:
        return  # its run is in a transition right now: it is about to change anyway
    await tx.conn.execute(
        sa.update(activities)
        .where(
            activities.c.run_id == oldest.run_id,
            activities.c.scheduled_event_id == oldest.scheduled_event_id,
        )
        .values(cancel_requested=True)
    )


async def release_activity(tx: Transition, run: Run, activity: Any) -> None:
    """The attempt ended (or the activity closed): free what it held, reserved or waited for,
    and hand freed slots on."""
    if not activity["holds_concurrency_slot"]:
        return
    await _release(
        tx,
        sa.and_(
            concurrency_slots.c.run_id == run.id,
            concurrency_slots.c.scheduled_event_id == activity["scheduled_event_id"],
        ),
    )
    await tx.conn.execute(
        sa.update(activities)
        .where(
            activities.c.run_id == run.id,
            activities.c.scheduled_event_id == activity["scheduled_event_id"],
        )
        .values(holds_concurrency_slot=False)
    )


# -- runs ---------------------------------------------------------------------------------------


async def admit_run(
    tx: Transition, namespace_id: str, fields: dict[str, Any]
) -> RunAdmission | None:
    """The slots a new run takes (fields: workflow_type, task_queue, search_attributes,
    concurrency_keys); None when no limit applies. Raises ConcurrencyLimitReached (409) under
    CANCEL_NEWEST."""
    limits = await concurrency.limits(tx.conn, namespace_id, "workflows")
    applicable = [
        (limit, value)
        for limit in sorted(limits, key=lambda item: item.id)
        if (value := concurrency.key_value(limit, fields)) is not None
    ]
    if not applicable:
        return None
    admission = RunAdmission()
    for limit, value in applicable:
        row = await _lock(tx, limit.id)
        if row is None:
            continue
        running = await _running(tx, limit.id, value)
        if row.paused or running >= row.max_running:
            if row.strategy == "CANCEL_NEWEST" and not row.paused:
                raise ConcurrencyLimitReached(
                    f"{_full_text(row, limit, value, running)} (CANCEL_NEWEST)",
                    limit=row.name,
                )
            if row.strategy == "CANCEL_IN_PROGRESS" and not row.paused:
                oldest = await _oldest_running(tx, limit.id, value)
                if oldest is not None:
                    admission.cancel_run_ids.append(oldest.run_id)
            admission.held = (limit, value)
            return admission
        admission.acquire.append((limit, value))
    return admission


async def record_run(tx: Transition, run: Run, admission: RunAdmission | None) -> None:
    """Write the new run's slots (or its wait) once the run exists."""
    if admission is None:
        return
    if admission.held is not None:
        limit, value = admission.held
        await tx.conn.execute(
            sa.insert(concurrency_slots).values(_slot(tx, run, limit.id, value, WAITING, 0))
        )
        run.set(concurrency_state="waiting")
        return
    for limit, value in admission.acquire:
        await tx.conn.execute(
            sa.insert(concurrency_slots).values(_slot(tx, run, limit.id, value, RUNNING, 0))
        )
    if admission.acquire:
        run.set(concurrency_state="holding")


async def hand_over(tx: Transition, previous: Run, run: Run) -> None:
    """A chain's next run takes the slots its previous run held as a run (not its
    activities': those end with the previous run)."""
    if previous.concurrency_state is None:
        return
    moved = await tx.conn.execute(
        sa.update(concurrency_slots)
        .where(
            concurrency_slots.c.run_id == previous.id,
            concurrency_slots.c.scheduled_event_id == 0,
        )
        .values(run_id=run.id)
    )
    if moved.rowcount:
        run.set(concurrency_state="holding")


async def release_run(tx: Transition, run: Run) -> None:
    """The run closed: free its slots and its activities', and drop its waits."""
    if run.concurrency_state is None:
        return
    await _release(tx, concurrency_slots.c.run_id == run.id)
    run.set(concurrency_state=None)


# -- handing freed slots on ---------------------------------------------------------------------


async def _release(tx: Transition, which: sa.ColumnElement[bool]) -> None:
    rows = (await tx.conn.execute(sa.select(concurrency_slots).where(which))).all()
    if not rows:
        return
    await tx.conn.execute(sa.delete(concurrency_slots).where(which))
    freed = sorted({(r.limit_id, r.key_value) for r in rows if r.state != WAITING})
    for limit_id, value in freed:
        await promote(tx, limit_id, value)


async def promote(tx: Transition, limit_id: str, value: str) -> int:
    """Give the value's free slots to its oldest waiters: a held task goes back to its queue
    with a slot reserved for it, a held run gets its first workflow task. Returns how many."""
    row = await _lock(tx, limit_id)
    if row is None or row.paused:
        return 0
    free = row.max_running - await _running(tx, limit_id, value)
    promoted = 0
    while free > 0:
        waiters = (
            await tx.conn.execute(
                sa.select(concurrency_slots)
                .where(
                    concurrency_slots.c.limit_id == limit_id,
                    concurrency_slots.c.key_value == value,
                    concurrency_slots.c.state == WAITING,
                )
                .order_by(concurrency_slots.c.id)
                .limit(free)
            )
        ).all()
        if not waiters:
            break
        for waiter in waiters:
            if await _wake(tx, waiter):
                free -= 1
                promoted += 1
    return promoted


async def _wake(tx: Transition, waiter: Any) -> bool:
    """Promote one waiter; False (and the wait dropped) when it no longer applies."""
    if waiter.task is None:  # a held run
        run = await tx.run(waiter.run_id)
        if not run.is_open or run.concurrency_state != "waiting":
            await tx.conn.execute(
                sa.delete(concurrency_slots).where(concurrency_slots.c.id == waiter.id)
            )
            return False
        await tx.conn.execute(
            sa.update(concurrency_slots)
            .where(concurrency_slots.c.id == waiter.id)
            .values(state=RUNNING)
        )
        run.set(concurrency_state="holding")
        await workflow_tasks.admitted(tx, run)
        return True
    await tx.conn.execute(
        sa.update(concurrency_slots)
        .where(concurrency_slots.c.id == waiter.id)
        .values(state=RESERVED, task=None)
    )
    await tx.requeue_task(load(waiter.task))
    return True


async def waits(conn: Any, run_id: str) -> dict[int, str]:
    """Why the run (ref 0) or its activities (their scheduled event ids) wait for a slot:
    "3 of 3 running for customer=acme"."""
    s, lim = concurrency_slots.c, concurrency_limits.c
    rows = (
        await conn.execute(
            sa.select(
                s.limit_id,
                s.key_value,
                s.scheduled_event_id,
                lim.name,
                lim.applies_to,
                lim.key,
                lim.max_running,
                lim.strategy,
                lim.paused,
            )
            .join(concurrency_limits, lim.id == s.limit_id)
            .where(concurrency_slots.c.run_id == run_id, concurrency_slots.c.state == WAITING)
        )
    ).all()
    out: dict[int, str] = {}
    for row in rows:
        running = await conn.scalar(
            sa.select(sa.func.count()).where(
                concurrency_slots.c.limit_id == row.limit_id,
                concurrency_slots.c.key_value == row.key_value,
                concurrency_slots.c.state.in_([RUNNING, RESERVED]),
            )
        )
        limit = Limit(
            row.limit_id,
            row.name,
            row.applies_to,
            row.key,
            row.max_running,
            row.strategy,
            row.paused,
        )
        out[row.scheduled_event_id] = _full_text(row, limit, row.key_value, int(running or 0))
    return out


async def _oldest_waiter(tx: Transition, limit_id: str, value: str) -> Any:
    return (
        await tx.conn.execute(
            sa.select(concurrency_slots)
            .where(
                concurrency_slots.c.limit_id == limit_id,
                concurrency_slots.c.key_value == value,
                concurrency_slots.c.state == WAITING,
            )
            .order_by(concurrency_slots.c.id)
            .limit(1)
        )
    ).one_or_none()


def in_turns(waiters: list[Any]) -> list[Any]:
    """GROUP_ROUND_ROBIN's order (Hatchet's name): the oldest waiter of each key value, then
    the next of each, and so on — values in the order their oldest waiter came — so that one
    value's backlog does not go back to its queue ahead of every other value's."""
    by_value: dict[str, list[Any]] = {}
    for waiter in sorted(waiters, key=lambda w: w.id):
        by_value.setdefault(waiter.key_value, []).append(waiter)
    queues = list(by_value.values())
    return [
        q[turn] for turn in range(max(map(len, queues), default=0)) for q in queues if turn < len(q)
    ]


async def free_all(tx: Transition, limit_id: str) -> None:
    """The limit is gone: its waiters go on at once, key values in turns, and its slots are
    forgotten."""
    waiters = (
        await tx.conn.execute(
            sa.select(concurrency_slots).where(
                concurrency_slots.c.limit_id == limit_id, concurrency_slots.c.state == WAITING
            )
        )
    ).all()
    for waiter in in_turns(list(waiters)):
        await _wake(tx, waiter)
    await tx.conn.execute(
        sa.delete(concurrency_slots).where(concurrency_slots.c.limit_id == limit_id)
    )


async def promote_all(tx: Transition, limit_id: str) -> None:
    """After a limit was raised or resumed: every value with waiters gets its free slots, taken
    in turns across the values (GROUP_ROUND_ROBIN): the oldest waiter of each value, then the
    next of each, so that tasks go back to their queues, and held runs get their first
    workflow tasks, interleaved rather than one value's backlog first."""
    row = await _lock(tx, limit_id)
    if row is None or row.paused:
        return
    oldest = sa.func.min(concurrency_slots.c.id)
    rows = await tx.conn.execute(
        sa.select(concurrency_slots.c.key_value)
        .where(concurrency_slots.c.limit_id == limit_id, concurrency_slots.c.state == WAITING)
        .group_by(concurrency_slots.c.key_value)
        .order_by(oldest)
    )
    values = [r.key_value for r in rows]
    free = {value: row.max_running - await _running(tx, limit_id, value) for value in values}
    turn = [value for value in values if free[value] > 0]
    # Each pass wakes (or drops, when stale) one waiter per value: bounded by the waiters.
    while turn:
        still = []
        for value in turn:
            waiter = await _oldest_waiter(tx, limit_id, value)
            if waiter is None:
                continue
            if await _wake(tx, waiter):
                free[value] -= 1
            if free[value] > 0:
                still.append(value)
        turn = still
