"""Worker deployments in a real headless chromium (issue 21): the list and a deployment's page
pass axe, a replay check started from the page opens the gate, ramping goes through the
confirmation page (also checked with axe) and lands back on the deployment with the ramp shown,
and a run's page shows its pinned version."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.cli.test_cli_versioning import routing, versioned_poll
from tests.conftest import CHROMIUM, Tenant
from tests.console.test_console_browser import check_accessibility, page, sign_in
from tests.engine_helpers import raw_on_fresh_queue, uid

__all__ = ["page"]  # the fixture, shared with the other browser tests

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)",
)


async def test_check_then_ramp_a_version_through_the_confirmation_page(page: Any, tenant: Tenant):
    name, queue = uid("shop"), uid("q")
    await versioned_poll(tenant, queue, name, "b1")
    await versioned_poll(tenant, queue, name, "b2")
    await sign_in(page, tenant.admin_key)

    await page.goto(f"/console/n/{tenant.namespace}/deployments")
    await check_accessibility(page, "deployments")
    await page.get_by_role("link", name=name).click()
    await page.locator("#versions").wait_for()
    await check_accessibility(page, "deployment")

    # Nothing runs on the deployment's queue yet: b2's check passes at once, opening the gate.
    await page.get_by_role("button", name="Start a replay check of version b2").click()
    await page.locator("#replay-check-b2 .check-passed").wait_for()
    await check_accessibility(page, "deployment-checked")

    await page.get_by_label("Percentage of new runs to ramp to b2").fill("30")
    await page.get_by_role("button", name="Ramp… version b2").click()
    await page.locator(
        "#change", has_text=f"ramp 30 % of new runs of {name} to {name}.b2"
    ).wait_for()
    await check_accessibility(page, "deployment-confirm")
    assert (await routing(tenant, name))["ramping_version"] is None  # asking changed nothing

    await page.get_by_role("button", name="Confirm").click()
    await page.locator("#routing", has_text=f"{name}.b2 at 30 %").wait_for()
    ramping = await routing(tenant, name)
    assert ramping["ramping_version"]["build_id"] == "b2"
    assert ramping["ramping_version_percentage"] == 30


async def test_the_run_page_names_the_version_a_run_is_pinned_to(page: Any, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid("pinned")
    version = {"deployment_name": "shop", "build_id": "b9"}
    await raw.start(
        workflow_id, versioning_override={"pinned": {"behavior": "PINNED", "version": version}}
    )
    await sign_in(page, tenant.admin_key)

    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}")

    await page.locator("#versioning", has_text="pinned to shop.b9").wait_for()
    await check_accessibility(page, "run-versioning")
