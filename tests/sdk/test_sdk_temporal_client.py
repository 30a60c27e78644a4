"""Temporal's client and error surface: connecting checks the server, `rpc_timeout` bounds a
call with its retries, cron workflows, history reads, and the fields of Temporal's errors."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from perdure import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    ConnectError,
    ParentClosePolicy,
    RetryPolicy,
    RetryState,
    RPCError,
    WorkflowFailureError,
    activity,
    workflow,
)
from perdure.client import Client
from perdure.worker import Worker

from tests.engine_helpers import advance
from tests.sdk_helpers import history_until, new_id, sdk_client

QUEUE = "client"


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Client]:
    async with sdk_client(server) as connected:
        yield connected


@contextlib.contextmanager
def port_of_nobody() -> Iterator[int]:
    """A local port nothing listens on (bound, not listening, while the test runs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


# -- connecting -------------------------------------------------------------------------------


async def test_connect_fails_at_once_on_a_wrong_address_or_key(server: Any, client: Client) -> None:
    with port_of_nobody() as port:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(ConnectError, match="cannot reach a Perdure server"):
            await Client.connect(f"127.0.0.1:{port}", api_key="k")
        assert loop.time() - began < 5  # not a minute of silent retries
        lazy = await Client.connect(f"127.0.0.1:{port}", api_key="k", lazy=True)
        await lazy.close()
    with pytest.raises(RPCError) as wrong_key:
        await Client.connect(server.base_url, api_key="pk_wrong", namespace=client.namespace)
    assert wrong_key.value.status == 401


async def test_rpc_timeout_bounds_a_read_with_its_retries(client: Client) -> None:
    with port_of_nobody() as port:
        gone = await Client.connect(f"http://127.0.0.1:{port}", api_key="k", lazy=True)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(httpx.TimeoutException):
            await gone.get_workflow_handle("x").describe(rpc_timeout=timedelta(seconds=0.5))
        assert loop.time() - began < 2  # reads are retried ~1 min without it
        await gone.close()


# -- cron workflows -----------------------------------------------------------------------------

cron_runs: dict[str, list[str]] = {}


@workflow.defn
class Hourly:
    @workflow.run
    async def run(self, label: str) -> str:
        info = workflow.info()
        seen = cron_runs.setdefault(info.workflow_id, [])
        if info.run_id not in seen:
            seen.append(info.run_id)
        if seen.index(info.run_id) == 1:
            raise ApplicationError("the second run fails; the chain goes on")
        return f"{label} {info.cron_schedule}"


async def runs_of(client: Client, workflow_id: str, count: int) -> list[Any]:
    """The workflow's runs, oldest first, once there are `count` (read every 20 ms, 6 s)."""
    for _ in range(300):
        runs = [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        if len(runs) >= count:
            return sorted(runs, key=lambda r: r.start_time)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{workflow_id} never had {count} runs")


async def test_a_cron_workflow_runs_at_each_cron_time_until_terminated(
    server: Any, client: Client
) -> None:
    workflow_id = new_id("cron")
    async with Worker(client, task_queue=QUEUE, workflows=[Hourly]):
        handle = await client.start_workflow(
            Hourly.run, "tick", id=workflow_id, task_queue=QUEUE, cron_schedule="0 * * * *"
        )
        first = (await handle.fetch_history())["events"][0]["attributes"]
        assert first["cron_schedule"] == "0 * * * *"
        assert 0 < first["first_workflow_task_backoff"] <= 3600  # waits for the first cron time
        assert [e["event_type"] for e in (await handle.fetch_history())["events"]] == [
            "WORKFLOW_EXECUTION_STARTED"
        ]
        await advance(server, 3600)
        runs = await runs_of(client, workflow_id, 2)
        await advance(server, 3600)
        runs = await runs_of(client, workflow_id, 3)
        assert [r.status for r in runs] == ["COMPLETED", "FAILED", "RUNNING"]
        completed = await client.get_workflow_handle(workflow_id, run_id=runs[0].run_id).describe()
        assert completed.raw_description["result"] == "tick 0 * * * *"
        await client.get_workflow_handle(workflow_id).terminate(reason="enough")
        await advance(server, 3600)
        await asyncio.sleep(0.2)
        runs = await runs_of(client, workflow_id, 3)
    assert [r.status for r in runs] == ["COMPLETED", "FAILED", "TERMINATED"]


async def test_a_cron_schedule_that_is_not_one_is_refused(client: Client) -> None:
    with pytest.raises(RPCError) as refused:
        await client.start_workflow(
            Hourly.run, "x", id=new_id("cron"), task_queue=QUEUE, cron_schedule="every hour"
        )
    assert refused.value.status in (400, 422)
    assert refused.value.problem.get("field") == "cron_schedule"


# -- history reads ------------------------------------------------------------------------------


@workflow.defn
class Short:
    @workflow.run
    async def run(self, x: int) -> int:
        return x


async def test_history_events_and_listed_histories(client: Client) -> None:
    prefix = new_id("hist")
    async with Worker(client, task_queue=QUEUE, workflows=[Short]):
        handles = [
            await client.start_workflow(Short.run, n, id=f"{prefix}-{n}", task_queue=QUEUE)
            for n in range(3)
        ]
        assert [await h.result() for h in handles] == [0, 1, 2]
    assert handles[0].result_run_id == handles[0].run_id == handles[0].first_execution_run_id
    events = [e async for e in handles[0].fetch_history_events(page_size=2)]
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event_type"] == "WORKFLOW_EXECUTION_COMPLETED"
    closing = [e async for e in handles[0].fetch_history_events(event_filter_type="CLOSE_EVENT")]
    assert [e["event_type"] for e in closing] == ["WORKFLOW_EXECUTION_COMPLETED"]
    listed = client.list_workflows(f"WorkflowId STARTS_WITH '{prefix}'", limit=2)
    histories = [h async for h in listed.map_histories()]
    assert len(histories) == 2
    assert all(h["events"][-1]["event_type"] == "WORKFLOW_EXECUTION_COMPLETED" for h in histories)


# -- Temporal's error fields ---------------------------------------------------------------------


@activity.defn
async def refuses() -> None:
    raise ApplicationError("no", type="Refused", non_retryable=True)


@workflow.defn
class FailingChild:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("child says no")


@workflow.defn
class Inspects:
    @workflow.run
    async def run(self, child_id: str) -> dict[str, Any]:
        try:
            await workflow.execute_activity(
                refuses,
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as err:
            activity_fields = [
                err.scheduled_event_id > 0,
                err.started_event_id > err.scheduled_event_id,
                err.identity != "",
                err.activity_type,
                err.activity_id,
                err.retry_state,
            ]
        try:
            await workflow.execute_child_workflow(FailingChild.run, id=child_id)
        except ChildWorkflowError as err:
            child_fields = [
                err.namespace == workflow.info().namespace,
                err.workflow_id,
                err.run_id != "",
                err.workflow_type,
                err.initiated_event_id > 0,
                err.started_event_id > err.initiated_event_id,
                type(err.cause).__name__,
            ]
        return {"activity": activity_fields, "child": child_fields}


async def test_activity_and_child_errors_carry_temporals_fields(client: Client) -> None:
    child_id = new_id("child")
    async with Worker(
        client, task_queue=QUEUE, workflows=[Inspects, FailingChild], activities=[refuses]
    ):
        result = await client.execute_workflow(
            Inspects.run, child_id, id=new_id("inspect"), task_queue=QUEUE
        )
    assert result["activity"] == [True, True, True, "refuses", "1", "NON_RETRYABLE_FAILURE"]
    assert RetryState.NON_RETRYABLE_FAILURE == result["activity"][-1]
    assert result["child"] == [True, child_id, True, "FailingChild", True, True, "ApplicationError"]


@workflow.defn
class Fails:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("bad input", {"field": "x"}, type="Invalid")


async def test_a_failure_read_back_carries_temporals_failure_fields(client: Client) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[Fails]):
        handle = await client.start_workflow(Fails.run, id=new_id("fails"), task_queue=QUEUE)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.failure is not None
    assert cause.failure.message == "bad input"
    assert "raise ApplicationError" in cause.failure.stack_trace
    assert cause.failure.info["type"] == "Invalid"
    await history_until(handle, lambda events: events[-1]["event_type"].endswith("FAILED"))


@workflow.defn
class StartsCronChild:
    @workflow.run
    async def run(self, child_id: str) -> str:
        child = await workflow.start_child_workflow(
            Hourly.run,
            "child",
            id=child_id,
            cron_schedule="30 * * * *",
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        return child.id


async def test_a_child_can_be_a_cron_workflow(server: Any, client: Client) -> None:
    from perdure.worker import PollerBehaviorSimpleMaximum

    child_id = new_id("cron-child")
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[StartsCronChild, Hourly],
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(maximum=2),
    ):
        await client.execute_workflow(
            StartsCronChild.run, child_id, id=new_id("cron-parent"), task_queue=QUEUE
        )
        child = client.get_workflow_handle(child_id)
        started = (await child.fetch_history())["events"][0]["attributes"]
        assert started["cron_schedule"] == "30 * * * *"
        assert 0 < started["first_workflow_task_backoff"] <= 3600
        await advance(server, 3600)
        runs = await runs_of(client, child_id, 2)
        assert [r.status for r in runs] == ["COMPLETED", "RUNNING"]
        await child.terminate(reason="enough")
        await advance(server, 3600)
        await asyncio.sleep(0.2)
        runs = await runs_of(client, child_id, 2)
    assert [r.status for r in runs] == ["COMPLETED", "TERMINATED"]
