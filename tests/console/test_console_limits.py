"""The Limits page over plain HTTP (no browser): a reader sees the limits but no form, and its
forged posts are refused; a bad form is a problem that changes nothing."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Tenant
from tests.console.test_console_sessions import sign_in_form
from tests.engine_helpers import uid


async def _signed_in(browser: httpx.AsyncClient, key: str) -> None:
    token = await sign_in_form(browser)
    await browser.post("/console/sign-in", data={"api_key": key, "csrf_token": token})


async def _csrf(page: httpx.Response) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def test_a_reader_sees_the_limits_but_no_forms_and_its_forged_posts_are_refused(
    server, tenant: Tenant
):
    name = uid("lim")
    spec = {"applies_to": "workflows", "key": "concurrency_keys.customer", "max_running": 2}
    made = await tenant.client.put(tenant.ns(f"/concurrency-limits/{name}"), json=spec)
    assert made.status_code == 201, made.text
    reader = await tenant.client.post(
        "/api/v1/api-keys", json={"name": uid("reader"), "role": "reader"}
    )

    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await _signed_in(browser, reader.json()["key"])
        n = f"/console/n/{tenant.namespace}/concurrency-limits"
        listed = await browser.get(n)
        assert listed.status_code == 200
        assert name in listed.text
        assert "Create limit" not in listed.text and f"Delete {name}" not in listed.text
        csrf = await _csrf(listed)
        forged = {
            n: {"name": name, "applies_to": "workflows", "key": "workflow_type", "max_running": 9},
            f"{n}/{name}/pause": {},
            f"{n}/{name}/delete": {},
        }
        for path, form in forged.items():
            refused = await browser.post(path, data={**form, "csrf_token": csrf})
            assert refused.status_code == 403, (path, refused.status_code)

    kept = (await tenant.client.get(tenant.ns(f"/concurrency-limits/{name}"))).json()
    assert (kept["max_running"], kept["paused"], kept["key"]) == (
        2,
        False,
        "concurrency_keys.customer",
    )


async def test_a_bad_limit_form_is_a_400_page_and_creates_nothing(server, tenant: Tenant):
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        await _signed_in(browser, tenant.admin_key)
        n = f"/console/n/{tenant.namespace}/concurrency-limits"
        csrf = await _csrf(await browser.get(n))
        good = {"applies_to": "activities", "key": "activity_type", "max_running": "1"}
        for form in (
            {**good, "name": "-starts-badly"},
            {**good, "name": uid("lim"), "max_running": "0"},
            {**good, "name": uid("lim"), "key": "colour"},
        ):
            refused = await browser.post(n, data={**form, "csrf_token": csrf})
            assert refused.status_code == 400, (form, refused.status_code)
        unsigned = await browser.post(n, data={**good, "name": uid("lim")})
        assert unsigned.status_code == 403

    listed = (await tenant.client.get(tenant.ns("/concurrency-limits"))).json()
    assert listed["limits"] == []
