"""Aliases of stored definitions (Step Functions' state machine aliases): create or update
(`operate`), read and list (`read`), delete (`operate`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Response, status

from app.api.deps import NamespaceOperator, NamespaceReader
from app.api.edge import EdgeRouter
from app.api.problems import problem_responses
from app.api.schemas.definitions import Alias, AliasList, AliasName, AliasPut, DefinitionName
from app.definitions import aliases

router = EdgeRouter(
    prefix="/api/v1/namespaces/{namespace}/definitions/{name}/aliases",
    tags=["definitions"],
)

NamePath = Annotated[DefinitionName, Path(description="Definition name")]
AliasPath = Annotated[AliasName, Path(description="Alias name (not all digits)")]


@router.put(
    "/{alias}",
    summary="Create or update an alias routing new runs to one or two versions",
    description=(
        "AWS CreateStateMachineAlias / UpdateStateMachineAlias: `routing` names one version "
        "(weight 100) or two whose integer weights sum to 100; each start through the alias "
        "draws its version. Runs already started keep theirs. 201 when created, 200 when "
        "updated."
    ),
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 409),
)
async def put_alias(
    name: NamePath,
    alias: AliasPath,
    body: AliasPut,
    caller: NamespaceOperator,
    response: Response,
) -> Alias:
    routing = [aliases.Route(r.version, r.weight) for r in body.routing]
    async with caller.ctx.db.write() as conn:
        answer, created = await aliases.put_alias(
            conn,
            caller.namespace.id,
            name,
            alias,
            routing,
            body.description,
            caller.ctx.clock.now(),
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Alias(**answer)


@router.get("", summary="List a definition's aliases", responses=problem_responses(401, 403, 404))
async def list_aliases(name: NamePath, caller: NamespaceReader) -> AliasList:
    async with caller.ctx.db.read() as conn:
        found: list[dict[str, Any]] = await aliases.list_aliases(conn, caller.namespace.id, name)
    return AliasList(aliases=[Alias(**a) for a in found])


@router.get("/{alias}", summary="Describe an alias", responses=problem_responses(401, 403, 404))
async def get_alias(name: NamePath, alias: AliasPath, caller: NamespaceReader) -> Alias:
    async with caller.ctx.db.read() as conn:
        return Alias(**await aliases.get_alias(conn, caller.namespace.id, name, alias))


@router.delete(
    "/{alias}",
    summary="Delete an alias (runs started through it keep their version)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def delete_alias(name: NamePath, alias: AliasPath, caller: NamespaceOperator) -> Response:
    async with caller.ctx.db.write() as conn:
        await aliases.delete_alias(conn, caller.namespace.id, name, alias)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
