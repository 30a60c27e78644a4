"""Local activities as Temporal runs them: in the worker of the workflow task, recorded as a
`core_local_activity` marker (never run again on replay), retried locally up to the local
retry threshold and after a durable timer beyond it, the workflow task heartbeated at 80 % of
its timeout while one runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from perdure import ActivityError, ApplicationError, RetryPolicy, activity, workflow
from perdure.client import Client
from perdure.worker import Worker

from tests.engine_helpers import advance
from tests.sdk_helpers import history_until, new_id, sdk_client, types

QUEUE = "local"
calls: dict[str, list[int]] = {}


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Client]:
    async with sdk_client(server) as connected:
        yield connected


@activity.defn
async def counted(key: str, fail_until: int = 0) -> str:
    info = activity.info()
    calls.setdefault(key, []).append(info.attempt)
    assert info.is_local
    if info.attempt <= fail_until:
        raise RuntimeError(f"attempt {info.attempt}")
    return f"{key} on attempt {info.attempt}"


@activity.defn
async def refuses(key: str) -> None:
    raise ApplicationError("never", type="Refused", non_retryable=True)


@activity.defn
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@workflow.defn
class Local:
    @workflow.run
    async def run(self, key: str, fail_until: int, threshold: float) -> list[Any]:
        first = await workflow.execute_local_activity(
            counted,
            args=[key, fail_until],
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=0.05)),
            local_retry_threshold=timedelta(seconds=threshold),
        )
        await workflow.sleep(0.2)  # a later workflow task replays the first (no cache)
        try:
            await workflow.execute_local_activity(
                refuses, key, schedule_to_close_timeout=timedelta(seconds=5)
            )
        except ActivityError as err:
            second = [type(err.cause).__name__, err.cause.type, str(err.retry_state)]  # type: ignore[union-attr]
        return [first, second]


def markers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e["attributes"]["details"]
        for e in events
        if e["event_type"] == "MARKER_RECORDED"
        and e["attributes"]["marker_name"] == "core_local_activity"
    ]


async def test_a_local_activity_is_a_marker_and_is_not_run_again_on_replay(
    client: Client,
) -> None:
    key = new_id("once")
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[Local],
        activities=[counted, refuses],
        max_cached_workflows=0,
    ):
        handle = await client.start_workflow(
            Local.run, args=[key, 2, 60.0], id=key, task_queue=QUEUE
        )
        assert await handle.result() == [
            f"{key} on attempt 3",
            ["ApplicationError", "Refused", "NON_RETRYABLE_FAILURE"],
        ]
    assert calls[key] == [1, 2, 3]  # retried in the worker, never again on replay
    events = (await handle.fetch_history())["events"]
    assert "ACTIVITY_TASK_SCHEDULED" not in types(events)
    recorded = markers(events)
    assert [(m["activity_type"], m["attempt"]) for m in recorded] == [
        ("counted", 3),
        ("refuses", 1),
    ]
    assert recorded[0]["result"] == f"{key} on attempt 3"
    assert recorded[1]["failure"]["type"] == "Refused"


async def test_a_back_off_past_the_local_retry_threshold_waits_on_a_timer(
    server: Any, client: Client
) -> None:
    key = new_id("timer")
    async with Worker(client, task_queue=QUEUE, workflows=[Local], activities=[counted, refuses]):
        # Back-off 0.05 s after the first failure: past a threshold of 0.01 s.
        handle = await client.start_workflow(
            Local.run, args=[key, 1, 0.01], id=key, task_queue=QUEUE
        )
        events = await history_until(handle, lambda e: "TIMER_STARTED" in types(e))
        assert markers(events)[0]["backoff"] == pytest.approx(0.05)
        assert markers(events)[0]["failure"]["message"] == "attempt 1"
        await advance(server, 1)
        assert (await handle.result())[0] == f"{key} on attempt 2"
    assert calls[key] == [1, 2]


@workflow.defn
class Slow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_local_activity(
            slow, 1.2, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_a_long_local_activity_heartbeats_its_workflow_task(client: Client) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[Slow], activities=[slow]):
        handle = await client.start_workflow(
            Slow.run, id=new_id("slow"), task_queue=QUEUE, task_timeout=timedelta(seconds=1)
        )
        assert await handle.result() == "slept"
    kinds = types((await handle.fetch_history())["events"])
    # 0.8 s into the 1 s task: completed with a new task forced, the result in the next.
    assert kinds.count("WORKFLOW_TASK_COMPLETED") >= 2
    assert "WORKFLOW_TASK_TIMED_OUT" not in kinds
    assert kinds.index("WORKFLOW_TASK_COMPLETED") < kinds.index("MARKER_RECORDED")


@workflow.defn
class NoTimeout:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_local_activity(slow, 0.1)


async def test_a_local_activity_needs_a_timeout(client: Client) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[NoTimeout], activities=[slow]):
        handle = await client.start_workflow(
            NoTimeout.run, id=new_id("no-timeout"), task_queue=QUEUE
        )
        events = await history_until(handle, lambda e: "WORKFLOW_TASK_FAILED" in types(e))
        await handle.terminate()
    failed = next(e for e in events if e["event_type"] == "WORKFLOW_TASK_FAILED")
    assert (
        "start_to_close_timeout or schedule_to_close_timeout"
        in failed["attributes"]["failure"]["message"]
    )
