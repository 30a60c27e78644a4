"""Tenants: created, listed and disabled by the system administrator. A new tenant gets a
first admin key and a `default` namespace, so its first request has somewhere to go."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.auth.roles import Role
from app.db.connection import Connection
from app.db.tables import namespaces, tenants
from app.errors import AlreadyExists, NotFound
from app.ids import new_id
from app.pagination import decode_token, encode_token
from app.tenancy.api_keys import create_api_key
from app.tenancy.namespaces import DEFAULT_RETENTION_DAYS, create_namespace
from app.tenancy.resource_names import check_name

FIRST_KEY_NAME = "admin"
DEFAULT_NAMESPACE = "default"


async def create_tenant(conn: Connection, name: str, now: datetime) -> tuple[sa.Row, sa.Row, str]:
    """The new tenant, its first admin key's row, and that key's secret. Raises
    InvalidArgument (bad name) or AlreadyExists."""
    check_name(name)
    if await conn.scalar(sa.select(tenants.c.id).where(tenants.c.name == name)):
        raise AlreadyExists(f"tenant '{name}' already exists", tenant=name)
    tenant_id = new_id()
    await conn.execute(sa.insert(tenants).values(id=tenant_id, name=name, created_at=now))
    await create_namespace(
        conn,
        tenant_id=tenant_id,
        name=DEFAULT_NAMESPACE,
        description="Created with the tenant",
        retention_days=DEFAULT_RETENTION_DAYS,
        settings={},
        now=now,
    )
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


async def get_tenant_by_name(conn: Connection, name: str) -> sa.Row:
    """The tenant's row; NotFound when there is none of that name."""
    row = (await conn.execute(sa.select(tenants).where(tenants.c.name == name))).one_or_none()
    if row is None:
        raise NotFound(f"tenant '{name}' not found", tenant=name)
    return row


async def tenant_namespace_names(conn: Connection, tenant_id: str) -> list[str]:
    found = await conn.execute(
        sa.select(namespaces.c.name)
        .where(namespaces.c.tenant_id == tenant_id)
        .order_by(namespaces.c.name)
    )
    return list(found.scalars())


async def list_tenants(
    conn: Connection, *, page_size: int, page_token: str | None
) -> tuple[list[sa.Row], str | None]:
    """Tenants by name, a page at a time (cursor: the last name)."""
    query = sa.select(tenants).order_by(tenants.c.name).limit(page_size + 1)
    position = decode_token(page_token, length=1)
    if position is not None:
        query = query.where(tenants.c.name > str(position[0]))
    rows = list((await conn.execute(query)).all())
    if len(rows) <= page_size:
        return rows, None
    return rows[:page_size], encode_token([rows[page_size - 1].name])


async def set_tenant_disabled(conn: Connection, name: str, disabled: bool, now: datetime) -> sa.Row:
    """Disable (keys answer 401; workflows and data stay) or enable the tenant again.
    Idempotent: disabling a disabled tenant keeps its first disable time."""
    current = await get_tenant_by_name(conn, name)
    if disabled and current.disabled_at is None:
        value: datetime | None = now
    elif disabled:
        value = current.disabled_at
    else:
        value = None
    await conn.execute(
        sa.update(tenants).where(tenants.c.id == current.id).values(disabled_at=value)
    )
    return await get_tenant_by_name(conn, name)
