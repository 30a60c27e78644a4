"""The issue's example, unchanged but for imports: twelve 30-day sleeps in a time-skipping server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from perdure import activity, workflow
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

sent: list[str] = []


@activity.defn
async def send_email() -> None:
    sent.append(activity.info().workflow_id)


@workflow.defn
class SleepForDaysWorkflow:
    @workflow.run
    async def run(self) -> None:
        for i in range(12):  # noqa: B007 - the example, verbatim
            await workflow.execute_activity(
                send_email, start_to_close_timeout=timedelta(seconds=10)
            )
            await workflow.sleep(timedelta(days=30))


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        yield env


async def test_twelve_thirty_day_sleeps_finish_in_seconds_with_time_skipping(env):
    workflow_id = f"sleepy-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue="emails",
        workflows=[SleepForDaysWorkflow],
        activities=[send_email],
    ):
        handle = await env.client.start_workflow(
            SleepForDaysWorkflow.run, id=workflow_id, task_queue="emails"
        )
        assert await handle.result() is None
    assert sent.count(workflow_id) == 12
    description = await handle.describe()
    assert description.status == "COMPLETED"
