"""Schedules across restarts: times missed while the server was down are taken when they lie
inside the catch-up window; and with two replicas on PostgreSQL every time is taken once."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta

import httpx
import pytest

from app.clock import Clock
from tests.conftest import Tenant, fresh_database, new_tenant, serve_app
from tests.schedules_helpers import (
    create,
    describe,
    nominal_times,
    own_server_settings,
    sid,
    whole_minute_after,
)


def on(tenant: Tenant, base_url: str) -> Tenant:
    client = httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {tenant.admin_key}"}, timeout=60
    )
    return Tenant(tenant.name, tenant.admin_key, tenant.namespace, client)


async def test_times_missed_while_down_are_taken_inside_the_catch_up_window(database_url):
    with fresh_database(database_url) as url:
        settings = own_server_settings(url)
        async with serve_app(settings) as before:
            async with httpx.AsyncClient(base_url=before.base_url) as http:
                tenant = await new_tenant(http)
            # Half past a minute, so the window's edges fall between the minutes.
            created = whole_minute_after(before.ctx.clock.now()) + timedelta(seconds=30)
            before.ctx.clock.advance_to(created)
            wide, narrow = sid("wide"), sid("narrow")
            every_minute = {"intervals": [{"every": 60}]}
            await create(tenant, wide, every_minute, policy={"overlap": "ALLOW_ALL"})
            await create(
                tenant,
                narrow,
                every_minute,
                policy={"overlap": "ALLOW_ALL", "catchup_window": 120},
            )
            await tenant.client.aclose()

        # Down for ten minutes; the next server starts with its own clock.
        async with serve_app(settings) as after:
            after.ctx.clock.advance_to(created + timedelta(minutes=10))
            await after.app.state.engine.deadline_loop.fire_due_timers()
            tenant = on(tenant, after.base_url)
            minutes = [created + timedelta(seconds=30 + 60 * i) for i in range(10)]
            expected = [m.isoformat().replace("+00:00", "Z") for m in minutes]

            assert await nominal_times(tenant, wide) == expected
            assert await nominal_times(tenant, narrow) == expected[-2:]
            info = (await describe(tenant, narrow))["info"]
            assert info["num_actions_missed_catchup_window"] == 8
            await tenant.client.aclose()


@pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="several server processes share a database only on PostgreSQL",
)
async def test_two_replicas_take_each_second_of_a_schedule_exactly_once(database_url):
    with fresh_database(database_url) as url:
        settings = own_server_settings(url)
        # One clock for both replicas, moved a second or two at a time: every step both fire
        # what became due at once (their deadline loops race along too), so each second is
        # contended without waiting for it in real time.
        clock = Clock()
        async with serve_app(settings, clock=clock) as a, serve_app(settings, clock=clock) as b:
            async with httpx.AsyncClient(base_url=a.base_url) as http:
                tenant = await new_tenant(http)
            schedule = sid()
            await create(
                tenant, schedule, {"intervals": [{"every": 1}]}, policy={"overlap": "ALLOW_ALL"}
            )
            replicas = (a.app.state.engine, b.app.state.engine)
            for step in range(40):
                clock.advance(timedelta(seconds=1 + step % 2))
                await asyncio.gather(
                    *(engine.deadline_loop.fire_due_timers() for engine in replicas)
                )
            assert (
                await tenant.client.delete(tenant.ns(f"/schedules/{schedule}"))
            ).status_code == 204

            seen = await nominal_times(on(tenant, b.base_url), schedule)
            seconds = [datetime.fromisoformat(t) for t in seen]
            assert len(seconds) >= 58, seen
            assert len(set(seconds)) == len(seconds), "a second was taken twice"
            assert seconds == [seconds[0] + timedelta(seconds=i) for i in range(len(seconds))], (
                "a second was skipped"
            )
            await tenant.client.aclose()
