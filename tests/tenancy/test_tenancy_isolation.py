"""Nothing crosses tenants, and a key scoped to some namespaces sees only those.

Another tenant's rows answer 404, never 403, so that their existence does not leak.
"""

from __future__ import annotations

import pytest

from tests.conftest import keyed_client
from tests.tenancy_helpers import assert_problem, create_key


@pytest.fixture
async def foreign_namespace(other_tenant) -> str:
    """A namespace that only the other tenant has."""
    made = await other_tenant.client.post(
        "/api/v1/namespaces", json={"name": "theirs-only", "description": "untouched"}
    )
    assert made.status_code == 201, made.text
    return "theirs-only"


async def test_other_tenants_namespace_is_not_found(tenant, other_tenant, foreign_namespace):
    response = await tenant.client.get(f"/api/v1/namespaces/{foreign_namespace}")

    assert_problem(response, 404, "not-found")


async def test_other_tenants_namespace_cannot_be_changed(tenant, other_tenant, foreign_namespace):
    response = await tenant.client.patch(
        f"/api/v1/namespaces/{foreign_namespace}", json={"description": "hijacked"}
    )

    assert_problem(response, 404, "not-found")
    theirs = await other_tenant.client.get(f"/api/v1/namespaces/{foreign_namespace}")
    assert theirs.json()["description"] == "untouched"


async def test_other_tenants_namespace_cannot_be_deleted(tenant, other_tenant, foreign_namespace):
    response = await tenant.client.delete(f"/api/v1/namespaces/{foreign_namespace}")

    assert_problem(response, 404, "not-found")
    theirs = await other_tenant.client.get(f"/api/v1/namespaces/{foreign_namespace}")
    assert theirs.status_code == 200


async def test_weak_role_gets_not_found_rather_than_forbidden_on_other_tenants_namespace(
    tenant, other_tenant, foreign_namespace
):
    reader = await create_key(tenant.client, "reader")
    async with keyed_client(tenant.client, reader["key"]) as client:
        response = await client.delete(f"/api/v1/namespaces/{foreign_namespace}")

    assert_problem(response, 404, "not-found")


async def test_same_namespace_name_in_two_tenants_stays_separate(tenant, other_tenant):
    changed = await tenant.client.patch(tenant.ns(), json={"description": "mine"})
    assert changed.status_code == 200, changed.text

    theirs = await other_tenant.client.get(other_tenant.ns())
    assert theirs.status_code == 200
    assert theirs.json()["description"] == ""

    deleted = await tenant.client.delete(tenant.ns())
    assert deleted.status_code == 204
    assert (await other_tenant.client.get(other_tenant.ns())).status_code == 200


async def test_namespace_list_never_shows_other_tenants_namespaces(
    tenant, other_tenant, foreign_namespace
):
    listed = await tenant.client.get("/api/v1/namespaces")

    assert listed.status_code == 200
    assert [n["name"] for n in listed.json()["namespaces"]] == ["default", "main"]


async def test_other_tenants_api_key_is_not_found(tenant, other_tenant):
    theirs = await create_key(other_tenant.client, "reader")

    response = await tenant.client.get(f"/api/v1/api-keys/{theirs['id']}")

    assert_problem(response, 404, "not-found")


async def test_other_tenants_api_key_cannot_be_revoked(tenant, other_tenant):
    theirs = await create_key(other_tenant.client, "reader")

    response = await tenant.client.post(f"/api/v1/api-keys/{theirs['id']}/revoke")

    assert_problem(response, 404, "not-found")
    async with keyed_client(other_tenant.client, theirs["key"]) as client:
        assert (await client.get("/api/v1/me")).status_code == 200
    described = await other_tenant.client.get(f"/api/v1/api-keys/{theirs['id']}")
    assert described.json()["revoked_at"] is None


async def test_api_key_list_never_shows_other_tenants_keys(tenant, other_tenant):
    mine = await create_key(tenant.client, "worker")
    theirs = await create_key(other_tenant.client, "worker")

    listed = await tenant.client.get("/api/v1/api-keys")

    assert listed.status_code == 200
    ids = {k["id"] for k in listed.json()["api_keys"]}
    assert mine["id"] in ids
    assert theirs["id"] not in ids
    assert len(ids) == 2  # the tenant's first admin key and the one made here


async def test_key_cannot_be_scoped_to_another_tenants_namespace(
    tenant, other_tenant, foreign_namespace
):
    response = await tenant.client.post(
        "/api/v1/api-keys",
        json={"name": "sneaky", "role": "reader", "namespaces": [foreign_namespace]},
    )

    body = assert_problem(response, 400, "invalid-argument")
    assert body["field"] == "namespaces"


@pytest.fixture
async def scoped_client(tenant):
    """A reader key of the tenant scoped to `alpha`, while the tenant also has `beta` and `main`."""
    for name in ("alpha", "beta"):
        made = await tenant.client.post("/api/v1/namespaces", json={"name": name})
        assert made.status_code == 201, made.text
    key = await create_key(tenant.client, "reader", namespaces=["alpha"])
    async with keyed_client(tenant.client, key["key"]) as client:
        yield client


async def test_scoped_key_sees_its_namespace(scoped_client):
    response = await scoped_client.get("/api/v1/namespaces/alpha")

    assert response.status_code == 200
    assert response.json()["name"] == "alpha"


@pytest.mark.parametrize("namespace", ["beta", "main"])
async def test_scoped_key_gets_not_found_on_namespaces_outside_its_scope(scoped_client, namespace):
    response = await scoped_client.get(f"/api/v1/namespaces/{namespace}")

    assert_problem(response, 404, "not-found")


async def test_scoped_key_gets_not_found_rather_than_forbidden_when_writing_outside_scope(
    scoped_client,
):
    response = await scoped_client.patch("/api/v1/namespaces/beta", json={"description": "x"})

    assert_problem(response, 404, "not-found")


async def test_scoped_key_lists_only_its_namespaces(scoped_client):
    listed = await scoped_client.get("/api/v1/namespaces")

    assert listed.status_code == 200
    assert [n["name"] for n in listed.json()["namespaces"]] == ["alpha"]


async def test_me_of_scoped_key_lists_only_its_namespaces(scoped_client):
    me = await scoped_client.get("/api/v1/me")

    assert me.status_code == 200
    assert me.json()["namespaces"] == ["alpha"]
    assert me.json()["all_namespaces"] is False


async def test_me_of_unscoped_key_lists_every_namespace_of_its_tenant(tenant, foreign_namespace):
    await tenant.client.post("/api/v1/namespaces", json={"name": "second"})

    me = await tenant.client.get("/api/v1/me")

    assert me.json()["namespaces"] == ["default", "main", "second"]
    assert me.json()["all_namespaces"] is True


@pytest.fixture
async def scoped_admin(tenant):
    """An admin key of the tenant scoped to `alpha`, while the tenant also has `main`."""
    made = await tenant.client.post("/api/v1/namespaces", json={"name": "alpha"})
    assert made.status_code == 201, made.text
    key = await create_key(tenant.client, "admin", namespaces=["alpha"])
    async with keyed_client(tenant.client, key["key"]) as client:
        yield client


async def test_scoped_admin_key_cannot_create_an_unscoped_key(tenant, scoped_admin):
    keys_before = (await tenant.client.get("/api/v1/api-keys")).json()["api_keys"]

    response = await scoped_admin.post("/api/v1/api-keys", json={"name": "all", "role": "admin"})

    assert assert_problem(response, 403, "permission-denied")["field"] == "namespaces"
    keys_after = (await tenant.client.get("/api/v1/api-keys")).json()["api_keys"]
    assert len(keys_after) == len(keys_before)


@pytest.mark.parametrize("namespaces", [["main"], ["alpha", "main"], ["no-such-namespace"]])
async def test_scoped_admin_key_cannot_create_a_key_beyond_its_namespaces(scoped_admin, namespaces):
    response = await scoped_admin.post(
        "/api/v1/api-keys", json={"name": "wider", "role": "reader", "namespaces": namespaces}
    )

    assert assert_problem(response, 403, "permission-denied")["field"] == "namespaces"


async def test_scoped_admin_key_can_create_a_key_within_its_namespaces(scoped_admin):
    response = await scoped_admin.post(
        "/api/v1/api-keys", json={"name": "narrow", "role": "reader", "namespaces": ["alpha"]}
    )

    assert response.status_code == 201, response.text
    assert response.json()["namespaces"] == ["alpha"]


async def test_scoped_admin_key_sees_only_keys_within_its_namespaces(tenant, scoped_admin):
    inside = await create_key(scoped_admin, "reader", namespaces=["alpha"])
    unscoped = await create_key(tenant.client, "reader")
    listed = await scoped_admin.get("/api/v1/api-keys")
    assert listed.status_code == 200
    ids = {k["id"] for k in listed.json()["api_keys"]}
    me = (await scoped_admin.get("/api/v1/me")).json()["key_id"]
    assert {me, inside["id"]} <= ids
    assert unscoped["id"] not in ids
    assert (await scoped_admin.get(f"/api/v1/api-keys/{unscoped['id']}")).status_code == 404


async def test_scoped_admin_key_cannot_revoke_a_key_beyond_its_namespaces(tenant, scoped_admin):
    admin_id = (await tenant.client.get("/api/v1/me")).json()["key_id"]
    refused = await scoped_admin.post(f"/api/v1/api-keys/{admin_id}/revoke")
    assert refused.status_code == 404
    assert (await tenant.client.get("/api/v1/me")).status_code == 200  # still valid


async def test_scoped_admin_key_cannot_create_namespaces(scoped_admin):
    refused = await scoped_admin.post("/api/v1/namespaces", json={"name": "sneaky"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_scoped_admin_key_pages_through_exactly_its_keys(tenant, scoped_admin):
    expected = {(await scoped_admin.get("/api/v1/me")).json()["key_id"]}
    for i in range(5):
        expected.add(
            (await create_key(scoped_admin, "reader", name=f"in-{i}", namespaces=["alpha"]))["id"]
        )
        await create_key(tenant.client, "reader", name=f"out-{i}")
    seen: list[str] = []
    token = None
    for _ in range(20):
        params = {"page_size": 2, **({"next_page_token": token} if token else {})}
        page = (await scoped_admin.get("/api/v1/api-keys", params=params)).json()
        seen += [k["id"] for k in page["api_keys"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert sorted(seen) == sorted(expected)


async def test_a_scoped_key_does_not_reach_a_namespace_made_again_under_a_deleted_ones_name(
    tenant, scoped_client
):
    workflows = "/api/v1/namespaces/alpha/workflows"
    assert (await scoped_client.get(workflows)).status_code == 200
    assert (await tenant.client.delete("/api/v1/namespaces/alpha")).status_code == 204
    assert (
        await tenant.client.post("/api/v1/namespaces", json={"name": "alpha"})
    ).status_code == 201

    described = await scoped_client.get("/api/v1/namespaces/alpha")
    listed = await scoped_client.get(workflows)
    me = await scoped_client.get("/api/v1/me")

    assert_problem(described, 404, "not-found")
    assert_problem(listed, 404, "not-found")
    assert me.json()["namespaces"] == [] and me.json()["all_namespaces"] is False
    keys = (await tenant.client.get("/api/v1/api-keys")).json()["api_keys"]
    assert [k["namespaces"] for k in keys if k["role"] == "reader"] == [[]]
    fresh = await create_key(tenant.client, "reader", namespaces=["alpha"])
    async with keyed_client(tenant.client, fresh["key"]) as client:
        assert (await client.get(workflows)).status_code == 200
