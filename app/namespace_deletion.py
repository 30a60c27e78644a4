"""Deleting a namespace: what must hold first and what each part of the server removes, in one
explicit ordered list (not registered at import time, where the order would follow imports).

Order matters only where rows refer to each other: stored-definition runs name workflow runs,
so they go before the engine's rows; everything else is keyed by namespace alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import namespaces
from app.definitions.store import delete_namespace_rows as delete_definitions
from app.engine.namespaces import delete_engine_rows, refuse_if_running
from app.schedules.service import delete_namespace_schedules
from app.tenancy.namespaces import get_namespace
from app.visibility.batches import delete_namespace_jobs
from app.webhooks.endpoints import delete_namespace_webhooks

NamespaceStep = Callable[[Connection, str], Awaitable[None]]

# Each may refuse the deletion with a PerdureError (e.g. 409 while runs are open).
GUARDS: tuple[NamespaceStep, ...] = (refuse_if_running,)

CLEANUPS: tuple[NamespaceStep, ...] = (
    delete_definitions,
    delete_engine_rows,
    delete_namespace_jobs,
    delete_namespace_schedules,
    delete_namespace_webhooks,
)


async def delete_namespace(conn: Connection, tenant_id: str, name: str) -> None:
    """Delete the tenant's namespace `name` and everything in it, in the caller's transaction.

    Raises NotFound when the tenant has no such namespace, and whatever a guard raises (409
    while workflows are running) before anything is removed."""
    current = await get_namespace(conn, tenant_id, name)
    for guard in GUARDS:
        await guard(conn, current.id)
    for cleanup in CLEANUPS:
        await cleanup(conn, current.id)
    await conn.execute(sa.delete(namespaces).where(namespaces.c.id == current.id))
