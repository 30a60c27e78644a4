"""`describe()` gives the fields a Temporal user reads, typed, with the raw answer kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from perdure import (
    RetryPolicy,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    activity,
    workflow,
)
from perdure.client import Client
from perdure.worker import Worker

from tests.sdk_helpers import activity_started, described_until, new_id, sdk_client

QUEUE = "describe"


@activity.defn
async def left_open() -> None:
    activity.raise_complete_async()


@workflow.defn
class Child:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "child done"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, child_id: str) -> str:
        return await workflow.execute_child_workflow(
            Child.run,
            id=child_id,
            memo={"order": 42, "note": "rush"},
            search_attributes={"Customer": "ann"},
        )


@workflow.defn
class Busy:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(left_open, start_to_close_timeout=timedelta(minutes=5))


@pytest.fixture(scope="module")
async def client(server) -> AsyncIterator[Client]:
    async with sdk_client(server, search_attributes={"Customer": "Keyword"}) as client:
        async with Worker(
            client, task_queue=QUEUE, workflows=[Parent, Child, Busy], activities=[left_open]
        ):
            yield client


async def test_a_child_is_described_with_typed_times_memo_search_attributes_and_parent(client):
    parent = await client.start_workflow(
        Parent.run, child_id := new_id("child"), id=new_id("parent"), task_queue=QUEUE
    )
    child = client.get_workflow_handle(child_id)
    running = await described_until(child, lambda d: d.history_length >= 3)
    assert isinstance(running, WorkflowExecutionDescription)
    assert running.status == WorkflowExecutionStatus.RUNNING
    assert running.close_time is None
    await child.signal(Child.proceed)
    assert await parent.result() == "child done"

    closed = await child.describe()
    history = (await child.fetch_history())["events"]
    assert closed.status is WorkflowExecutionStatus.COMPLETED
    assert (closed.id, closed.workflow_type, closed.task_queue) == (child_id, "Child", QUEUE)
    assert closed.first_execution_run_id == closed.run_id
    assert (closed.parent_id, closed.parent_run_id) == (parent.id, parent.run_id)
    assert await closed.memo() == {"order": 42, "note": "rush"}
    assert await closed.memo_value("order", type_hint=int) == 42
    assert await closed.memo_value("absent", "fallback") == "fallback"
    assert closed.search_attributes == {"Customer": ["ann"]}
    assert closed.history_length == len(history)
    assert all(
        isinstance(t, datetime)
        for t in (closed.start_time, closed.execution_time, closed.close_time)
    )
    assert closed.start_time <= closed.close_time
    assert closed.namespace == client.namespace
    assert closed.result == "child done"
    assert closed.raw_description["workflow_id"] == child_id
    assert closed.raw_description["status"] == "COMPLETED"


async def test_pending_activities_timeouts_and_retry_policy_are_typed(client):
    handle = await client.start_workflow(
        Busy.run,
        id=new_id("busy"),
        task_queue=QUEUE,
        run_timeout=timedelta(hours=1),
        retry_policy=RetryPolicy(maximum_attempts=3, non_retryable_error_types=["Fatal"]),
    )
    described = await described_until(handle, activity_started)
    (pending,) = described.pending_activities
    assert (pending.activity_type, pending.state, pending.attempt) == ("left_open", "STARTED", 1)
    assert isinstance(pending.scheduled_time, datetime)
    assert described.run_timeout == timedelta(hours=1)
    policy = described.retry_policy
    assert (policy.maximum_attempts, policy.non_retryable_error_types) == (3, ["Fatal"])
    assert policy.initial_interval == timedelta(seconds=1)
    assert described.parent_id is None
    await handle.terminate(reason="test over")
