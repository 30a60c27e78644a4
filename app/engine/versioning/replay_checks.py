"""Replay checks (issue #21 §3, "know before you promote"): a durable job that replays a
sample of histories on a Worker Deployment version's workers before the version may become
current or ramping.

A check is sampled in the transaction that creates it — the open runs that will run on the
version once it is current or ramping, then recently closed runs of the same workflow types —
and each sampled run becomes an item handed out as a replay task
(app/engine/versioning/replay_tasks.py). A check with nothing to replay passes at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import (
    replay_check_items,
    replay_checks,
    worker_deployment_task_queues,
    worker_deployment_versions,
    worker_deployments,
    workflow_runs,
)
from app.engine.events import RunStatus
from app.engine.matching.wakeups import queue_key
from app.engine.reads import RunFilter
from app.engine.service import Engine
from app.engine.transition import Transition
from app.engine.versioning import routing
from app.engine.versioning.replay_tasks import (
    FAILED,
    ISSUED,
    PASSED,
    PENDING,
    RUNNING,
    finish_if_done,
    replay_key,
)
from app.errors import NotFound
from app.ids import new_id
from app.pagination import decode_token, encode_token
from app.visibility.listing import plan

DEFAULT_SAMPLE_SIZE = 100
MAX_SAMPLE_SIZE = 1000
# A finished check decides promotions for this long (issue #21: "a check counts for 24 hours").
VALID_FOR = timedelta(hours=24)
MAX_FAILURES_SHOWN = 20
# Types read from a version's `workflow_types` (A's column holds at most 1,000).
MAX_TYPES = 1000


async def start(
    engine: Engine,
    namespace_id: str,
    deployment_name: str,
    build_id: str,
    *,
    sample_size: int,
    query: str | None,
    identity: str,
) -> dict[str, Any]:
    """Sample and record a check of version (deployment_name, build_id); its description.
    404 when no worker of the version has polled; 400 for a bad list filter. A check that
    samples nothing has passed already."""
    ctx = engine.ctx

    async def body(tx: Transition) -> str:
        version = await _version(tx.conn, namespace_id, deployment_name, build_id)
        if version is None:
            raise NotFound(
                f"worker deployment version '{routing.canonical(deployment_name, build_id)}' not found: a "
                "version exists once a worker of it polls",
                deployment_name=deployment_name,
                build_id=build_id,
            )
        where = []
        if query:
            planned = await plan(
                tx.conn,
                namespace_id,
                RunFilter(),
                query,
                dialect=ctx.db.dialect,
                now=tx.now,
                counting=False,
            )
            where = planned.where
        sampled = await _sample(
            tx.conn, namespace_id, deployment_name, build_id, version, sample_size, where
        )
        check_id = new_id()
        await tx.conn.execute(
            sa.insert(replay_checks).values(
                id=check_id,
                namespace_id=namespace_id,
                deployment_name=deployment_name,
                build_id=build_id,
                status=RUNNING,
                sample_size=sample_size,
                query=query,
                identity=identity,
                total=len(sampled),
                passed=0,
                failed=0,
                created_at=tx.now,
            )
        )
        if sampled:
            await tx.conn.execute(
                sa.insert(replay_check_items),
                [
                    {
                        "check_id": check_id,
                        "seq": seq,
                        "namespace_id": namespace_id,
                        "workflow_id": row.workflow_id,
                        "run_id": row.id,
                        "workflow_type": row.workflow_type,
                        "run_status": row.status,
                        "last_event_id": row.next_event_id - 1,
                        "status": PENDING,
                        "attempts": 0,
                    }
                    for seq, row in enumerate(sampled, start=1)
                ],
            )
        await finish_if_done(tx, check_id)  # nothing to replay: passed at once
        if sampled:
            # Marked before commit, so that the polls the wake-ups below reach see the check.
            engine.replay_board.mark((namespace_id, deployment_name, build_id))
            tx.wake_keys.add(replay_key((namespace_id, deployment_name, build_id)))
            tx.wake_keys.update(
                await _version_lines(tx.conn, namespace_id, deployment_name, build_id)
            )
        return check_id

    check_id = await engine.transact(body)
    return await describe(engine, namespace_id, deployment_name, build_id, check_id)


async def _version_lines(
    conn: Connection, namespace_id: str, deployment_name: str, build_id: str
) -> set[str]:
    """The wake-up keys of the version's workflow-task poll lines (one per task queue it
    polls): an offer on each sends its waiting replay polls for the new check's tasks."""
    q = worker_deployment_task_queues.c
    queues = await conn.execute(
        sa.select(q.task_queue).where(
            q.namespace_id == namespace_id,
            q.deployment_name == deployment_name,
            q.build_id == build_id,
            q.kind == "workflow",
        )
    )
    line = routing.canonical(deployment_name, build_id)
    return {queue_key(namespace_id, "workflow", row[0], line) for row in queues}


async def _version(conn: Connection, namespace_id: str, deployment_name: str, build_id: str) -> Any:
    v = worker_deployment_versions.c
    return (
        await conn.execute(
            sa.select(v.workflow_types).where(
                v.namespace_id == namespace_id,
                v.deployment_name == deployment_name,
                v.build_id == build_id,
            )
        )
    ).one_or_none()


async def _sample(
    conn: Connection,
    namespace_id: str,
    deployment_name: str,
    build_id: str,
    version: Any,
    sample_size: int,
    where: list[Any],
) -> list[Any]:
    """Open runs that will run on the version once it is current or ramping, newest first:
    auto-upgrade runs of the deployment (they move to the current version at their next
    workflow task), runs pinned to this version (by override, or started on it), and — while
    the unversioned workers are current, i.e. on a first versioned deploy — unversioned runs
    on the task queues the version polls; pinned runs on other versions never move and are
    left out. Then closed runs of the same workflow types (the version's `workflow_types` and
    those of the open runs sampled), most recently closed first, up to `sample_size`."""
    r = workflow_runs.c
    current = await conn.scalar(
        sa.select(worker_deployments.c.current_build_id).where(
            worker_deployments.c.namespace_id == namespace_id,
            worker_deployments.c.name == deployment_name,
        )
    )
    moving = [
        sa.and_(r.versioning_behavior == "AUTO_UPGRADE", r.deployment_name == deployment_name),
        sa.and_(
            r.versioning_behavior == "PINNED",
            r.deployment_name == deployment_name,
            r.build_id == build_id,
        ),
    ]
    if not current:  # None (no row yet) or '': the unversioned workers are current
        q = worker_deployment_task_queues.c
        queues = sa.select(q.task_queue).where(
            q.namespace_id == namespace_id,
            q.deployment_name == deployment_name,
            q.build_id == build_id,
            q.kind == "workflow",
        )
        moving.append(sa.and_(r.versioning_behavior.is_(None), r.task_queue.in_(queues)))
    columns = (r.id, r.workflow_id, r.workflow_type, r.status, r.next_event_id)
    # Served by the (namespace, status, start time) visibility index.
    open_runs = list(
        (
            await conn.execute(
                sa.select(*columns)
                .where(
                    r.namespace_id == namespace_id,
                    r.status == RunStatus.RUNNING.value,
                    sa.or_(*moving),
                    *where,
                )
                .order_by(r.start_time.desc(), r.id)
                .limit(sample_size)
            )
        ).all()
    )
    types = set((version.workflow_types or [])[:MAX_TYPES]) | {
        row.workflow_type for row in open_runs
    }
    room = sample_size - len(open_runs)
    if room <= 0 or not types:
        return open_runs
    closed = (
        await conn.execute(
            sa.select(*columns)
            .where(
                r.namespace_id == namespace_id,
                r.status != RunStatus.RUNNING.value,
                r.close_time.is_not(None),
                r.workflow_type.in_(sorted(types)),
                *where,
            )
            .order_by(r.close_time.desc(), r.id)
            .limit(room)
        )
    ).all()
    return open_runs + list(closed)


async def _check_row(
    conn: Connection, namespace_id: str, deployment_name: str, build_id: str, check_id: str
) -> Any:
    c = replay_checks.c
    row = (
        await conn.execute(
            sa.select(replay_checks).where(
                c.id == check_id,
                c.namespace_id == namespace_id,
                c.deployment_name == deployment_name,
                c.build_id == build_id,
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"replay check '{check_id}' not found", check_id=check_id)
    return row


async def describe(
    engine: Engine, namespace_id: str, deployment_name: str, build_id: str, check_id: str
) -> dict[str, Any]:
    """A check with its progress, what it waits for, and up to 20 failing runs."""
    async with engine.db.read() as conn:
        row = await _check_row(conn, namespace_id, deployment_name, build_id, check_id)
        counts = await _item_counts(conn, check_id)
        failures = await failing_runs(conn, check_id)
    return shown(row, counts, failures, engine.clock.now(), engine.ctx.settings)


async def _item_counts(conn: Connection, check_id: str) -> dict[str, int]:
    i = replay_check_items.c
    rows = await conn.execute(
        sa.select(i.status, sa.func.count()).where(i.check_id == check_id).group_by(i.status)
    )
    return {status: count for status, count in rows}


async def failing_runs(conn: Connection, check_id: str) -> list[dict[str, Any]]:
    """Up to MAX_FAILURES_SHOWN runs the version's code did not replay, in sample order."""
    i = replay_check_items.c
    rows = await conn.execute(
        sa.select(
            i.workflow_id,
            i.run_id,
            i.workflow_type,
            i.failure_kind,
            i.failure_message,
            i.failure_event_id,
        )
        .where(i.check_id == check_id, i.status == FAILED)
        .order_by(i.seq)
        .limit(MAX_FAILURES_SHOWN)
    )
    return [
        {
            "workflow_id": r.workflow_id,
            "run_id": r.run_id,
            "workflow_type": r.workflow_type,
            "kind": r.failure_kind,
            "message": r.failure_message,
            "event_id": r.failure_event_id,
        }
        for r in rows
    ]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def waiting_on(row: Any, counts: dict[str, int], now: datetime, settings: Any) -> str | None:
    """What a running check waits for, in one sentence (None once it has ended): a poller of
    the version that declares `"replay": true` (none has taken a replay task lately), or the
    answers to the replay tasks handed out."""
    if row.status != RUNNING:
        return None
    version = routing.canonical(row.deployment_name, row.build_id)
    pending, issued = counts.get(PENDING, 0), counts.get(ISSUED, 0)
    taken = _aware(row.last_taken_at)
    recently = taken is not None and now - taken < timedelta(
        seconds=2 * settings.replay_task_seconds
    )
    if pending and not recently:
        return (
            f'a poller of version {version} that declares "replay": true on the workflow-task '
            f"poll route (deployment_options naming the version): none has taken one of its "
            f"{pending} pending replay task(s)"
            + (f" since {taken:%Y-%m-%d %H:%M:%S} UTC" if taken else "")
        )
    if issued and not pending:
        return f"the answers to {issued} replay task(s) handed out to pollers of {version}"
    return f"pollers of {version} replaying {pending + issued} more history(ies)"


def shown(
    row: Any,
    counts: dict[str, int],
    failures: list[dict[str, Any]],
    now: datetime,
    settings: Any,
) -> dict[str, Any]:
    """A check as the API shows it."""
    finished = _aware(row.finished_at)
    return {
        "check_id": row.id,
        "version": {"deployment_name": row.deployment_name, "build_id": row.build_id},
        "status": row.status,
        "sample_size": row.sample_size,
        "query": row.query,
        "identity": row.identity,
        "create_time": row.created_at,
        "finish_time": finished,
        "valid_until": finished + VALID_FOR if finished is not None else None,
        "progress": {
            "total": row.total,
            "pending": counts.get(PENDING, 0),
            "running": counts.get(ISSUED, 0),
            "passed": counts.get(PASSED, 0),
            "failed": counts.get(FAILED, 0),
            "skipped": row.total - sum(counts.get(s, 0) for s in (PENDING, ISSUED, PASSED, FAILED)),
        },
        "waiting_on": waiting_on(row, counts, now, settings),
        "failures": failures,
    }


async def list_checks(
    engine: Engine,
    namespace_id: str,
    deployment_name: str,
    build_id: str,
    page_size: int,
    next_page_token: str | None,
) -> dict[str, Any]:
    """The version's checks, newest first (without their failing runs: GET one for those),
    paged by (create time, id)."""
    c = replay_checks.c
    position = decode_token(next_page_token, length=2)
    query = (
        sa.select(replay_checks)
        .where(
            c.namespace_id == namespace_id,
            c.deployment_name == deployment_name,
            c.build_id == build_id,
        )
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(page_size + 1)
    )
    if position is not None:
        mark = datetime.fromisoformat(position[0])
        query = query.where(
            sa.tuple_(c.created_at, c.id)
            < sa.tuple_(sa.literal(mark, c.created_at.type), sa.literal(position[1]))
        )
    now = engine.clock.now()
    async with engine.db.read() as conn:
        rows = (await conn.execute(query)).all()
        page = rows[:page_size]
        checks = [
            shown(row, await _item_counts(conn, row.id), [], now, engine.ctx.settings)
            for row in page
        ]
    token = None
    if len(rows) > page_size:
        last = page[-1]
        created = _aware(last.created_at)
        assert created is not None  # the column is NOT NULL
        token = encode_token([created.isoformat(), last.id])
    return {"checks": checks, "next_page_token": token}
