"""Search attributes of a namespace: register custom ones with their types (`operate`), list
them with the system's (`read`), remove a custom one with its values (`manage`). Temporal's
AddSearchAttributes, ListSearchAttributes and RemoveSearchAttributes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from app.api.deps import Context, NamespaceAdmin, NamespaceOperator, NamespaceReader
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.schemas.visibility import SearchAttributes, SearchAttributesAdd
from app.engine import search_attributes as service
from app.engine.search_attribute_types import SAType

router = EdgeRouter(
    prefix="/api/v1/namespaces/{namespace}/search-attributes", tags=["search attributes"]
)


def _answer(custom: dict[str, SAType]) -> SearchAttributes:
    return SearchAttributes(
        custom_attributes={name: t.value for name, t in sorted(custom.items())},
        system_attributes={name: t.value for name, t in service.predefined_and_system().items()},
    )


@router.post(
    "",
    summary="Register custom search attributes with their types",
    description=(
        "Registering a name again with the same type changes nothing; with another type it is "
        "a 409. Names of the system's attributes, and names starting with `Temporal`, are "
        "refused. Answers every attribute of the namespace."
    ),
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def add_search_attributes(
    body: SearchAttributesAdd, ctx: Context, caller: NamespaceOperator
) -> SearchAttributes:
    async with ctx.db.write() as conn:
        custom = await service.register(
            conn, caller.namespace.id, body.search_attributes, ctx.clock.now()
        )
    return _answer(custom)


@router.get(
    "",
    summary="List the namespace's search attributes and their types",
    responses=problem_responses(401, 403, 404),
)
async def list_search_attributes(ctx: Context, caller: NamespaceReader) -> SearchAttributes:
    async with ctx.db.read() as conn:
        return _answer(await service.registered_types(conn, caller.namespace.id))


@router.delete(
    "/{name}",
    summary="Remove a custom search attribute and its values",
    description=(
        "The name leaves the namespace's list; list filters, starts and upserts naming it are "
        "refused from then on, and every run's value of it is removed (histories keep what "
        "they recorded), so registering the name again starts empty. System and predefined "
        "attributes cannot be removed (400); a name not registered is a 404. Answers the "
        "attributes left."
    ),
    responses=problem_responses(400, 401, 403, 404),
)
async def remove_search_attribute(
    name: Annotated[str, Path(description="The custom search attribute's name")],
    ctx: Context,
    caller: NamespaceAdmin,
) -> SearchAttributes:
    async with ctx.db.write() as conn:
        custom = await service.unregister(conn, caller.namespace.id, name)
    return _answer(custom)
