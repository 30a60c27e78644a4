"""Authentication: which keys and headers are refused (always a 401 problem, never a 500),
the admin token for tenant creation, and validation errors naming the offending field."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import pytest

from tests.conftest import ADMIN_TOKEN, keyed_client
from tests.tenancy_helpers import assert_problem, create_key


async def test_revoked_key_is_refused(tenant):
    made = await create_key(tenant.client, "reader")
    async with keyed_client(tenant.client, made["key"]) as client:
        assert (await client.get("/api/v1/me")).status_code == 200
        revoked = await tenant.client.post(f"/api/v1/api-keys/{made['id']}/revoke")
        assert revoked.status_code == 200

        response = await client.get("/api/v1/me")

    problem = assert_problem(response, 401, "unauthenticated")
    assert "revoked" in problem["detail"]


async def test_expired_key_is_refused(tenant, server):
    made = await create_key(
        tenant.client, "reader", expires_at=server.ctx.clock.now() + timedelta(seconds=2)
    )
    async with keyed_client(tenant.client, made["key"]) as client:
        assert (await client.get("/api/v1/me")).status_code == 200
        server.ctx.clock.advance(timedelta(seconds=3))

        response = await client.get("/api/v1/me")

    problem = assert_problem(response, 401, "unauthenticated")
    assert "expired" in problem["detail"]


async def test_key_cannot_be_created_already_expired(tenant, server):
    response = await tenant.client.post(
        "/api/v1/api-keys",
        json={
            "name": "stale",
            "role": "reader",
            "expires_at": (server.ctx.clock.now() - timedelta(seconds=1)).isoformat(),
        },
    )

    assert assert_problem(response, 400, "invalid-argument")["field"] == "expires_at"


BAD_AUTHORIZATION = {
    "no header": None,
    "basic scheme": "Basic x",
    "bearer without token": "Bearer",
    "key with spaces": "Bearer     pdk_ spaces inside the key",
    "short key": "Bearer pdk_short",
    "not a key": "Bearer hello-world-this-is-not-a-key",
    "garbage bytes": b"Bearer \xff\xfe\xfd\x80\x81",
    "huge header": "Bearer pdk_" + "A" * 64_000,
    "unknown key": "Bearer pdk_" + secrets.token_urlsafe(32),
    "admin token instead of a key": f"Bearer {ADMIN_TOKEN}",
}


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION)
@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/namespaces/main"])
async def test_bad_authorization_is_a_401_problem(http, tenant, authorization, path):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await http.get(path, headers=headers)

    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_missing_key_is_refused_before_the_body_is_validated(http):
    response = await http.post("/api/v1/namespaces", json={"name": "bad name!", "colour": 1})

    assert_problem(response, 401, "unauthenticated")


async def test_tenant_creation_refuses_a_wrong_admin_token(http):
    name = f"t-{uuid.uuid4().hex[:12]}"

    response = await http.post(
        "/api/v1/tenants", json={"name": name}, headers={"Authorization": "Bearer wrong-token"}
    )

    assert_problem(response, 401, "unauthenticated")
    created = await http.post(
        "/api/v1/tenants", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert created.status_code == 201  # the refused call made nothing


async def test_tenant_creation_refuses_a_tenant_admin_key(http, tenant):
    response = await http.post(
        "/api/v1/tenants",
        json={"name": f"t-{uuid.uuid4().hex[:12]}"},
        headers={"Authorization": f"Bearer {tenant.admin_key}"},
    )

    assert_problem(response, 401, "unauthenticated")


async def test_tenant_creation_refuses_a_missing_admin_token(http):
    response = await http.post("/api/v1/tenants", json={"name": f"t-{uuid.uuid4().hex[:12]}"})

    assert_problem(response, 401, "unauthenticated")


async def test_bad_json_is_a_400_problem_naming_the_body(tenant):
    response = await tenant.client.post(
        "/api/v1/namespaces",
        content=b'{"name": "x",',
        headers={"Content-Type": "application/json"},
    )

    assert assert_problem(response, 400, "invalid-argument")["field"] == "body"


async def test_unknown_field_is_a_400_problem_naming_it(tenant):
    response = await tenant.client.post("/api/v1/namespaces", json={"name": "x", "colour": "red"})

    assert assert_problem(response, 400, "invalid-argument")["field"] == "colour"


async def test_unknown_role_is_a_400_problem_naming_the_role(tenant):
    response = await tenant.client.post("/api/v1/api-keys", json={"name": "k", "role": "superuser"})

    assert assert_problem(response, 400, "invalid-argument")["field"] == "role"


async def test_bad_query_parameter_is_a_400_problem_naming_it(tenant):
    response = await tenant.client.get("/api/v1/namespaces", params={"page_size": 0})

    assert assert_problem(response, 400, "invalid-argument")["field"] == "page_size"


async def test_bad_namespace_name_is_a_400_problem_naming_it(tenant):
    response = await tenant.client.post("/api/v1/namespaces", json={"name": "no spaces"})

    assert assert_problem(response, 400, "invalid-argument")["field"] == "name"


async def test_last_used_at_is_set_after_a_use(tenant):
    made = await create_key(tenant.client, "worker")
    assert made["last_used_at"] is None

    async with keyed_client(tenant.client, made["key"]) as client:
        assert (await client.get("/api/v1/me")).status_code == 200

    described = (await tenant.client.get(f"/api/v1/api-keys/{made['id']}")).json()
    assert described["last_used_at"] is not None
    assert described["last_used_at"] >= made["created_at"]
