"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from typing import Any

import sqlalchemy as sa
from fastapi import Request, Response
from pydantic import BaseModel

from app.api.deps import Context
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.db.migrate import current_revision, head_revision
from app.db.outage import RETRY_AFTER_SECONDS
from app.errors import NotFound, Unauthenticated, Unavailable
from app.observability.metrics import refresh_gauges
from app.settings import Environment

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


async def render_metrics(app: Any) -> Response:
    """The Prometheus text of this process (gauges refreshed first)."""
    ctx = app.state.ctx
    await refresh_gauges(ctx.metrics, ctx.db, app.state.engine.wakeups.queue_waiters())
    response: Response = app.state.metrics.render()
    return response


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="In development, open. In production, only with `Authorization: Bearer "
    "<PERDURE_METRICS_TOKEN>` when that is set (else 404): scrape PERDURE_METRICS_PORT instead.",
    response_class=Response,
    responses=problem_responses(401, 404),
)
async def metrics(request: Request, ctx: Context) -> Response:
    settings = ctx.settings
    if settings.environment == Environment.PRODUCTION:
        token = settings.metrics_token
        if not token:
            raise NotFound(
                f"metrics are served on port {settings.metrics_port} (PERDURE_METRICS_PORT), "
                "or here with PERDURE_METRICS_TOKEN"
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthenticated("/metrics needs 'Authorization: Bearer <PERDURE_METRICS_TOKEN>'")
    return await render_metrics(request.app)
