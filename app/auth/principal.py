"""Who is calling: resolved from an API key, checked against roles and namespace scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.auth.keys import hash_api_key, looks_like_api_key
from app.auth.roles import GRANTS, Permission, Role
from app.db.connection import Connection
from app.db.tables import api_keys, namespaces, tenants
from app.errors import NotFound, PermissionDenied, Unauthenticated

# Recording every use would turn each read into a write; a minute's precision is enough.
LAST_USED_PRECISION = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    tenant_name: str
    key_id: str
    key_name: str
    role: Role
    # Ids, not names: a namespace deleted and made again under its name is not reached.
    namespace_ids: tuple[str, ...] | None  # None: every namespace of the tenant
    expires_at: datetime | None = None

    def check_not_expired(self, now: datetime) -> None:
        if self.expires_at is not None and self.expires_at <= now:
            raise Unauthenticated("the API key has expired")

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(
                f"the {self.role.value} role may not do this (needs '{permission.value}')",
                required_permission=permission.value,
                role=self.role.value,
            )

    @property
    def all_namespaces(self) -> bool:
        return self.namespace_ids is None

    def reaches(self, namespace_id: str) -> bool:
        return self.namespace_ids is None or namespace_id in self.namespace_ids


@dataclass(frozen=True, slots=True)
class NamespaceRef:
    id: str
    name: str
    tenant_id: str
    settings: Mapping[str, Any] = field(default_factory=dict)  # its limits among them


async def authenticate(conn: Connection, key: str, now: datetime) -> tuple[Principal, bool]:
    """The principal of a key, and whether its last-used time is due for an update."""
    if not looks_like_api_key(key):
        raise Unauthenticated("the API key is malformed")
    row = (
        await conn.execute(
            sa.select(
                api_keys,
                tenants.c.name.label("tenant_name"),
                tenants.c.disabled_at.label("tenant_disabled_at"),
            )
            .join(tenants, tenants.c.id == api_keys.c.tenant_id)
            .where(api_keys.c.key_hash == hash_api_key(key))
        )
    ).one_or_none()
    if row is None:
        raise Unauthenticated("the API key is not valid")
    principal = key_principal(row, row.tenant_name, row.tenant_disabled_at, now)
    stale = row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION
    return principal, stale


def key_principal(
    key: Any, tenant_name: str, tenant_disabled_at: datetime | None, now: datetime
) -> Principal:
    """The principal of an api_keys row; Unauthenticated once it is revoked or expired, or
    its tenant is disabled."""
    if key.revoked_at is not None:
        raise Unauthenticated("the API key has been revoked")
    if tenant_disabled_at is not None:
        raise Unauthenticated(f"tenant '{tenant_name}' is disabled; ask the system administrator")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthenticated("the API key has expired")
    return Principal(
        tenant_id=key.tenant_id,
        tenant_name=tenant_name,
        key_id=key.id,
        key_name=key.name,
        role=Role(key.role),
        namespace_ids=tuple(key.namespace_ids) if key.namespace_ids is not None else None,
        expires_at=key.expires_at,
    )


async def record_key_use(conn: Connection, key_id: str, now: datetime) -> None:
    await conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


async def resolve_namespace(conn: Connection, principal: Principal, name: str) -> NamespaceRef:
    """The caller's namespace of that name. Another tenant's, or one outside the key's scope,
    is reported as missing so that existence never leaks."""
    row = (
        await conn.execute(
            sa.select(
                namespaces.c.id, namespaces.c.name, namespaces.c.tenant_id, namespaces.c.settings
            ).where(namespaces.c.tenant_id == principal.tenant_id, namespaces.c.name == name)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"namespace '{name}' not found", namespace=name)
    ref = NamespaceRef(
        id=row.id, name=row.name, tenant_id=row.tenant_id, settings=row.settings or {}
    )
    check_reaches(principal, ref)
    return ref


def check_reaches(principal: Principal, ref: NamespaceRef) -> None:
    """NotFound, worded as for a missing namespace, unless the key's scope holds it."""
    if not principal.reaches(ref.id):
        raise NotFound(f"namespace '{ref.name}' not found", namespace=ref.name)
