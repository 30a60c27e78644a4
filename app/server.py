"""The composition root: the parts of one server process, built and wired in one place.

A process holds a context (settings, database, clock, caches), the engine and its wake-ups,
the loops beside the API (app/background.py), the HTTP API (app/api/app.py) and the console
(app/console/app.py). `create_server` builds them; `perdure serve` (app/asgi.py), `perdure
dev` (app/cli.py), the OpenAPI document and the tests' servers all start from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.app import create_api, place_documentation_last
from app.api.metrics_port import MetricsListener
from app.api.routers.health import render_metrics
from app.api.shutdown import install_drain_handlers
from app.background import BackgroundLoops
from app.console.app import create_console
from app.context import ServerContext
from app.db.database import Database
from app.engine.matching.wakeups import Wakeups
from app.engine.service import Engine
from app.observability.open_files import OpenFileLimitLog
from app.settings import Environment, Settings, get_settings
from app.webhooks.endpoints import reseal_secrets


async def reseal_stored_secrets(ctx: ServerContext) -> int:
    """Seal with the current PERDURE_SECRET_KEY what is stored plain or under an older key
    (what `perdure rotate-secrets` does); returns how many webhook endpoints changed."""
    async with ctx.db.write() as conn:
        return await reseal_secrets(conn, ctx.sealer)


def create_server(settings: Settings | None = None, ctx: ServerContext | None = None) -> FastAPI:
    """One server process as an ASGI app: the API with the console mounted at /console; its
    lifespan starts the loops (as `settings.run_background_loops` says), the drain on SIGTERM
    and the metrics port, and stops them in the reverse order. `ctx`: a context made by the
    caller (tests pass one with their own database or tracer), else one from `settings`
    (default: the environment's)."""
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

    app = create_api(ctx, engine, lifespan)
    app.mount("/console", create_console(ctx, engine, app.state.limiter))
    place_documentation_last(app)
    return app
