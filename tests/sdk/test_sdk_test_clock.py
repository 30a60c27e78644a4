"""The SDK's test environment keeps Temporal's clock: locked while the test acts, released
while it waits for a result or sleeps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from perdure import workflow
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

QUEUE = "clock"


@workflow.defn
class ApprovalWithDeadline:
    def __init__(self) -> None:
        self.approver: str | None = None

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(
                lambda: self.approver is not None, timeout=timedelta(days=7)
            )
        except TimeoutError:
            return "expired"
        return f"approved by {self.approver}"

    @workflow.signal
    def approve(self, who: str) -> None:
        self.approver = who


@workflow.defn
class Napper:
    @workflow.run
    async def run(self, days: int) -> str:
        await workflow.sleep(timedelta(days=days))
        return "rested"


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        async with Worker(env.client, task_queue=QUEUE, workflows=[ApprovalWithDeadline, Napper]):
            yield env


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_a_signal_sent_after_start_finds_the_seven_day_wait_still_open(env):
    handle = await env.client.start_workflow(
        ApprovalWithDeadline.run, id=new_id("approval"), task_queue=QUEUE
    )
    await handle.signal(ApprovalWithDeadline.approve, "ann")
    assert await handle.result() == "approved by ann"


async def test_waiting_for_the_result_skips_the_seven_days(env):
    before = await env.get_current_time()
    result = await env.client.execute_workflow(
        ApprovalWithDeadline.run, id=new_id("expiry"), task_queue=QUEUE
    )
    assert result == "expired"
    assert await env.get_current_time() - before >= timedelta(days=7)


async def test_env_sleep_skips_exactly_to_the_moment_asked(env):
    handle = await env.client.start_workflow(Napper.run, 2, id=new_id("nap"), task_queue=QUEUE)
    before = await env.get_current_time()
    await env.sleep(timedelta(days=1))
    after = await env.get_current_time()
    assert timedelta(days=1) <= after - before < timedelta(days=2)
    assert (await handle.describe()).status == "RUNNING"
    await env.sleep(timedelta(days=1, hours=1))
    assert (await handle.describe()).status == "COMPLETED"
    assert await handle.result() == "rested"


async def test_concurrent_results_release_the_lock_once_and_take_it_back(env):
    results = await asyncio.gather(
        *(
            env.client.execute_workflow(Napper.run, n, id=new_id("many"), task_queue=QUEUE)
            for n in (1, 2, 3)
        )
    )
    assert results == ["rested"] * 3
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            f"{env.server.url}/api/v1/dev/clock",
            headers={"Authorization": f"Bearer {env.server.api_key}"},
        )
    clock = answer.json()
    assert clock["lock_count"] == 1


async def test_with_auto_time_skipping_disabled_a_result_wait_keeps_the_lock(env):
    handle = await env.client.start_workflow(Napper.run, 30, id=new_id("held"), task_queue=QUEUE)
    with env.auto_time_skipping_disabled(), pytest.raises(TimeoutError):
        await asyncio.wait_for(handle.result(), 1)
    assert (await handle.describe()).status == "RUNNING"
    assert await handle.result() == "rested"


async def test_start_local_runs_on_real_time_and_registers_search_attributes():
    async with await WorkflowEnvironment.start_local(
        search_attributes={"CustomerId": "Keyword", "Tier": "Int"}
    ) as env:
        assert env.supports_time_skipping is False
        answer = await env.client.http.call("GET", "/search-attributes")
        assert answer.json()["custom_attributes"] == {"CustomerId": "Keyword", "Tier": "Int"}
        assert (
            abs((await env.get_current_time() - (await env.get_current_time())).total_seconds()) < 5
        )
