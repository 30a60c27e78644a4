"""Retention: closed runs older than their namespace's `retention_days` are deleted, history
and all, in small batches so that no transaction grows large."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import (
    buffered_events,
    history_events,
    namespaces,
    workflow_runs,
)
from app.engine import search_attributes
from app.engine.events import RunStatus
from app.engine.transition import Transition

BATCH = 200

# Features that keep rows per run (definitions, deliveries, queries) register a cleanup that
# deletes them for a list of run ids; it runs in the same transaction as the purge.
RunCleanup = Callable[[Connection, list[str]], Awaitable[None]]
run_cleanups: list[RunCleanup] = []


async def purge_expired_runs(tx: Transition) -> int:
    """Delete up to BATCH expired runs; returns how many (call again while it returns BATCH)."""
    policies = (
        await tx.conn.execute(sa.select(namespaces.c.id, namespaces.c.retention_days))
    ).all()
    expired: list[str] = []
    for namespace_id, days in policies:
        cutoff = tx.now - timedelta(days=days)
        # Served by ix_workflow_runs_namespace_id_close_time.
        expired += (
            (
                await tx.conn.execute(
                    sa.select(workflow_runs.c.id)
                    .where(
                        workflow_runs.c.namespace_id == namespace_id,
                        workflow_runs.c.close_time < cutoff,
                        workflow_runs.c.status != RunStatus.RUNNING.value,
                    )
                    .limit(BATCH - len(expired))
                )
            )
            .scalars()
            .all()
        )
        if len(expired) >= BATCH:
            break
    if not expired:
        return 0
    await delete_runs(tx.conn, expired)
    return len(expired)


async def delete_runs(conn: Connection, run_ids: list[str]) -> None:
    """Delete closed runs, history and all (retention, and batch deletes)."""
    for table in (history_events, buffered_events):
        await conn.execute(sa.delete(table).where(table.c.run_id.in_(run_ids)))
    await search_attributes.delete_run_rows(conn, run_ids)
    for cleanup in run_cleanups:
        await cleanup(conn, run_ids)
    await conn.execute(sa.delete(workflow_runs).where(workflow_runs.c.id.in_(run_ids)))
