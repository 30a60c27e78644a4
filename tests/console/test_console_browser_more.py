"""The console's schedules, batch operations and query box, in the same headless chromium as
tests/console/test_console_browser.py (its fixtures and helpers, imported), each main page checked
with axe-core and screenshotted to test-artifacts/console/."""

from __future__ import annotations

import re
import shutil
from urllib.parse import quote

import pytest

from tests.conftest import CHROMIUM, Tenant
from tests.console.test_console_browser import check_accessibility, page, sign_in  # noqa: F401
from tests.engine_helpers import raw_on_fresh_queue, uid

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)",
)


async def test_a_schedule_is_created_paused_triggered_backfilled_and_deleted(page, tenant: Tenant):  # noqa: F811
    schedule_id = uid("nightly")
    queue = uid("sq")  # nobody polls it: the started runs just wait
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/schedules")
    await page.get_by_label("Schedule id", exact=True).fill(schedule_id)
    await page.get_by_label("Cron expressions").fill("0 0 1 1 *")  # once a year, never in a test
    await page.get_by_label("Workflow type").fill("Nightly")
    await page.get_by_label("Task queue").fill(queue)
    await page.get_by_label("Input (JSON)").fill('{"full": true}')
    await page.get_by_label("Overlap policy").select_option("ALLOW_ALL")
    await page.get_by_role("button", name="Create schedule").click()
    await page.wait_for_url(re.compile(rf"/schedules/{schedule_id}$"))
    assert "-01-01 00:00:00" in await page.locator("#next-times li").first.inner_text()
    assert await page.locator("#spec-lines").inner_text() == "0 0 1 1 *"
    await check_accessibility(page, "schedule")

    await page.get_by_label("Note").fill("quiet week")
    await page.get_by_role("button", name="Pause").click()
    await page.locator("#schedule-state", has_text="paused").wait_for()
    assert await page.locator("#schedule-note").inner_text() == "quiet week"

    await page.get_by_text("Edit", exact=True).click()
    await page.get_by_label("New cron expressions").fill("0 0 1 7 *")
    await page.get_by_role("button", name="Save changes").click()
    await page.locator("#spec-lines", has_text="0 0 1 7 *").wait_for()

    await page.get_by_role("button", name="Trigger now").click()
    await page.locator("#outcome", has_text="Triggered: started").wait_for()
    await page.get_by_label("From (UTC)").fill("2020-07-01T00:00:00")
    await page.get_by_label("To (UTC)").fill("2023-07-01T00:00:00")
    await page.get_by_role("button", name="Backfill").click()
    await page.locator("#outcome", has_text="Backfilled: 4 started").wait_for()
    assert await page.locator("#recent-actions tbody tr").count() == 5
    described = (await tenant.client.get(tenant.ns(f"/schedules/{schedule_id}"))).json()
    assert described["schedule"]["state"] == {
        "note": "quiet week",
        "paused": True,
        "limited_actions": False,
        "remaining_actions": 0,
    }
    assert described["info"]["num_actions"] == 5

    await page.goto(f"/console/n/{tenant.namespace}/schedules")
    await page.get_by_role("cell", name="quiet week").wait_for()
    await check_accessibility(page, "schedules")
    await page.get_by_role("link", name=schedule_id).click()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete schedule").click()
    await page.wait_for_url(re.compile(r"/schedules$"))
    gone = await tenant.client.get(tenant.ns(f"/schedules/{schedule_id}"))
    assert gone.status_code == 404


async def test_the_query_box_filters_the_list_and_shows_a_bad_query_inline(page, tenant: Tenant):  # noqa: F811
    raw = raw_on_fresh_queue(tenant)
    prefix = uid("qb")
    for i in range(2):
        await raw.start(f"{prefix}-{i}", workflow_type="Invoice" if i else "Refund")
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows")
    box = page.get_by_label("Query")
    await box.fill(f"WorkflowType = 'Invoice' AND WorkflowId STARTS_WITH '{prefix}'")
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(re.compile(r"query=WorkflowType"))
    await page.get_by_role("link", name=f"{prefix}-1").wait_for()
    assert await page.get_by_role("link", name=f"{prefix}-0").count() == 0
    curl = await page.locator("#curl").inner_text()
    assert "query=WorkflowType+%3D+%27Invoice%27" in curl

    answer = await page.goto(
        f"/console/n/{tenant.namespace}/workflows?query={quote('WorkflowType = ')}"
    )
    assert answer is not None and answer.status == 400
    problem = page.locator("#query-problem")
    assert "position" in await problem.inner_text()
    assert await box.get_attribute("aria-invalid") == "true"
    assert await box.input_value() == "WorkflowType = "
    await check_accessibility(page, "workflows-bad-query")


async def test_a_batch_terminate_from_the_list_after_confirming_the_count(page, tenant: Tenant):  # noqa: F811
    raw = raw_on_fresh_queue(tenant)
    prefix = uid("bt")
    ids = [f"{prefix}-{i}" for i in range(3)]
    for workflow_id in ids:
        await raw.start(workflow_id)
    await sign_in(page, tenant.admin_key)
    query = f"WorkflowId STARTS_WITH '{prefix}'"
    await page.goto(f"/console/n/{tenant.namespace}/workflows?status=RUNNING&query={quote(query)}")
    await page.get_by_role("link", name="Act on every matching run…").click()
    await page.locator("#matching", has_text="3 runs").wait_for()
    await check_accessibility(page, "batch-new")
    await page.get_by_role("radio", name="Terminate").check()
    await page.get_by_label("Reason").fill("cleanup")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Start batch operation on 3 runs").click()
    await page.wait_for_url(re.compile(r"/batch-operations/[^/]+$"))
    assert "ExecutionStatus = 'RUNNING'" in await page.locator("#batch-query").inner_text()
    await page.locator("#batch-state", has_text="COMPLETED").wait_for()  # refreshes itself
    assert "3 of 3" in await page.locator("#batch-progress").inner_text()
    await check_accessibility(page, "batch-operation")
    for workflow_id in ids:
        assert (await raw.describe(workflow_id))["status"] == "TERMINATED"

    # A slow job, stopped from its page; the list shows both.
    await raw.start(f"{prefix}-slow-1")
    await raw.start(f"{prefix}-slow-2")
    slow = await tenant.client.post(
        tenant.ns("/batch-operations"),
        json={
            "query": f"WorkflowId STARTS_WITH '{prefix}-slow' AND ExecutionStatus = 'Running'",
            "operation_type": "SIGNAL",
            "signal_name": "poke",
            "max_operations_per_second": 0.02,  # the slowest allowed is one a minute
        },
    )
    assert slow.status_code == 201, slow.text
    await page.goto(f"/console/n/{tenant.namespace}/batch-operations")
    await page.get_by_role("link", name=slow.json()["job_id"]).click()
    await page.get_by_role("button", name="Stop batch operation").click()
    await page.locator("#batch-state", has_text="STOPPED").wait_for()
    await page.goto(f"/console/n/{tenant.namespace}/batch-operations")
    assert await page.locator("tbody tr").count() == 2
    await check_accessibility(page, "batch-operations")
