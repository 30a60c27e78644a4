"""Creating, listing and revoking the API keys of a tenant.

A key's scope is a list of namespace *ids*, not names: a namespace deleted and created again
under the same name is a new namespace, and keys of the old one do not reach it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.auth.keys import display_prefix, hash_api_key, new_api_key
from app.auth.roles import Role
from app.db.connection import Connection
from app.db.tables import api_keys, namespaces
from app.errors import InvalidArgument, NotFound, PermissionDenied
from app.ids import new_id
from app.pagination import decode_token, encode_token, token_time

KEY_COLUMNS = [c for c in api_keys.c if c.name != "key_hash"]
Scope = Sequence[str] | None  # namespace ids a key reaches; None: every namespace of its tenant


async def create_api_key(
    conn: Connection,
    *,
    tenant_id: str,
    name: str,
    role: Role,
    namespace_names: Sequence[str] | None,
    expires_at: datetime | None,
    now: datetime,
    creator_scope: Scope = None,
) -> tuple[sa.Row, str]:
    """Store a new key and return its row and its secret; the secret is never seen again.
    `namespace_names` (None: all) are bound to the namespaces' ids now. `creator_scope` is
    the namespace ids of the key asking (None: all); the new key cannot reach beyond them, or
    a scoped admin key could mint itself an unscoped one."""
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument("expires_at must be in the future", field="expires_at")
    namespace_ids = None
    missing: list[str] = []
    if namespace_names is not None:
        found = await _namespace_ids(conn, tenant_id, namespace_names)
        namespace_ids = sorted(found.values())
        missing = sorted(set(namespace_names) - set(found))
    # A scoped creator learns nothing of namespaces outside its scope, not even their absence.
    if missing and creator_scope is None:
        raise InvalidArgument(
            f"unknown namespace(s): {', '.join(missing)}", field="namespaces", unknown=missing
        )
    if missing or not within_scope(namespace_ids, creator_scope):
        raise PermissionDenied(
            "a key scoped to some namespaces may only create keys scoped within them",
            field="namespaces",
        )
    secret = new_api_key()
    key_id = new_id()
    await conn.execute(
        sa.insert(api_keys).values(
            id=key_id,
            tenant_id=tenant_id,
            name=name,
            role=role.value,
            namespace_ids=namespace_ids,
            key_hash=hash_api_key(secret),
            key_prefix=display_prefix(secret),
            expires_at=expires_at,
            created_at=now,
        )
    )
    return await get_api_key(conn, tenant_id, key_id), secret


async def _namespace_ids(conn: Connection, tenant_id: str, names: Sequence[str]) -> dict[str, str]:
    """The ids of those of the tenant's namespaces, by name, that exist."""
    return dict(
        (
            await conn.execute(
                sa.select(namespaces.c.name, namespaces.c.id).where(
                    namespaces.c.tenant_id == tenant_id, namespaces.c.name.in_(list(names))
                )
            )
        ).all()
    )


async def namespace_names(
    conn: Connection, tenant_id: str, rows: Sequence[sa.Row]
) -> dict[str, str]:
    """Names of the namespaces the keys' scopes hold, by id (ids of deleted namespaces are
    missing: they reach nothing)."""
    ids = {i for row in rows for i in (row.namespace_ids or ())}
    if not ids:
        return {}
    return dict(
        (
            await conn.execute(
                sa.select(namespaces.c.id, namespaces.c.name).where(
                    namespaces.c.tenant_id == tenant_id, namespaces.c.id.in_(sorted(ids))
                )
            )
        ).all()
    )


async def shown_keys(
    conn: Connection, tenant_id: str, rows: Sequence[sa.Row]
) -> list[dict[str, Any]]:
    """Keys as the API and console show them: the scope by namespace name (a deleted
    namespace is left out, as the key reaches nothing there any more)."""
    names = await namespace_names(conn, tenant_id, rows)
    return [
        {
            **row._mapping,
            "namespaces": None
            if row.namespace_ids is None
            else sorted(names[i] for i in row.namespace_ids if i in names),
        }
        for row in rows
    ]


def within_scope(key_scope: Scope, scope: Scope) -> bool:
    """Whether a key reaching `key_scope` (namespace ids; None: all) lies inside `scope`.
    A namespace-scoped admin sees and manages only keys it could have made itself."""
    if scope is None:
        return True
    return key_scope is not None and set(key_scope) <= set(scope)


async def get_api_key(conn: Connection, tenant_id: str, key_id: str, scope: Scope = None) -> sa.Row:
    row = (
        await conn.execute(
            sa.select(*KEY_COLUMNS).where(
                api_keys.c.tenant_id == tenant_id, api_keys.c.id == key_id
            )
        )
    ).one_or_none()
    if row is None or not within_scope(row.namespace_ids, scope):
        raise NotFound(f"API key '{key_id}' not found", key_id=key_id)
    return row


async def list_api_keys(
    conn: Connection,
    tenant_id: str,
    *,
    page_size: int,
    page_token: str | None,
    scope: Scope = None,
) -> tuple[list[sa.Row], str | None]:
    """Oldest first. For a scoped caller, keys outside its scope are skipped (filtered here,
    as scopes are JSON lists; pages keep their size by reading on)."""
    position = decode_token(page_token, length=2)
    found: list[sa.Row] = []
    while True:
        query = (
            sa.select(*KEY_COLUMNS)
            .where(api_keys.c.tenant_id == tenant_id)
            .order_by(api_keys.c.created_at, api_keys.c.id)
            .limit(page_size + 1)
        )
        if position is not None:
            after = token_time(position[0])
            query = query.where(
                sa.or_(
                    api_keys.c.created_at > after,
                    sa.and_(api_keys.c.created_at == after, api_keys.c.id > str(position[1])),
                )
            )
        rows = list((await conn.execute(query)).all())
        for row in rows[:page_size]:
            if within_scope(row.namespace_ids, scope):
                found.append(row)
                if len(found) == page_size:
                    more = row is not rows[-1]
                    token = encode_token([row.created_at.isoformat(), row.id]) if more else None
                    return found, token
        if len(rows) <= page_size:
            return found, None
        last = rows[page_size - 1]
        position = [last.created_at.isoformat(), last.id]


async def revoke_api_key(
    conn: Connection,
    tenant_id: str,
    key_id: str,
    now: datetime,
    scope: Scope = None,
) -> sa.Row:
    await get_api_key(conn, tenant_id, key_id, scope)
    await conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return await get_api_key(conn, tenant_id, key_id, scope)
