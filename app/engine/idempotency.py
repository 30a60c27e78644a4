"""Request ids: a retried start, signal, cancel or terminate is answered as the first one was.

A request id (the `Idempotency-Key` header, or Temporal's `request_id` field) is bound to the
request that first used it by a fingerprint of its operation, workflow id and body. It is
claimed and recorded in the transaction that does the work, so a request that committed is
never done again, and one that failed left nothing to find. The same id with another fingerprint is
refused (422, as the IETF httpapi-idempotency-key draft says). Ids are kept for at least
`ttl` seconds and, beyond that, as long as the run they reached is open: Temporal keeps a run's
signal request ids in its mutable state for the run's whole life.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.tables import idempotency_keys, workflow_runs
from app.engine.events import RunStatus
from app.engine.transition import Run, Transition
from app.errors import IdempotencyKeyReused

# Expired ids deleted per transaction by the cleanup (the deadline loop's retention pass).
FORGET_BATCH = 1000


@dataclass(frozen=True, slots=True)
class RequestKey:
    key: str
    fingerprint: str  # SHA-256 hex of what the request asks for
    ttl: float  # seconds the key is kept at least


def fingerprint(operation: str, workflow_id: str, name: str | None, body: Any) -> str:
    """SHA-256 of the request's meaning: operation, workflow id, signal name and body (as
    canonical JSON, keys sorted), so that the same request sent again matches byte for byte."""
    canonical = orjson.dumps(
        [operation, workflow_id, name, body], option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class Recalled:
    workflow_id: str
    run_id: str


async def recall(tx: Transition, namespace_id: str, request: RequestKey) -> Recalled | None:
    """The run the first request with this id reached, when this is that request again;
    raises IdempotencyKeyReused when the id was used for another request. Otherwise the id is
    claimed for this request at once: a copy of it racing on PostgreSQL waits on the claim
    until this transaction commits, then fails on the primary key, is retried (as every
    transition is on 23505), and finds the id. Call `remember` once the work is done."""
    await tx.flush()  # an id recorded earlier in this transaction must be seen
    where = (idempotency_keys.c.namespace_id == namespace_id, idempotency_keys.c.key == request.key)
    row = (
        await tx.conn.execute(
            sa.select(
                idempotency_keys.c.fingerprint,
                idempotency_keys.c.operation,
                idempotency_keys.c.workflow_id,
                idempotency_keys.c.run_id,
            ).where(*where)
        )
    ).one_or_none()
    if row is None:
        await tx.conn.execute(
            sa.insert(idempotency_keys).values(
                namespace_id=namespace_id,
                key=request.key,
                fingerprint=request.fingerprint,
                operation="",
                workflow_id="",
                run_id="",
                created_at=tx.now,
                expires_at=tx.now + timedelta(seconds=request.ttl),
            )
        )
        return None
    if row.fingerprint != request.fingerprint:
        raise IdempotencyKeyReused(
            f"the request id '{request.key}' was used by another request "
            f"({row.operation} of workflow '{row.workflow_id}'); send a new one for a new request",
            idempotency_key=request.key,
        )
    return Recalled(workflow_id=row.workflow_id, run_id=row.run_id)


async def remember(
    tx: Transition, namespace_id: str, request: RequestKey, operation: str, run: Run
) -> None:
    """Record, on the id `recall` claimed, the run its request reached."""
    await tx.conn.execute(
        sa.update(idempotency_keys)
        .where(
            idempotency_keys.c.namespace_id == namespace_id, idempotency_keys.c.key == request.key
        )
        .values(operation=operation, workflow_id=run.workflow_id, run_id=run.id)
    )


async def forget_expired(tx: Transition) -> int:
    """Delete up to FORGET_BATCH keys past their time whose run is no longer open; returns how
    many (call again while it returns FORGET_BATCH)."""
    open_run = sa.exists().where(
        workflow_runs.c.id == idempotency_keys.c.run_id,
        workflow_runs.c.status == RunStatus.RUNNING.value,
    )
    # Served by ix_idempotency_keys_expires_at.
    due = (
        sa.select(idempotency_keys.c.namespace_id, idempotency_keys.c.key)
        .where(idempotency_keys.c.expires_at < tx.now, ~open_run)
        .limit(FORGET_BATCH)
    )
    keys = (await tx.conn.execute(due)).all()
    if not keys:
        return 0
    await tx.conn.execute(
        sa.delete(idempotency_keys).where(
            sa.tuple_(idempotency_keys.c.namespace_id, idempotency_keys.c.key).in_(
                [tuple(k) for k in keys]
            )
        )
    )
    return len(keys)
