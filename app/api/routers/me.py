"""Who the caller is."""

from __future__ import annotations

import sqlalchemy as sa

from app.api.deps import Context, Viewer
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.schemas.tenancy import Me
from app.db.tables import namespaces

router = EdgeRouter(prefix="/api/v1", tags=["me"])


@router.get(
    "/me", summary="The caller's tenant, key, role and namespaces", responses=problem_responses(401)
)
async def get_me(ctx: Context, caller: Viewer) -> Me:
    query = sa.select(namespaces.c.name).where(namespaces.c.tenant_id == caller.tenant_id)
    if caller.namespace_ids is not None:
        query = query.where(namespaces.c.id.in_(caller.namespace_ids))
    async with ctx.db.read() as conn:
        names = list((await conn.execute(query.order_by(namespaces.c.name))).scalars())
    return Me(
        tenant=caller.tenant_name,
        tenant_id=caller.tenant_id,
        key_id=caller.key_id,
        key_name=caller.key_name,
        role=caller.role,
        namespaces=names,
        all_namespaces=caller.all_namespaces,
    )
