"""Time-skipping mode: an update not yet accepted or rejected holds the clock, as a waiting
query does (its workflow task waits for a worker, then is in the worker's hands)."""

from __future__ import annotations

import asyncio

from tests.conftest import new_tenant
from tests.engine.test_engine_time_skipping import skipping_server
from tests.engine_helpers import types
from tests.rawhttp import Raw, start_timer
from tests.update_helpers import reject, send_update


async def test_an_unanswered_update_holds_the_clock_until_it_is_rejected(database_url):
    async with skipping_server(database_url) as (skipping, http):
        tenant = await new_tenant(http)
        raw = Raw(tenant, task_queue="updates")
        engine = skipping.app.state.engine
        await raw.start("sleeper")
        first = await raw.next_workflow_task()  # in hand: the clock stands still
        clock_before = skipping.ctx.clock.now()
        caller = asyncio.create_task(send_update(tenant, "sleeper", "add", 1))
        await asyncio.sleep(0.2)  # admitted while the task runs: the next task carries it
        await raw.complete(first, start_timer("hour", 3600))

        assert (
            await engine.deadline_loop.skip_time_if_idle() is False
        )  # its task waits for the worker
        task = await raw.next_workflow_task()
        assert await engine.deadline_loop.skip_time_if_idle() is False  # in the worker's hands
        assert "TIMER_FIRED" not in types(task["history"]["events"])
        assert (skipping.ctx.clock.now() - clock_before).total_seconds() < 60
        await raw.complete(task, messages=[reject(task["messages"][0])])
        assert "failure" in (await caller).json()["outcome"]

        task = await raw.next_workflow_task(wait=10)  # now the hour passes at once
        assert "TIMER_FIRED" in types(task["history"]["events"])
        await tenant.client.aclose()
