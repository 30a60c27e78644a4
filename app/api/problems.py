"""Every error leaves the server as `application/problem+json` (RFC 9457), from here only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.outage import RETRY_AFTER_SECONDS, describe, is_unavailable, outages, report_failure
from app.errors import (
    Conflict,
    DeadlineExceeded,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PerdureError,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from app.observability.logs import is_hang_up

log = logging.getLogger("perdure.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details; extra members name the offending field or resource."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


_DESCRIPTIONS = {
    400: "Invalid argument",
    401: "Missing, malformed, unknown, revoked or expired API key",
    403: "The key's role does not allow this",
    404: "Not found (or not visible to this key)",
    409: "Conflict with the current state",
    413: "Payload too large (a payload, or the whole request body)",
    415: "Unsupported media type: the body is not sent as JSON (or, for definitions, YAML)",
    422: "A limit would be exceeded, or an Idempotency-Key was used by another request",
    429: "Rate limited: too many requests or long polls for this namespace or tenant; see Retry-After",
    503: "Unavailable: the database is unreachable or not migrated",
    504: "Deadline exceeded: nobody answered in time",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem answers a route can give."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, "Problem"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def document_validation_as_problem(schema: dict[str, Any]) -> None:
    """FastAPI documents request validation failures as 422 `HTTPValidationError`; this server
    answers them with 400 problems (see `_on_validation_error`), so the document must say so.
    Routes that take a body also answer 413 and 415 (app/api/edge.py)."""
    problem = {
        "description": _DESCRIPTIONS[400],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]
                responses.setdefault("400", problem)
            if "requestBody" in operation:
                # Every body passes app/api/edge.py: a size limit and a declared media type.
                for status in (413, 415):
                    responses.setdefault(
                        str(status),
                        {**problem, "description": _DESCRIPTIONS[status]},
                    )
    if "#/components/schemas/HTTPValidationError" not in str(schema.get("paths", {})):
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)


def document_rate_limits(schema: dict[str, Any]) -> None:
    """Every namespaced route may answer 429 (app/api/tenant_limits): say so once, here."""
    problem = {
        "description": _DESCRIPTIONS[429],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for path, operations in schema.get("paths", {}).items():
        if path.startswith("/api/v1/namespaces/{namespace}"):
            for operation in operations.values():
                operation.setdefault("responses", {}).setdefault("429", problem)


def problem_response(error: PerdureError, request: Request) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else None
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(retry_after)}
    return JSONResponse(
        error.to_problem(instance=request.url.path),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _field_of(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


async def _on_perdure_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PerdureError)
    if isinstance(exc, Unavailable):
        outages.report(f"{request.method} {request.url.path}: {exc.detail}")
    elif isinstance(exc, DeadlineExceeded):
        # A query or read that ran out of time: worth a look, not an error of the server's
        # (issue 28: a WARNING, whether or not its client is still there).
        log.warning("%s %s: %s", request.method, request.url.path, exc.detail)
    elif exc.status >= 500:
        log.error("server error: %s", exc.detail)
    return problem_response(exc, request)


def _message(error: dict) -> str:
    """A validation error's message without pydantic's "Value error, " (or "Assertion failed, ")
    prefix: the message our validator wrote is what the caller should read."""
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            # A body that is not JSON at all: its location is a character offset, not a field.
            "field": "body"
            if e.get("type") == "json_invalid"
            else _field_of(tuple(e.get("loc", ()))),
            "message": _message(e),
        }
        for e in exc.errors()
    ]
    summary = "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
    )
    first = errors[0]["field"] if errors else None
    return problem_response(
        InvalidArgument(summary or "invalid request", field=first, errors=errors), request
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    error: PerdureError
    if exc.status_code == 404:
        error = NotFound(f"no route for {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    elif exc.status_code in _HTTP_ERRORS:
        error = _HTTP_ERRORS[exc.status_code](detail)
    else:
        error = PerdureError(detail)
        error.status = exc.status_code
    response = problem_response(error, request)
    # Starlette's own headers matter: a 405 must name the allowed methods in `Allow`.
    response.headers.update(exc.headers or {})
    return response


# Starlette's and FastAPI's own refusals (a body that cannot be parsed, one too large, …).
_HTTP_ERRORS: dict[int, type[PerdureError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: RateLimited,
    503: Unavailable,
}


def unexpected_problem(exc: BaseException) -> PerdureError:
    """What an exception no handler knew becomes: 503 when the database went away, else 500."""
    if is_unavailable(exc):
        return Unavailable(
            f"the database is unavailable ({describe(exc)}); try again later",
            retry_after=RETRY_AFTER_SECONDS,
        )
    return PerdureError("the server failed to handle this request")


class ProblemMiddleware:
    """Answers every exception that reached it with a problem on the kept connection.

    Starlette's outermost ServerErrorMiddleware answers a 500 too, but then re-raises, and
    uvicorn closes the keep-alive connection without a word. Inside it, this middleware ends
    the matter: 503 + Retry-After when the database went away, 500 for a bug (logged with its
    traceback), and the connection stays open. Only an answer already under way cannot be
    mended; that one is left to the server to cut.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            if is_hang_up(exc):  # the client left: nobody to answer, nothing went wrong
                log.debug("%s %s: client went away", scope["method"], scope["path"])
                if started:
                    raise  # the server must cut the connection (logged at DEBUG, logs.py)
                return
            if started:
                raise
            request = Request(scope)
            report_failure(log, f"{request.method} {request.url.path}", exc)
            await problem_response(unexpected_problem(exc), request)(scope, receive, send)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PerdureError, _on_perdure_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_middleware(ProblemMiddleware)
