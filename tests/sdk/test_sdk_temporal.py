"""Where a Temporal user's code must behave as it does on Temporal: cancellation types,
arguments by position (and their wire form for other languages), checked result types,
child retry policies, and the exceptions the package exports."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from datetime import timedelta

import perdure
import pytest
from perdure import (
    ActivityCancellationType,
    ActivityError,
    ApplicationError,
    ChildWorkflowCancellationType,
    ChildWorkflowError,
    ParentClosePolicy,
    RetryPolicy,
    WorkflowQueryFailedError,
    activity,
    exceptions,
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
    query_until,
    sdk_client,
    types,
)

QUEUE = "temporal"


@activity.defn
async def wait_for_cancel() -> str:
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.02)


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class CancelsActivity:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def cancel_now(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, kind: str) -> list[str]:
        handle = workflow.start_activity(
            wait_for_cancel,
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
            cancellation_type=ActivityCancellationType(kind),
        )
        await workflow.wait_condition(lambda: self.go)
        handle.cancel()
        try:
            await handle
        except ActivityError as err:
            return [type(err).__name__, type(err.cause).__name__]
        return ["not cancelled"]


@workflow.defn
class Patient:
    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"


@workflow.defn
class CancelsChild:
    @workflow.run
    async def run(self, kind: str, child_id: str) -> list[str]:
        child = await workflow.start_child_workflow(
            Patient.run,
            id=child_id,
            cancellation_type=ChildWorkflowCancellationType(kind),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        child.cancel()
        try:
            await child
        except ChildWorkflowError as err:
            return [type(err).__name__, type(err.cause).__name__]
        return ["not cancelled"]


@workflow.defn
class Positional:
    def __init__(self) -> None:
        self.started_with: list[object] = []
        self.sums: list[int] = []
        self.done = False

    @workflow.signal
    def add(self, a: int, b: int) -> None:
        self.sums.append(a + b)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def nothing(self) -> str:
        return "nothing"

    @workflow.query
    def one(self, items: list[int]) -> list[int]:
        return items

    @workflow.query
    def two(self, text: str, count: int) -> str:
        return text * count

    @workflow.query
    def maybe(self, value: str | None = None) -> str:
        return f"got {value!r}"

    @workflow.query
    def state(self) -> dict[str, object]:
        return {"started_with": self.started_with, "sums": self.sums}

    @workflow.run
    async def run(self, items: list[int], note: str | None) -> str:
        self.started_with = [items, note]
        await workflow.wait_condition(lambda: self.done)
        return "a text"


class TypedStub:
    """What a caller believes Positional returns: ints where it gives text."""

    @workflow.query(name="nothing")
    def nothing(self) -> int: ...

    @workflow.run
    async def run(self) -> int: ...


@workflow.defn(name="Positional")
class PositionalStub:
    @workflow.run
    async def run(self, items: list[int], note: str | None) -> int: ...


@workflow.defn
class WrongResultTypes:
    @workflow.run
    async def run(self, which: str) -> object:
        if which == "activity":
            return await workflow.execute_activity(
                "shout", "x", result_type=int, start_to_close_timeout=timedelta(seconds=10)
            )
        return await workflow.execute_child_workflow(Hello.run, result_type=int)


@workflow.defn
class WrongActivityArgs:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(
                shout,
                args=["two", "arguments"],
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as err:
            return f"{err.cause.type}: {err.cause}"
        return "called"


@workflow.defn
class Hello:
    @workflow.run
    async def run(self) -> str:
        return "hello"


@workflow.defn
class SecondTime:
    @workflow.run
    async def run(self) -> str:
        if workflow.info().attempt == 1:
            raise ApplicationError("first attempt fails")
        return f"ok on attempt {workflow.info().attempt}"


@workflow.defn
class RetriesChild:
    @workflow.run
    async def run(self, child_id: str) -> str:
        return await workflow.execute_child_workflow(
            SecondTime.run,
            id=child_id,
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), maximum_attempts=2),
        )


WORKFLOWS = [
    CancelsActivity,
    Patient,
    CancelsChild,
    Positional,
    WrongResultTypes,
    WrongActivityArgs,
    Hello,
    SecondTime,
    RetriesChild,
]


@pytest.fixture(scope="module")
async def client(server) -> AsyncIterator[Client]:
    async with sdk_client(server) as client:
        async with Worker(
            client, task_queue=QUEUE, workflows=WORKFLOWS, activities=[wait_for_cancel, shout]
        ):
            yield client


# -- cancellation types -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ActivityCancellationType))
async def test_a_cancelled_activity_raises_activity_error_as_its_cancellation_type_says(
    client, kind
):
    handle = await client.start_workflow(
        CancelsActivity.run, kind.value, id=new_id("cancel-activity"), task_queue=QUEUE
    )
    await described_until(handle, activity_started)
    await handle.signal(CancelsActivity.cancel_now)
    assert await handle.result() == ["ActivityError", "CancelledError"]
    events = types((await handle.fetch_history())["events"])
    closed = events.index("WORKFLOW_EXECUTION_COMPLETED")
    if kind is ActivityCancellationType.ABANDON:
        assert "ACTIVITY_TASK_CANCEL_REQUESTED" not in events
    else:
        assert events.index("ACTIVITY_TASK_CANCEL_REQUESTED") < closed
    waited = "ACTIVITY_TASK_CANCELED" in events[:closed]
    assert waited == (kind is ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)


@pytest.mark.parametrize("kind", list(ChildWorkflowCancellationType))
async def test_a_cancelled_child_raises_child_workflow_error_as_its_cancellation_type_says(
    client, kind
):
    child_id = new_id("patient")
    handle = await client.start_workflow(
        CancelsChild.run, args=[kind.value, child_id], id=new_id("parent"), task_queue=QUEUE
    )
    assert await handle.result() == ["ChildWorkflowError", "CancelledError"]
    events = types((await handle.fetch_history())["events"])
    closed = events.index("WORKFLOW_EXECUTION_COMPLETED")
    child_closed_first = "CHILD_WORKFLOW_EXECUTION_CANCELED" in events[:closed]
    assert child_closed_first == (kind is ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED)
    if kind is ChildWorkflowCancellationType.ABANDON:
        assert "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED" not in events
    else:
        # The request goes with the workflow task that cancels; TRY_CANCEL closes in that
        # same task, the WAIT_ kinds only in a later one (once their event came).
        requested = events.index("REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED")
        waited = "WORKFLOW_TASK_COMPLETED" in events[requested:closed]
        assert waited == (kind is not ChildWorkflowCancellationType.TRY_CANCEL)
    child = client.get_workflow_handle(child_id)
    if kind is ChildWorkflowCancellationType.ABANDON:
        assert (await child.describe()).status == "RUNNING"
        await child.terminate(reason="test over")


# -- arguments by position --------------------------------------------------------------------


async def test_workflow_query_and_signal_arguments_keep_their_count(client):
    handle = await client.start_workflow(
        Positional.run, args=[[1, 2], None], id=new_id("positional"), task_queue=QUEUE
    )
    await handle.signal(Positional.add, args=[2, 3])
    await query_until(handle, Positional.state, {"started_with": [[1, 2], None], "sums": [5]})
    assert await handle.query(Positional.nothing) == "nothing"
    assert await handle.query(Positional.one, [7, 8]) == [7, 8]
    assert await handle.query(Positional.two, args=["ab", 2]) == "abab"
    assert await handle.query(Positional.maybe) == "got None"
    assert await handle.query(Positional.maybe, None) == "got None"
    assert await handle.query(Positional.maybe, "x") == "got 'x'"
    for query, args in [
        (Positional.one, []),
        (Positional.one, [[1], [2]]),
        (Positional.nothing, ["extra"]),
        (Positional.two, ["ab"]),
        (Positional.two, ["ab", "not a number"]),
    ]:
        with pytest.raises(WorkflowQueryFailedError):
            await handle.query(query, args=args)
    await handle.signal(Positional.finish)
    assert await handle.result() == "a text"


async def test_the_wire_form_lets_raw_http_callers_pass_arguments_by_position(client):
    workflow_id = new_id("raw")
    await client.http.call(
        "POST",
        f"/workflows/{workflow_id}",
        json={"workflow_type": "Positional", "task_queue": QUEUE, "input": [[4], "memo"]},
    )
    await client.http.call("POST", f"/workflows/{workflow_id}/signal/add", json={"input": [1, 1]})

    async def raw_query(name: str, args: object) -> object:
        answer = await client.http.call(
            "POST", f"/workflows/{workflow_id}/query/{name}", json={"args": args}
        )
        return answer.json()["answer"]

    handle = client.get_workflow_handle(workflow_id)
    await query_until(handle, "state", {"started_with": [[4], "memo"], "sums": [2]})
    assert await raw_query("two", ["ab", 3]) == "ababab"
    assert await raw_query("one", [[5, 6]]) == [5, 6]
    assert await raw_query("maybe", "plain value") == "got 'plain value'"
    assert await raw_query("maybe", [None]) == "got None"
    await handle.signal(Positional.finish)
    assert await handle.result() == "a text"


async def test_a_signal_with_the_wrong_argument_count_fails_the_workflow_task(client):
    handle = await client.start_workflow(
        Positional.run, args=[[], None], id=new_id("bad-signal"), task_queue=QUEUE
    )
    await handle.signal(Positional.add, 1)
    events = await history_until(handle, has("WORKFLOW_TASK_FAILED"))
    failed = next(e for e in events if e["event_type"] == "WORKFLOW_TASK_FAILED")
    assert "takes 2 argument(s) but 1 were given" in failed["attributes"]["failure"]["message"]
    await handle.terminate(reason="test over")


async def test_an_activity_given_the_wrong_argument_count_fails_its_attempt(client):
    result = await client.execute_workflow(
        WrongActivityArgs.run, id=new_id("activity-args"), task_queue=QUEUE
    )
    assert "shout() takes 1 argument(s) but 2 were given" in result


# -- result types -----------------------------------------------------------------------------


async def test_a_result_of_another_type_than_the_stub_says_is_a_type_error(client):
    workflow_id = new_id("typed")
    handle = await client.start_workflow(
        Positional.run, args=[[], None], id=workflow_id, task_queue=QUEUE
    )
    with pytest.raises(TypeError):
        await handle.query(TypedStub.nothing)
    with pytest.raises(TypeError):
        await handle.query(Positional.nothing, result_type=int)
    await handle.signal(Positional.finish)
    with pytest.raises(TypeError):
        await client.get_workflow_handle_for(PositionalStub.run, workflow_id).result()
    assert await client.get_workflow_handle(workflow_id, result_type=str).result() == "a text"


@pytest.mark.parametrize("which", ["activity", "child"])
async def test_an_activity_or_child_result_of_another_type_fails_the_workflow_task(client, which):
    handle = await client.start_workflow(
        WrongResultTypes.run, which, id=new_id("wrong-type"), task_queue=QUEUE
    )
    events = await history_until(handle, has("WORKFLOW_TASK_FAILED"))
    failed = next(e for e in events if e["event_type"] == "WORKFLOW_TASK_FAILED")
    assert "expected int" in failed["attributes"]["failure"]["message"]
    assert (await handle.describe()).status == "RUNNING"
    await handle.terminate(reason="test over")


# -- options and exports ----------------------------------------------------------------------


async def test_a_child_workflow_is_retried_by_its_retry_policy(client, server):
    child_id = new_id("child")
    handle = await client.start_workflow(
        RetriesChild.run, child_id, id=new_id("retrying-parent"), task_queue=QUEUE
    )
    await described_until(client.get_workflow_handle(child_id), lambda d: d.attempt == 2)
    await advance(server, 11)
    assert await handle.result() == "ok on attempt 2"


async def test_start_signal_starts_the_workflow_with_its_first_signal(client):
    handle = await client.start_workflow(
        Positional.run,
        args=[[], None],
        id=new_id("start-signal"),
        task_queue=QUEUE,
        start_signal="add",
        start_signal_args=[20, 22],
    )
    await query_until(handle, Positional.state, {"started_with": [[], None], "sums": [42]})
    await handle.signal(Positional.finish)
    assert await handle.result() == "a text"


def test_every_exception_a_user_may_catch_is_exported_from_the_package():
    public = {
        name
        for name, value in vars(exceptions).items()
        if inspect.isclass(value)
        and issubclass(value, exceptions.PerdureError)
        and not name.startswith("_")
    }
    assert public <= set(perdure.__all__)
    for name in public:
        assert getattr(perdure, name) is getattr(exceptions, name)
