"""Console pages over plain HTTP (no browser): the timeline drawn in pages of rows."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Tenant
from tests.console.test_console_sessions import sign_in_form
from tests.engine_helpers import raw_on_fresh_queue, uid
from tests.rawhttp import schedule_activity


async def test_a_long_timeline_is_drawn_a_page_of_rows_at_a_time(server, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid("tl")
    started = await raw.start(workflow_id)
    commands = [schedule_activity(f"a{i:03}", "Step") for i in range(101)]
    await raw.complete(await raw.next_workflow_task(), *commands)
    task = await raw.next_activity_task()
    await raw.activity("complete", task, result={"ok": True})

    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
        )
        base = f"/console/n/{tenant.namespace}/workflows/{workflow_id}/runs/{started['run_id']}"
        first = await browser.get(f"{base}/timeline")
        assert first.status_code == 200
        assert first.text.count("<title>Step") == 100
        after = re.search(r"timeline\?after=(\d+)", first.text).group(1)
        rest = await browser.get(f"{base}/timeline", params={"after": after})
        assert rest.text.count("<title>Step") == 1
        assert "a100" in rest.text and "Next rows" not in rest.text
        # The completed activity's row found its closing events (later ones, by reference).
        completed = first.text.count('class="bar completed"') + rest.text.count('"bar completed"')
        assert completed == 1


async def test_a_reader_sees_schedules_and_batches_but_its_forged_posts_are_refused(
    server, tenant: Tenant
):
    made = await tenant.client.post(
        "/api/v1/api-keys", json={"name": uid("reader"), "role": "reader"}
    )
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": made.json()["key"], "csrf_token": token}
        )
        n = f"/console/n/{tenant.namespace}"
        listed = await browser.get(f"{n}/schedules")
        assert listed.status_code == 200 and "Create schedule" not in listed.text
        workflows = await browser.get(f"{n}/workflows", params={"query": "WorkflowId = 'x'"})
        assert "Act on every matching run" not in workflows.text
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', listed.text).group(1)
        forged = {
            f"{n}/schedules": {
                "schedule_id": "s",
                "cron_expressions": "@daily",
                "workflow_type": "T",
                "task_queue": "q",
            },
            f"{n}/batch-operations": {"query": "WorkflowId = 'x'", "operation_type": "TERMINATE"},
        }
        for path, form in forged.items():
            refused = await browser.post(path, data={**form, "csrf_token": csrf})
            assert refused.status_code == 403, (path, refused.status_code)
    listed = (await tenant.client.get(tenant.ns("/schedules"))).json()
    assert listed["schedules"] == []
    jobs = (await tenant.client.get(tenant.ns("/batch-operations"))).json()
    assert jobs["batch_operations"] == []


async def test_the_queue_page_shows_backlog_by_priority_and_key_and_limits_have_a_page(
    server, tenant: Tenant
):
    raw = raw_on_fresh_queue(tenant)
    for key in ("acme", "acme", "globex"):
        await raw.start(uid(), priority={"priority_key": 2, "fairness_key": key})
    limit = uid("lim")
    made = await tenant.client.put(
        tenant.ns(f"/concurrency-limits/{limit}"),
        json={"applies_to": "workflows", "key": "concurrency_keys.customer", "max_running": 4},
    )
    assert made.status_code == 201, made.text

    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
        )
        page = await browser.get(f"/console/n/{tenant.namespace}/task-queues/{raw.q}")
        limits = await browser.get(f"/console/n/{tenant.namespace}/concurrency-limits")

    assert page.status_code == 200
    assert "<dt>priority 2</dt><dd>3</dd>" in page.text
    assert "<td>acme</td><td>2</td>" in page.text and "<td>globex</td><td>1</td>" in page.text
    assert limits.status_code == 200
    assert (
        f"<td>{limit}</td>" in limits.text
        and "<code>concurrency_keys.customer</code>" in limits.text
    )
