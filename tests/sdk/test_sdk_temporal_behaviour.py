"""Where the SDK behaved unlike Temporal and now behaves as Temporal does: cancelling a sync
activity, durations in `activity.info()`, failed attempts and workflow tasks in the logs,
Temporal's list form of search attributes, and schedules listed and backfilled as its SDK
does."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from perdure import (
    ActivityCancellationType,
    ActivityError,
    ApplicationError,
    RetryPolicy,
    WorkflowFailureError,
    activity,
    exceptions,
    workflow,
)
from perdure.client import Client
from perdure.exceptions import ApplicationErrorCategory
from perdure.schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleSpec,
    ScheduleState,
)
from perdure.worker import Worker

from tests.sdk_helpers import history_until, new_id, sdk_client

QUEUE = "behaviour"


@pytest.fixture
async def client(server: Any) -> AsyncIterator[Client]:
    async with sdk_client(
        server, search_attributes={"Color": "Keyword", "Tags": "KeywordList"}
    ) as c:
        yield c


# -- a sync activity is cancelled with Temporal's CancelledError --------------------------------

caught: list[str] = []
heartbeating = threading.Event()


@activity.defn
def sync_waits_for_cancel() -> str:
    try:
        while True:
            activity.heartbeat("working")
            heartbeating.set()
            activity.wait_for_cancelled_sync(0.05)
    except exceptions.CancelledError as err:
        caught.append(type(err).__module__ + "." + type(err).__name__)
        raise


@workflow.defn
class CancelsSyncActivity:
    @workflow.run
    async def run(self) -> str:
        handle = workflow.start_activity(
            sync_waits_for_cancel,
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=timedelta(seconds=2),
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.sleep(0.5)
        handle.cancel()
        try:
            await handle
        except ActivityError as err:
            return type(err.cause).__name__
        return "not cancelled"


async def test_cancelling_a_sync_activity_raises_temporals_cancelled_error(client: Client) -> None:
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[CancelsSyncActivity],
        activities=[sync_waits_for_cancel],
    ):
        result = await client.execute_workflow(
            CancelsSyncActivity.run, id=new_id("sync-cancel"), task_queue=QUEUE
        )
    assert result == "CancelledError"
    assert caught == ["perdure.exceptions.CancelledError"]


# -- durations are timedeltas ---------------------------------------------------------------


@activity.defn
async def report_info() -> list[Any]:
    info = activity.info()
    return [
        info.heartbeat_timeout.total_seconds() if info.heartbeat_timeout else None,
        info.start_to_close_timeout.total_seconds() if info.start_to_close_timeout else None,
        info.schedule_to_close_timeout.total_seconds() if info.schedule_to_close_timeout else None,
        isinstance(info.scheduled_time, datetime) and info.scheduled_time.tzinfo is not None,
        isinstance(info.started_time, datetime),
        info.namespace == info.workflow_namespace != "",
        info.is_local,
    ]


@workflow.defn
class ReportsInfo:
    @workflow.run
    async def run(self) -> list[Any]:
        return await workflow.execute_activity(
            report_info,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=timedelta(seconds=5),
        )


async def test_activity_info_gives_durations_as_timedeltas(client: Client) -> None:
    async with Worker(client, task_queue=QUEUE, workflows=[ReportsInfo], activities=[report_info]):
        result = await client.execute_workflow(ReportsInfo.run, id=new_id("info"), task_queue=QUEUE)
    assert result == [5.0, 30.0, 120.0, True, True, True, False]


# -- failures are logged as Temporal's worker logs them -------------------------------------------


@activity.defn
async def broken(kind: str) -> None:
    if kind == "benign":
        raise ApplicationError("not yet", category=ApplicationErrorCategory.BENIGN)
    raise KeyError("missing-key")


@workflow.defn
class CallsBroken:
    @workflow.run
    async def run(self, kind: str) -> str:
        await workflow.execute_activity(
            broken,
            kind,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(seconds=0.1)),
        )
        return "unreachable"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Any:
    handler = Records()
    names = ("perdure.activity", "perdure.worker")
    for name in names:
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    for name in names:
        logging.getLogger(name).removeHandler(handler)
        logging.getLogger(name).setLevel(logging.NOTSET)


async def test_each_failed_attempt_is_logged_at_warning_with_its_traceback(
    client: Client, records: Records
) -> None:
    workflow_id = new_id("broken")
    async with Worker(client, task_queue=QUEUE, workflows=[CallsBroken], activities=[broken]):
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(CallsBroken.run, "bug", id=workflow_id, task_queue=QUEUE)
        with pytest.raises(WorkflowFailureError) as benign:
            await client.execute_workflow(
                CallsBroken.run, "benign", id=new_id("benign"), task_queue=QUEUE
            )
    assert benign.value.cause.cause.category == ApplicationErrorCategory.BENIGN  # type: ignore[union-attr]
    failed = [r for r in records.records if r.getMessage().startswith("Completing activity")]
    bugs = [r for r in failed if r.temporal_activity["workflow_id"] == workflow_id]  # type: ignore[attr-defined]
    assert [r.levelno for r in bugs] == [logging.WARNING, logging.WARNING]  # both attempts
    assert bugs[0].exc_info is not None and bugs[0].exc_info[0] is KeyError
    assert bugs[0].__dict__["__temporal_error_identifier"] == "ActivityFailure"
    assert [r.temporal_activity["attempt"] for r in bugs] == [1, 2]  # type: ignore[attr-defined]
    benign_levels = {r.levelno for r in failed if r not in bugs}
    assert benign_levels == {logging.DEBUG}


@workflow.defn
class HasABug:
    @workflow.run
    async def run(self) -> None:
        raise KeyError("a bug, not a failure")


async def test_a_failed_workflow_task_is_logged_with_temporals_error_identifier(
    client: Client, records: Records
) -> None:
    workflow_id = new_id("bug")
    async with Worker(client, task_queue=QUEUE, workflows=[HasABug]):
        handle = await client.start_workflow(HasABug.run, id=workflow_id, task_queue=QUEUE)
        await history_until(
            handle, lambda events: any(e["event_type"] == "WORKFLOW_TASK_FAILED" for e in events)
        )
        await handle.terminate(reason="test over")
    failed = [r for r in records.records if getattr(r, "temporal_workflow", None)]
    ours = [r for r in failed if r.temporal_workflow["workflow_id"] == workflow_id]  # type: ignore[attr-defined]
    assert ours and ours[0].levelno == logging.WARNING
    assert ours[0].__dict__["__temporal_error_identifier"] == "WorkflowTaskFailure"
    assert ours[0].getMessage().startswith("Failed activation on workflow HasABug with ID")
    assert ours[0].exc_info is not None and ours[0].exc_info[0] is KeyError


# -- search attributes in Temporal's untyped form -----------------------------------------------


@workflow.defn
class Colours:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        workflow.upsert_search_attributes({"Color": ["blue"], "Tags": ["a", "b"]})
        return workflow.info().search_attributes


async def test_search_attributes_in_temporals_list_form_are_accepted(client: Client) -> None:
    workflow_id = new_id("colours")
    async with Worker(client, task_queue=QUEUE, workflows=[Colours]):
        handle = await client.start_workflow(
            Colours.run,
            id=workflow_id,
            task_queue=QUEUE,
            search_attributes={"Color": ["red"], "Tags": ["x"]},
        )
        assert await handle.result() == {"Color": ["blue"], "Tags": ["a", "b"]}
    described = await handle.describe()
    assert described.search_attributes == {"Color": ["blue"], "Tags": ["a", "b"]}
    found = [
        r.id
        async for r in client.list_workflows(f"Color = 'blue' AND WorkflowId = '{workflow_id}'")
    ]
    assert found == [workflow_id]


# -- schedules: awaited listing, naive backfill times ---------------------------------------------


@workflow.defn
class Tick:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_schedules_list_when_awaited_and_naive_backfill_times_are_utc(
    client: Client,
) -> None:
    schedule_id = new_id("sched")
    handle = await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(Tick.run, id="tick", task_queue=QUEUE),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
            state=ScheduleState(paused=True),
        ),
    )
    listed = [s.id async for s in await client.list_schedules()]
    assert listed == [schedule_id]
    await handle.backfill(
        ScheduleBackfill(
            datetime(2025, 1, 1, 0, 0),
            datetime(2025, 1, 1, 0, 2),
            overlap=ScheduleOverlapPolicy.ALLOW_ALL,
        )
    )
    described = await handle.describe()
    assert described.info.num_actions == 3
    scheduled = sorted(a.scheduled_at for a in described.info.recent_actions)
    assert scheduled[0] == datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    await handle.delete()


# -- activities in a process pool ---------------------------------------------------------------


@activity.defn
def in_another_process(text: str) -> list[Any]:
    import os

    return [os.getpid(), activity.info().activity_type, text.upper()]


@workflow.defn
class UsesProcessPool:
    @workflow.run
    async def run(self) -> list[Any]:
        return await workflow.execute_activity(
            in_another_process, "abc", start_to_close_timeout=timedelta(seconds=30)
        )


async def test_sync_activities_run_in_a_process_pool_executor(client: Client) -> None:
    import concurrent.futures
    import multiprocessing
    import os

    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("fork")
    )
    try:
        async with Worker(
            client,
            task_queue=QUEUE,
            workflows=[UsesProcessPool],
            activities=[in_another_process],
            activity_executor=pool,
            max_concurrent_activities=None,  # Temporal's "the default"
        ):
            pid, activity_type, text = await client.execute_workflow(
                UsesProcessPool.run, id=new_id("pool"), task_queue=QUEUE
            )
    finally:
        pool.shutdown()
    assert pid != os.getpid()
    assert (activity_type, text) == ("in_another_process", "ABC")
