"""Typed dependencies: the server context, the authenticated caller and its namespace.

Authorization happens here and only here. A route states the permission it needs as the
security scope of its dependency, so every operation's role requirement shows in OpenAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from app.api.tenant_limits.admission import TenantGate
from app.api.tenant_limits.limiter import KIND_OF_PERMISSION, Limiter
from app.auth.principal import (
    NamespaceRef,
    Principal,
    authenticate,
    check_reaches,
    record_key_use,
    resolve_namespace,
)
from app.auth.roles import Permission
from app.context import ServerContext
from app.db.fairness import work_share
from app.engine.service import Engine
from app.errors import Unauthenticated

T = TypeVar("T")

BEARER_DESCRIPTION = "An API key (`pdk_…`) or, for tenant creation, the admin token."
bearer = HTTPBearer(auto_error=False, description=BEARER_DESCRIPTION)


async def get_context(request: Request) -> ServerContext:
    return request.app.state.ctx


Context = Annotated[ServerContext, Depends(get_context)]


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def _bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthenticated("send 'Authorization: Bearer <api key>'")
    return credentials.credentials.strip()


async def _authenticate(
    ctx: ServerContext, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    token = _bearer_token(credentials)
    now = ctx.clock.now()
    cached = ctx.auth_cache.principal(token)
    if cached is not None:
        cached.check_not_expired(now)
        work_share.set(cached.tenant_id)
        return cached
    async with ctx.db.read() as conn:
        principal, stale = await authenticate(conn, token, now)
    if stale:
        async with ctx.db.write() as conn:
            await record_key_use(conn, principal.key_id, now)
    ctx.auth_cache.remember_principal(token, principal)
    work_share.set(principal.tenant_id)  # the database is shared fairly between tenants
    return principal


def _permission(scopes: SecurityScopes) -> Permission | None:
    return Permission(scopes.scopes[0]) if scopes.scopes else None


async def get_principal(
    scopes: SecurityScopes,
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    principal = await _authenticate(ctx, credentials)
    permission = _permission(scopes)
    if permission is not None:
        principal.require(permission)
    return principal


@dataclass(frozen=True, slots=True)
class NamespaceCaller:
    """Who calls a namespaced route, in which namespace, and what serves the call: the
    process's context and engine come with the caller, so that a route's one dependency is
    its caller (see `NamespaceBearer`)."""

    principal: Principal
    namespace: NamespaceRef
    ctx: ServerContext
    engine: Engine


class NamespaceBearer(HTTPBearer):
    """The caller of a namespaced route as one dependency node: the bearer scheme itself,
    reading the route's `namespace` path parameter and the permission its security scope names.

    Airflow's execution API does the same (`JWTBearer(HTTPBearer)` reads the path's task id
    itself): FastAPI then solves one node for a namespaced route instead of six (the context,
    the engine, the caller and under it the context again, the credentials and the path
    parameter); a node costs FastAPI tens of microseconds a request whatever it does
    (docs/adr/0001-edge-solver.md, `bench/edge.py`). The scheme keeps the
    name `HTTPBearer`, so the OpenAPI document is what it was.
    """

    def __init__(self) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer", description=BEARER_DESCRIPTION)

    async def __call__(  # type: ignore[override]  # a dependency of FastAPI: its own parameters
        self,
        request: Request,
        scopes: SecurityScopes,
        namespace: Annotated[str, Path(description="Namespace name", max_length=200)],
    ) -> NamespaceCaller:
        return await self.caller(request, namespace, _permission(scopes))

    async def caller(
        self, request: Request, namespace: str, permission: Permission | None
    ) -> NamespaceCaller:
        """The caller once the namespace is validated (what the edge solver calls)."""
        credentials = await HTTPBearer.__call__(self, request)
        return await namespace_caller(
            request, request.app.state.ctx, credentials, namespace, permission
        )


namespace_bearer = NamespaceBearer()


async def namespace_caller(
    request: Request,
    ctx: ServerContext,
    credentials: HTTPAuthorizationCredentials | None,
    namespace: str,
    permission: Permission | None,
) -> NamespaceCaller:
    """The caller of a namespaced route: its key authenticated, the namespace visible to it,
    `permission` held (none: any role), and a request token of the namespace's rate taken
    (401, 404, 403, 429): what `NamespaceBearer` resolves."""
    principal = await _authenticate(ctx, credentials)
    # Visibility before role: a weak key must not learn that another tenant's namespace exists.
    ref = ctx.auth_cache.namespace(principal.tenant_id, namespace)
    if ref is None:
        async with ctx.db.read() as conn:
            ref = await resolve_namespace(conn, principal, namespace)
        ctx.auth_cache.remember_namespace(ref)
    else:
        check_reaches(principal, ref)
    if permission is not None:
        principal.require(permission)
        # Rates after the checks: a refused request should not cost the namespace a token.
        limiter: Limiter = request.app.state.limiter
        limiter.admit(principal.tenant_id, ref.id, KIND_OF_PERMISSION[permission], ref.settings)
    return NamespaceCaller(principal, ref, ctx, request.app.state.engine)


@asynccontextmanager
async def long_poll(
    request: Request, caller: NamespaceCaller, *, held_wait: bool = False
) -> AsyncIterator[None]:
    """`async with long_poll(request, caller):` around a wait (poll, result or history wait)
    counts it against the namespace's cap of long polls (429 beyond), and gives the request's
    turn to the tenant's next request while it waits. `held_wait`: a result or history wait,
    counted against the held-waits caps too (app/api/tenant_limits/limiter.py)."""
    limiter: Limiter = request.app.state.limiter
    async with (
        limiter.long_poll(
            caller.principal.tenant_id,
            caller.namespace.id,
            caller.namespace.settings,
            held_wait=held_wait,
        ),
        standing_aside(request),
    ):
        yield


class ClientLeft(Exception):
    """The caller hung up while its request waited: nothing is left to answer."""


async def while_connected(request: Request, wait: Awaitable[T]) -> T:
    """Await `wait` (a result or history wait) unless the caller hangs up first: then the
    wait is cancelled at once, giving back its slot, and ClientLeft is raised (answered 499,
    which nobody reads). Without this a wait outlived its client by up to 30 s."""
    waiting = asyncio.ensure_future(wait)
    gone = asyncio.ensure_future(_hung_up(request))
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not waiting.done():
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
    if waiting.cancelled():
        raise ClientLeft
    return waiting.result()


async def _hung_up(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def hold_stream(request: Request, caller: NamespaceCaller) -> Callable[[], None]:
    """An event stream's slot: counted as a long poll and a held wait (429 now, before anything
    is streamed, when none is free) until the answered function is called. The request gives
    up its tenant's turn for good: a stream waits far more than it works."""
    limiter: Limiter = request.app.state.limiter
    release = limiter.hold(
        caller.principal.tenant_id, caller.namespace.id, caller.namespace.settings, held_wait=True
    )
    gate: TenantGate = request.app.state.admission
    gate.step_out()
    return release


def standing_aside(request: Request) -> AbstractAsyncContextManager[None]:
    """`async with standing_aside(request):` around any other wait of a request (a query
    waiting for its worker): its tenant's next request is worked on meanwhile."""
    gate: TenantGate = request.app.state.admission
    return gate.standing_aside()


async def require_admin_token(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    token = _bearer_token(credentials)
    expected = ctx.settings.admin_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthenticated(
            "this route needs the system administrator's token (PERDURE_ADMIN_TOKEN)"
        )


Viewer = Annotated[Principal, Security(get_principal, scopes=[Permission.VIEW])]
Admin = Annotated[Principal, Security(get_principal, scopes=[Permission.MANAGE])]
NamespaceAdmin = Annotated[NamespaceCaller, Security(namespace_bearer, scopes=[Permission.MANAGE])]
NamespaceViewer = Annotated[NamespaceCaller, Security(namespace_bearer, scopes=[Permission.VIEW])]
NamespaceReader = Annotated[NamespaceCaller, Security(namespace_bearer, scopes=[Permission.READ])]
NamespaceOperator = Annotated[
    NamespaceCaller, Security(namespace_bearer, scopes=[Permission.OPERATE])
]
NamespaceWorker = Annotated[NamespaceCaller, Security(namespace_bearer, scopes=[Permission.WORK])]
SystemAdmin = Annotated[None, Depends(require_admin_token)]
