"""The console's Limits page in the same headless chromium as tests/console/test_console_browser.py
(its fixtures and helpers, imported): a concurrency limit created, changed, paused, resumed and
deleted (after a confirmation) through its forms, checked with axe-core."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest

from tests.conftest import CHROMIUM, Tenant
from tests.console.test_console_browser import check_accessibility, page, sign_in  # noqa: F401
from tests.engine_helpers import uid

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)",
)


async def _limit(tenant: Tenant, name: str) -> dict[str, Any]:
    r = await tenant.client.get(tenant.ns(f"/concurrency-limits/{name}"))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_limit_is_created_changed_paused_resumed_and_deleted_after_confirming(
    page,  # noqa: F811
    tenant: Tenant,
):
    name = uid("charges")
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/concurrency-limits")
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Applies to").select_option("activities")
    await page.get_by_label("Key", exact=False).fill("concurrency_keys.customer")
    await page.get_by_label("Max running", exact=True).fill("3")
    await page.get_by_label("Strategy", exact=True).select_option("CANCEL_NEWEST")
    await page.get_by_role("button", name="Create limit").click()
    row = page.locator(f'tr[data-limit="{name}"]')
    await row.wait_for()
    assert (await _limit(tenant, name))["max_running"] == 3
    assert (await _limit(tenant, name))["strategy"] == "CANCEL_NEWEST"
    await check_accessibility(page, "concurrency-limits")

    await row.get_by_text("Change", exact=True).click()
    await row.get_by_label("Max running").fill("5")
    await row.get_by_label("Strategy").select_option("GROUP_ROUND_ROBIN")
    await row.get_by_role("button", name=f"Save {name}").click()
    await (
        page.locator(f'tr[data-limit="{name}"]')
        .get_by_role("cell", name="GROUP_ROUND_ROBIN", exact=True)
        .wait_for()
    )
    changed = await _limit(tenant, name)
    assert (changed["max_running"], changed["strategy"], changed["paused"]) == (
        5,
        "GROUP_ROUND_ROBIN",
        False,
    )

    await page.get_by_role("button", name=f"Pause {name}").click()
    await page.get_by_role("button", name=f"Resume {name}").wait_for()
    assert (await _limit(tenant, name))["paused"] is True
    await page.get_by_role("button", name=f"Resume {name}").click()
    await page.get_by_role("button", name=f"Pause {name}").wait_for()
    assert (await _limit(tenant, name))["paused"] is False

    asked: list[str] = []

    def decline(dialog: Any) -> None:
        asked.append(dialog.message)
        asyncio.ensure_future(dialog.dismiss())

    page.once("dialog", decline)
    await page.get_by_role("button", name=f"Delete {name}").click()
    await page.wait_for_timeout(200)
    assert asked and name in asked[0]
    assert (await _limit(tenant, name))["name"] == name  # declined: nothing sent

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name=f"Delete {name}").click()
    await page.get_by_role("cell", name="No concurrency limit in this namespace.").wait_for()
    gone = await tenant.client.get(tenant.ns(f"/concurrency-limits/{name}"))
    assert gone.status_code == 404
