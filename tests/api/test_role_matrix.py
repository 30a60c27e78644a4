"""Every role against every route of the tenancy API: allowed (2xx) or a 403 problem.

The table below is the specification. A new authenticated foundation route fails
`test_every_authenticated_foundation_route_is_in_the_matrix` until it is added here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import keyed_client
from tests.tenancy_helpers import assert_problem, create_key

# What each role may do; the server's table lives in app/auth/roles.py and must agree.
ROLE_PERMISSIONS = {
    "admin": {"manage", "operate", "work", "read", "view"},
    "operator": {"operate", "work", "read", "view"},
    "worker": {"work", "view"},
    "reader": {"read", "view"},
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the OpenAPI template
    permission: str
    success: int
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("GET", "/api/v1/me", "view", 200),
    Route("GET", "/api/v1/namespaces", "view", 200),
    Route("POST", "/api/v1/namespaces", "manage", 201, body={"name": "made-by-caller"}),
    Route("GET", "/api/v1/namespaces/{namespace}", "view", 200, params={"namespace": "main"}),
    Route(
        "PATCH",
        "/api/v1/namespaces/{namespace}",
        "manage",
        200,
        body={"description": "changed by caller"},
        params={"namespace": "main"},
    ),
    Route(
        "DELETE", "/api/v1/namespaces/{namespace}", "manage", 204, params={"namespace": "doomed"}
    ),
    Route("GET", "/api/v1/api-keys", "manage", 200),
    Route("POST", "/api/v1/api-keys", "manage", 201, body={"name": "made", "role": "reader"}),
    Route("GET", "/api/v1/api-keys/{key_id}", "manage", 200, params={"key_id": "target"}),
    Route("POST", "/api/v1/api-keys/{key_id}/revoke", "manage", 200, params={"key_id": "target"}),
]


def is_foundation_path(path: str) -> bool:
    return (
        path in ("/api/v1/namespaces", "/api/v1/namespaces/{namespace}", "/api/v1/me")
        or path == "/api/v1/api-keys"
        or path.startswith("/api/v1/api-keys/")
    )


async def tenant_state(admin: httpx.AsyncClient) -> dict[str, Any]:
    """What a denied request must leave untouched (key use times aside)."""
    spaces = (await admin.get("/api/v1/namespaces")).json()["namespaces"]
    keys = (await admin.get("/api/v1/api-keys")).json()["api_keys"]
    return {
        "namespaces": spaces,
        "api_keys": [{k: v for k, v in key.items() if k != "last_used_at"} for key in keys],
    }


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
@pytest.mark.parametrize("role", list(ROLE_PERMISSIONS))
async def test_role_is_allowed_or_refused_with_403(tenant, role: str, route: Route):
    doomed = await tenant.client.post("/api/v1/namespaces", json={"name": "doomed"})
    assert doomed.status_code == 201
    target = await create_key(tenant.client, "reader", name="target")
    caller = await create_key(tenant.client, role)
    values = {"doomed": "doomed", "main": "main", "target": target["id"]}
    path = route.path.format(**{name: values[v] for name, v in route.params.items()})
    before = await tenant_state(tenant.client)

    async with keyed_client(tenant.client, caller["key"]) as client:
        response = await client.request(route.method, path, json=route.body)

    if route.permission in ROLE_PERMISSIONS[role]:
        assert response.status_code == route.success, response.text
    else:
        problem = assert_problem(response, 403, "permission-denied")
        assert problem["required_permission"] == route.permission
        assert problem["role"] == role
        assert await tenant_state(tenant.client) == before


async def test_every_authenticated_foundation_route_is_in_the_matrix(http):
    document = (await http.get("/openapi.json")).json()
    documented = {
        f"{method.upper()} {path}": operation["security"]
        for path, operations in document["paths"].items()
        if is_foundation_path(path)
        for method, operation in operations.items()
        if any("HTTPBearer" in requirement for requirement in operation.get("security", []))
    }

    assert set(documented) == {route.id for route in ROUTES}
    for route in ROUTES:
        assert documented[route.id] == [{"HTTPBearer": [route.permission]}], route.id
