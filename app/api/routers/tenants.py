"""Tenants, for the system administrator (the PERDURE_ADMIN_TOKEN bearer): create, list,
describe, disable and enable."""

from __future__ import annotations

from fastapi import Path, status

from app.api.deps import Context, SystemAdmin
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.schemas.common import DEFAULT_PAGE, PageSize, PageToken
from app.api.schemas.tenancy import (
    ApiKeyWithSecret,
    Tenant,
    TenantCreate,
    TenantCreated,
    TenantDetail,
    TenantPage,
)
from app.tenancy import tenants as service

router = EdgeRouter(prefix="/api/v1/tenants", tags=["tenants"])

TenantName = Path(description="Tenant name", max_length=200)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a tenant, its first admin key and its `default` namespace",
    responses=problem_responses(400, 401, 409),
)
async def post_tenant(body: TenantCreate, ctx: Context, _: SystemAdmin) -> TenantCreated:
    async with ctx.db.write() as conn:
        tenant, key, secret = await service.create_tenant(conn, body.name, ctx.clock.now())
    return TenantCreated(
        tenant=Tenant.model_validate(tenant, from_attributes=True),
        api_key=ApiKeyWithSecret.model_validate(
            {**key._mapping, "namespaces": None, "key": secret}
        ),
    )


@router.get("", summary="List tenants", responses=problem_responses(400, 401))
async def list_tenants(
    ctx: Context,
    _: SystemAdmin,
    page_size: PageSize = DEFAULT_PAGE,
    next_page_token: PageToken = None,
) -> TenantPage:
    async with ctx.db.read() as conn:
        rows, token = await service.list_tenants(
            conn, page_size=page_size, page_token=next_page_token
        )
    return TenantPage(
        tenants=[Tenant.model_validate(r, from_attributes=True) for r in rows],
        next_page_token=token,
    )


async def _detail(ctx: Context, name: str) -> TenantDetail:
    async with ctx.db.read() as conn:
        row = await service.get_tenant_by_name(conn, name)
        names = await service.tenant_namespace_names(conn, row.id)
    return TenantDetail.model_validate({**row._mapping, "namespaces": names})


@router.get("/{tenant}", summary="Describe a tenant", responses=problem_responses(401, 404))
async def get_tenant(ctx: Context, _: SystemAdmin, tenant: str = TenantName) -> TenantDetail:
    return await _detail(ctx, tenant)


async def _set_disabled(ctx: Context, name: str, disabled: bool) -> TenantDetail:
    async with ctx.db.write() as conn:
        row = await service.set_tenant_disabled(conn, name, disabled, ctx.clock.now())
    # This process stops honouring the tenant's keys at once; other replicas when their
    # auth cache entries expire (PERDURE_AUTH_CACHE_SECONDS).
    ctx.auth_cache.forget_tenant(row.id)
    return await _detail(ctx, name)


@router.post(
    "/{tenant}/disable",
    summary="Disable a tenant: its keys answer 401; workflows, timers and data stay",
    responses=problem_responses(401, 404),
)
async def disable_tenant(ctx: Context, _: SystemAdmin, tenant: str = TenantName) -> TenantDetail:
    return await _set_disabled(ctx, tenant, True)


@router.post(
    "/{tenant}/enable",
    summary="Enable a disabled tenant again",
    responses=problem_responses(401, 404),
)
async def enable_tenant(ctx: Context, _: SystemAdmin, tenant: str = TenantName) -> TenantDetail:
    return await _set_disabled(ctx, tenant, False)
