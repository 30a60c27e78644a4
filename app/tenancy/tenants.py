"""Tenants: created by the system administrator, each with a first admin key."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.roles import Role
from app.db.tables import tenants
from app.errors import AlreadyExists, NotFound
from app.ids import new_id
from app.tenancy.api_keys import create_api_key
from app.tenancy.names import check_name

FIRST_KEY_NAME = "admin"


async def create_tenant(
    conn: AsyncConnection, name: str, now: datetime
) -> tuple[sa.Row, sa.Row, str]:
    """The new tenant, its first admin key's row, and that key's secret."""
    check_name(name)
    if await conn.scalar(sa.select(tenants.c.id).where(tenants.c.name == name)):
        raise AlreadyExists(f"tenant '{name}' already exists", tenant=name)
    tenant_id = new_id()
    await conn.execute(sa.insert(tenants).values(id=tenant_id, name=name, created_at=now))
    key, secret = await create_api_key(
        conn,
        tenant_id=tenant_id,
        name=FIRST_KEY_NAME,
        role=Role.ADMIN,
        namespace_names=None,
        expires_at=None,
        now=now,
    )
    return await get_tenant_by_name(conn, name), key, secret


async def get_tenant_by_name(conn: AsyncConnection, name: str) -> sa.Row:
    row = (await conn.execute(sa.select(tenants).where(tenants.c.name == name))).one_or_none()
    if row is None:
        raise NotFound(f"tenant '{name}' not found", tenant=name)
    return row
