"""The development clock: Temporal's test-server lock on time skipping, through REST."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, RunningServer, Tenant, fresh_database, new_tenant, serve_app
from tests.rawhttp import Raw, start_timer

CLOCK = "/api/v1/dev/clock"


@contextlib.asynccontextmanager
async def clock_server(
    database_url: str, *, time_skipping: bool = True
) -> AsyncIterator[tuple[RunningServer, Tenant]]:
    """A development server of its own (skipping time or not), with one tenant."""
    with fresh_database(database_url) as url:
        settings = Settings(
            database_url=url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.DEVELOPMENT,
            time_skipping=time_skipping,
        )
        async with (
            serve_app(settings) as running,
            httpx.AsyncClient(base_url=running.base_url) as http,
        ):
            tenant = await new_tenant(http)
            yield running, tenant
            await tenant.client.aclose()


def clock_time(answer: httpx.Response) -> datetime:
    assert answer.status_code == 200, answer.text
    return datetime.fromisoformat(answer.json()["time"])


async def test_a_locked_clock_does_not_skip_to_the_next_timer(database_url):
    async with clock_server(database_url) as (running, tenant):
        locked = await tenant.client.post(f"{CLOCK}/lock")
        assert locked.json()["lock_count"] == 1
        raw = Raw(tenant)
        await raw.start("sleeper")
        task = await raw.next_workflow_task()
        before = running.ctx.clock.now()  # the timer starts after this: it fires 1 h after
        await raw.complete(task, start_timer("hour", 3600))

        assert await running.app.state.engine.deadline_loop.skip_time_if_idle() is False
        assert running.ctx.clock.now() - before < timedelta(minutes=1)

        unlocked = await tenant.client.post(f"{CLOCK}/unlock")
        assert unlocked.json()["lock_count"] == 0
        task = await raw.next_workflow_task(wait=10)
        assert "TIMER_FIRED" in [e["event_type"] for e in task["history"]["events"]]
        assert running.ctx.clock.now() - before >= timedelta(hours=1)


async def test_unlock_with_sleep_moves_the_clock_by_the_duration_and_locks_again(database_url):
    async with clock_server(database_url) as (running, tenant):
        await tenant.client.post(f"{CLOCK}/lock")
        raw = Raw(tenant)
        await raw.start("sleeper")
        await raw.complete(await raw.next_workflow_task(), start_timer("hour", 3600))
        before = clock_time(await tenant.client.get(CLOCK))

        slept = await tenant.client.post(f"{CLOCK}/unlock-with-sleep", json={"duration": 1800})
        after = clock_time(slept)
        assert timedelta(minutes=30) <= after - before < timedelta(minutes=59)
        assert slept.json()["lock_count"] == 1
        assert "TIMER_FIRED" not in await raw.event_types("sleeper")

        slept = await tenant.client.post(f"{CLOCK}/unlock-with-sleep", json={"duration": 1860})
        assert clock_time(slept) - before >= timedelta(minutes=61)
        task = await raw.next_workflow_task(wait=10)
        assert "TIMER_FIRED" in [e["event_type"] for e in task["history"]["events"]]


async def test_sleep_until_reaches_the_moment_when_nobody_holds_the_lock(database_url):
    async with clock_server(database_url) as (running, tenant):
        before = clock_time(await tenant.client.get(CLOCK))
        target = before + timedelta(days=3)
        slept = await tenant.client.post(f"{CLOCK}/sleep-until", json={"time": target.isoformat()})
        assert clock_time(slept) >= target
        assert slept.json()["lock_count"] == 0


async def test_an_unlock_without_a_lock_is_refused_and_changes_nothing(database_url):
    async with clock_server(database_url) as (running, tenant):
        refused = await tenant.client.post(f"{CLOCK}/unlock")
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/failed-precondition")
        assert (await tenant.client.get(CLOCK)).json()["lock_count"] == 0


async def test_bad_sleeps_are_problems(database_url):
    async with clock_server(database_url) as (running, tenant):
        for body in ({"duration": -1}, {"duration": "soon"}, {}, {"duration": 1, "x": 1}):
            refused = await tenant.client.post(f"{CLOCK}/unlock-with-sleep", json=body)
            assert refused.status_code == 400, body
        assert (await tenant.client.get(CLOCK)).json()["lock_count"] == 0


async def test_a_real_time_server_tells_its_time_but_refuses_the_lock(database_url):
    async with clock_server(database_url, time_skipping=False) as (running, tenant):
        answer = await tenant.client.get(CLOCK)
        assert answer.json()["time_skipping"] is False
        refused = await tenant.client.post(f"{CLOCK}/lock")
        assert refused.status_code == 409
        assert "time-skipping" in refused.json()["detail"]


async def test_the_clock_routes_are_refused_in_production(database_url):
    with fresh_database(database_url) as url:
        settings = Settings(
            database_url=url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.PRODUCTION,
            secret_key="s" * 32,
        )
        async with (
            serve_app(settings) as running,
            httpx.AsyncClient(base_url=running.base_url) as http,
        ):
            tenant = await new_tenant(http)
            for method, path in (("GET", ""), ("POST", "/lock"), ("POST", "/unlock")):
                refused = await tenant.client.request(method, CLOCK + path)
                assert refused.status_code == 403, refused.text
                assert "production" in refused.json()["detail"]
            await tenant.client.aclose()


async def test_the_clock_needs_a_key(database_url):
    async with clock_server(database_url) as (running, tenant):
        async with httpx.AsyncClient(base_url=running.base_url) as anonymous:
            assert (await anonymous.get(CLOCK)).status_code == 401
            assert (await anonymous.post(f"{CLOCK}/lock")).status_code == 401
