"""Long polls: a poller that hung up is never handed a task."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from tests.rawhttp import Raw


async def test_a_poller_that_hung_up_is_not_handed_the_next_task(tenant, server):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    raw = Raw(tenant, task_queue=queue)
    path = tenant.ns(f"/task-queues/{queue}/workflow-tasks/poll")
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=tenant.client.headers
    ) as leaving:
        abandoned = asyncio.create_task(
            leaving.post(path, json={"identity": "leaving", "wait": 60})
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the server holds the poll
            pollers = (await tenant.client.get(tenant.ns(f"/task-queues/{queue}"))).json()[
                "pollers"
            ]
            if pollers:
                break
            await asyncio.sleep(0.02)
        abandoned.cancel()
    await raw.start("after-hang-up")
    # Without the check the server would still hand the task to the dead poll (the oldest
    # waiter), and it would stay lost until its 10 s timeout.
    task = await raw.next_workflow_task(wait=5)
    assert task["workflow_id"] == "after-hang-up"
    assert task["attempt"] == 1
