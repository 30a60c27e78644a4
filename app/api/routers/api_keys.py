"""API keys of the caller's tenant (admin only)."""

from __future__ import annotations

from fastapi import status

from app.api.deps import Admin, Context
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.schemas.common import DEFAULT_PAGE, PageSize, PageToken
from app.api.schemas.tenancy import ApiKey, ApiKeyCreate, ApiKeyPage, ApiKeyWithSecret
from app.tenancy import api_keys as service

router = EdgeRouter(prefix="/api/v1/api-keys", tags=["api-keys"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key; its secret is returned once, in `key`",
    responses=problem_responses(400, 401, 403),
)
async def create_api_key(body: ApiKeyCreate, ctx: Context, caller: Admin) -> ApiKeyWithSecret:
    async with ctx.db.write() as conn:
        row, secret = await service.create_api_key(
            conn,
            tenant_id=caller.tenant_id,
            name=body.name,
            role=body.role,
            namespace_names=body.namespaces,
            expires_at=body.expires_at,
            now=ctx.clock.now(),
            creator_scope=caller.namespace_ids,
        )
        (shown,) = await service.shown_keys(conn, caller.tenant_id, [row])
    return ApiKeyWithSecret.model_validate({**shown, "key": secret})


@router.get("", summary="List the tenant's API keys", responses=problem_responses(400, 401, 403))
async def list_api_keys(
    ctx: Context,
    caller: Admin,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> ApiKeyPage:
    async with ctx.db.read() as conn:
        rows, token = await service.list_api_keys(
            conn,
            caller.tenant_id,
            page_size=page_size,
            page_token=next_page_token,
            scope=caller.namespace_ids,
        )
        shown = await service.shown_keys(conn, caller.tenant_id, rows)
    return ApiKeyPage(api_keys=[ApiKey.model_validate(r) for r in shown], next_page_token=token)


@router.get("/{key_id}", summary="Describe an API key", responses=problem_responses(401, 403, 404))
async def get_api_key(key_id: str, ctx: Context, caller: Admin) -> ApiKey:
    async with ctx.db.read() as conn:
        row = await service.get_api_key(conn, caller.tenant_id, key_id, caller.namespace_ids)
        (shown,) = await service.shown_keys(conn, caller.tenant_id, [row])
    return ApiKey.model_validate(shown)


@router.post(
    "/{key_id}/revoke",
    summary="Revoke an API key; it is refused from now on",
    responses=problem_responses(401, 403, 404),
)
async def revoke_api_key(key_id: str, ctx: Context, caller: Admin) -> ApiKey:
    async with ctx.db.write() as conn:
        row = await service.revoke_api_key(
            conn, caller.tenant_id, key_id, ctx.clock.now(), caller.namespace_ids
        )
        (shown,) = await service.shown_keys(conn, caller.tenant_id, [row])
    ctx.auth_cache.forget_key(key_id)
    return ApiKey.model_validate(shown)
