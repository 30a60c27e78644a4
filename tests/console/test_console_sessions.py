"""Console sessions over plain HTTP: the cookie, the sign-in form's CSRF token, expiry."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from tests.conftest import Tenant


async def sign_in_form(client: httpx.AsyncClient) -> str:
    page = (await client.get("/console/sign-in")).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def test_the_cookie_names_a_session_and_never_carries_the_key(server, tenant: Tenant):
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        r = await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
        )
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "perdure_console=" in cookie and tenant.admin_key not in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert (await browser.get("/console/namespaces")).status_code == 200


async def test_a_wrong_key_or_a_missing_form_token_signs_nobody_in(server, tenant: Tenant):
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        r = await browser.post(
            "/console/sign-in", data={"api_key": "pdk_" + "x" * 40, "csrf_token": token}
        )
        assert r.status_code == 401 and "not valid" in r.text
        r = await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": "forged"}
        )
        assert r.status_code == 403
        r = await browser.get("/console/namespaces")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")


async def test_an_idle_session_ends(server, tenant: Tenant):
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
        )
        assert (await browser.get("/console/namespaces")).status_code == 200
        server.ctx.clock.advance(timedelta(seconds=server.ctx.settings.console_idle_seconds + 1))
        r = await browser.get("/console/namespaces")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")


async def test_console_pages_of_another_tenants_namespace_are_404(
    server, tenant: Tenant, other_tenant: Tenant
):
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": other_tenant.admin_key, "csrf_token": token}
        )
        private = f"private-{tenant.name}"
        made = await tenant.client.post("/api/v1/namespaces", json={"name": private})
        assert made.status_code == 201
        r = await tenant.client.post(
            f"/api/v1/namespaces/{private}/workflows/secret",
            json={"workflow_type": "T", "task_queue": "q"},
        )
        assert r.status_code == 201
        for path in ("/workflows", "/workflows/secret", "/task-queues", "/webhooks"):
            r = await browser.get(f"/console/n/{private}{path}")
            assert r.status_code == 404, path


async def test_a_large_payload_is_drawn_within_a_budget(server, tenant: Tenant):
    big = {"items": [{"n": n, "text": "x" * 50} for n in range(5000)], "blob": "y" * 100_000}
    r = await tenant.client.post(
        tenant.ns("/workflows/large-input"),
        json={"workflow_type": "T", "task_queue": "large", "input": big},
    )
    assert r.status_code == 201
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
        )
        page = await browser.get(f"/console/n/{tenant.namespace}/workflows/large-input")
    assert page.status_code == 200
    assert "more not shown" in page.text and "more characters" in page.text
    # The whole input is about 400 kB of JSON; the page draws a bounded part of it (the
    # start-like form carries the input once, as text, to start a run like it).
    assert len(page.text) < 2 * len(r.request.content) + 600_000
