"""The HTTP API: routers, problem handlers, limits and metrics (built by app/server.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

from app import __version__
from app.api.deps import ClientLeft
from app.api.metrics import MetricsMiddleware, RequestMetrics
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
from app.api.tenant_limits.admission import AdmissionMiddleware, TenantGate
from app.api.tenant_limits.limiter import Limiter
from app.context import ServerContext
from app.db.database import Database
from app.engine.service import Engine
from app.observability.logs import quiet_hang_ups
from app.settings import Settings

# What starts and stops the process's other parts around the API's life (app/server.py).
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

DESCRIPTION = """REST-first, multi-tenant durable execution.

Authenticate with `Authorization: Bearer <api key>`. Each operation's security scope names the
permission it needs: `manage` (admin), `operate` (admin, operator), `work` (admin, operator,
worker), `read` (admin, operator, reader), `view` (every role). Errors are RFC 9457
`application/problem+json`.
"""


def create_api(ctx: ServerContext, engine: Engine, lifespan: Lifespan) -> FastAPI:
    """The HTTP API of a process whose parts app/server.py built: routers, problem handlers,
    limits and metrics around them. `lifespan` starts and stops what runs beside it; mount
    other apps (the console) before `place_documentation_last`."""
    settings = ctx.settings
    # Swagger UI and ReDoc from files in a package, not a CDN: /docs works on a closed network.
    app = FastAPIOffline(
        static_url="/docs/static",
        title="Perdure",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        **without_native_telemetry(),
    )
    app.state.documentation_routes = list(app.router.routes)
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
    # Innermost of these: request metrics count the time a request waited for its turn.
    app.add_middleware(AdmissionMiddleware, gate=app.state.admission)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RawPathRouting)
    if ctx.tracer_provider is not None:
        # Outermost: a span per request, continuing the caller's W3C `traceparent`.
        app.add_middleware(OpenTelemetryMiddleware, tracer_provider=ctx.tracer_provider)
    _register_problem_schema(app)
    return app


def place_documentation_last(app: FastAPI) -> None:
    """FastAPI puts its own routes (the OpenAPI document, /docs, /redoc) first, so every API
    request was tried against them before its own; their paths share nothing with the API's
    or the console's, so behind them they answer the same requests."""
    documentation = app.state.documentation_routes
    app.router.routes[:] = [
        route for route in app.router.routes if route not in documentation
    ] + documentation


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
    """Requests at work per tenant (app/api/tenant_limits/admission.py). SQLite's transactions run on
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
