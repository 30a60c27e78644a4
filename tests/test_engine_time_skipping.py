"""Time-skipping mode: when only timers remain, the server jumps to the next one."""

from __future__ import annotations

import time

import httpx

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, fresh_database, new_tenant, serve_app
from tests.rawhttp import Raw, complete_workflow, start_timer


async def test_a_thirty_day_sleep_completes_in_well_under_a_second(database_url):
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
