"""Replay tasks (issue #21 §3): the items of running replay checks handed to pollers of the
checked version that declare `"replay": true`, on the workflow-task poll route; their
answers; and the hand-outs that time out (PERDURE_REPLAY_TASK_SECONDS) and go out again.

Nothing here changes a run: a replay task carries a history to re-run, and its answer only
records whether the version's code fitted it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.outage import report_failure
from app.db.tables import replay_check_items, replay_checks
from app.engine.reads import history_page
from app.engine.run_limits import HISTORY_PAGE_SIZE
from app.engine.transition import Transition
from app.errors import NotFound
from app.ids import new_id
from app.pagination import encode_token

if TYPE_CHECKING:
    from app.engine.service import CallerGone, Engine

log = logging.getLogger("perdure.replay")

RUNNING, PASSED, FAILED = "running", "passed", "failed"
PENDING, ISSUED, SKIPPED = "pending", "issued", "skipped"
# Hand-outs of one item before its run fails the check "timed out" (a worker that takes a
# replay task and dies leaves it to another; one that never answers is not waited for).
MAX_ATTEMPTS = 3
# A poll process asks the database which versions have a running check at most this often
# (seconds), whatever the number of replay-capable polls: idle polls cost no statement.
BOARD_REFRESH_SECONDS = 1.0
# While a check of its version runs, a replay-capable poll waits for workflow tasks at most
# this long (seconds) before it looks for replay tasks again.
REPLAY_LOOK_SECONDS = 1.0
FAILURE_KINDS = ("nondeterminism", "not-registered", "timed-out", "error")

Version = tuple[str, str, str]  # (namespace id, deployment name, build id)


def replay_key(version: Version) -> str:
    """Wake-up key: a check of the version (namespace id, deployment name, build id) started
    (sent with an offer on each of the version's lines, also to other processes)."""
    return f"rpl|{version[0]}|{version[1]}|{version[2]}"


class ReplayBoard:
    """This process's view of which versions have a running replay check: refreshed from
    the database at most once per BOARD_REFRESH_SECONDS, and at once for checks created by
    this process. A stale view costs a poll at most one refresh interval of delay."""

    def __init__(self) -> None:
        self._active: set[Version] = set()
        self._read_at = float("-inf")

    def mark(self, version: Version) -> None:
        """A check of `version` was just created here."""
        self._active.add(version)

    def stale(self) -> bool:
        return time.monotonic() - self._read_at >= BOARD_REFRESH_SECONDS

    async def refresh(self, conn: Connection) -> None:
        """Read the versions with a running check (served by ix_replay_checks_status)."""
        c = replay_checks.c
        rows = await conn.execute(
            sa.select(c.namespace_id, c.deployment_name, c.build_id)
            .where(c.status == RUNNING)
            .distinct()
        )
        self._active = {(r[0], r[1], r[2]) for r in rows}
        self._read_at = time.monotonic()

    def active(self, version: Version) -> bool:
        return version in self._active


@dataclass(frozen=True)
class ReplayClaim:
    """One replay task handed out: the item and the token its answer must name."""

    token: str
    check_id: str
    workflow_id: str
    run_id: str
    workflow_type: str
    last_event_id: int
    attempt: int
    deadline: datetime


async def take(
    tx: Transition, version: Version, identity: str, task_seconds: float
) -> ReplayClaim | None:
    """Hand out the oldest pending item of the version's running checks (oldest check
    first), with a new token and a deadline `task_seconds` ahead; None when none is pending.
    On PostgreSQL SKIP LOCKED lets concurrent polls take different items."""
    namespace_id, deployment_name, build_id = version
    i, c = replay_check_items.c, replay_checks.c
    query = (
        sa.select(i.check_id, i.seq, i.workflow_id, i.run_id, i.workflow_type, i.last_event_id)
        .add_columns(i.attempts)
        .join(replay_checks, c.id == i.check_id)
        .where(
            c.namespace_id == namespace_id,
            c.deployment_name == deployment_name,
            c.build_id == build_id,
            c.status == RUNNING,
            i.status == PENDING,
        )
        .order_by(c.created_at, i.check_id, i.seq)
        .limit(1)
    )
    if tx.is_postgres:
        query = query.with_for_update(of=replay_check_items, skip_locked=True)
    row = (await tx.conn.execute(query)).one_or_none()
    if row is None:
        return None
    token = new_id()
    deadline = tx.now + timedelta(seconds=task_seconds)
    await tx.conn.execute(
        sa.update(replay_check_items)
        .where(i.check_id == row.check_id, i.seq == row.seq)
        .values(
            status=ISSUED,
            attempts=i.attempts + 1,
            token=token,
            deadline=deadline,
            identity=identity,
        )
    )
    await tx.conn.execute(
        sa.update(replay_checks).where(c.id == row.check_id).values(last_taken_at=tx.now)
    )
    return ReplayClaim(
        token=token,
        check_id=row.check_id,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        workflow_type=row.workflow_type,
        last_event_id=row.last_event_id,
        attempt=row.attempts + 1,
        deadline=deadline,
    )


async def task_body(db: Any, claim: ReplayClaim, task_queue: str) -> dict[str, Any]:
    """The poll answer for a replay task, shaped as a workflow task (as a query's is) with
    `task_token` empty and `replay_task` set: the first page of the history (at most
    HISTORY_PAGE_SIZE events, up to the sampled `last_event_id`); the rest is read with GET
    …/workflows/{workflow_id}/history?run_id=…&next_page_token=… until `last_event_id` (later
    events of an open run are not part of the check). [] events: the run is gone."""
    async with db.read() as conn:
        events = await history_page(
            conn,
            claim.run_id,
            after_event_id=0,
            up_to_event_id=claim.last_event_id,
            page_size=HISTORY_PAGE_SIZE,
        )
    token = None
    if events and events[-1]["event_id"] < claim.last_event_id:
        token = encode_token([events[-1]["event_id"]])
    return {
        "task_token": "",
        "workflow_id": claim.workflow_id,
        "run_id": claim.run_id,
        "workflow_type": claim.workflow_type,
        "task_queue": task_queue,
        "attempt": claim.attempt,
        "scheduled_event_id": 0,
        "started_event_id": 0,
        "previous_started_event_id": 0,
        "history": {"events": events, "next_page_token": token, "after_event_id": 0},
        "messages": [],
        "replay_task": {
            "token": claim.token,
            "check_id": claim.check_id,
            "last_event_id": claim.last_event_id,
            "deadline": claim.deadline,
        },
    }


async def answer(
    tx: Transition,
    namespace_id: str,
    token: str,
    outcome: str,
    failure: dict[str, Any] | None,
) -> None:
    """Record a replay task's outcome ('passed' or 'failed' with `failure`: {message, kind,
    event_id?}) and finish its check when it was the last item. 404 for a token that is
    unknown, of another namespace, already answered or handed out again since."""
    i = replay_check_items.c
    row = (
        await tx.conn.execute(
            sa.select(i.check_id, i.seq, i.status)
            .join(replay_checks, replay_checks.c.id == i.check_id)
            .where(
                i.token == token,
                i.namespace_id == namespace_id,
                replay_checks.c.status == RUNNING,
            )
        )
    ).one_or_none()
    if row is None or row.status != ISSUED:
        raise NotFound(
            "replay task not found: unknown, already answered, or handed out again after "
            "its deadline",
            task="replay",
        )
    failure = failure or {}
    await _close_item(
        tx,
        row.check_id,
        row.seq,
        outcome,
        kind=failure.get("kind") if outcome == FAILED else None,
        message=failure.get("message") if outcome == FAILED else None,
        event_id=failure.get("event_id") if outcome == FAILED else None,
    )
    await finish_if_done(tx, row.check_id)


async def _close_item(
    tx: Transition,
    check_id: str,
    seq: int,
    outcome: str,
    *,
    kind: str | None = None,
    message: str | None = None,
    event_id: int | None = None,
) -> None:
    i, c = replay_check_items.c, replay_checks.c
    await tx.conn.execute(
        sa.update(replay_check_items)
        .where(i.check_id == check_id, i.seq == seq)
        .values(
            status=outcome,
            failure_kind=kind,
            failure_message=message,
            failure_event_id=event_id,
            finished_at=tx.now,
            deadline=None,
        )
    )
    counter = {PASSED: c.passed, FAILED: c.failed}.get(outcome)
    if counter is not None:
        await tx.conn.execute(
            sa.update(replay_checks).where(c.id == check_id).values({counter.key: counter + 1})
        )


async def finish_if_done(tx: Transition, check_id: str) -> None:
    """A running check with no pending or issued item left ends: failed when any run
    failed, else passed."""
    i, c = replay_check_items.c, replay_checks.c
    open_items = await tx.conn.scalar(
        sa.select(sa.func.count())
        .select_from(replay_check_items)
        .where(i.check_id == check_id, i.status.in_((PENDING, ISSUED)))
    )
    if open_items:
        return
    await tx.conn.execute(
        sa.update(replay_checks)
        .where(c.id == check_id, c.status == RUNNING)
        .values(
            status=sa.case((c.failed > 0, FAILED), else_=PASSED),
            finished_at=tx.now,
        )
    )


async def expire(tx: Transition, limit: int = 100) -> int:
    """The timeout loop's tick: issued items of running checks past their deadline go back to
    pending, or fail "timed out" after MAX_ATTEMPTS hand-outs (their checks finish when that
    was the last item). At most `limit` items per call; returns how many it moved."""
    i, c = replay_check_items.c, replay_checks.c
    query = (
        sa.select(i.check_id, i.seq, i.attempts)
        .join(replay_checks, c.id == i.check_id)
        .where(c.status == RUNNING, i.status == ISSUED, i.deadline < tx.now)
        .order_by(i.deadline)
        .limit(limit)
    )
    if tx.is_postgres:
        query = query.with_for_update(of=replay_check_items, skip_locked=True)
    rows = (await tx.conn.execute(query)).all()
    checks: set[str] = set()
    for row in rows:
        if row.attempts >= MAX_ATTEMPTS:
            await _close_item(
                tx,
                row.check_id,
                row.seq,
                FAILED,
                kind="timed-out",
                message=f"timed out: no answer to {row.attempts} replay task(s) within "
                "PERDURE_REPLAY_TASK_SECONDS each",
            )
            checks.add(row.check_id)
        else:
            await tx.conn.execute(
                sa.update(replay_check_items)
                .where(i.check_id == row.check_id, i.seq == row.seq)
                .values(status=PENDING, token=None, deadline=None)
            )
    for check_id in checks:
        await finish_if_done(tx, check_id)
    return len(rows)


async def skip_missing_history(tx: Transition, claim: ReplayClaim) -> None:
    """The sampled run's history is gone (deleted since): its item counts neither way."""
    i = replay_check_items.c
    row = (
        await tx.conn.execute(sa.select(i.seq).where(i.token == claim.token, i.status == ISSUED))
    ).one_or_none()
    if row is not None:
        await _close_item(tx, claim.check_id, row.seq, SKIPPED)
        await finish_if_done(tx, claim.check_id)


async def poll(
    engine: Engine,
    namespace_id: str,
    task_queue: str,
    identity: str,
    wait: float,
    poller: tuple[str, str],
    caller_gone: CallerGone | None = None,
) -> tuple[ReplayClaim | None, Any]:
    """A workflow-task poll of a replay-capable poller of version `poller` (deployment name,
    build id): a replay task when a running check of the version has one pending, else the
    queue's next workflow task or query, waiting up to `wait` seconds. Returns (replay claim,
    None) or (None, what `engine.poll_workflow_task` answered).

    While no check of the version runs this is the plain poll, plus at most one read per
    BOARD_REFRESH_SECONDS and process. A check's creation wakes the version's lines (one
    offer each, also on other processes) and its `replay_key`: an offered replay poll that
    learns so leaves its line, passing the offer on, and comes back for the check's tasks."""
    board = engine.replay_board
    version = (namespace_id, poller[0], poller[1])
    deadline = time.monotonic() + wait
    task_seconds = engine.ctx.settings.replay_task_seconds

    async def refreshed(force: bool = False) -> bool:
        if force or board.stale():
            async with engine.db.read() as conn:
                await board.refresh(conn)
        return board.active(version)

    async def gone_or_check_started() -> bool:
        # Asked only when the poll is offered something (idle polls never call it); reads
        # the board only when a check of the version was started since the poll began.
        if caller_gone is not None and await caller_gone():
            return True
        return started.is_set() and await refreshed(force=True)

    while True:
        active = await refreshed()
        if active:
            claim = await engine.transact(
                partial(take, version=version, identity=identity, task_seconds=task_seconds)
            )
            if claim is not None:
                async with engine.db.read() as conn:
                    first = await history_page(
                        conn, claim.run_id, after_event_id=0, up_to_event_id=1, page_size=1
                    )
                if first:
                    return claim, None
                await engine.transact(partial(skip_missing_history, claim=claim))
                continue
        remaining = deadline - time.monotonic()
        async with engine.wakeups.waiting(replay_key(version)) as started:
            found = await engine.poll_workflow_task(
                namespace_id,
                task_queue,
                identity,
                max(0.0, min(remaining, REPLAY_LOOK_SECONDS) if active else remaining),
                caller_gone if active else gone_or_check_started,
                poller=poller,
            )
        if found is not None or deadline - time.monotonic() <= 0:
            return None, found
        if caller_gone is not None and await caller_gone():
            return None, None


class ReplayTimeoutLoop:
    """The background loop that hands timed-out replay tasks out again (`expire`), every
    PERDURE_POLL_FALLBACK_SECONDS; safe on many replicas (SKIP LOCKED on PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def tick(self) -> int:
        """One pass; how many items it moved (at most 100)."""
        moved: int = await self.engine.transact(expire)
        return moved

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.engine.ctx.settings.poll_fallback_seconds
        while not stop.is_set():
            try:
                if await self.tick():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                report_failure(log, "replay task timeouts", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
