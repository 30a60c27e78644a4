"""Search attributes of a namespace: register custom ones with their types (`operate`), list
them with the system's (`read`). Temporal's AddSearchAttributes and ListSearchAttributes."""

from __future__ import annotations

from app.api.deps import NamespaceOperator, NamespaceReader
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
    body: SearchAttributesAdd, caller: NamespaceOperator
) -> SearchAttributes:
    async with caller.ctx.db.write() as conn:
        custom = await service.register(
            conn, caller.namespace.id, body.search_attributes, caller.ctx.clock.now()
        )
    return _answer(custom)


@router.get(
    "",
    summary="List the namespace's search attributes and their types",
    responses=problem_responses(401, 403, 404),
)
async def list_search_attributes(caller: NamespaceReader) -> SearchAttributes:
    async with caller.ctx.db.read() as conn:
        return _answer(await service.registered_types(conn, caller.namespace.id))
