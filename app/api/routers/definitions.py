"""Stored workflow definitions (Amazon States Language): versions, validation, TestState."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import Path, Request, Response, status

from app import strict_json
from app.api.deps import NamespaceOperator, NamespaceReader
from app.api.edge import EdgeRouter, is_json, media_type, off_loop, read_body, require_utf8
from app.api.problems import problem_responses
from app.api.schemas.common import PageSize, PageToken
from app.api.schemas.definitions import (
    Definition,
    DefinitionName,
    DefinitionPage,
    TestStateAnswer,
    TestStateRequest,
)
from app.definitions import documents, store
from app.definitions.documents import MAX_SOURCE_BYTES
from app.definitions.state_dry_run import try_state
from app.engine.run_limits import MAX_COUNTER
from app.errors import UnsupportedMediaType

router = EdgeRouter(prefix="/api/v1/namespaces/{namespace}", tags=["definitions"])

NamePath = Annotated[DefinitionName, Path(description="Definition name")]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The state machine (Amazon States Language), as JSON or YAML.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


async def _prepared(request: Request) -> store.Prepared:
    """The document by its declared type (JSON or YAML, else 415), read up to
    MAX_SOURCE_BYTES (else 413), parsed, validated and canonicalised off the event loop when
    large."""
    kind, params = media_type(request)
    if kind not in YAML_TYPES and not is_json(kind):
        shown = f"'{kind}'" if kind else "no Content-Type"
        raise UnsupportedMediaType(
            "send the definition as 'Content-Type: application/json' or "
            f"'application/yaml' (got {shown})",
            field="Content-Type",
        )
    require_utf8(params)
    raw = await read_body(request, MAX_SOURCE_BYTES)
    if kind in YAML_TYPES:
        load = documents.load_yaml
    else:
        load = partial(strict_json.parse, root="definition")
    return await off_loop(lambda: store.prepare(load(raw)), len(raw))


@router.put(
    "/definitions/{name}",
    response_model=Definition,
    status_code=status.HTTP_201_CREATED,
    summary="Store a new version of a definition",
    description="201 with a new immutable version (1, 2, …); 200 with the latest version when the document is identical to it. 400 lists every problem with a JSON Pointer. JSON or YAML by `Content-Type` (415 otherwise); YAML aliases may not expand a document past 100,000 nodes.",
    responses=problem_responses(400, 401, 403, 404, 413, 415),
    openapi_extra=DOCUMENT_BODY,
)
async def put_definition(
    name: NamePath, request: Request, caller: NamespaceOperator, response: Response
) -> dict[str, Any]:
    prepared = await _prepared(request)
    async with caller.ctx.db.write() as conn:
        row, created = await store.put(
            conn, caller.namespace.id, name, prepared, caller.ctx.clock.now()
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return row


@router.get(
    "/definitions",
    response_model=DefinitionPage,
    summary="List definitions (latest version of each)",
    responses=problem_responses(400, 401, 403, 404),
)
async def list_definitions(
    caller: NamespaceReader,
    page_size: PageSize = 100,
    next_page_token: PageToken = None,
) -> dict[str, Any]:
    async with caller.ctx.db.read() as conn:
        rows, token = await store.list_latest(conn, caller.namespace.id, page_size, next_page_token)
    return {"definitions": rows, "next_page_token": token}


@router.get(
    "/definitions/{name}",
    response_model=Definition,
    summary="Get the latest version of a definition",
    responses=problem_responses(401, 403, 404),
)
async def get_definition(name: NamePath, caller: NamespaceReader) -> dict[str, Any]:
    async with caller.ctx.db.read() as conn:
        return await store.get(conn, caller.namespace.id, name)


@router.get(
    "/definitions/{name}/versions/{version}",
    response_model=Definition,
    summary="Get one version of a definition",
    responses=problem_responses(401, 403, 404),
)
async def get_definition_version(
    name: NamePath,
    version: Annotated[int, Path(ge=1, le=MAX_COUNTER)],
    caller: NamespaceReader,
) -> dict[str, Any]:
    async with caller.ctx.db.read() as conn:
        return await store.get(conn, caller.namespace.id, name, version)


@router.delete(
    "/definitions/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a definition (every version)",
    description="409 while runs of the definition are open.",
    responses=problem_responses(401, 403, 404, 409),
)
async def delete_definition(name: NamePath, caller: NamespaceOperator) -> Response:
    async with caller.ctx.db.write() as conn:
        await store.delete(conn, caller.namespace.id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/definitions/test-state",
    response_model=TestStateAnswer,
    response_model_exclude_none=True,
    summary="Test one state on an input without starting a run",
    description="Like Step Functions' TestState: the value after each of InputPath, Parameters, ResultSelector, ResultPath and OutputPath, the output, and the next state (or the error and the Catch taken). A Task's result or error is mocked.",
    responses=problem_responses(400, 401, 403, 404),
)
async def test_state(body: TestStateRequest, caller: NamespaceReader) -> dict[str, Any]:
    mock = body.mock
    return try_state(
        body.definition,
        body.input,
        name=body.state_name,
        mock_result=mock.result if mock else None,
        mock_error=mock.error.model_dump() if mock and mock.error else None,
        has_mock_result=mock is not None and "result" in mock.model_fields_set,
        now=caller.ctx.clock.now(),
    )
