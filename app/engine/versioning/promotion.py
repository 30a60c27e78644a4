"""Promotion: setting a Worker Deployment's current and ramping versions (Temporal's
SetWorkerDeploymentCurrentVersion and SetWorkerDeploymentRampingVersion), with Temporal's
checks and conflict tokens.

Every change writes the deployment's routing columns, bumps `routing_revision` (what each
server process's claim compares), draws a new conflict token and sets the statuses of the
versions it touched, in one transaction; the deployment row is locked first on PostgreSQL, so
two writers naming the same token serialise and the second is refused.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.db.tables import worker_deployment_task_queues, worker_deployments
from app.engine.transition import Transition
from app.engine.versioning import drainage, replay_gate
from app.engine.versioning.deployments import (
    QUEUE_TYPES,
    deployment_row,
    polled_lately,
    version_ref,
    version_row,
)
from app.engine.versioning.routing import Routing
from app.errors import (
    ConflictTokenMismatch,
    FailedPrecondition,
    InvalidArgument,
    MissingTaskQueues,
    NoPollers,
)

# Problems list at most this many missing task queues.
MAX_LISTED_QUEUES = 20


@dataclass(frozen=True)
class PromotionChecks:
    """What a set-current or set-ramping request asks to skip. `ignore_replay_check` is
    taken and passed on to the replay gate (issue #21 part 3), which decides alone."""

    conflict_token: str | None = None
    identity: str | None = None
    ignore_missing_task_queues: bool = False
    allow_no_pollers: bool = False
    ignore_replay_check: bool = False


def _check_token(row: Any, checks: PromotionChecks) -> None:
    # Temporal compares only a token that was sent: a request without one is not checked.
    if checks.conflict_token and checks.conflict_token != row.conflict_token:
        raise ConflictTokenMismatch(
            f"conflict token mismatch: worker deployment '{row.name}' changed since the "
            "token was read; describe it again and retry with its new conflict_token",
            deployment_name=row.name,
        )


async def _check_pollers(tx: Transition, namespace_id: str, name: str, build_id: str) -> None:
    """404 for an unknown version; 409 no-pollers when no worker of it polled within the last
    5 minutes (Temporal's frontend checks the version's task queues' pollers, kept 5 minutes)."""
    row = await version_row(tx.conn, namespace_id, name, build_id)
    if not polled_lately(row.last_poll_time, tx.now):
        raise NoPollers(
            f"no worker of version '{build_id}' of worker deployment '{name}' polled in the "
            "last 5 minutes; start its workers first, or send allow_no_pollers=true",
            deployment_name=name,
            build_id=build_id,
        )


async def _queues_of(tx: Transition, namespace_id: str, name: str, build_id: str) -> set[Any]:
    q = worker_deployment_task_queues
    rows = await tx.conn.execute(
        sa.select(q.c.task_queue, q.c.kind).where(
            q.c.namespace_id == namespace_id, q.c.deployment_name == name, q.c.build_id == build_id
        )
    )
    return {(queue, kind) for queue, kind in rows}


async def _check_task_queues(
    tx: Transition, namespace_id: str, name: str, current: str, new: str
) -> None:
    """409 missing-task-queues when the current version polls a task queue (of a kind) that
    the new one does not: tasks of that queue would find no worker (Temporal's
    isVersionMissingTaskQueues). Unversioned current or new: nothing to compare."""
    if not current or not new:
        return
    missing = await _queues_of(tx, namespace_id, name, current) - await _queues_of(
        tx, namespace_id, name, new
    )
    if missing:
        listed = [
            {"name": queue, "type": QUEUE_TYPES.get(kind, kind)}
            for queue, kind in sorted(missing)[:MAX_LISTED_QUEUES]
        ]
        raise MissingTaskQueues(
            f"version '{new}' does not poll {len(missing)} task queue(s) that the current "
            f"version '{current}' polls (first: '{listed[0]['name']}'); deploy its workers on "
            "them, or send ignore_missing_task_queues=true",
            deployment_name=name,
            build_id=new,
            missing_task_queues=listed,
        )


async def _replay_gate(
    tx: Transition, namespace_id: str, name: str, build_id: str, checks: PromotionChecks
) -> None:
    """The replay gate (issue #21 part 3, app/engine/versioning/replay_gate.py): 409 without a
    passing replay check of the version in the last 24 hours. Never for build id ""."""
    if not build_id or checks.ignore_replay_check:
        return
    await replay_gate.require_passing_check(tx.conn, namespace_id, name, build_id, tx.now)


async def _write_routing(
    tx: Transition,
    row: Any,
    after: Routing,
    identity: str | None,
    *,
    current_changed: bool,
    ramping_changed: bool,
) -> str:
    """Write the new routing, bump its revision, draw a new token (returned), set statuses."""
    token = str(uuid.uuid4())
    values: dict[str, Any] = {
        "current_build_id": after.current_build_id,
        "ramping_build_id": after.ramping_build_id,
        "ramping_percentage": after.ramping_percentage,
        "routing_revision": worker_deployments.c.routing_revision + 1,
        "conflict_token": token,
        "last_modifier_identity": identity,
    }
    if current_changed:
        values["current_changed_at"] = tx.now
    if ramping_changed:
        values["ramping_changed_at"] = tx.now
    await tx.conn.execute(
        sa.update(worker_deployments)
        .where(
            worker_deployments.c.namespace_id == row.namespace_id,
            worker_deployments.c.name == row.name,
        )
        .values(values)
    )
    await drainage.apply_routing(
        tx.conn, tx.now, row.namespace_id, row.name, Routing.of_row(row), after
    )
    return token


def _note(tx: Transition, message: str, namespace_id: str, **fields: Any) -> None:
    """An admin action's log line, written once the transition commits."""
    tx.notes.append((logging.INFO, message, {"namespace_id": namespace_id, **fields}))


async def set_current_version(
    tx: Transition, namespace_id: str, name: str, build_id: str, checks: PromotionChecks
) -> dict[str, Any]:
    """Make `build_id` ("" : the unversioned workers) the deployment's current version.
    Returns `{conflict_token, previous_version}`.

    Temporal's rules, in its order: the same version set again by the same identity is no
    change (the current token answered, nothing written); a token that is not the
    deployment's is 409 conflict-token-mismatch; an unknown version 404; then 409 no-pollers
    and 409 missing-task-queues unless overridden, and the replay gate. The version becomes
    current; if it was ramping, the ramp ends; the previous current drains."""
    row = await deployment_row(tx.conn, namespace_id, name, for_update=tx.is_postgres)
    before = Routing.of_row(row)
    previous = version_ref(name, before.current_build_id)
    if before.current_build_id == build_id and row.last_modifier_identity == checks.identity:
        return {"conflict_token": row.conflict_token, "previous_version": previous}
    _check_token(row, checks)
    if build_id:
        if checks.allow_no_pollers:
            await version_row(tx.conn, namespace_id, name, build_id)
        else:
            await _check_pollers(tx, namespace_id, name, build_id)
        if not checks.ignore_missing_task_queues:
            await _check_task_queues(tx, namespace_id, name, before.current_build_id, build_id)
        await _replay_gate(tx, namespace_id, name, build_id, checks)
    ramp_ends = before.ramping_build_id == build_id
    after = Routing(
        current_build_id=build_id,
        ramping_build_id=None if ramp_ends else before.ramping_build_id,
        ramping_percentage=0.0 if ramp_ends else before.ramping_percentage,
    )
    token = await _write_routing(
        tx, row, after, checks.identity, current_changed=True, ramping_changed=ramp_ends
    )
    _note(
        tx,
        "worker deployment current version set",
        namespace_id,
        deployment_name=name,
        build_id=build_id,
        previous_build_id=before.current_build_id,
        identity=checks.identity,
    )
    return {"conflict_token": token, "previous_version": previous}


def check_percentage(percentage: float) -> float:
    """A ramp percentage: a finite number in [0, 100] (Temporal's), else 400."""
    if not math.isfinite(percentage) or not 0 <= percentage <= 100:
        raise InvalidArgument(
            "percentage must be a number from 0 to 100", field="percentage", value=percentage
        )
    return float(percentage)


async def set_ramping_version(
    tx: Transition,
    namespace_id: str,
    name: str,
    build_id: str,
    percentage: float,
    checks: PromotionChecks,
) -> dict[str, Any]:
    """Ramp `percentage` % of the deployment's new runs (and auto-upgrade tasks) to
    `build_id`; "" with a percentage above 0 ramps the unversioned workers, "" with 0 ends
    the ramp (Temporal's frontend reads an empty build id so). Returns `{conflict_token,
    previous_version, previous_percentage}`.

    Temporal's rules: the same version and percentage by the same identity is no change; a
    stale token 409; the current version cannot ramp (409 failed-precondition); an unknown
    version 404; a version ramping for the first time is checked for pollers and task queues
    (409 unless overridden) and by the replay gate; a changed percentage only is not."""
    percentage = check_percentage(percentage)
    row = await deployment_row(tx.conn, namespace_id, name, for_update=tx.is_postgres)
    before = Routing.of_row(row)
    ramping: str | None = build_id if build_id or percentage > 0 else None
    previous = version_ref(name, before.ramping_build_id)
    answer = {"previous_version": previous, "previous_percentage": before.ramping_percentage}
    if (
        before.ramping_build_id == ramping
        and before.ramping_percentage == (percentage if ramping is not None else 0.0)
        and row.last_modifier_identity == checks.identity
    ):
        return {"conflict_token": row.conflict_token, **answer}
    _check_token(row, checks)
    if ramping is not None and ramping == before.current_build_id:
        which = f"version '{ramping}'" if ramping else "the unversioned workers"
        raise FailedPrecondition(
            f"{which} of worker deployment '{name}' is already current and cannot ramp",
            deployment_name=name,
            build_id=ramping,
        )
    if ramping and ramping != before.ramping_build_id:
        if checks.allow_no_pollers:
            await version_row(tx.conn, namespace_id, name, ramping)
        else:
            await _check_pollers(tx, namespace_id, name, ramping)
        if not checks.ignore_missing_task_queues:
            await _check_task_queues(tx, namespace_id, name, before.current_build_id, ramping)
        await _replay_gate(tx, namespace_id, name, ramping, checks)
    elif ramping:
        await version_row(tx.conn, namespace_id, name, ramping)
    after = Routing(
        current_build_id=before.current_build_id,
        ramping_build_id=ramping,
        ramping_percentage=percentage if ramping is not None else 0.0,
    )
    token = await _write_routing(
        tx,
        row,
        after,
        checks.identity,
        current_changed=False,
        ramping_changed=before.ramping_build_id != ramping,
    )
    _note(
        tx,
        "worker deployment ramping version set",
        namespace_id,
        deployment_name=name,
        build_id=ramping,
        percentage=after.ramping_percentage,
        previous_build_id=before.ramping_build_id,
        identity=checks.identity,
    )
    return {"conflict_token": token, **answer}
