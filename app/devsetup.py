"""What `perdure dev` ensures exists: a default tenant, namespace and a reusable admin key."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.auth.keys import hash_api_key
from app.auth.roles import Role
from app.db.connection import Connection
from app.db.tables import api_keys, namespaces, tenants
from app.engine.search_attributes import register
from app.tenancy.api_keys import create_api_key
from app.tenancy.namespaces import update_namespace
from app.tenancy.tenants import DEFAULT_NAMESPACE, create_tenant

DEV_TENANT = "default"
DEV_NAMESPACE = DEFAULT_NAMESPACE


async def _key_still_valid(conn: Connection, key: str, tenant_id: str) -> bool:
    row = (
        await conn.execute(
            sa.select(api_keys.c.id).where(
                api_keys.c.key_hash == hash_api_key(key),
                api_keys.c.tenant_id == tenant_id,
                api_keys.c.revoked_at.is_(None),
            )
        )
    ).one_or_none()
    return row is not None


async def ensure_dev_tenant(
    conn: Connection, saved_key: str | None, now: datetime
) -> tuple[str, bool]:
    """The admin key of the development tenant (the saved one while it is still valid), and
    whether it was made just now."""
    tenant_id = await conn.scalar(sa.select(tenants.c.id).where(tenants.c.name == DEV_TENANT))
    if tenant_id is None:
        tenant, _, secret = await create_tenant(conn, DEV_TENANT, now)
        tenant_id = tenant.id
        # Development: webhooks and HTTP tasks may call services on this machine.
        await update_namespace(
            conn,
            tenant_id,
            DEV_NAMESPACE,
            {
                "description": "Created by perdure dev",
                "settings": {"allow_private_network_targets": True},
            },
            now,
        )
    else:
        if saved_key and await _key_still_valid(conn, saved_key, tenant_id):
            return saved_key, False
        _, secret = await create_api_key(
            conn,
            tenant_id=tenant_id,
            name="dev",
            role=Role.ADMIN,
            namespace_names=None,
            expires_at=None,
            now=now,
        )
    return secret, True


async def register_dev_search_attributes(
    conn: Connection, wanted: dict[str, str], now: datetime
) -> None:
    """`perdure dev --search-attribute Name=Type`: register custom attributes in the development
    namespace, as `temporal server start-dev --search-attribute` does (again with the same type
    changes nothing; another type is refused with `AlreadyExists`)."""
    namespace_id = await conn.scalar(
        sa.select(namespaces.c.id)
        .join(tenants, tenants.c.id == namespaces.c.tenant_id)
        .where(tenants.c.name == DEV_TENANT, namespaces.c.name == DEV_NAMESPACE)
    )
    if namespace_id is not None and wanted:
        await register(conn, namespace_id, wanted, now)
