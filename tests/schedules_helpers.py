"""Helpers for the schedule tests: a server whose clock the tests own, and schedules over HTTP.

The server runs on a database of its own, so moving its clock by months (to a daylight-saving
day) cannot disturb the rest of the suite. Each test gets a fresh tenant, and its schedules are
deleted afterwards so that later clock jumps do not make them fire.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.settings import Environment, Settings
from tests.conftest import (
    ADMIN_TOKEN,
    LOOPBACK_TLS,
    RunningServer,
    Tenant,
    fresh_database,
    new_tenant,
    serve_app,
)


def own_server_settings(url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        environment=Environment.DEVELOPMENT,
        **overrides,
    )


@pytest.fixture(scope="module")
async def clock_server(database_url: str) -> AsyncIterator[RunningServer]:
    """A server on a database of its own; tests move its clock as they need."""
    with fresh_database(database_url) as url:
        async with serve_app(own_server_settings(url)) as running:
            yield running


@pytest.fixture
async def sched_tenant(clock_server: RunningServer) -> AsyncIterator[Tenant]:
    async with httpx.AsyncClient(base_url=clock_server.base_url, verify=LOOPBACK_TLS) as http:
        tenant = await new_tenant(http)
    yield tenant
    await delete_all_schedules(tenant)
    await tenant.client.aclose()


async def delete_all_schedules(tenant: Tenant) -> None:
    listed = await tenant.client.get(tenant.ns("/schedules"), params={"page_size": 1000})
    for item in listed.json()["schedules"]:
        await tenant.client.delete(tenant.ns(f"/schedules/{item['schedule_id']}"))


def sid(prefix: str = "sched") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def start_action(task_queue: str = "scheduled", **fields: Any) -> dict[str, Any]:
    return {"start_workflow": {"workflow_type": "Nightly", "task_queue": task_queue, **fields}}


async def create(
    tenant: Tenant,
    schedule_id: str,
    spec: dict[str, Any],
    *,
    expect: int = 201,
    action: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {"spec": spec, "action": action or start_action()}
    if policy is not None:
        schedule["policy"] = policy
    if state is not None:
        schedule["state"] = state
    r = await tenant.client.post(
        tenant.ns(f"/schedules/{schedule_id}"), json={"schedule": schedule, **extra}
    )
    assert r.status_code == expect, r.text
    return r.json()


async def describe(tenant: Tenant, schedule_id: str) -> dict[str, Any]:
    r = await tenant.client.get(tenant.ns(f"/schedules/{schedule_id}"))
    assert r.status_code == 200, r.text
    return r.json()


async def advance_to(server: RunningServer, moment: datetime) -> None:
    """Move the server's clock to `moment` (never back) and fire what became due."""
    server.ctx.clock.advance_to(moment)
    await server.app.state.engine.deadline_loop.fire_due_timers()


async def advance(server: RunningServer, seconds: float) -> None:
    await advance_to(server, server.ctx.clock.now() + timedelta(seconds=seconds))


async def scheduled_runs(tenant: Tenant, schedule_id: str) -> list[dict[str, Any]]:
    """Runs the schedule started (found by TemporalScheduledById), by nominal time."""
    r = await tenant.client.get(
        tenant.ns("/workflows"),
        params={"search_attribute": f"TemporalScheduledById={schedule_id}", "page_size": 1000},
    )
    assert r.status_code == 200, r.text
    runs = r.json()["workflows"]
    return sorted(runs, key=lambda w: w["search_attributes"]["TemporalScheduledStartTime"])


async def nominal_times(tenant: Tenant, schedule_id: str) -> list[str]:
    return [
        w["search_attributes"]["TemporalScheduledStartTime"]
        for w in await scheduled_runs(tenant, schedule_id)
    ]


def whole_minute_after(moment: datetime, minutes: int = 1) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=minutes)


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


__all__ = ["RunningServer", "Tenant"]
