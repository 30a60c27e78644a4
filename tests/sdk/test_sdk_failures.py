"""Which exceptions escaping workflow code fail the workflow, and which only its workflow task
(Temporal's Python SDK rule): failure errors, timeouts and named types end the run as FAILED;
a bug such as `KeyError` fails the task, which is retried, and the run stays open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from perdure import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    RetryPolicy,
    WorkflowFailureError,
    activity,
    workflow,
)
from perdure.client import Client
from perdure.worker import Worker

from tests.engine_helpers import advance
from tests.sdk_helpers import (
    activity_started,
    described_until,
    has,
    history_until,
    new_id,
    sdk_client,
)

QUEUE = "failures"


class OutOfStock(Exception):
    """Named by the workflow definition as a failure exception type."""


class PaymentRefused(Exception):
    """Named by the worker as a failure exception type."""


@activity.defn
async def refuse() -> None:
    raise ApplicationError("declined", type="Declined", non_retryable=True)


@activity.defn
async def wait_for_cancel() -> str:
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.05)


@workflow.defn
class Refusing:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("refused", type="Refused")


@workflow.defn
class WaitsTooLong:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False, timeout=timedelta(seconds=30))


@workflow.defn
class ActivityFails:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(refuse, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class ChildFails:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_child_workflow(Refusing.run)


@workflow.defn(failure_exception_types=[OutOfStock])
class NamedOnTheWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise OutOfStock("no more widgets")


@workflow.defn
class NamedOnTheWorker:
    @workflow.run
    async def run(self) -> None:
        raise PaymentRefused("card expired")


@workflow.defn
class CancelsItself:
    @workflow.run
    async def run(self) -> None:
        raise asyncio.CancelledError("nobody asked")


@workflow.defn
class HasABug:
    @workflow.run
    async def run(self) -> None:
        {}["missing"]


@workflow.defn
class BuggySignal:
    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def bug(self) -> None:
        {}["missing"]

    @workflow.signal
    def give_up(self) -> None:
        raise ApplicationError("given up by signal", type="GivenUp")

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)


@workflow.defn
class AwaitsActivity:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            wait_for_cancel,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


WORKFLOWS = [
    Refusing,
    WaitsTooLong,
    ActivityFails,
    ChildFails,
    NamedOnTheWorkflow,
    NamedOnTheWorker,
    CancelsItself,
    HasABug,
    BuggySignal,
    AwaitsActivity,
]


@pytest.fixture(scope="module")
async def client(server) -> AsyncIterator[Client]:
    async with sdk_client(server) as client:
        async with Worker(
            client,
            task_queue=QUEUE,
            workflows=WORKFLOWS,
            activities=[refuse, wait_for_cancel],
            workflow_failure_exception_types=[PaymentRefused],
        ):
            yield client


async def failure_of(client: Client, workflow: object) -> BaseException:
    handle = await client.start_workflow(workflow, id=new_id("failing"), task_queue=QUEUE)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert info.value.status == "FAILED"
    assert (await handle.describe()).status == "FAILED"
    return info.value.cause


@pytest.mark.parametrize(
    ("workflow", "cause_type", "detail"),
    [
        (Refusing.run, ApplicationError, "Refused"),
        (ActivityFails.run, ActivityError, "Declined"),
        (ChildFails.run, ChildWorkflowError, "Refused"),
        (NamedOnTheWorkflow.run, ApplicationError, "OutOfStock"),
        (NamedOnTheWorker.run, ApplicationError, "PaymentRefused"),
        (CancelsItself.run, CancelledError, None),
    ],
    ids=["application", "activity", "child", "workflow-types", "worker-types", "cancelled"],
)
async def test_failure_exceptions_fail_the_workflow(client, workflow, cause_type, detail):
    cause = await failure_of(client, workflow)
    assert isinstance(cause, cause_type)
    if detail is not None:
        inner = cause.cause if isinstance(cause, ActivityError | ChildWorkflowError) else cause
        assert inner.type == detail


async def test_an_uncaught_wait_condition_timeout_fails_the_workflow(client, server):
    handle = await client.start_workflow(WaitsTooLong.run, id=new_id("timeout"), task_queue=QUEUE)
    await history_until(handle, has("TIMER_STARTED"))
    await advance(server, 31)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert info.value.status == "FAILED"
    assert isinstance(info.value.cause, ApplicationError)
    assert info.value.cause.type == "TimeoutError"


async def test_a_bug_fails_the_workflow_task_and_the_run_stays_open(client):
    handle = await client.start_workflow(HasABug.run, id=new_id("bug"), task_queue=QUEUE)
    events = await history_until(handle, has("WORKFLOW_TASK_FAILED"))
    failed = [e for e in events if e["event_type"] == "WORKFLOW_TASK_FAILED"][0]["attributes"]
    assert failed["cause"] == "WORKFLOW_WORKER_UNHANDLED_FAILURE"
    assert failed["failure"]["type"] == "KeyError"
    assert "missing" in failed["failure"]["message"]
    assert (await handle.describe()).status == "RUNNING"
    await handle.terminate(reason="test over")


async def test_a_signal_handler_bug_fails_the_task_and_its_failure_error_fails_the_workflow(
    client,
):
    handle = await client.start_workflow(BuggySignal.run, id=new_id("signal"), task_queue=QUEUE)
    await handle.signal(BuggySignal.bug)
    events = await history_until(handle, has("WORKFLOW_TASK_FAILED"))
    failed = [e for e in events if e["event_type"] == "WORKFLOW_TASK_FAILED"][0]["attributes"]
    assert failed["failure"]["type"] == "KeyError"
    assert (await handle.describe()).status == "RUNNING"
    await handle.terminate(reason="test over")

    handle = await client.start_workflow(BuggySignal.run, id=new_id("signal"), task_queue=QUEUE)
    await handle.signal(BuggySignal.give_up)
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert info.value.cause.type == "GivenUp"


async def test_a_cancelled_activity_under_a_cancelled_workflow_cancels_the_workflow(client):
    handle = await client.start_workflow(AwaitsActivity.run, id=new_id("cancel"), task_queue=QUEUE)
    await described_until(handle, activity_started)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert info.value.status == "CANCELED"
