"""Deleting versions and deployments (Temporal's DeleteWorkerDeploymentVersion and
DeleteWorkerDeployment), and making room for a new version at a deployment's limit of 100.

A version may go when it is neither current nor ramping, no worker of it polled for 5 minutes,
and no run pinned to it is open (`skip_drainage` waives the last); a deployment when it has no
version left. Runs that were on a deleted version keep their columns: history is not rewritten.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import worker_deployment_task_queues, worker_deployment_versions
from app.db.tables import worker_deployments as _deployments
from app.engine.transition import Transition
from app.engine.versioning.deployments import (
    MAX_VERSIONS_PER_DEPLOYMENT,
    deployment_row,
    has_open_pinned_runs,
    polled_lately,
    version_key,
    version_row,
)
from app.engine.versioning.routing import Routing
from app.errors import FailedPrecondition, TooManyVersions

_versions = worker_deployment_versions
_queues = worker_deployment_task_queues


async def _why_not_deletable(
    conn: Connection, deployment: Any, version: Any, now: datetime, *, skip_drainage: bool
) -> str | None:
    """Why the version may not be deleted now (a sentence), or None when it may."""
    role = Routing.of_row(deployment).role_of(version.build_id)
    if role is not None:
        return f"it is the deployment's {role} version"
    # Temporal's order: routing, then drainage, then pollers.
    if not skip_drainage and await has_open_pinned_runs(
        conn, version.namespace_id, version.deployment_name, version.build_id
    ):
        return "runs pinned to it are still open (it is draining; skip_drainage=true forces it)"
    last_queue_poll = await conn.scalar(
        sa.select(sa.func.max(_queues.c.last_poll_time)).where(
            _queues.c.namespace_id == version.namespace_id,
            _queues.c.deployment_name == version.deployment_name,
            _queues.c.build_id == version.build_id,
        )
    )
    if polled_lately(version.last_poll_time, now) or polled_lately(last_queue_poll, now):
        return "its workers polled in the last 5 minutes (stop them first)"
    return None


async def _delete_version_rows(conn: Connection, version: Any) -> None:
    key = (version.namespace_id, version.deployment_name, version.build_id)
    await conn.execute(
        sa.delete(_queues).where(
            _queues.c.namespace_id == key[0],
            _queues.c.deployment_name == key[1],
            _queues.c.build_id == key[2],
        )
    )
    await conn.execute(sa.delete(_versions).where(version_key(*key)))


async def delete_version(
    tx: Transition,
    namespace_id: str,
    deployment_name: str,
    build_id: str,
    *,
    skip_drainage: bool,
    identity: str | None,
) -> None:
    """Delete one version and the task queues recorded for it. 404 for an unknown one; 409
    failed-precondition saying why when it is current or ramping, polled within 5 minutes, or
    (without `skip_drainage`) has open pinned runs."""
    deployment = await deployment_row(
        tx.conn, namespace_id, deployment_name, for_update=tx.is_postgres
    )
    version = await version_row(tx.conn, namespace_id, deployment_name, build_id)
    why = await _why_not_deletable(
        tx.conn, deployment, version, tx.now, skip_drainage=skip_drainage
    )
    if why is not None:
        raise FailedPrecondition(
            f"version '{build_id}' of worker deployment '{deployment_name}' cannot be "
            f"deleted: {why}",
            deployment_name=deployment_name,
            build_id=build_id,
        )
    await _delete_version_rows(tx.conn, version)
    tx.notes.append(
        (
            logging.INFO,
            "worker deployment version deleted",
            {
                "namespace_id": namespace_id,
                "deployment_name": deployment_name,
                "build_id": build_id,
                "skip_drainage": skip_drainage,
                "identity": identity,
            },
        )
    )


async def delete_deployment(
    tx: Transition, namespace_id: str, deployment_name: str, *, identity: str | None
) -> None:
    """Delete a deployment that has no version left (Temporal's rule); 404 unknown, 409
    failed-precondition while it has versions."""
    await deployment_row(tx.conn, namespace_id, deployment_name, for_update=tx.is_postgres)
    left = await tx.conn.scalar(
        sa.select(sa.func.count()).where(
            _versions.c.namespace_id == namespace_id,
            _versions.c.deployment_name == deployment_name,
        )
    )
    if left:
        raise FailedPrecondition(
            f"worker deployment '{deployment_name}' still has {left} version(s); delete them first",
            deployment_name=deployment_name,
            versions=int(left),
        )
    await tx.conn.execute(
        sa.delete(_deployments).where(
            _deployments.c.namespace_id == namespace_id, _deployments.c.name == deployment_name
        )
    )
    tx.notes.append(
        (
            logging.INFO,
            "worker deployment deleted",
            {
                "namespace_id": namespace_id,
                "deployment_name": deployment_name,
                "identity": identity,
            },
        )
    )


async def make_room_for_version(
    conn: Connection, namespace_id: str, deployment_name: str, now: datetime
) -> bool:
    """Before a poll records a new version of the deployment: True when there is room for one
    more (fewer than 100 versions, or the oldest deletable one was just deleted to make room,
    as Temporal's tryDeleteVersion does); False when all 100 must stay (the caller refuses the
    new version: raise `too_many_versions(...)`). Call inside the write transaction that
    inserts the version, after locking (or creating) the deployment row."""
    # Locked first (PostgreSQL): two polls of new versions count one after the other.
    is_postgres = conn.dialect.name == "postgresql"
    deployment = await deployment_row(conn, namespace_id, deployment_name, for_update=is_postgres)
    count = await conn.scalar(
        sa.select(sa.func.count()).where(
            _versions.c.namespace_id == namespace_id,
            _versions.c.deployment_name == deployment_name,
        )
    )
    if (count or 0) < MAX_VERSIONS_PER_DEPLOYMENT:
        return True
    oldest_first = await conn.execute(
        sa.select(_versions)
        .where(
            _versions.c.namespace_id == namespace_id,
            _versions.c.deployment_name == deployment_name,
        )
        .order_by(_versions.c.created_at, _versions.c.build_id)
    )
    for version in oldest_first.all():
        if await _why_not_deletable(conn, deployment, version, now, skip_drainage=False) is None:
            await _delete_version_rows(conn, version)
            return True
    return False


def too_many_versions(deployment_name: str, build_id: str) -> TooManyVersions:
    """The 409 a poll of a 101st version answers when `make_room_for_version` found none to
    remove (Temporal's errTooManyVersions, a FailedPrecondition on the poll)."""
    return TooManyVersions(
        f"cannot add version '{build_id}': worker deployment '{deployment_name}' has "
        f"{MAX_VERSIONS_PER_DEPLOYMENT} versions and none can be deleted (each is current, "
        "ramping, polled in the last 5 minutes, or has open pinned runs)",
        deployment_name=deployment_name,
        build_id=build_id,
        max_versions=MAX_VERSIONS_PER_DEPLOYMENT,
    )
