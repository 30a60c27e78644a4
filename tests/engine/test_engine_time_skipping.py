"""Time-skipping mode: when only timers remain, the server jumps to the next one."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx

from app.engine import deadlines
from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, RunningServer, fresh_database, new_tenant, serve_app
from tests.rawhttp import Raw, complete_workflow, start_timer


@contextlib.asynccontextmanager
async def skipping_server(
    database_url: str,
) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient]]:
    """A time-skipping server of its own, on a fresh database of the suite's kind."""
    with fresh_database(database_url) as url:
        settings = Settings(
            database_url=url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.DEVELOPMENT,
            time_skipping=True,
        )
        async with (
            serve_app(settings) as skipping,
            httpx.AsyncClient(base_url=skipping.base_url) as http,
        ):
            yield skipping, http


async def test_a_thirty_day_sleep_completes_in_well_under_a_second(database_url):
    async with skipping_server(database_url) as (skipping, http):
        tenant = await new_tenant(http)
        raw = Raw(tenant)
        wall_started = time.monotonic()
        clock_started = skipping.ctx.clock.now()

        await raw.start("sleeper")
        task = await raw.next_workflow_task()
        await raw.complete(task, start_timer("month", 30 * 86400))
        task = await raw.next_workflow_task(wait=10)
        assert "TIMER_FIRED" in [e["event_type"] for e in task["history"]["events"]]
        await raw.complete(task, complete_workflow("rested"))

        outcome = await raw.result("sleeper")
        wall = time.monotonic() - wall_started
        assert outcome["status"] == "COMPLETED"
        assert (skipping.ctx.clock.now() - clock_started).days >= 30
        assert wall < 5, f"took {wall:.2f}s of wall time"
        await tenant.client.aclose()


async def test_a_task_nobody_polls_does_not_hold_another_namespaces_timer(database_url):
    """One namespace leaves a run whose workflow task no worker takes; another's one-hour timer
    still fires at once: a task waiting past UNSERVED_AFTER_SECONDS stops holding the clock."""
    async with skipping_server(database_url) as (skipping, http):
        stray_tenant, tenant = await new_tenant(http), await new_tenant(http)
        await Raw(stray_tenant, task_queue="nobody-polls").start("stray")
        # The stray task has waited this long (the engine clock, moved by hand).
        skipping.ctx.clock.advance(timedelta(seconds=deadlines.UNSERVED_AFTER_SECONDS + 1))

        raw = Raw(tenant)
        await raw.start("sleeper")
        await raw.complete(await raw.next_workflow_task(), start_timer("hour", 3600))
        task = await raw.next_workflow_task(wait=10)
        assert "TIMER_FIRED" in [e["event_type"] for e in task["history"]["events"]]
        await raw.complete(task, complete_workflow("rested"))
        assert (await raw.result("sleeper"))["status"] == "COMPLETED"
        stray = await Raw(stray_tenant).describe("stray")
        assert stray["status"] == "RUNNING"
        await stray_tenant.client.aclose()
        await tenant.client.aclose()


async def test_a_task_that_just_arrived_still_holds_the_clock(database_url):
    """A worker may be about to poll: a fresh task holds the clock, so a run's time-out does
    not fire before its first workflow task is taken."""
    async with skipping_server(database_url) as (skipping, http):
        tenant = await new_tenant(http)
        raw = Raw(tenant, task_queue="late-worker")
        await raw.start("timed", execution_timeout=3600)

        assert await skipping.app.state.engine.deadline_loop.skip_time_if_idle() is False
        assert (await raw.describe("timed"))["status"] == "RUNNING"
        task = await raw.next_workflow_task()
        await raw.complete(task, complete_workflow("in time"))
        assert (await raw.result("timed"))["status"] == "COMPLETED"
        await tenant.client.aclose()
