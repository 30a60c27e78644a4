"""Webhook endpoints of a namespace: create, read, change, rotate secrets, delete; and the
delivery log that belongs to each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import namespaces, webhook_deliveries, webhook_endpoints
from app.errors import AlreadyExists, InvalidArgument, NotFound
from app.ids import new_id
from app.pagination import decode_token, encode_token, token_time
from app.sealing import Sealer
from app.tenancy.resource_names import check_name
from app.webhooks.outbound import check_url
from app.webhooks.signing import is_valid_secret, new_secret

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CONCURRENCY = 8
# Extra headers whose values are not shown back when an endpoint is read.
CREDENTIAL_WORDS = ("authorization", "cookie", "key", "token", "secret", "password")
REDACTED = "<redacted>"
# Headers the server sets itself; an endpoint may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)


def _check(fields: dict[str, Any]) -> None:
    if "url" in fields:
        reason = check_url(fields["url"])
        if reason:
            raise InvalidArgument(f"url: {reason}", field="url")
    if (
        "secret" in fields
        and fields["secret"] is not None
        and not is_valid_secret(fields["secret"])
    ):
        raise InvalidArgument(
            "secret must be 'whsec_' followed by 24 to 64 bytes in base64", field="secret"
        )
    for name in fields.get("headers") or {}:
        if name.lower() in RESERVED_HEADERS:
            raise InvalidArgument(f"headers: '{name}' is set by the server", field="headers")


def _check_binding(row: dict[str, Any]) -> None:
    if not row["activity_types"] and not row["task_queues"]:
        raise InvalidArgument(
            "an endpoint serves some activity_types or task_queues (or both)",
            field="activity_types",
        )


def _is_credential(header: str) -> bool:
    return any(word in header.lower() for word in CREDENTIAL_WORDS)


def sealed_headers(headers: dict[str, str], sealer: Sealer) -> dict[str, str]:
    """Headers as stored: credential values sealed (app/sealing.py), the others as given."""
    return {
        name: sealer.seal(value) if _is_credential(name) else value
        for name, value in headers.items()
    }


def outgoing_headers(headers: dict[str, str], sealer: Sealer) -> dict[str, str]:
    """Headers as sent: credential values opened."""
    return {
        name: sealer.open(value) if _is_credential(name) else value
        for name, value in headers.items()
    }


async def create_endpoint(
    conn: Connection, namespace_id: str, fields: dict[str, Any], now: datetime, sealer: Sealer
) -> tuple[sa.RowMapping, str]:
    """Store an endpoint (its secret and credential headers sealed); returns its row and its
    secret (generated when not given)."""
    check_name(fields["name"])
    _check(fields)
    secret = fields.get("secret") or new_secret()
    row = {
        "id": new_id(),
        "namespace_id": namespace_id,
        "name": fields["name"],
        "url": fields["url"],
        "activity_types": sorted(set(fields.get("activity_types") or [])),
        "task_queues": sorted(set(fields.get("task_queues") or [])),
        "timeout": fields.get("timeout") or DEFAULT_TIMEOUT,
        "headers": sealed_headers(fields.get("headers") or {}, sealer),
        "enabled": fields.get("enabled", True),
        "disabled_reason": None,
        "retry_client_errors": fields.get("retry_client_errors", False),
        "max_concurrency": fields.get("max_concurrency") or DEFAULT_MAX_CONCURRENCY,
        "secret": sealer.seal(secret),
        "previous_secret": None,
        "previous_secret_expires_at": None,
        "created_at": now,
        "updated_at": now,
    }
    _check_binding(row)
    taken = await conn.scalar(
        sa.select(webhook_endpoints.c.id).where(
            webhook_endpoints.c.namespace_id == namespace_id,
            webhook_endpoints.c.name == row["name"],
        )
    )
    if taken:
        raise AlreadyExists(f"webhook '{row['name']}' already exists", webhook=row["name"])
    await conn.execute(sa.insert(webhook_endpoints), row)
    return await get_endpoint(conn, namespace_id, row["name"]), secret


async def get_endpoint(conn: Connection, namespace_id: str, name: str) -> sa.RowMapping:
    row = (
        (
            await conn.execute(
                sa.select(webhook_endpoints).where(
                    webhook_endpoints.c.namespace_id == namespace_id,
                    webhook_endpoints.c.name == name,
                )
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"webhook '{name}' not found", webhook=name)
    return row


async def list_endpoints(
    conn: Connection, namespace_id: str, *, page_size: int, page_token: str | None
) -> tuple[list[sa.RowMapping], str | None]:
    query = (
        sa.select(webhook_endpoints)
        .where(webhook_endpoints.c.namespace_id == namespace_id)
        .order_by(webhook_endpoints.c.name)
        .limit(page_size + 1)
    )
    position = decode_token(page_token, length=1)
    if position is not None:
        query = query.where(webhook_endpoints.c.name > str(position[0]))
    rows = list((await conn.execute(query)).mappings())
    if len(rows) <= page_size:
        return rows, None
    return rows[:page_size], encode_token([rows[page_size - 1]["name"]])


async def update_endpoint(
    conn: Connection,
    namespace_id: str,
    name: str,
    changes: dict[str, Any],
    now: datetime,
    sealer: Sealer,
) -> sa.RowMapping:
    current = await get_endpoint(conn, namespace_id, name)
    _check(changes)
    values = {k: v for k, v in changes.items() if v is not None}  # null: leave as it is
    if "headers" in values:
        values["headers"] = sealed_headers(values["headers"], sealer)
    for key in ("activity_types", "task_queues"):
        if changes.get(key) is not None:
            values[key] = sorted(set(changes[key]))
    if values.get("enabled"):
        values["disabled_reason"] = None
    elif values.get("enabled") is False:
        values["disabled_reason"] = "disabled by hand"
    _check_binding({**current, **values})
    values["updated_at"] = now
    await conn.execute(
        sa.update(webhook_endpoints).where(webhook_endpoints.c.id == current["id"]).values(values)
    )
    return await get_endpoint(conn, namespace_id, name)


async def rotate_secret(
    conn: Connection,
    namespace_id: str,
    name: str,
    now: datetime,
    *,
    secret: str | None,
    grace_seconds: float,
    sealer: Sealer,
) -> tuple[sa.RowMapping, str]:
    """A new secret signs from now on; the old one also signs until the grace period ends."""
    current = await get_endpoint(conn, namespace_id, name)
    _check({"secret": secret})
    secret = secret or new_secret()
    await conn.execute(
        sa.update(webhook_endpoints)
        .where(webhook_endpoints.c.id == current["id"])
        .values(
            secret=sealer.seal(secret),
            previous_secret=current["secret"] if grace_seconds > 0 else None,
            previous_secret_expires_at=(
                now + timedelta(seconds=grace_seconds) if grace_seconds > 0 else None
            ),
            updated_at=now,
        )
    )
    return await get_endpoint(conn, namespace_id, name), secret


async def disable_endpoint(conn: Connection, endpoint_id: str, reason: str, now: datetime) -> None:
    await conn.execute(
        sa.update(webhook_endpoints)
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )


async def delete_endpoint(conn: Connection, namespace_id: str, name: str) -> None:
    current = await get_endpoint(conn, namespace_id, name)
    await conn.execute(
        sa.delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == current["id"])
    )
    await conn.execute(sa.delete(webhook_endpoints).where(webhook_endpoints.c.id == current["id"]))


def redacted_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header values as readers may see them: credentials are not shown back."""
    return {name: REDACTED if _is_credential(name) else value for name, value in headers.items()}


def signing_secrets(endpoint: Any, now: datetime, sealer: Sealer) -> list[str]:
    """The secrets a message is signed with now: the current one, and the previous one while
    its grace period lasts."""
    found = [sealer.open(endpoint["secret"])]
    expires = endpoint["previous_secret_expires_at"]
    if endpoint["previous_secret"] and expires is not None and expires > now:
        found.append(sealer.open(endpoint["previous_secret"]))
    return found


async def reseal_secrets(conn: Connection, sealer: Sealer) -> int:
    """Seal with the current key every stored secret that is not (plain values from before
    sealing, or sealed with a previous key); returns how many endpoints changed."""
    changed = 0
    rows = (
        await conn.execute(
            sa.select(
                webhook_endpoints.c.id,
                webhook_endpoints.c.secret,
                webhook_endpoints.c.previous_secret,
                webhook_endpoints.c.headers,
            )
        )
    ).all()
    for row in rows:
        values = {
            "secret": sealer.reseal(row.secret),
            "previous_secret": row.previous_secret and sealer.reseal(row.previous_secret),
            "headers": {
                name: sealer.reseal(value) if _is_credential(name) else value
                for name, value in row.headers.items()
            },
        }
        if values != {
            "secret": row.secret,
            "previous_secret": row.previous_secret,
            "headers": row.headers,
        }:
            await conn.execute(
                sa.update(webhook_endpoints).where(webhook_endpoints.c.id == row.id).values(values)
            )
            changed += 1
    return changed


async def enabled_endpoints(conn: Connection) -> list[sa.RowMapping]:
    """Every enabled endpoint, with its namespace's settings (for the outbound policy)."""
    return list(
        (
            await conn.execute(
                sa.select(
                    webhook_endpoints,
                    namespaces.c.name.label("namespace_name"),
                    namespaces.c.settings.label("namespace_settings"),
                )
                .join(namespaces, namespaces.c.id == webhook_endpoints.c.namespace_id)
                .where(webhook_endpoints.c.enabled.is_(True))
                .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
            )
        ).mappings()
    )


async def namespace_settings(conn: Connection, namespace_id: str) -> dict[str, Any]:
    return (
        await conn.scalar(sa.select(namespaces.c.settings).where(namespaces.c.id == namespace_id))
        or {}
    )


# -- the delivery log ------------------------------------------------------------------------

DELIVERY_COLUMNS = [c for c in webhook_deliveries.c if c.name != "request_body"]


async def list_deliveries(
    conn: Connection, endpoint_id: str, *, page_size: int, page_token: str | None
) -> tuple[list[sa.RowMapping], str | None]:
    """Newest first (served by ix_webhook_deliveries_endpoint_id)."""
    query = (
        sa.select(*DELIVERY_COLUMNS)
        .where(webhook_deliveries.c.endpoint_id == endpoint_id)
        .order_by(webhook_deliveries.c.started_at.desc(), webhook_deliveries.c.id.desc())
        .limit(page_size + 1)
    )
    position = decode_token(page_token, length=2)
    if position is not None:
        before = token_time(position[0])
        query = query.where(
            sa.or_(
                webhook_deliveries.c.started_at < before,
                sa.and_(
                    webhook_deliveries.c.started_at == before,
                    webhook_deliveries.c.id < str(position[1]),
                ),
            )
        )
    rows = list((await conn.execute(query)).mappings())
    if len(rows) <= page_size:
        return rows, None
    last = rows[page_size - 1]
    return rows[:page_size], encode_token([last["started_at"].isoformat(), last["id"]])


async def get_delivery(conn: Connection, endpoint_id: str, delivery_id: str) -> sa.RowMapping:
    row = (
        (
            await conn.execute(
                sa.select(webhook_deliveries).where(
                    webhook_deliveries.c.endpoint_id == endpoint_id,
                    webhook_deliveries.c.id == delivery_id,
                )
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"delivery '{delivery_id}' not found", delivery=delivery_id)
    return row


async def delete_namespace_webhooks(conn: Connection, namespace_id: str) -> None:
    await conn.execute(
        sa.delete(webhook_deliveries).where(webhook_deliveries.c.namespace_id == namespace_id)
    )
    await conn.execute(
        sa.delete(webhook_endpoints).where(webhook_endpoints.c.namespace_id == namespace_id)
    )
