"""An API router's quick answer to "is this path yours?" (`EdgeRouter.matches`) is FastAPI's
own answer, for every route's path with every method, and for paths near them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Match

from app.api.edge import EdgeRouter
from tests.conftest import ADMIN_TOKEN

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }


def _sample_paths(router: EdgeRouter) -> list[str]:
    paths = set()
    for route in router.routes:
        assert isinstance(route, APIRoute)
        filled = re.sub(r"\{[^}]+\}", "x1", route.path)
        paths |= {filled, filled + "/", filled + "/extra", filled.rsplit("/", 1)[0] or "/"}
        paths.add(re.sub(r"\{[^}]+\}", "a%2Fb", route.path))
    return sorted(paths | {"/", "/nowhere", "/console/", "/docs", "/api/v1/namespaces/x1/"})


def test_edge_routers_answer_as_fastapi_does(server):
    inclusions = [
        route
        for route in server.app.router.routes
        if isinstance(getattr(route, "original_router", None), EdgeRouter)
    ]
    if not inclusions or not hasattr(inclusions[0], "_match"):
        pytest.skip("this FastAPI copies included routes: routers are not asked")
    compared = 0
    for inclusion in inclusions:
        router = inclusion.original_router
        for path in _sample_paths(router):
            for method in METHODS:
                ours = inclusion.matches(_scope(method, path))[0]
                fastapis = inclusion._match(_scope(method, path))[0]  # FastAPI's own loop
                assert ours == fastapis, (method, path)
                compared += 1
    assert compared > 1000
    assert any(
        inclusion.matches(_scope("PUT", "/api/v1/namespaces/x/workflow-tasks/complete"))[0]
        == Match.PARTIAL
        for inclusion in inclusions
    )


async def test_a_wrong_method_is_still_405_with_allow(http):
    answer = await http.put(
        "/api/v1/namespaces/main/workflow-tasks/complete",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )

    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.headers["content-type"].startswith("application/problem+json")
