"""Console sign-in through OIDC against a loopback provider (tests/oidc_provider.py): the
claims map to a tenant, role and namespaces; the role is the API's; refresh renews it."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta

import httpx
import pytest

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, CHROMIUM, fresh_database, new_tenant, serve_app
from tests.oidc_provider import User, running_provider

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"Debian's chromium is not installed at {CHROMIUM}"
)


async def test_oidc_sign_in_maps_claims_to_tenant_and_role_and_refresh_renews_them(
    database_url, browser
):
    with fresh_database(database_url) as url:
        async with running_provider() as provider:
            settings = Settings(
                database_url=url,
                admin_token=ADMIN_TOKEN,
                environment=Environment.DEVELOPMENT,
                oidc_issuer=provider.base_url,
                oidc_client_id=provider.client.client_id,
                oidc_client_secret=provider.client.client_secret,
            )
            async with (
                serve_app(settings) as console,
                httpx.AsyncClient(base_url=console.base_url) as http,
            ):
                provider.client.redirect_uris = [f"{console.base_url}/console/oidc/callback"]
                tenant = await new_tenant(http)
                await tenant.client.post("/api/v1/namespaces", json={"name": "other"})
                provider.user = User(
                    "ada",
                    {
                        "email": "ada@example.com",
                        "perdure_tenant": tenant.name,
                        "perdure_role": "reader",
                        "perdure_namespaces": ["main"],
                    },
                )
                context = await browser.new_context(base_url=console.base_url)
                context.set_default_timeout(15_000)
                page = await context.new_page()
                try:
                    await page.goto("/console/sign-in")
                    await page.get_by_role("link", name="Sign in with single sign-on").click()
                    await page.wait_for_url(re.compile(r":\d+/console/n/main/workflows$"))
                    await page.goto("/console/namespaces")
                    who = page.locator(".who")
                    await who.get_by_text(f"{tenant.name} · ada@example.com (reader)").wait_for()
                    names = await page.locator("main table tbody td:first-child").all_inner_texts()
                    assert names == ["main"]  # the namespaces claim, not the whole tenant
                    forbidden = await page.goto("/console/api-keys")
                    assert forbidden.status == 403
                    hidden = await page.goto("/console/n/other/workflows")
                    assert hidden.status == 404

                    # The provider now says operator; once the tokens expire, a refresh reads it.
                    provider.user.claims["perdure_role"] = "operator"
                    console.ctx.clock.advance(timedelta(seconds=provider.access_token_seconds + 1))
                    await page.goto("/console/namespaces")
                    await who.get_by_text("(operator)").wait_for()
                    assert provider.refreshes == 1

                    provider.refuse_refresh = True
                    console.ctx.clock.advance(timedelta(seconds=provider.access_token_seconds + 1))
                    await page.goto("/console/namespaces")
                    await page.wait_for_url(re.compile(r":\d+/console/sign-in"))
                finally:
                    await context.close()
                    await tenant.client.aclose()
