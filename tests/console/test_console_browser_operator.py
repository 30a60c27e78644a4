"""The run page for operators (issue 24) in a real headless chromium: the toolbar's query,
terminate and reset with confirmations naming the run, pause and unpause, activity controls,
the compact history by family, and times with their zone."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import CHROMIUM, Tenant
from tests.console.test_console_browser import TIMEOUT_MS, check_accessibility, sign_in
from tests.engine_helpers import raw_on_fresh_queue, uid
from tests.rawhttp import Raw, schedule_activity, start_timer

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)",
)


@pytest.fixture
async def page(browser: Any, server: Any) -> AsyncIterator[Any]:
    # A zone of its own, so that the time toggle has something to show.
    context = await browser.new_context(base_url=server.base_url, timezone_id="Asia/Tokyo")
    context.set_default_timeout(TIMEOUT_MS)
    made = await context.new_page()
    yield made
    await context.close()


async def run_with_timer_and_activity(raw: Raw) -> tuple[str, str]:
    workflow_id = uid("ops")
    started = await raw.start(workflow_id)
    await raw.complete(
        await raw.next_workflow_task(),
        start_timer("nap", 3600),
        schedule_activity("charge-1", "Charge"),
    )
    return workflow_id, started["run_id"]


async def test_terminate_asks_first_naming_the_run(page, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, run_id = await run_with_timer_and_activity(raw)
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}")
    await check_accessibility(page, "run-operator")

    asked: list[str] = []

    def decline(dialog: Any) -> None:
        asked.append(dialog.message)
        asyncio.ensure_future(dialog.dismiss())

    page.once("dialog", decline)
    await page.get_by_role("button", name="Terminate").click()
    await page.wait_for_timeout(200)
    assert asked and run_id in asked[0] and workflow_id in asked[0]
    assert (await raw.describe(workflow_id))["status"] == "RUNNING"  # declined: nothing sent

    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Terminate").click()
    await page.locator("#run-status", has_text="TERMINATED").wait_for()


async def test_query_answers_in_the_page_and_pause_refuses_it(page, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, _ = await run_with_timer_and_activity(raw)
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}")

    async def answer_one() -> None:
        task = await raw.next_workflow_task(wait=10)
        await tenant.client.post(
            tenant.ns("/workflow-tasks/respond-query"),
            json={"query_id": task["query"]["query_id"], "answer": {"step": "charging"}},
        )

    worker = asyncio.create_task(answer_one())
    await page.get_by_label("Query").fill("status")
    await page.get_by_role("button", name="Ask").click()
    await page.locator("#query-answer", has_text="charging").wait_for()
    await worker

    await page.get_by_label("Why pause").fill("looking into it")
    await page.get_by_role("button", name="Pause", exact=True).click()
    await page.locator("#run-status", has_text="PAUSED").wait_for()
    await page.get_by_text("looking into it").first.wait_for()
    await page.get_by_label("Query").fill("status")
    await page.get_by_role("button", name="Ask").click()
    await page.locator("#query-answer", has_text="is paused").wait_for()
    await check_accessibility(page, "run-paused")

    await page.get_by_role("button", name="Unpause").click()
    await page.locator("#run-status", has_text="RUNNING").wait_for()
    assert (await raw.describe(workflow_id))["status"] == "RUNNING"


async def test_reset_from_an_event_asks_first_and_opens_the_new_run(page, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, run_id = await run_with_timer_and_activity(raw)
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}")

    await page.get_by_label("Reset to").select_option("4")  # the first WORKFLOW_TASK_COMPLETED
    await page.get_by_label("Why reset").fill("bad deploy")
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        asyncio.ensure_future(dialog.accept())

    page.once("dialog", accept)
    await page.get_by_role("button", name="Reset", exact=True).click()
    await page.wait_for_url(re.compile(r"/runs/(?!" + run_id + ")[0-9a-f-]+$"))
    assert run_id in asked[0]
    reset_from = page.locator("dl.facts dt", has_text="Reset from")
    await reset_from.wait_for()  # the new run links its base
    assert run_id in await page.locator("dl.facts dt:has-text('Reset from') + dd").inner_text()
    new_run = (await raw.describe(workflow_id))["run_id"]
    assert new_run != run_id and new_run in page.url
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}/runs/{run_id}")
    await page.locator("#run-status", has_text="TERMINATED").wait_for()
    await page.get_by_role("link", name=new_run).wait_for()  # "Reset to" links the new run


async def test_activity_controls_timers_compact_history_and_local_times(page, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id, _ = await run_with_timer_and_activity(raw)
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}")

    timer_row = page.get_by_role("row").filter(has_text="nap")
    await timer_row.get_by_text("60.0 min", exact=True).wait_for()  # its duration
    await timer_row.get_by_text(re.compile(r"in \d")).wait_for()  # fires in …

    await page.get_by_role("button", name="Pause activity charge-1").click()
    activity_row = page.locator("tr[id^='activity-']", has_text="charge-1")
    await activity_row.get_by_text("PAUSED").wait_for()
    assert (await raw.describe(workflow_id))["pending_activities"][0]["paused"] is True
    assert await raw.poll_activity_task(wait=0.3) is None
    await page.get_by_role("button", name="Unpause activity charge-1").click()
    await (
        page.locator("tr[id^='activity-']", has_text="charge-1").get_by_text("SCHEDULED").wait_for()
    )
    assert (await raw.next_activity_task())["activity_id"] == "charge-1"

    await page.get_by_label("Event family").select_option("activity")
    await page.get_by_role("button", name="Compact view").click()
    group = page.locator("tr.group")
    await group.first.get_by_text("Activity Charge (charge-1)").wait_for()
    assert await group.count() == 1
    await page.get_by_label("Event family").select_option("")
    await page.get_by_role("button", name="Compact view").click()
    await page.locator("tr.group", has_text="Timer nap").wait_for()
    await check_accessibility(page, "run-compact")
    await page.get_by_role("button", name="Full view").click()
    await page.get_by_role("cell", name="TIMER_STARTED").wait_for()

    first_time = page.locator("time").first
    assert (await first_time.inner_text()).endswith(" UTC")
    await page.get_by_role("button", name="Times: UTC").click()
    await page.get_by_role("button", name="Times: local").wait_for()
    assert re.search(r"GMT\+9|JST", await first_time.inner_text())
