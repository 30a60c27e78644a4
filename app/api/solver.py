"""The API routes' dependencies and parameters, solved without FastAPI's general solver.

FastAPI solves a route's dependencies for every request by walking their tree: for each node it
solves the node's own dependencies again (cached or not), computes a cache key from security
scopes, looks up path, query, header and cookie parameters (even when it has none) and builds a
result object, inside a handler that adds its own per-request work. A namespaced route's tree
(context, engine, the caller, and under the caller the context again and the bearer
credentials) made that about 40 % of the API edge's own time per request; its one node today
(the caller, `NamespaceBearer`) still leaves most of that cost (bench/edge.py). A route whose
dependencies are all known here gets a `RoutePlan` instead, made once when the route is
built: it resolves them directly, in the order FastAPI does, and validates
parameters and body with FastAPI's own functions, so what a request gets (values, validation
errors, and which check refuses it first) is what FastAPI's handler would give.

Every other route, and every request while `app.dependency_overrides` is set (tests,
embedding), goes through FastAPI's handler. FastAPI's per-operation telemetry (its spans for
"dependencies" and "serialization") is not made for planned routes; the app turns that
telemetry off (app/api/app.py) and traces requests with its own middleware.

It reads FastAPI's private names (listed in `FASTAPI_INTERNALS`). When one is gone (a FastAPI
outside the pin), importing this module raises `EdgeSolverUnsupported`, and so does planning a
route FastAPI built without the attributes read here: the server refuses to start rather than
quietly serving every request at FastAPI's cost or, worse, solving it differently. The trade,
its figures and when this module goes: docs/adr/0001-edge-solver.md.
"""

from __future__ import annotations

import copy
import email.message
import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import annotated_types
import fastapi
import fastapi.routing
from fastapi import params
from fastapi.dependencies import utils as fastapi_dependencies
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined
from starlette.requests import Request
from starlette.responses import Response

from app.api.deps import NamespaceBearer, get_context, get_engine
from app.auth.roles import Permission


class EdgeSolverUnsupported(RuntimeError):
    """This FastAPI lacks a private name the edge solver reads: the server does not start.
    Either install the FastAPI of the pin in pyproject.toml, or follow this FastAPI's changes
    in app/api/solver.py (tests/api/test_edge_solver.py tells when the plans answer alike)."""


# The private names of FastAPI this module reads: (module, name). Public ones
# (`request_params_to_args`, `request_body_to_args`, `APIRoute.dependant`) are imported above.
FASTAPI_INTERNALS: tuple[tuple[Any, str], ...] = (
    # a parameter's request keys, and its model when parameters are grouped in one
    (fastapi_dependencies, "_get_param_aliases"),
    (fastapi_dependencies, "_get_param_model"),
    # the context of an included route, whose dependant a route's handler is built from
    (fastapi.routing, "_effective_route_context_var"),
)
# What FastAPI's `Dependant` and route carry that a plan reads.
DEPENDANT_ATTRIBUTES = (
    "call", "name", "dependencies", "path_params", "query_params", "header_params",
    "cookie_params", "body_params", "request_param_name", "response_param_name",
    "background_tasks_param_name", "security_scopes_param_name", "websocket_param_name",
    "http_connection_param_name",
)  # fmt: skip


def _internal(module: Any, name: str) -> Any:
    """`module.name`, or EdgeSolverUnsupported naming it and the FastAPI found."""
    try:
        return getattr(module, name)
    except AttributeError:
        raise EdgeSolverUnsupported(
            f"FastAPI {fastapi.__version__} has no {module.__name__}.{name}, which "
            "app/api/solver.py reads; see docs/adr/0001-edge-solver.md"
        ) from None


def check_fastapi_internals() -> None:
    """Raise EdgeSolverUnsupported when a private name this module reads is gone."""
    for module, name in FASTAPI_INTERNALS:
        _internal(module, name)


check_fastapi_internals()  # at import, that is, when the server starts: loudly, not per request


class _Kind(Enum):
    CONTEXT = "context"
    ENGINE = "engine"
    NAMESPACE_CALLER = "namespace caller"


@dataclass(frozen=True, slots=True)
class _Step:
    """One of the route's dependencies: the endpoint parameter it fills and how."""

    name: str
    kind: _Kind
    # NAMESPACE_CALLER only: its own path parameter (the namespace) and the permission its
    # security scope names.
    path_params: Sequence[_Param] = ()
    permission: Permission | None = None
    bearer: NamespaceBearer | None = None


def _takes_json(content_type: str | None) -> bool:
    """FastAPI's own test of a body's declared type (`get_request_handler`), so that a body
    reaches validation parsed, or as bytes, exactly when FastAPI's handler would pass it so."""
    if content_type == "application/json":
        return True
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


@dataclass(frozen=True, slots=True)
class _Param:
    """A path, query, header or cookie parameter, and what may be decided without FastAPI's
    validation (about 8 µs a parameter): a plain string path parameter whose length is within
    its bounds is that string; an optional parameter absent from the request is its default.
    Anything else, including every value that fails, is validated by FastAPI's
    `request_params_to_args`, which makes the errors."""

    field: Any
    name: str
    # A plain string path parameter: the key it has in the path, and its length bounds.
    path_key: str | None = None
    min_length: int = 0
    max_length: int | None = None
    # An optional parameter whose default is not validated: the keys that would carry it.
    absent_keys: tuple[str, ...] | None = None
    default: Any = None


def _param(field: Any) -> _Param:
    info = field.field_info
    plain = _Param(field, field.name)
    if isinstance(info, params.Path):
        bounds = _length_bounds(info)
        if bounds is None or info.annotation is not str:
            return plain
        return _Param(field, field.name, field.alias, *bounds)
    if info.is_required() or info.validate_default:
        return plain
    if _internal(fastapi_dependencies, "_get_param_model")(field) is not None:
        return plain
    aliases = _internal(fastapi_dependencies, "_get_param_aliases")(field)
    keys = tuple(key for _, key in aliases)
    return _Param(field, field.name, absent_keys=keys, default=info.default)


def _length_bounds(info: Any) -> tuple[int, int | None] | None:
    """(min, max) length of a parameter constrained by length alone; None otherwise."""
    low, high = 0, None
    for constraint in info.metadata:
        if isinstance(constraint, annotated_types.MinLen):
            low = constraint.min_length
        elif isinstance(constraint, annotated_types.MaxLen):
            high = constraint.max_length
        else:
            return None
    return low, high


def _solve_params(
    plan: Sequence[_Param], source: Any, values: dict[str, Any], errors: list[Any]
) -> None:
    """Each parameter's value into `values`, or its validation errors into `errors`."""
    for param in plan:
        if param.path_key is not None:
            value = source.get(param.path_key)
            if (
                type(value) is str
                and len(value) >= param.min_length
                and (param.max_length is None or len(value) <= param.max_length)
            ):
                values[param.name] = value
                continue
        elif param.absent_keys is not None and not any(k in source for k in param.absent_keys):
            values[param.name] = copy.deepcopy(param.default)  # as FastAPI does
            continue
        found, wrong = request_params_to_args([param.field], source)
        values.update(found)
        errors.extend(wrong)


class RoutePlan:
    """A route's dependencies, parameters and body, solved for each request by `run`."""

    def __init__(
        self,
        endpoint: Callable[..., Awaitable[Response]],
        steps: list[_Step],
        dependant: Any,
        embed_body_fields: bool,
    ) -> None:
        self.endpoint = endpoint
        self.steps = steps
        self.path_params = [_param(field) for field in dependant.path_params]
        self.query_params = [_param(field) for field in dependant.query_params]
        self.header_params = [_param(field) for field in dependant.header_params]
        self.cookie_params = [_param(field) for field in dependant.cookie_params]
        self.body_fields = list(dependant.body_params)
        self.request_param = dependant.request_param_name
        self.embed_body_fields = embed_body_fields

    async def run(self, request: Request) -> Response:
        """Solve, validate (RequestValidationError: every error at once, as FastAPI does),
        and answer with the endpoint's response."""
        values: dict[str, Any] = {}
        errors: list[Any] = []
        state = request.app.state
        # Dependencies first, in the endpoint's order: a caller that fails authentication is
        # refused before its body or other parameters are looked at.
        for step in self.steps:
            if step.kind is _Kind.CONTEXT:
                values[step.name] = state.ctx
            elif step.kind is _Kind.ENGINE:
                values[step.name] = state.engine
            else:
                found: dict[str, Any] = {}
                wrong: list[Any] = []
                _solve_params(step.path_params, request.path_params, found, wrong)
                if wrong:
                    errors.extend(wrong)  # FastAPI skips a dependency whose parameters fail
                    continue
                assert step.bearer is not None  # a NAMESPACE_CALLER step has its bearer
                values[step.name] = await step.bearer.caller(
                    request, found["namespace"], step.permission
                )
        for plan, source in (
            (self.path_params, "path_params"),
            (self.query_params, "query_params"),
            (self.header_params, "headers"),
            (self.cookie_params, "cookies"),
        ):
            if plan:  # the source (query string, cookies) is parsed only when needed
                _solve_params(plan, getattr(request, source), values, errors)
        body: Any = PydanticUndefined
        if self.body_fields:
            raw = await request.body()
            if raw:
                body = (
                    await request.json()
                    if _takes_json(request.headers.get("content-type"))
                    else raw
                )
            found, wrong = await request_body_to_args(
                body_fields=self.body_fields,
                received_body=body,
                embed_body_fields=self.embed_body_fields,
            )
            values.update(found)
            errors.extend(wrong)
        if self.request_param:
            values[self.request_param] = request
        if errors:
            raise RequestValidationError(errors, body=None if body is PydanticUndefined else body)
        response = await self.endpoint(**values)
        if not isinstance(response, Response):
            raise TypeError(f"{self.endpoint.__name__} returned {type(response).__name__}")
        return response


def plan_route(route: APIRoute) -> RoutePlan | None:
    """The plan of a route whose request handler FastAPI is building now (call it from
    `get_route_handler`), or None when the route needs FastAPI's handler: a dependency not
    known here, a special parameter (Response, BackgroundTasks, SecurityScopes, WebSocket),
    a synchronous or streaming endpoint, or one not declared to return a Response."""
    effective = _effective_route(route)
    dependant = effective.dependant
    embed_body_fields = getattr(effective, "_embed_body_fields", None)  # checked below
    missing = [name for name in DEPENDANT_ATTRIBUTES if not hasattr(dependant, name)]
    if missing or not isinstance(embed_body_fields, bool):
        raise EdgeSolverUnsupported(
            f"FastAPI {fastapi.__version__} builds {route.path} without what app/api/solver.py "
            f"reads ({', '.join(missing) or '_embed_body_fields'}); see "
            "docs/adr/0001-edge-solver.md"
        )
    endpoint = route.endpoint
    if not inspect.iscoroutinefunction(endpoint) or dependant.call is not endpoint:
        return None
    special = (
        "response_param_name",
        "background_tasks_param_name",
        "security_scopes_param_name",
        "websocket_param_name",
        "http_connection_param_name",
    )
    if any(getattr(dependant, name) for name in special):
        return None
    try:
        hints = typing.get_type_hints(endpoint, include_extras=True)
    except Exception:  # an annotation that does not resolve: FastAPI's handler copes
        return None
    returns = hints.get("return")
    if not (inspect.isclass(returns) and issubclass(returns, Response)):
        return None
    steps = []
    for sub in dependant.dependencies:
        step = _step(sub, hints)
        if step is None:
            return None
        steps.append(step)
    return RoutePlan(endpoint, steps, dependant, embed_body_fields)


def _effective_route(route: APIRoute) -> Any:
    """What FastAPI builds the handler from: an included route's own context (its dependant
    with the inclusion's dependencies), else the route itself (see `APIRoute.get_route_handler`)."""
    context = _internal(fastapi.routing, "_effective_route_context_var").get()
    if context is not None and getattr(context, "original_route", None) is route:
        return context
    return route


def _step(sub: Any, hints: dict[str, Any]) -> _Step | None:
    one_node = isinstance(sub.call, NamespaceBearer)
    if sub.name is None or _has_own_inputs(sub, allow_path=one_node):
        return None
    if sub.call is get_context:
        return _Step(sub.name, _Kind.CONTEXT)
    if sub.call is get_engine:
        return _Step(sub.name, _Kind.ENGINE)
    if one_node and len(sub.path_params) == 1 and not sub.dependencies:
        scopes = _security_scopes(hints.get(sub.name))
        if scopes is None or len(scopes) > 1:
            return None
        permission = Permission(scopes[0]) if scopes else None
        path_params = [_param(field) for field in sub.path_params]
        return _Step(sub.name, _Kind.NAMESPACE_CALLER, path_params, permission, sub.call)
    return None


def _has_own_inputs(sub: Any, *, allow_path: bool) -> bool:
    return bool(
        (sub.path_params and not allow_path)
        or sub.query_params
        or sub.header_params
        or sub.cookie_params
        or sub.body_params
    )


def _security_scopes(annotation: Any) -> list[str] | None:
    """The scopes of the `Security(...)` in a parameter's `Annotated[...]`; None without one."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, params.Security):
            return list(meta.scopes or [])
    return None
