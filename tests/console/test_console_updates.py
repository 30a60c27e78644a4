"""The run page's Update action (plain HTTP, as a browser's form post): the update reaches
the workflow, its answer is shown, and its accepted/completed events are in the history."""

from __future__ import annotations

import asyncio
import re

import httpx

from tests.conftest import Tenant
from tests.console.test_console_sessions import sign_in_form
from tests.engine.test_updates import answer_next
from tests.engine_helpers import raw_on_fresh_queue, uid
from tests.rawhttp import start_timer


async def test_the_update_action_sends_an_update_and_shows_its_result(server, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid("console")
    started = await raw.start(workflow_id)
    await raw.complete(await raw.next_workflow_task(), start_timer("t", 3600))

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as browser:
        token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
        )
        base = f"/console/n/{tenant.namespace}/workflows/{workflow_id}/runs/{started['run_id']}"
        page = await browser.get(base)
        assert "Send update" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        sent = asyncio.create_task(
            browser.post(
                f"{base}/update",
                data={
                    "csrf_token": csrf,
                    "update_name": "add",
                    "args": '[2, "x"]',
                    "update_id": "from-console",
                },
            )
        )
        task = await answer_next(raw, result={"total": 42})
        shown = await sent

        assert task["messages"][0]["body"]["input"]["args"] == [2, "x"]
        assert shown.status_code == 200, shown.text
        assert "from-console" in shown.text and "COMPLETED" in shown.text
        assert "42" in shown.text
        assert "WORKFLOW_EXECUTION_UPDATE_ACCEPTED" in shown.text
        assert "WORKFLOW_EXECUTION_UPDATE_COMPLETED" in shown.text
        refused = await browser.post(
            f"{base}/update", data={"csrf_token": csrf, "update_name": "add", "args": "{}"}
        )
        assert refused.status_code == 400
