"""The console application, mounted at /console by app.api.app.

It is its own small FastAPI app so that its pages stay out of openapi.json and its errors are
pages, not problem documents: a signed-out browser is sent to the sign-in page, and refusals
(403, 404, 400) are shown with the same detail the API's problem would carry.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.tenant_limits.limiter import Limiter
from app.console.views import (
    batches,
    deployments,
    limits,
    operator,
    resources,
    schedules,
    sign_in,
    tenancy,
    updates,
    workflows,
)
from app.console.web import render
from app.context import ServerContext
from app.engine.service import Engine
from app.errors import PerdureError, Unauthenticated


class ServerTiming:
    """Adds `Server-Timing: app;dur=<ms>` to every console answer: the time until its headers,
    which for a page is the whole of its server work (bench/console.py reads it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                message.setdefault("headers", []).append(
                    (b"server-timing", f"app;dur={elapsed:.2f}".encode())
                )
            await send(message)

        await self.app(scope, receive, timed_send)


def create_console(ctx: ServerContext, engine: Engine, limiter: Limiter) -> FastAPI:
    """The console app; `limiter` is the API's, so that a page's event stream counts against
    the same held-wait caps as one opened with a key."""
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.add_middleware(ServerTiming)
    console.state.ctx = ctx
    console.state.engine = engine
    console.state.limiter = limiter
    console.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (
        sign_in,
        tenancy,
        workflows,
        operator,
        updates,
        schedules,
        batches,
        resources,
        deployments,
        limits,
    ):
        console.include_router(module.router)

    @console.exception_handler(PerdureError)
    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PerdureError)
        if isinstance(exc, Unauthenticated):
            target = "/console/sign-in?next=" + quote(request.url.path)
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": target})
            if request.method == "GET":
                return RedirectResponse(target, status_code=303)
        return render(
            request, "error.html", None, status_code=exc.status, error=exc, title=exc.title
        )

    @console.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
            for e in exc.errors()
        )
        error = PerdureError(detail or "invalid request")
        return render(
            request, "error.html", None, status_code=400, error=error, title="Invalid request"
        )

    @console.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = PerdureError(str(exc.detail))
        return render(
            request, "error.html", None, status_code=exc.status_code, error=error, title="Error"
        )

    return console
