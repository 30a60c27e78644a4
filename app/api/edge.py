"""What every API request passes before its route runs: bounded bodies, JSON by declared type
only, strict JSON, and the id/name character rule for path and query parameters.

Routers use `EdgeRoute` as their route class. A route with a JSON body answers 415 to a body
sent without `Content-Type: application/json` (or `application/*+json`), 413 past the request
size limit, and 400 to JSON that `app.strict_json` refuses. Big bodies are parsed on a worker
thread (a few at a time) so that one request cannot hold the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from fastapi import Request, Response
from fastapi.routing import APIRoute, APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from app import strict_json
from app.allowed_characters import name_problem, text_problem
from app.api.raw_paths import decode_path_params
from app.api.solver import plan_route
from app.errors import InvalidArgument, PayloadTooLarge, UnsupportedMediaType

JSON_MEDIA_TYPE = "application/json"
# Bodies up to this size are parsed on the event loop: a thread hop costs more than the parse.
INLINE_PARSE_BYTES = 64 * 1024
# Parses running on worker threads at once; more requests wait for a turn.
PARSE_THREADS = 2
_parse_limiter: anyio.CapacityLimiter | None = None


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """The declared media type (lower case) and its parameters; ("", {}) when none."""
    header = request.headers.get("content-type", "")
    kind, _, rest = header.partition(";")
    params: dict[str, str] = {}
    for part in rest.split(";"):
        key, _, value = part.partition("=")
        if key.strip():
            params[key.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), params


def is_json(kind: str) -> bool:
    return kind == JSON_MEDIA_TYPE or (kind.startswith("application/") and kind.endswith("+json"))


def require_utf8(params: dict[str, str]) -> None:
    charset = params.get("charset")
    if charset is not None and charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"request bodies are UTF-8; charset={charset} is not accepted",
            field="Content-Type",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes (before it is all
    read when Content-Length says so).

    Not FastAPI's `max_body_size`, which the pinned FastAPI 0.165 has (Starlette 1.10's
    `RequestBodyLimitMiddleware` beneath): that limiter answers a body whose Content-Length is
    past the limit with its own plain-text 413, replacing whatever the app sends, so that
    refusal could not be a problem+json (tests/api/test_hostile_inputs.py). Use it when
    Starlette lets the app shape that answer."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body has more than {limit} bytes (at least {size})",
        field="body",
        limit=limit,
    )


async def off_loop(work: Callable[[], Any], size: int) -> Any:
    """Run CPU-bound parsing of `size` bytes inline when small, else on a bounded worker thread."""
    global _parse_limiter
    if size <= INLINE_PARSE_BYTES:
        return work()
    if _parse_limiter is None:
        _parse_limiter = anyio.CapacityLimiter(PARSE_THREADS)
    return await anyio.to_thread.run_sync(work, limiter=_parse_limiter)


FREE_TEXT_PARAMETERS = frozenset({"query"})


def check_parameters(request: Request) -> None:
    """Path and query parameters are ids, names, filters or tokens: the name rule applies."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and (problem := name_problem(value)):
            raise InvalidArgument(f"{name} {problem}", field=name)
    if not request.scope.get("query_string"):
        return  # nothing to parse (most requests: parsing an empty query string still costs)
    for name, value in request.query_params.multi_items():
        # A visibility query is free text: it may span lines (the list filter's whitespace).
        problem = text_problem(value) if name in FREE_TEXT_PARAMETERS else name_problem(value)
        if problem:
            raise InvalidArgument(f"{name} {problem}", field=name)


class EdgeRequest(Request):
    """A request whose body is read within the server's size limit and whose JSON was parsed
    strictly before FastAPI asks for it."""

    _parsed: Any

    def _limit(self) -> int:
        return int(self.app.state.ctx.settings.max_request_bytes)

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            self._body = await read_body(self, self._limit())
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_parsed"):
            raw = await self.body()
            self._parsed = await off_loop(lambda: strict_json.parse(raw), len(raw))
        return self._parsed

    async def load_json_body(self) -> None:
        """Check the declared type and parse a non-empty body (415, 413, 400)."""
        raw = await self.body()
        if not raw:
            return
        kind, params = media_type(self)
        if not is_json(kind):
            shown = f"'{kind}'" if kind else "no Content-Type"
            raise UnsupportedMediaType(
                f"this route takes JSON: send 'Content-Type: application/json' (got {shown})",
                field="Content-Type",
            )
        require_utf8(params)
        await self.json()


class EdgeRoute(APIRoute):
    """The route class of every API router (see the module docstring). A route whose
    dependencies app/api/solver.py knows is solved by its plan, not by FastAPI's solver."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # Most routes FastAPI tries do not fit the path: say so from the path pattern alone
        # (the pattern FastAPI's route context has too, see `EdgeRouter`); a fitting one is
        # matched by FastAPI.
        if scope["type"] == "http" and self.path_regex.match(get_route_path(scope)) is None:
            return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        plan = plan_route(self)
        takes_json = self.body_field is not None

        async def edge_handler(request: Request) -> Response:
            edge = EdgeRequest(request.scope, request.receive)
            check_parameters(edge)
            decode_path_params(edge.scope)
            if takes_json:
                await edge.load_json_body()
            if plan is None or edge.app.dependency_overrides:
                return await handler(edge)
            return await plan.run(edge)

        return edge_handler


class EdgeRouter(APIRouter):
    """The API's routers: `EdgeRoute` routes, and a quick answer to "is this path yours?".

    FastAPI asks each included router in turn whether it has a request's route, and a router
    answers by trying its routes one by one through FastAPI's route contexts (about a
    microsecond each), then tries them again to handle the request: a workflow's request was
    tried against every worker route first. The question only wants a yes (FULL), a "yes, but
    not this method" (PARTIAL: 405) or a no, so a router of plain API routes answers it from its
    routes' own path patterns and methods, as FastAPI's route contexts would; FastAPI's matching
    then chooses the route as before. The patterns are the request's paths because the app
    includes its routers without a prefix (app/api/app.py).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", EdgeRoute)
        super().__init__(**kwargs)
        # (how many routes the patterns were taken from, (pattern, methods) of each route, or
        # None when a route is not a plain API route)
        self._patterns: tuple[int, list[tuple[re.Pattern[str], set[str]]] | None] = (-1, None)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        patterns = self._route_patterns()
        if patterns is None or scope["type"] != "http":
            return super().matches(scope)
        path = get_route_path(scope)
        partial = False
        for pattern, methods in patterns:
            if pattern.match(path):
                if not methods or scope["method"] in methods:
                    return Match.FULL, {}
                partial = True
        # The inclusion that asks keeps only the kind of match, not the scope (FastAPI's
        # `_IncludedRouter.matches`); it finds the route again when it handles the request.
        return (Match.PARTIAL if partial else Match.NONE), {}

    def _route_patterns(self) -> list[tuple[re.Pattern[str], set[str]]] | None:
        count, patterns = self._patterns
        if count != len(self.routes):
            # Only plain API routes: a mount or an included router matches more than its pattern.
            plain = all(isinstance(route, APIRoute) for route in self.routes)
            patterns = (
                [
                    (route.path_regex, route.methods or set())
                    for route in self.routes
                    if isinstance(route, APIRoute)
                ]
                if plain
                else None
            )
            self._patterns = (len(self.routes), patterns)
        return patterns
