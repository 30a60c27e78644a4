"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Request, Response
from pydantic import BaseModel

from app.api.deps import Context
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.db.migrate import current_revision, head_revision
from app.db.outage import RETRY_AFTER_SECONDS
from app.errors import Unavailable
from app.observability.metrics import refresh_gauges

router = EdgeRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    schema_revision: str


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The database is reachable and migrated",
    responses=problem_responses(503),
)
async def readyz(ctx: Context, request: Request) -> Readiness:
    if request.app.state.engine.wakeups.draining:
        raise Unavailable("the server is shutting down")
    try:
        async with ctx.db.read() as conn:
            await conn.execute(sa.text("SELECT 1"))
            revision = await current_revision(conn)
    except Exception as exc:  # any driver error means "not ready", with the reason
        raise Unavailable(
            f"database unreachable: {exc.__class__.__name__}", retry_after=RETRY_AFTER_SECONDS
        ) from exc
    if revision != head_revision():
        raise Unavailable(
            f"database schema is at {revision or 'nothing'}, expected {head_revision()}: run 'perdure migrate'",
            retry_after=RETRY_AFTER_SECONDS,
        )
    return Readiness(status="ready", database=ctx.db.dialect, schema_revision=revision)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, ctx: Context) -> Response:
    engine = request.app.state.engine
    await refresh_gauges(ctx.metrics, ctx.db, engine.wakeups.queue_waiters())
    return request.app.state.metrics.render()
