"""The FastAPI application: routers, problem handlers, metrics, and the process lifespan."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

from app import __version__
from app.api.deps import ClientLeft
from app.api.limits.admission import AdmissionMiddleware, TenantGate
from app.api.limits.limiter import Limiter
from app.api.metrics import MetricsMiddleware, RequestMetrics
from app.api.metrics_port import MetricsListener
from app.api.problems import (
    Problem,
    document_rate_limits,
    document_validation_as_problem,
    install_problem_handlers,
)
from app.api.raw_paths import RawPathRouting
from app.api.routers import (
    api_keys,
    batch_operations,
    definition_aliases,
    definitions,
    dev_clock,
    flow_control,
    health,
    me,
    namespaces,
    operator,
    replay_checks,
    schedules,
    search_attributes,
    tasks,
    tenants,
    updates,
    webhooks,
    worker_deployments,
    workflow_options,
    workflows,
)
from app.api.routers.health import render_metrics
from app.api.shutdown import install_drain_handlers
from app.background import BackgroundLoops
from app.console.app import create_console
from app.context import ServerContext
from app.db.database import Database
from app.engine.matching.wakeups import Wakeups
from app.engine.service import Engine
from app.observability.logs import quiet_hang_ups
from app.observability.open_files import OpenFileLimitLog
from app.settings import Environment, Settings, get_settings
from app.webhooks.endpoints import reseal_secrets


async def reseal_stored_secrets(ctx: ServerContext) -> int:
    """Seal with the current PERDURE_SECRET_KEY what is stored plain or under an older key
    (what `perdure rotate-secrets` does); returns how many webhook endpoints changed."""
    async with ctx.db.write() as conn:
        return await reseal_secrets(conn, ctx.sealer)


DESCRIPTION = """REST-first, multi-tenant durable execution.

Authenticate with `Authorization: Bearer <api key>`. Each operation's security scope names the
permission it needs: `manage` (admin), `operate` (admin, operator), `work` (admin, operator,
worker), `read` (admin, operator, reader), `view` (every role). Errors are RFC 9457
`application/problem+json`.
"""


def create_app(settings: Settings | None = None, ctx: ServerContext | None = None) -> FastAPI:
    settings = settings or (ctx.settings if ctx else get_settings())
    ctx = ctx or ServerContext(
        settings=settings,
        db=Database(settings.database_url, hot_statements=settings.hot_statements),
    )

    wakeups = Wakeups()
    engine = Engine(ctx, wakeups)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await reseal_stored_secrets(ctx)
        background = BackgroundLoops(ctx, engine, wakeups)
        await background.start()
        restore_signals = install_drain_handlers(
            engine.begin_drain, ctx.settings.shutdown_grace_seconds
        )
        open_files = OpenFileLimitLog()
        open_files.install(asyncio.get_running_loop())
        metrics_listener = None
        if settings.environment == Environment.PRODUCTION and settings.metrics_port:
            metrics_listener = MetricsListener(
                lambda: render_metrics(app), settings.host, settings.metrics_port
            )
            await metrics_listener.start()
        try:
            yield
        finally:
            open_files.uninstall()
            if metrics_listener is not None:
                await metrics_listener.stop()
            restore_signals()
            engine.begin_drain()  # also when stopped without a signal (tests, embedding)
            await background.stop()
            await engine.pollers.close()
            await engine.waits.close()
            await ctx.db.dispose()

    # Swagger UI and ReDoc from files in a package, not a CDN: /docs works on a closed network.
    app = FastAPIOffline(
        static_url="/docs/static",
        title="Perdure",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        **without_native_telemetry(),
    )
    documentation_routes = list(app.router.routes)
    app.state.ctx = ctx
    app.state.engine = engine
    app.state.metrics = RequestMetrics(ctx.metrics_registry)
    app.state.limiter = Limiter(settings)
    app.state.admission = tenant_gate(settings, ctx.db)
    install_problem_handlers(app)
    quiet_hang_ups()
    app.add_exception_handler(ClientLeft, _client_left)
    # Routes are matched one pattern after another in the order they are included: the
    # workers' and the workflows' routes, which carry nearly every request, are tried first.
    for module in (
        tasks,
        workflows,
        updates,
        health,
        tenants,
        namespaces,
        api_keys,
        me,
        definitions,
        definition_aliases,
        webhooks,
        schedules,
        search_attributes,
        batch_operations,
        flow_control,
        worker_deployments,
        dev_clock,
        operator,
        replay_checks,
        workflow_options,
    ):
        app.include_router(module.router)
    app.mount("/console", create_console(ctx, engine, app.state.limiter))
    # FastAPI puts its own routes (the OpenAPI document, /docs, /redoc) first, so every API
    # request was tried against them before its own; their paths share nothing with the API's
    # or the console's, so behind them they answer the same requests.
    app.router.routes[:] = [
        route for route in app.router.routes if route not in documentation_routes
    ] + documentation_routes
    # Innermost of these: request metrics count the time a request waited for its turn.
    app.add_middleware(AdmissionMiddleware, gate=app.state.admission)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RawPathRouting)
    if ctx.tracer_provider is not None:
        # Outermost: a span per request, continuing the caller's W3C `traceparent`.
        app.add_middleware(OpenTelemetryMiddleware, tracer_provider=ctx.tracer_provider)
    _register_problem_schema(app)
    return app


async def _client_left(request: Request, exc: Exception) -> Response:
    """A waiting caller hung up: 499 (nginx's "client closed request"), which nobody reads
    but the request log shows."""
    return Response(status_code=499)


def without_native_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry instrumentation, off (where this FastAPI has it). Perdure
    traces requests with its own middleware (PERDURE_OTLP_ENDPOINT) and counts them in its
    own metrics; FastAPI's would only add to that if a global OpenTelemetry provider were
    set, and finding out whether one is cost every request a few microseconds."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def tenant_gate(settings: Settings, db: Database) -> TenantGate:
    """Requests at work per tenant (app/api/limits/admission.py). SQLite's transactions run on
    the event loop, one at a time, so more requests at work would only wait; PostgreSQL's wait
    on the network, and a tenant alone needs more at once to keep its connections busy."""
    at_work = settings.tenant_requests_at_work or (2 if db.is_sqlite else 16)
    shared = min(settings.tenant_shared_requests_at_work, at_work)
    return TenantGate(at_work, max(at_work, settings.tenant_max_requests_in_flight), shared)


def _register_problem_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            Problem.model_json_schema()
        )
        document_validation_as_problem(schema)
        document_rate_limits(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
