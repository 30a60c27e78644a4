"""Console sessions: a random id in an HTTP-only cookie, its hash and principal in the database.

A session opened with an API key names the key and is checked against it on every request, so
revoking or expiring the key ends the session at once. A session opened through OIDC carries
the tenant, role and namespaces its claims mapped to, and the refresh token that renews them.
Every session ends at its absolute expiry, after an idle period, or at sign-out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.auth.principal import Principal, authenticate, key_principal
from app.auth.roles import Role
from app.db.connection import Connection
from app.db.tables import api_keys, console_sessions, console_sign_ins, namespaces, tenants
from app.errors import Unauthenticated
from app.ids import new_id

# Recording every request would turn page views into writes; a minute's precision is enough.
TOUCH_EVERY = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    principal: Principal
    csrf_token: str
    display_name: str
    oidc: bool
    refresh_token: str | None
    tokens_expire_at: datetime | None


async def open_session(
    conn: Connection,
    *,
    tenant_id: str,
    display_name: str,
    now: datetime,
    lifetime_seconds: float,
    api_key_id: str | None = None,
    oidc_subject: str | None = None,
    role: Role | None = None,
    namespaces: list[str] | None = None,
    refresh_token: str | None = None,
    tokens_expire_at: datetime | None = None,
) -> str:
    """Store a session and return the secret the cookie carries (only its hash is kept).
    Expired sessions and sign-ins are swept here, so the tables stay small."""
    await conn.execute(sa.delete(console_sessions).where(console_sessions.c.expires_at <= now))
    await conn.execute(sa.delete(console_sign_ins).where(console_sign_ins.c.expires_at <= now))
    token = secrets.token_urlsafe(32)
    await conn.execute(
        sa.insert(console_sessions).values(
            id=new_id(),
            token_hash=_hash(token),
            tenant_id=tenant_id,
            api_key_id=api_key_id,
            oidc_subject=oidc_subject,
            display_name=display_name[:1000],
            role=role.value if role else None,
            namespaces=namespaces,
            csrf_token=secrets.token_urlsafe(32),
            refresh_token=refresh_token,
            tokens_expire_at=tokens_expire_at,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=lifetime_seconds),
        )
    )
    return token


async def open_key_session(
    conn: Connection, key: str, now: datetime, lifetime_seconds: float
) -> str:
    """Sign in with an API key: the key is checked exactly as the API checks it, and only
    its id is kept; the key itself is never stored or sent back."""
    principal, _ = await authenticate(conn, key, now)
    lifetime = lifetime_seconds
    if principal.expires_at is not None:
        lifetime = min(lifetime, (principal.expires_at - now).total_seconds())
    return await open_session(
        conn,
        tenant_id=principal.tenant_id,
        api_key_id=principal.key_id,
        display_name=principal.key_name,
        now=now,
        lifetime_seconds=lifetime,
    )


async def load_session(
    conn: Connection, token: str | None, now: datetime, idle_seconds: float
) -> tuple[Session, bool]:
    """The session a cookie names, and whether its last-seen time is due for an update.
    Unauthenticated when it is unknown, expired, idle too long, or its key was revoked."""
    if not token:
        raise Unauthenticated("sign in to use the console")
    row = (
        await conn.execute(
            sa.select(
                console_sessions,
                tenants.c.name.label("tenant_name"),
                tenants.c.disabled_at.label("tenant_disabled_at"),
            )
            .join(tenants, tenants.c.id == console_sessions.c.tenant_id)
            .where(console_sessions.c.token_hash == _hash(token))
        )
    ).one_or_none()
    if row is None or row.expires_at <= now:
        raise Unauthenticated("the console session has ended; sign in again")
    if now - row.last_seen_at >= timedelta(seconds=idle_seconds):
        raise Unauthenticated("the console session was idle too long; sign in again")
    if row.api_key_id is not None:
        principal = await _key_principal(conn, row, now)
    else:
        if row.tenant_disabled_at is not None:
            raise Unauthenticated(f"tenant '{row.tenant_name}' is disabled")
        principal = Principal(
            tenant_id=row.tenant_id,
            tenant_name=row.tenant_name,
            key_id=f"oidc:{row.id}",
            key_name=row.display_name,
            role=Role(row.role),
            namespace_ids=await _namespace_ids(conn, row.tenant_id, row.namespaces),
        )
    session = Session(
        id=row.id,
        principal=principal,
        csrf_token=row.csrf_token,
        display_name=row.display_name,
        oidc=row.api_key_id is None,
        refresh_token=row.refresh_token,
        tokens_expire_at=row.tokens_expire_at,
    )
    return session, now - row.last_seen_at >= TOUCH_EVERY


async def _key_principal(conn: Connection, session: Any, now: datetime) -> Principal:
    key = (
        await conn.execute(sa.select(api_keys).where(api_keys.c.id == session.api_key_id))
    ).one_or_none()
    if key is None:
        raise Unauthenticated("the API key of this console session is gone; sign in again")
    return key_principal(key, session.tenant_name, session.tenant_disabled_at, now)


async def touch_session(conn: Connection, session_id: str, now: datetime) -> None:
    await conn.execute(
        sa.update(console_sessions)
        .where(console_sessions.c.id == session_id)
        .values(last_seen_at=now)
    )


async def refresh_oidc_session(
    conn: Connection,
    session_id: str,
    *,
    role: Role,
    namespaces: list[str] | None,
    refresh_token: str | None,
    tokens_expire_at: datetime | None,
) -> None:
    """Renewed tokens: the claims may have changed the role or namespaces, too."""
    await conn.execute(
        sa.update(console_sessions)
        .where(console_sessions.c.id == session_id)
        .values(
            role=role.value,
            namespaces=namespaces,
            refresh_token=refresh_token,
            tokens_expire_at=tokens_expire_at,
        )
    )


async def end_session(conn: Connection, token: str | None) -> None:
    if token:
        await conn.execute(
            sa.delete(console_sessions).where(console_sessions.c.token_hash == _hash(token))
        )


async def end_session_by_id(conn: Connection, session_id: str) -> None:
    await conn.execute(sa.delete(console_sessions).where(console_sessions.c.id == session_id))


async def _namespace_ids(
    conn: Connection, tenant_id: str, names: list[str] | None
) -> tuple[str, ...] | None:
    """The ids of the namespaces an OIDC user's claim names (claims name namespaces; a
    principal's scope is by id), or None for every namespace."""
    if names is None:
        return None
    found = await conn.execute(
        sa.select(namespaces.c.id).where(
            namespaces.c.tenant_id == tenant_id, namespaces.c.name.in_(list(names))
        )
    )
    return tuple(found.scalars())
