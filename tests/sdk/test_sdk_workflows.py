"""Workflows as code through the SDK against a time-skipping dev server (a child process)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from perdure import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    NondeterminismError,
    RetryPolicy,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    activity,
    workflow,
)
from perdure.exceptions import TimeoutError as PerdureTimeoutError
from perdure.replayer import Replayer
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

QUEUE = "sdk"
calls: dict[str, list[object]] = {}


def record(name: str, value: object) -> None:
    calls.setdefault(name, []).append(value)


@activity.defn
async def double(x: int) -> int:
    return x * 2


@activity.defn
def sync_upper(text: str) -> str:
    record("sync_thread", threading.current_thread().name)
    time.sleep(0.01)
    return text.upper()


@activity.defn
async def flaky(key: str) -> str:
    attempt = activity.info().attempt
    record(key, attempt)
    if attempt < 3:
        raise RuntimeError(f"attempt {attempt} failed")
    return f"ok after {attempt}"


@activity.defn
async def refuse(key: str) -> str:
    record(key, activity.info().attempt)
    raise ApplicationError("card declined", type="CardDeclined", non_retryable=True)


@activity.defn
async def too_slow() -> None:
    await asyncio.sleep(5)


@activity.defn
async def book(step: str) -> str:
    record("saga", f"book {step}")
    if step == "car":
        raise ApplicationError("no cars left", non_retryable=True)
    return step


@activity.defn
async def unbook(step: str) -> None:
    record("saga", f"unbook {step}")


@activity.defn
async def long_running(key: str) -> str:
    record(key, "started")
    try:
        for i in range(600):
            activity.heartbeat(i)
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        record(key, "cancelled")
        raise
    return "finished"


@workflow.defn
class GatherWorkflow:
    @workflow.run
    async def run(self, values: list[int]) -> list[int]:
        return list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        double, v, start_to_close_timeout=timedelta(seconds=10)
                    )
                    for v in values
                )
            )
        )


@workflow.defn
class SyncActivityWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            sync_upper, text, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class RetryWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            flaky,
            key,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
        )


@workflow.defn
class NonRetryableWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            refuse, key, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class TimeoutWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            too_slow,
            start_to_close_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@workflow.defn
class ApprovalWorkflow:
    def __init__(self) -> None:
        self.approver: str | None = None

    @workflow.signal
    def approve(self, approver: str) -> None:
        self.approver = approver

    @workflow.query
    def state(self) -> str:
        return f"approved by {self.approver}" if self.approver else "waiting"

    @workflow.run
    async def run(self, hours: int) -> str:
        # hours=0: no deadline (a timer would let time-skipping race the test's signal)
        try:
            await workflow.wait_condition(
                lambda: self.approver is not None,
                timeout=timedelta(hours=hours) if hours else None,
            )
        except TimeoutError:
            return "expired"
        return f"approved by {self.approver}"


@workflow.defn
class ChildWorkflow:
    @workflow.run
    async def run(self, x: int) -> int:
        return await workflow.execute_activity(
            double, x, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class FailingChild:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("child gave up", type="ChildBroke")


@workflow.defn
class ParentWorkflow:
    @workflow.run
    async def run(self, x: int) -> dict[str, object]:
        first = await workflow.execute_child_workflow(
            ChildWorkflow.run, x, id=f"{workflow.info().workflow_id}-child"
        )
        try:
            await workflow.execute_child_workflow(FailingChild.run)
        except ChildWorkflowError as err:
            failed = f"{type(err.cause).__name__}: {err.cause}"
        return {"first": first, "failed": failed}


@workflow.defn
class CountdownWorkflow:
    @workflow.run
    async def run(self, n: int) -> str:
        if n > 0:
            await workflow.sleep(timedelta(hours=1))
            workflow.continue_as_new(n - 1)
        return f"done in run {workflow.info().run_id[:4]} continued from {bool(workflow.info().continued_run_id)}"


@workflow.defn
class SagaWorkflow:
    @workflow.run
    async def run(self) -> list[str]:
        done: list[str] = []
        try:
            for step in ("flight", "hotel", "car"):
                done.append(
                    await workflow.execute_activity(
                        book, step, start_to_close_timeout=timedelta(seconds=10)
                    )
                )
        except ActivityError:
            for step in reversed(done):
                await workflow.execute_activity(
                    unbook, step, start_to_close_timeout=timedelta(seconds=10)
                )
            raise
        return done


@workflow.defn
class CancellableWorkflow:
    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self, key: str) -> str:
        try:
            await workflow.wait_condition(lambda: self.released)
        except asyncio.CancelledError:
            await workflow.execute_activity(
                unbook, key, start_to_close_timeout=timedelta(seconds=10)
            )
            raise
        return "released"


@workflow.defn
class HeartbeatCancelWorkflow:
    def __init__(self) -> None:
        self.stop = False

    @workflow.signal
    def stop_it(self) -> None:
        self.stop = True

    @workflow.run
    async def run(self, key: str) -> str:
        handle = workflow.start_activity(
            long_running,
            key,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=1),
        )
        await workflow.wait_condition(lambda: self.stop)
        handle.cancel()
        try:
            await handle
        except ActivityError as err:
            return f"activity cancelled: {type(err.cause).__name__}"
        return "activity finished"


@workflow.defn
class DeterministicBitsWorkflow:
    @workflow.run
    async def run(self) -> dict[str, object]:
        before = workflow.now()
        await workflow.sleep(timedelta(minutes=5))
        workflow.logger.info("slept")
        return {
            "uuid": str(workflow.uuid4()),
            "random": workflow.random().randint(0, 10**9),
            "elapsed": (workflow.now() - before).total_seconds(),
            "id": workflow.info().workflow_id,
        }


WORKFLOWS = [
    GatherWorkflow,
    SyncActivityWorkflow,
    RetryWorkflow,
    NonRetryableWorkflow,
    TimeoutWorkflow,
    ApprovalWorkflow,
    ChildWorkflow,
    FailingChild,
    ParentWorkflow,
    CountdownWorkflow,
    SagaWorkflow,
    CancellableWorkflow,
    HeartbeatCancelWorkflow,
    DeterministicBitsWorkflow,
]
ACTIVITIES = [double, sync_upper, flaky, refuse, too_slow, book, unbook, long_running]


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        async with Worker(env.client, task_queue=QUEUE, workflows=WORKFLOWS, activities=ACTIVITIES):
            yield env


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_parallel_activities_with_gather_keep_their_order(env):
    result = await env.client.execute_workflow(
        GatherWorkflow.run, [1, 2, 3, 4], id=new_id("gather"), task_queue=QUEUE
    )
    assert result == [2, 4, 6, 8]


async def test_sync_activities_run_in_a_thread_pool(env):
    result = await env.client.execute_workflow(
        SyncActivityWorkflow.run, "hello", id=new_id("sync"), task_queue=QUEUE
    )
    assert result == "HELLO"
    assert calls["sync_thread"][-1].startswith("perdure-activity")


async def test_activity_is_retried_until_it_succeeds(env):
    key = new_id("flaky")
    result = await env.client.execute_workflow(RetryWorkflow.run, key, id=key, task_queue=QUEUE)
    assert result == "ok after 3"
    assert calls[key] == [1, 2, 3]


async def test_non_retryable_error_fails_the_workflow_with_the_cause_chain(env):
    key = new_id("refuse")
    with pytest.raises(WorkflowFailureError) as info:
        await env.client.execute_workflow(NonRetryableWorkflow.run, key, id=key, task_queue=QUEUE)
    assert calls[key] == [1]
    activity_error = info.value.cause
    assert isinstance(activity_error, ActivityError)
    assert isinstance(activity_error.cause, ApplicationError)
    assert activity_error.cause.type == "CardDeclined"
    assert activity_error.cause.non_retryable is True


async def test_signal_approves_a_waiting_workflow(env):
    handle = await env.client.start_workflow(
        ApprovalWorkflow.run, 0, id=new_id("approval"), task_queue=QUEUE
    )
    await handle.signal(ApprovalWorkflow.approve, "ann")
    assert await handle.result() == "approved by ann"


async def test_approval_expires_when_no_signal_arrives_in_time(env):
    handle = await env.client.start_workflow(
        ApprovalWorkflow.run, 48, id=new_id("expiry"), task_queue=QUEUE
    )
    assert await handle.result() == "expired"


async def test_child_workflows_return_results_and_failures(env):
    result = await env.client.execute_workflow(
        ParentWorkflow.run, 21, id=new_id("parent"), task_queue=QUEUE
    )
    assert result == {"first": 42, "failed": "ApplicationError: child gave up"}


async def test_continue_as_new_chains_runs_until_the_last_returns(env):
    handle = await env.client.start_workflow(
        CountdownWorkflow.run, 3, id=new_id("countdown"), task_queue=QUEUE
    )
    result = await handle.result()
    assert result.endswith("continued from True")


async def test_saga_compensates_completed_steps_in_reverse_when_a_later_step_fails(env):
    calls.pop("saga", None)
    with pytest.raises(WorkflowFailureError):
        await env.client.execute_workflow(SagaWorkflow.run, id=new_id("saga"), task_queue=QUEUE)
    assert calls["saga"] == [
        "book flight",
        "book hotel",
        "book car",
        "unbook hotel",
        "unbook flight",
    ]


async def test_cancelled_workflow_can_compensate_before_it_ends(env):
    key = new_id("cancel")
    handle = await env.client.start_workflow(CancellableWorkflow.run, key, id=key, task_queue=QUEUE)
    await asyncio.sleep(0.2)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert info.value.status == "CANCELED"
    assert f"unbook {key}" in calls["saga"]


async def test_heartbeating_activity_learns_of_cancellation(env):
    key = new_id("heartbeat")
    handle = await env.client.start_workflow(
        HeartbeatCancelWorkflow.run, key, id=key, task_queue=QUEUE
    )
    for _ in range(100):
        if calls.get(key):
            break
        await asyncio.sleep(0.05)
    await handle.signal(HeartbeatCancelWorkflow.stop_it)
    assert await handle.result() == "activity cancelled: CancelledError"
    for _ in range(100):
        if "cancelled" in calls[key]:
            break
        await asyncio.sleep(0.05)
    assert calls[key] == ["started", "cancelled"]


async def test_now_uuid_and_random_are_the_same_on_replay(env):
    handle = await env.client.start_workflow(
        DeterministicBitsWorkflow.run, id=new_id("bits"), task_queue=QUEUE
    )
    result = await handle.result()
    assert result["elapsed"] >= 300
    assert result["id"] == handle.id


async def test_a_taken_workflow_id_is_refused(env):
    workflow_id = new_id("taken")
    await env.client.start_workflow(ApprovalWorkflow.run, 1, id=workflow_id, task_queue=QUEUE)
    with pytest.raises(WorkflowAlreadyStartedError):
        await env.client.start_workflow(ApprovalWorkflow.run, 1, id=workflow_id, task_queue=QUEUE)


async def test_list_and_count_use_the_servers_filters(env):
    prefix = new_id("listed")
    for i in range(3):
        await env.client.execute_workflow(
            GatherWorkflow.run, [i], id=f"{prefix}-{i}", task_queue=QUEUE
        )
    listed = [w async for w in env.client.list_workflows(workflow_id_prefix=prefix, page_size=2)]
    assert sorted(w["workflow_id"] for w in listed) == [f"{prefix}-{i}" for i in range(3)]
    assert await env.client.count_workflows(workflow_id_prefix=prefix, status="COMPLETED") == 3


@workflow.defn(name="GatherWorkflow")
class ChangedGatherWorkflow:
    """GatherWorkflow after an incompatible change: a timer where an activity was."""

    @workflow.run
    async def run(self, values: list[int]) -> list[int]:
        await workflow.sleep(timedelta(seconds=1))
        return values


async def test_replayer_accepts_the_same_code_and_names_the_mismatch_of_changed_code(env):
    handle = await env.client.start_workflow(
        GatherWorkflow.run, [5, 6], id=new_id("replay"), task_queue=QUEUE
    )
    await handle.result()
    history = await handle.fetch_history()
    await Replayer(workflows=[GatherWorkflow]).replay_workflow(history)
    with pytest.raises(NondeterminismError) as info:
        await Replayer(workflows=[ChangedGatherWorkflow]).replay_workflow(json.dumps(history))
    assert "ACTIVITY_TASK_SCHEDULED" in str(info.value)
    assert "START_TIMER" in str(info.value)


async def test_queries_read_the_workflow_state_before_and_after_a_signal(env):
    handle = await env.client.start_workflow(
        ApprovalWorkflow.run, 0, id=new_id("queried"), task_queue=QUEUE
    )
    assert await handle.query(ApprovalWorkflow.state) == "waiting"
    await handle.signal(ApprovalWorkflow.approve, "bob")
    assert await handle.result() == "approved by bob"
    assert await handle.query(ApprovalWorkflow.state) == "approved by bob"


async def test_an_unknown_query_fails_with_a_clear_error(env):
    handle = await env.client.start_workflow(
        ApprovalWorkflow.run, 0, id=new_id("unknown-query"), task_queue=QUEUE
    )
    with pytest.raises(WorkflowQueryFailedError) as info:
        await handle.query("no_such_query")
    assert "no_such_query" in str(info.value)
    await handle.terminate("done")


@workflow.defn(name="Evolving")
class EvolvingV1:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self) -> int:
        first = await workflow.execute_activity(
            double, 1, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self.go)
        return first


@workflow.defn(name="Evolving")
class EvolvingV2:
    """V1 after an incompatible deploy: a timer now comes before the activity."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self) -> int:
        await workflow.sleep(timedelta(seconds=1))
        await workflow.wait_condition(lambda: self.go)
        return 0


async def test_a_worker_replaying_changed_code_fails_the_task_naming_the_mismatch(env):
    # A poll the first worker left behind at shutdown may hold the next task until it times out.
    handle = await env.client.start_workflow(
        EvolvingV1.run,
        id=new_id("evolving"),
        task_queue="evolving",
        task_timeout=timedelta(seconds=1),
    )
    async with Worker(
        env.client, task_queue="evolving", workflows=[EvolvingV1], activities=[double]
    ):
        for _ in range(200):
            history = await handle.fetch_history()
            if "ACTIVITY_TASK_COMPLETED" in [e["event_type"] for e in history["events"]]:
                break
            await asyncio.sleep(0.02)
    async with Worker(
        env.client, task_queue="evolving", workflows=[EvolvingV2], activities=[double]
    ):
        await handle.signal("proceed")
        for _ in range(500):
            events = (await handle.fetch_history())["events"]
            failed = [e for e in events if e["event_type"] == "WORKFLOW_TASK_FAILED"]
            if failed:
                break
            await asyncio.sleep(0.02)
    attributes = failed[0]["attributes"]
    assert attributes["cause"] == "NON_DETERMINISTIC_ERROR"
    assert "ACTIVITY_TASK_SCHEDULED" in attributes["failure"]["message"]
    assert "START_TIMER" in attributes["failure"]["message"]
    await handle.terminate("test over")


async def test_signal_with_start_starts_the_workflow_and_delivers_the_signal(env):
    handle = await env.client.signal_with_start(
        ApprovalWorkflow.run,
        0,
        id=new_id("signal-start"),
        task_queue=QUEUE,
        signal=ApprovalWorkflow.approve,
        signal_args=["cy"],
    )
    assert await handle.result() == "approved by cy"
    assert (await handle.describe()).status == "COMPLETED"


async def test_an_activity_past_its_start_to_close_timeout_fails_with_a_timeout_cause(env):
    with pytest.raises(WorkflowFailureError) as info:
        await env.client.execute_workflow(
            TimeoutWorkflow.run, id=new_id("timeout"), task_queue=QUEUE
        )
    activity_error = info.value.cause
    assert isinstance(activity_error, ActivityError)
    assert isinstance(activity_error.cause, PerdureTimeoutError)
    assert activity_error.cause.type == "START_TO_CLOSE"


@workflow.defn
class StepsWorkflow:
    @workflow.run
    async def run(self, steps: int) -> list[int]:
        done = []
        for i in range(steps):
            done.append(
                await workflow.execute_activity(
                    double, i, start_to_close_timeout=timedelta(seconds=10)
                )
            )
            await workflow.sleep(timedelta(minutes=1))
        return done


async def test_a_worker_that_keeps_no_runs_in_memory_reads_whole_histories(env):
    # Every task asks for partial history; with nothing cached each one is a miss that must
    # read the run's history from the start and replay it.
    async with Worker(
        env.client,
        task_queue="no-cache",
        workflows=[StepsWorkflow],
        activities=[double],
        max_cached_workflows=0,
    ):
        result = await asyncio.wait_for(
            env.client.execute_workflow(
                StepsWorkflow.run, 4, id=new_id("no-cache"), task_queue="no-cache"
            ),
            60,
        )
    assert result == [0, 2, 4, 6]


@workflow.defn
class SecondTimeLuckyWorkflow:
    @workflow.run
    async def run(self) -> str:
        attempt = workflow.info().attempt
        if attempt == 1:
            raise ApplicationError("first attempt fails")
        return f"ok on attempt {attempt}"


async def test_a_workflow_retry_policy_retries_a_failed_run(env):
    async with Worker(env.client, task_queue="retried", workflows=[SecondTimeLuckyWorkflow]):
        result = await asyncio.wait_for(
            env.client.execute_workflow(
                SecondTimeLuckyWorkflow.run,
                id=new_id("retried"),
                task_queue="retried",
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3),
            ),
            60,
        )
    assert result == "ok on attempt 2"
