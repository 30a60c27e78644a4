"""Namespaces of the caller's tenant."""

from __future__ import annotations

from fastapi import Response, status

from app import namespace_deletion
from app.api.deps import Admin, Context, NamespaceAdmin, NamespaceViewer, Viewer
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.schemas.common import DEFAULT_PAGE, PageSize, PageToken
from app.api.schemas.tenancy import Namespace, NamespaceCreate, NamespacePage, NamespaceUpdate
from app.api.tenant_limits.limiter import check_namespace_settings
from app.errors import InvalidArgument, PermissionDenied
from app.tenancy import namespaces as service

router = EdgeRouter(prefix="/api/v1/namespaces", tags=["namespaces"])


def _namespace(row) -> Namespace:
    return Namespace.model_validate(row, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a namespace",
    responses=problem_responses(400, 401, 403, 409),
)
async def create_namespace(body: NamespaceCreate, ctx: Context, caller: Admin) -> Namespace:
    if not caller.all_namespaces:
        raise PermissionDenied(
            "a key scoped to some namespaces cannot create namespaces; use an admin key for all namespaces"
        )
    check_namespace_settings(ctx.settings, body.settings.model_dump(exclude_none=True))
    async with ctx.db.write() as conn:
        row = await service.create_namespace(
            conn,
            tenant_id=caller.tenant_id,
            name=body.name,
            description=body.description,
            retention_days=body.retention_days,
            settings=body.settings.model_dump(exclude_none=True),
            now=ctx.clock.now(),
        )
    return _namespace(row)


@router.get(
    "", summary="List the namespaces this key may use", responses=problem_responses(400, 401)
)
async def list_namespaces(
    ctx: Context,
    caller: Viewer,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> NamespacePage:
    async with ctx.db.read() as conn:
        rows, token = await service.list_namespaces(
            conn, caller, page_size=page_size, page_token=next_page_token
        )
    return NamespacePage(namespaces=[_namespace(r) for r in rows], next_page_token=token)


@router.get("/{namespace}", summary="Describe a namespace", responses=problem_responses(401, 404))
async def get_namespace(caller: NamespaceViewer) -> Namespace:
    async with caller.ctx.db.read() as conn:
        row = await service.get_namespace(conn, caller.principal.tenant_id, caller.namespace.name)
    return _namespace(row)


@router.patch(
    "/{namespace}",
    summary="Change a namespace's description or settings",
    responses=problem_responses(400, 401, 403, 404),
)
async def update_namespace(body: NamespaceUpdate, caller: NamespaceAdmin) -> Namespace:
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None:  # none of these can be removed, only changed
            raise InvalidArgument(f"{field} cannot be null; leave it out to keep it", field=field)
    if body.settings is not None:
        changes["settings"] = body.settings.model_dump(exclude_unset=True)
        check_namespace_settings(caller.ctx.settings, changes["settings"])
    async with caller.ctx.db.write() as conn:
        row = await service.update_namespace(
            conn, caller.principal.tenant_id, caller.namespace.name, changes, caller.ctx.clock.now()
        )
    # Its settings (limits among them) travel with the cached namespace: take the new ones.
    caller.ctx.auth_cache.forget_namespace(caller.principal.tenant_id, caller.namespace.name)
    return _namespace(row)


@router.delete(
    "/{namespace}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a namespace (refused while workflows are running in it)",
    responses=problem_responses(401, 403, 404, 409),
)
async def delete_namespace(caller: NamespaceAdmin) -> Response:
    async with caller.ctx.db.write() as conn:
        await namespace_deletion.delete_namespace(
            conn, caller.principal.tenant_id, caller.namespace.name
        )
    caller.ctx.auth_cache.forget_namespace(caller.principal.tenant_id, caller.namespace.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
