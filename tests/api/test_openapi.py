"""`openapi.json` at the repository root is the app's current document, and it is complete:
every operation has a summary and documents the problems it can answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.openapi import render_openapi

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"
PROBLEM_REF = "#/components/schemas/Problem"
# Probes for orchestrators and scrapers: no caller input, nothing to refuse.
UNREFUSING = {"/healthz", "/metrics"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(render_openapi())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_committed_openapi_json_is_current():
    current = COMMITTED.read_text() == render_openapi()

    assert current, "openapi.json is stale: run `perdure openapi` (or `make openapi`) and commit it"


def test_every_operation_has_a_summary(document):
    missing = [name for name, operation in operations(document) if not operation.get("summary")]

    assert missing == []


def test_every_operation_documents_its_client_errors(document):
    undocumented = [
        name
        for name, operation in operations(document)
        if name.split(" ", 1)[1] not in UNREFUSING | {"/readyz"}
        and not any(status.startswith("4") for status in operation["responses"])
    ]

    assert undocumented == []


def test_readiness_documents_its_unavailable_answer(document):
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]


def test_every_authenticated_operation_documents_401(document):
    undocumented = [
        name
        for name, operation in operations(document)
        if operation.get("security") and "401" not in operation["responses"]
    ]

    assert undocumented == []


def test_operations_not_every_role_may_call_document_403(document):
    undocumented = [
        name
        for name, operation in operations(document)
        for requirement in operation.get("security", [])
        for scopes in requirement.values()
        if scopes and scopes != ["view"] and "403" not in operation["responses"]
    ]

    assert undocumented == []


def test_operations_on_a_named_resource_document_404(document):
    undocumented = [
        name
        for name, operation in operations(document)
        if "{" in name and "404" not in operation["responses"]
    ]

    assert undocumented == []


def test_every_documented_error_is_a_problem(document):
    not_problems = [
        f"{name} {status}"
        for name, operation in operations(document)
        for status, response in operation["responses"].items()
        if status[0] in "45"
        and response.get("content", {}).get("application/problem+json", {}).get("schema")
        != {"$ref": PROBLEM_REF}
    ]

    assert not_problems == []


def test_every_api_route_goes_through_the_strict_edge(server):
    """Each /api route parses bodies strictly and checks ids and names (app/api/edge.py): a
    router made with FastAPI's APIRouter instead of `EdgeRouter` would take lax JSON."""
    from fastapi.routing import APIRoute

    from app.api.edge import EdgeRoute

    # This FastAPI keeps an included router's routes in the router (not copied into the app).
    routes = [
        route
        for entry in server.app.routes
        for route in getattr(getattr(entry, "original_router", None), "routes", [entry])
    ]
    assert (
        sum(route.path.startswith("/api/") for route in routes if isinstance(route, APIRoute)) > 50
    )
    lax = [
        route.path
        for route in routes
        if isinstance(route, APIRoute)
        and route.path.startswith("/api/")
        and not isinstance(route, EdgeRoute)
    ]

    assert lax == []
