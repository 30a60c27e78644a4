"""Namespaces: the unit of isolation inside a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.auth.principal import Principal
from app.db.connection import Connection
from app.db.tables import namespaces
from app.errors import AlreadyExists, NotFound
from app.ids import new_id
from app.pagination import decode_token, encode_token
from app.tenancy.resource_names import check_name

DEFAULT_RETENTION_DAYS = 30

# Features that own rows inside a namespace register a check here; deleting a namespace
# asks each one (e.g. "are workflows still running?") before anything is removed.


async def create_namespace(
    conn: Connection,
    *,
    tenant_id: str,
    name: str,
    description: str,
    retention_days: int,
    settings: dict[str, Any],
    now: datetime,
) -> sa.Row:
    check_name(name)
    exists = await conn.scalar(
        sa.select(namespaces.c.id).where(
            namespaces.c.tenant_id == tenant_id, namespaces.c.name == name
        )
    )
    if exists:
        raise AlreadyExists(f"namespace '{name}' already exists", namespace=name)
    await conn.execute(
        sa.insert(namespaces).values(
            id=new_id(),
            tenant_id=tenant_id,
            name=name,
            description=description,
            retention_days=retention_days,
            settings=settings,
            created_at=now,
            updated_at=now,
        )
    )
    return await get_namespace(conn, tenant_id, name)


async def get_namespace(conn: Connection, tenant_id: str, name: str) -> sa.Row:
    row = (
        await conn.execute(
            sa.select(namespaces).where(
                namespaces.c.tenant_id == tenant_id, namespaces.c.name == name
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"namespace '{name}' not found", namespace=name)
    return row


async def list_namespaces(
    conn: Connection, principal: Principal, *, page_size: int, page_token: str | None
) -> tuple[list[sa.Row], str | None]:
    query = (
        sa.select(namespaces)
        .where(namespaces.c.tenant_id == principal.tenant_id)
        .order_by(namespaces.c.name)
        .limit(page_size + 1)
    )
    if principal.namespace_ids is not None:
        query = query.where(namespaces.c.id.in_(principal.namespace_ids))
    position = decode_token(page_token, length=1)
    if position is not None:
        query = query.where(namespaces.c.name > str(position[0]))
    rows = list((await conn.execute(query)).all())
    if len(rows) <= page_size:
        return rows, None
    return rows[:page_size], encode_token([rows[page_size - 1].name])


async def first_namespace_name(
    conn: Connection, principal: Principal, *, preferred: str
) -> str | None:
    """The name of the namespace `preferred` if the principal sees it, else of the first it
    sees by name; None when it sees none."""
    query = (
        sa.select(namespaces.c.name)
        .where(namespaces.c.tenant_id == principal.tenant_id)
        .order_by((namespaces.c.name != preferred), namespaces.c.name)
        .limit(1)
    )
    if principal.namespace_ids is not None:
        query = query.where(namespaces.c.id.in_(principal.namespace_ids))
    return (await conn.execute(query)).scalar_one_or_none()


async def update_namespace(
    conn: Connection, tenant_id: str, name: str, changes: dict[str, Any], now: datetime
) -> sa.Row:
    current = await get_namespace(conn, tenant_id, name)
    values: dict[str, Any] = {"updated_at": now}
    for field in ("description", "retention_days"):
        if field in changes:
            values[field] = changes[field]
    if "settings" in changes:
        values["settings"] = {**current.settings, **changes["settings"]}
    await conn.execute(sa.update(namespaces).where(namespaces.c.id == current.id).values(**values))
    return await get_namespace(conn, tenant_id, name)
