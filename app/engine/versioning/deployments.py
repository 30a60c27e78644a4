"""Reading Worker Deployments and their versions: the list, the describes, and what the
promotion, drainage and deletion modules share (the routing of a deployment, a version's row,
its open runs by behaviour, whether it was polled lately).

Shapes follow Temporal's DescribeWorkerDeployment / DescribeWorkerDeploymentVersion in
snake_case JSON. A version is `{"deployment_name", "build_id"}`; `build_id` "" names the
unversioned workers (a deployment's current version before its first promotion, and a
rollback target); a null ramping version means nothing ramps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import (
    worker_deployment_task_queues,
    worker_deployment_versions,
    worker_deployments,
    workflow_runs,
)
from app.errors import NotFound
from app.pagination import decode_token, encode_token

# Temporal's matching keeps a poller in DescribeTaskQueue for 5 minutes after its last poll
# (pollerHistoryTTL): a version polled within this window "has pollers" for the promotion
# checks, and one unpolled for this long may be deleted.
POLLER_WINDOW = timedelta(minutes=5)
# Temporal's matching.maxVersionsInDeployment default.
MAX_VERSIONS_PER_DEPLOYMENT = 100
PINNED = "PINNED"
AUTO_UPGRADE = "AUTO_UPGRADE"
STATUSES = ("inactive", "current", "ramping", "draining", "drained")
# Task kinds as Temporal's task queue types.
QUEUE_TYPES = {"workflow": "TASK_QUEUE_TYPE_WORKFLOW", "activity": "TASK_QUEUE_TYPE_ACTIVITY"}

_versions = worker_deployment_versions
_queues = worker_deployment_task_queues
_runs = workflow_runs
# Literal, not bound: the partial index ix_workflow_runs_open_version serves a query only when
# the query says its predicate's words (SQLite matches the predicate term by term).
_RUN_IS_OPEN = _runs.c.status == sa.literal_column("'RUNNING'")


def version_ref(deployment_name: str, build_id: str | None) -> dict[str, str] | None:
    """Temporal's WorkerDeploymentVersion as JSON; None for no version at all."""
    if build_id is None:
        return None
    return {"deployment_name": deployment_name, "build_id": build_id}


async def deployment_row(
    conn: Connection, namespace_id: str, name: str, *, for_update: bool = False
) -> Any:
    """The deployment's row (locked for the transaction on PostgreSQL when `for_update`);
    NotFound when the namespace has no such deployment."""
    query = sa.select(worker_deployments).where(
        worker_deployments.c.namespace_id == namespace_id, worker_deployments.c.name == name
    )
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"worker deployment '{name}' not found", deployment_name=name)
    return row


def version_key(namespace_id: str, deployment_name: str, build_id: str) -> sa.ColumnElement[bool]:
    """The WHERE clause naming one version's row."""
    return sa.and_(
        _versions.c.namespace_id == namespace_id,
        _versions.c.deployment_name == deployment_name,
        _versions.c.build_id == build_id,
    )


async def version_row(
    conn: Connection, namespace_id: str, deployment_name: str, build_id: str
) -> Any:
    """The version's row; NotFound when the deployment has no such version."""
    row = (
        await conn.execute(
            sa.select(_versions).where(version_key(namespace_id, deployment_name, build_id))
        )
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"version '{build_id}' of worker deployment '{deployment_name}' not found",
            deployment_name=deployment_name,
            build_id=build_id,
        )
    return row


def open_runs_query(
    namespace_id: str, deployment_name: str, build_id: str, behavior: str | None = None
) -> sa.Select[Any]:
    """SELECT of the ids of a version's open runs (of one behaviour): served by the partial
    index ix_workflow_runs_open_version."""
    query = sa.select(_runs.c.id).where(
        _runs.c.namespace_id == namespace_id,
        _runs.c.deployment_name == deployment_name,
        _runs.c.build_id == build_id,
        _RUN_IS_OPEN,
    )
    if behavior is not None:
        query = query.where(_runs.c.versioning_behavior == behavior)
    return query


async def has_open_pinned_runs(
    conn: Connection, namespace_id: str, deployment_name: str, build_id: str
) -> bool:
    """Whether any run pinned to the version is still open (what keeps it draining)."""
    query = open_runs_query(namespace_id, deployment_name, build_id, PINNED).limit(1)
    return (await conn.scalar(query)) is not None


async def open_runs_by_behavior(
    conn: Connection, namespace_id: str, deployment_name: str, build_id: str
) -> dict[str, int]:
    """{"PINNED": n, "AUTO_UPGRADE": n}: the version's open runs (an auto-upgrade run is on
    the version of its last completed workflow task)."""
    rows = await conn.execute(
        sa.select(_runs.c.versioning_behavior, sa.func.count())
        .where(
            _runs.c.namespace_id == namespace_id,
            _runs.c.deployment_name == deployment_name,
            _runs.c.build_id == build_id,
            _RUN_IS_OPEN,
        )
        .group_by(_runs.c.versioning_behavior)
    )
    counts = {PINNED: 0, AUTO_UPGRADE: 0}
    for behavior, count in rows:
        if behavior in counts:
            counts[behavior] = int(count)
    return counts


def polled_lately(last_poll_time: datetime | None, now: datetime) -> bool:
    """Whether a poll was seen within POLLER_WINDOW of `now`."""
    return last_poll_time is not None and now - last_poll_time < POLLER_WINDOW


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def routing_config(row: Any) -> dict[str, Any]:
    """Temporal's RoutingConfig of a deployment row."""
    return {
        "current_version": version_ref(row.name, row.current_build_id),
        "ramping_version": version_ref(row.name, row.ramping_build_id),
        "ramping_version_percentage": float(row.ramping_percentage),
        "current_version_changed_time": _iso(row.current_changed_at),
        "ramping_version_changed_time": _iso(row.ramping_changed_at),
        "revision_number": int(row.routing_revision),
    }


def drainage_info(row: Any) -> dict[str, Any] | None:
    """Temporal's VersionDrainageInfo; None while the version is not draining or drained."""
    if row.status not in ("draining", "drained"):
        return None
    return {
        "status": row.status,
        "last_changed_time": _iso(row.drainage_changed_at),
        "last_checked_time": _iso(row.drainage_checked_at),
    }


def version_summary(row: Any) -> dict[str, Any]:
    """Temporal's WorkerDeploymentVersionSummary of a version row."""
    drainage = drainage_info(row)
    return {
        "version": version_ref(row.deployment_name, row.build_id),
        "status": row.status,
        "create_time": _iso(row.created_at),
        "drainage_status": None if drainage is None else drainage["status"],
        "drainage_info": drainage,
        "current_since_time": _iso(row.current_since),
        "ramping_since_time": _iso(row.ramping_since),
        "routing_update_time": _iso(row.routing_changed_at),
        "first_activation_time": _iso(row.first_activation_time),
        "last_deactivation_time": _iso(row.last_deactivation_time),
        "last_poll_time": _iso(row.last_poll_time),
    }


async def describe_deployment(conn: Connection, namespace_id: str, name: str) -> dict[str, Any]:
    """Temporal's DescribeWorkerDeploymentResponse: `{worker_deployment_info: {name,
    create_time, routing_config, version_summaries (oldest first), last_modifier_identity},
    conflict_token}`; NotFound for an unknown deployment."""
    row = await deployment_row(conn, namespace_id, name)
    versions = (
        await conn.execute(
            sa.select(_versions)
            .where(_versions.c.namespace_id == namespace_id, _versions.c.deployment_name == name)
            .order_by(_versions.c.created_at, _versions.c.build_id)
        )
    ).all()
    return {
        "worker_deployment_info": {
            "name": row.name,
            "create_time": _iso(row.created_at),
            "routing_config": routing_config(row),
            "version_summaries": [version_summary(v) for v in versions],
            "last_modifier_identity": row.last_modifier_identity,
        },
        "conflict_token": row.conflict_token,
    }


async def list_deployments(
    conn: Connection, namespace_id: str, page_size: int, next_page_token: str | None
) -> dict[str, Any]:
    """Temporal's ListWorkerDeployments: `{worker_deployments: [{name, create_time,
    routing_config}], next_page_token}` by name; a token this server did not issue is a 400."""
    position = decode_token(next_page_token, length=1)
    query = (
        sa.select(worker_deployments)
        .where(worker_deployments.c.namespace_id == namespace_id)
        .order_by(worker_deployments.c.name)
        .limit(page_size + 1)
    )
    if position is not None:
        query = query.where(worker_deployments.c.name > str(position[0]))
    rows = (await conn.execute(query)).all()
    more = len(rows) > page_size
    rows = rows[:page_size]
    return {
        "worker_deployments": [
            {
                "name": row.name,
                "create_time": _iso(row.created_at),
                "routing_config": routing_config(row),
            }
            for row in rows
        ],
        "next_page_token": encode_token([rows[-1].name]) if more and rows else None,
    }


async def describe_version(
    conn: Connection, namespace_id: str, deployment_name: str, build_id: str, now: datetime
) -> dict[str, Any]:
    """Temporal's DescribeWorkerDeploymentVersionResponse, plus what Perdure shows beside it:
    `{worker_deployment_version_info: {version, status, create_time, current_since_time,
    ramping_since_time, routing_changed_time, first_activation_time, last_deactivation_time,
    ramp_percentage, drainage_info, task_queue_infos: [{name, type}], workflow_types},
    pollers: [{task_queue, type, last_access_time}] (polled within the last 5 minutes),
    open_runs: {PINNED, AUTO_UPGRADE}}`; NotFound for an unknown version."""
    deployment = await deployment_row(conn, namespace_id, deployment_name)
    row = await version_row(conn, namespace_id, deployment_name, build_id)
    queues = (
        await conn.execute(
            sa.select(_queues.c.task_queue, _queues.c.kind, _queues.c.last_poll_time)
            .where(
                _queues.c.namespace_id == namespace_id,
                _queues.c.deployment_name == deployment_name,
                _queues.c.build_id == build_id,
            )
            .order_by(_queues.c.task_queue, _queues.c.kind)
        )
    ).all()
    ramping = deployment.ramping_build_id == build_id
    return {
        "worker_deployment_version_info": {
            "version": version_ref(deployment_name, build_id),
            "status": row.status,
            "create_time": _iso(row.created_at),
            "current_since_time": _iso(row.current_since),
            "ramping_since_time": _iso(row.ramping_since),
            "routing_changed_time": _iso(row.routing_changed_at),
            "first_activation_time": _iso(row.first_activation_time),
            "last_deactivation_time": _iso(row.last_deactivation_time),
            "ramp_percentage": float(deployment.ramping_percentage) if ramping else 0.0,
            "drainage_info": drainage_info(row),
            "task_queue_infos": [
                {"name": queue, "type": QUEUE_TYPES.get(kind, kind)} for queue, kind, _ in queues
            ],
            "workflow_types": list(row.workflow_types or []),
            "last_poll_time": _iso(row.last_poll_time),
        },
        "pollers": [
            {"task_queue": queue, "type": QUEUE_TYPES.get(kind, kind), "last_access_time": _iso(at)}
            for queue, kind, at in queues
            if polled_lately(at, now)
        ],
        "open_runs": await open_runs_by_behavior(conn, namespace_id, deployment_name, build_id),
    }
