"""Where the console's sign-in lands: the workflows list of the key's namespace (Temporal's UI
opens on its default namespace's workflows), the namespaces page when the key sees none."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import ADMIN_TOKEN, Tenant, keyed_client
from tests.console.test_console_sessions import sign_in_form


async def _landing(server, key: str) -> str:
    """Sign in with the key as a browser would and follow the redirects to where it lands."""
    async with httpx.AsyncClient(base_url=server.base_url, follow_redirects=True) as browser:
        token = await sign_in_form(browser)
        r = await browser.post("/console/sign-in", data={"api_key": key, "csrf_token": token})
        assert r.status_code == 200, r.text
        return r.url.path


async def test_sign_in_lands_on_the_workflows_list_of_default_if_the_key_sees_it(
    server, tenant: Tenant
):
    # Every tenant is made with a namespace "default" (as a Temporal cluster has one); the
    # fixture adds "main", and "alpha" comes first by name.
    made = await tenant.client.post("/api/v1/namespaces", json={"name": "alpha"})
    assert made.status_code == 201, made.text
    assert await _landing(server, tenant.admin_key) == "/console/n/default/workflows"


async def test_a_key_that_cannot_see_default_lands_on_its_first_namespace_by_name(
    server, tenant: Tenant
):
    made = await tenant.client.post("/api/v1/namespaces", json={"name": "alpha"})
    assert made.status_code == 201, made.text

    scoped = await tenant.client.post(
        "/api/v1/api-keys",
        json={"name": "scoped", "role": "reader", "namespaces": ["main", "alpha"]},
    )
    assert scoped.status_code == 201, scoped.text
    assert await _landing(server, scoped.json()["key"]) == "/console/n/alpha/workflows"


async def test_sign_in_lands_on_the_namespaces_page_when_the_key_sees_none(server, http):
    created = await http.post(
        "/api/v1/tenants",
        json={"name": f"t-{uuid.uuid4().hex[:12]}"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]["key"]
    async with keyed_client(http, key) as admin:
        assert (await admin.delete("/api/v1/namespaces/default")).status_code == 204
    assert await _landing(server, key) == "/console/namespaces"


async def test_a_next_page_wins_over_the_landing(server, tenant: Tenant):
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        r = await browser.post(
            "/console/sign-in",
            data={"api_key": tenant.admin_key, "csrf_token": token, "next": "/console/api-keys"},
        )
        assert (r.status_code, r.headers["location"]) == (303, "/console/api-keys")


async def test_the_home_page_sends_a_signed_out_browser_to_sign_in_and_back(server):
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        r = await browser.get("/console/")
        assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in?next=/console/")
