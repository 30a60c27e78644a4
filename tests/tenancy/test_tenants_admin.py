"""The system administrator manages tenants over HTTP: a new tenant comes with a `default`
namespace; tenants can be listed, described, disabled (their keys stop working at once, their
data stays) and enabled again. Nobody else may do any of it."""

from __future__ import annotations

from tests.conftest import ADMIN_TOKEN
from tests.tenancy_helpers import assert_problem

SYSTEM = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_a_new_tenant_can_start_work_in_its_default_namespace(http, tenant):
    started = await tenant.client.post(
        "/api/v1/namespaces/default/workflows/first",
        json={"workflow_type": "W", "task_queue": "q"},
    )

    assert started.status_code == 201, started.text
    described = await http.get(f"/api/v1/tenants/{tenant.name}", headers=SYSTEM)
    assert described.status_code == 200
    assert described.json()["namespaces"] == ["default", "main"]
    assert described.json()["disabled_at"] is None


async def test_tenants_are_listed_by_name_a_page_at_a_time(http, tenant, other_tenant):
    names: list[str] = []
    token = None
    while True:
        params = {"page_size": 2, **({"next_page_token": token} if token else {})}
        page = await http.get("/api/v1/tenants", params=params, headers=SYSTEM)
        assert page.status_code == 200, page.text
        names += [t["name"] for t in page.json()["tenants"]]
        token = page.json()["next_page_token"]
        if token is None:
            break

    assert names == sorted(names) and len(names) == len(set(names))
    assert {tenant.name, other_tenant.name} <= set(names)


async def test_a_disabled_tenants_keys_are_refused_and_its_data_kept_until_enabled(
    http, tenant, other_tenant
):
    await tenant.client.post(
        tenant.ns("/workflows/kept"), json={"workflow_type": "W", "task_queue": "q"}
    )

    disabled = await http.post(f"/api/v1/tenants/{tenant.name}/disable", headers=SYSTEM)

    assert disabled.status_code == 200 and disabled.json()["disabled_at"]
    refused = await tenant.client.get(tenant.ns("/workflows/kept"))
    assert "disabled" in assert_problem(refused, 401, "unauthenticated")["detail"]
    assert (await other_tenant.client.get("/api/v1/me")).status_code == 200
    enabled = await http.post(f"/api/v1/tenants/{tenant.name}/enable", headers=SYSTEM)
    assert enabled.status_code == 200 and enabled.json()["disabled_at"] is None
    kept = await tenant.client.get(tenant.ns("/workflows/kept"))
    assert kept.status_code == 200 and kept.json()["status"] == "RUNNING"


async def test_only_the_system_administrator_manages_tenants(http, tenant):
    for method, path in [
        ("GET", "/api/v1/tenants"),
        ("GET", f"/api/v1/tenants/{tenant.name}"),
        ("POST", f"/api/v1/tenants/{tenant.name}/disable"),
        ("POST", f"/api/v1/tenants/{tenant.name}/enable"),
    ]:
        answer = await tenant.client.request(method, path)
        assert_problem(answer, 401, "unauthenticated")
    assert (await tenant.client.get("/api/v1/me")).status_code == 200


async def test_an_unknown_tenant_is_a_404_problem(http):
    for method, path in [
        ("GET", "/api/v1/tenants/no-such-tenant"),
        ("POST", "/api/v1/tenants/no-such-tenant/disable"),
    ]:
        assert_problem(await http.request(method, path, headers=SYSTEM), 404, "not-found")
