"""Tenant creation by the system administrator."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import Context, SystemAdmin
from app.api.problems import problem_responses
from app.api.schemas.tenancy import ApiKeyWithSecret, Tenant, TenantCreate, TenantCreated
from app.tenancy.tenants import create_tenant

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a tenant and its first admin key",
    responses=problem_responses(400, 401, 409),
)
async def post_tenant(body: TenantCreate, ctx: Context, _: SystemAdmin) -> TenantCreated:
    async with ctx.db.write() as conn:
        tenant, key, secret = await create_tenant(conn, body.name, ctx.clock.now())
    return TenantCreated(
        tenant=Tenant.model_validate(tenant, from_attributes=True),
        api_key=ApiKeyWithSecret.model_validate(
            {**key._mapping, "namespaces": None, "key": secret}
        ),
    )
