"""Workflow Update through the SDK, as a Temporal user writes it: `@workflow.update` with a
validator, dynamic and runtime handlers, `current_update_info`, `all_handlers_finished`;
`execute_update`, `start_update` and update handles; update-with-start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from perdure import (
    ApplicationError,
    WithStartWorkflowOperation,
    WorkflowIDConflictPolicy,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
    activity,
    workflow,
)
from perdure.client import Client
from perdure.replayer import Replayer
from perdure.worker import Worker

from tests.sdk_helpers import new_id, sdk_client, types

QUEUE = "updates"


@activity.defn
async def price_of(item: str) -> int:
    return len(item)


@workflow.defn
class Cart:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.total = 0
        self.done = False
        self.seen: list[str] = []

    @workflow.run
    async def run(self) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.done)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return {"items": self.items, "total": self.total, "seen": self.seen}

    @workflow.update
    async def add(self, item: str) -> int:
        info = workflow.current_update_info()
        assert info is not None
        self.seen.append(f"{info.name}:{info.id}")
        price = await workflow.execute_activity(
            price_of, item, start_to_close_timeout=timedelta(seconds=10)
        )
        self.items.append(item)
        self.total += price
        return self.total

    @add.validator
    def check_add(self, item: str) -> None:
        if not item:
            raise ValueError("an item needs a name")
        if item in self.items:
            raise ApplicationError(f"{item} is in the cart already")

    @workflow.update
    def checkout(self) -> str:
        self.done = True
        return f"receipt for {len(self.items)} items"

    @workflow.update(name="fail-it")
    async def fail_it(self) -> None:
        raise ApplicationError("the handler failed", type="Nope")

    @workflow.update(dynamic=True)
    def anything(self, name: str, args: list[Any]) -> str:
        return f"{name}{args}"

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def count(self) -> int:
        return len(self.items)


@workflow.defn
class Runtime:
    def __init__(self) -> None:
        self.value = 0

    @workflow.run
    async def run(self) -> int:
        def set_value(v: int) -> int:
            self.value = v
            return self.value

        def positive(v: int) -> None:
            if v < 0:
                raise ValueError("must be positive")

        workflow.set_update_handler("set", set_value, validator=positive)
        await workflow.wait_condition(lambda: self.value == 99)
        return self.value


@workflow.defn
class Leaves:
    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "left"

    def __init__(self) -> None:
        self.go = False

    @workflow.update
    async def slow(self) -> str:
        self.go = True
        await workflow.sleep(3600)
        return "never"


@workflow.defn
class LeavesQuietly:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return "left"

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def slow(self) -> str:
        self.go = True
        await workflow.sleep(3600)
        return "never"


WORKFLOWS = [Cart, Runtime, Leaves, LeavesQuietly]


@pytest.fixture(scope="module")
async def client(server) -> AsyncIterator[Client]:
    async with sdk_client(server) as client:
        async with Worker(client, task_queue=QUEUE, workflows=WORKFLOWS, activities=[price_of]):
            yield client


async def test_execute_update_runs_the_handler_and_returns_its_result(client):
    handle = await client.start_workflow(Cart.run, id=new_id("cart"), task_queue=QUEUE)

    assert await handle.execute_update(Cart.add, "apple") == 5
    assert await handle.execute_update(Cart.add, "kiwi", id="second") == 9
    assert await handle.execute_update(Cart.checkout) == "receipt for 2 items"

    result = await handle.result()
    assert result["total"] == 9
    assert result["seen"][1] == "add:second"
    events = types((await handle.fetch_history())["events"])
    assert events.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 3
    assert events.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 3


async def test_a_validator_rejects_without_a_trace_in_history(client):
    handle = await client.start_workflow(Cart.run, id=new_id("cart"), task_queue=QUEUE)
    await handle.execute_update(Cart.add, "pear")
    before = types((await handle.fetch_history())["events"])

    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(Cart.add, "pear")
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(Cart.add, "")

    assert "in the cart already" in str(failed.value.cause)
    assert types((await handle.fetch_history())["events"]) == before
    assert await handle.query(Cart.count) == 1
    await handle.signal(Cart.finish)
    assert (await handle.result())["items"] == ["pear"]


async def test_a_failing_handler_fails_the_update_not_the_workflow(client):
    handle = await client.start_workflow(Cart.run, id=new_id("cart"), task_queue=QUEUE)

    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(Cart.fail_it)

    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "Nope"
    assert await handle.execute_update("whatever", args=[1, 2]) == "whatever[1, 2]"
    await handle.signal(Cart.finish)
    await handle.result()


async def test_start_update_then_the_handle_gives_the_result(client):
    handle = await client.start_workflow(Cart.run, id=new_id("cart"), task_queue=QUEUE)

    update = await handle.start_update(
        Cart.add, "melon", id="m", wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    assert update.id == "m"
    assert await update.result() == 5
    again = handle.get_update_handle_for(Cart.add, "m")
    assert await again.result() == 5
    assert await handle.get_update_handle("m").result() == 5
    assert await handle.execute_update(Cart.add, "ignored", id="m") == 5  # same id: same update
    await handle.execute_update(Cart.checkout)
    assert (await handle.result())["items"] == ["melon"]


async def test_a_handler_set_at_runtime_with_its_validator(client):
    handle = await client.start_workflow(Runtime.run, id=new_id("runtime"), task_queue=QUEUE)

    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("set", -1)
    assert await handle.execute_update("set", 99) == 99

    assert await handle.result() == 99


async def test_an_unfinished_handler_is_warned_about_and_its_caller_gets_a_failure(client, caplog):
    handle = await client.start_workflow(Leaves.run, id=new_id("leaves"), task_queue=QUEUE)
    caplog.set_level(logging.WARNING, logger="perdure.worker")

    update = await handle.start_update(Leaves.slow, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    assert await handle.result() == "left"

    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update.result()
    assert "completed before the Update completed" in str(failed.value.cause)
    assert any("TMPRL1102" in r.getMessage() for r in caplog.records)


async def test_an_update_waits_no_longer_than_its_rpc_timeout(server):
    async with sdk_client(server) as lonely:  # no worker polls this client's namespace
        handle = await lonely.start_workflow(Cart.run, id=new_id("cart"), task_queue=QUEUE)
        with pytest.raises(WorkflowUpdateRPCTimeoutOrCancelledError):
            await handle.execute_update(Cart.add, "x", rpc_timeout=timedelta(seconds=0.3))


async def test_update_with_start_starts_then_uses_the_running_run(client):
    workflow_id = new_id("cart")

    def start() -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            Cart.run,
            id=workflow_id,
            task_queue=QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    first = start()
    assert (
        await client.execute_update_with_start_workflow(
            Cart.add, "fig", start_workflow_operation=first
        )
        == 3
    )
    second = start()
    update = await client.start_update_with_start_workflow(
        Cart.add,
        "plum",
        start_workflow_operation=second,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    assert await update.result() == 7

    run_one = await first.workflow_handle()
    assert (await second.workflow_handle()).run_id == run_one.run_id
    await run_one.execute_update(Cart.checkout)
    assert (await run_one.result())["items"] == ["fig", "plum"]


async def test_a_history_with_updates_replays(client):
    handle = await client.start_workflow(Cart.run, id=new_id("cart"), task_queue=QUEUE)
    await handle.execute_update(Cart.add, "lime")
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(Cart.add, "lime")
    await handle.execute_update(Cart.checkout)
    await handle.result()

    history = await handle.fetch_history()
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_concurrent_updates_each_answered_once(client):
    handle = await client.start_workflow(Cart.run, id=new_id("cart"), task_queue=QUEUE)

    totals = await asyncio.gather(
        *(handle.execute_update(Cart.add, f"item-{n}", id=f"u{n}") for n in range(5))
    )

    assert sorted(totals)[-1] == sum(len(f"item-{n}") for n in range(5))
    await handle.execute_update(Cart.checkout)
    assert len((await handle.result())["items"]) == 5


@activity.defn
async def approve(order: str) -> str:
    return f"approved {order}"


@workflow.defn
class Approval:
    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "closed"

    @workflow.update
    async def request(self, order: str) -> str:
        receipt = await workflow.execute_activity(
            approve,
            order,
            task_queue=f"{workflow.info().task_queue}-approvals",
            start_to_close_timeout=timedelta(seconds=10),
        )
        self.done = True
        return receipt


async def test_an_update_handler_resumes_on_another_worker_from_history(server):
    async with sdk_client(server) as client:
        queue = new_id("approvals")
        async with Worker(client, task_queue=queue, workflows=[Approval]):
            handle = await client.start_workflow(
                Approval.run, id=new_id("approval"), task_queue=queue
            )
            update = await handle.start_update(
                Approval.request, "order-7", wait_for_stage=WorkflowUpdateStage.ACCEPTED
            )
        # The first worker is gone mid-handler (its activity found no worker); a new one
        # rebuilds the workflow from history, the accepted update's handler included.
        async with (
            Worker(client, task_queue=queue, workflows=[Approval]),
            Worker(client, task_queue=f"{queue}-approvals", activities=[approve]),
        ):
            assert await update.result() == "approved order-7"
            assert await handle.result() == "closed"
        events = types((await handle.fetch_history())["events"])
        assert events.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 1
        assert events.count("ACTIVITY_TASK_SCHEDULED") == 1


async def test_an_update_without_a_handler_is_rejected_as_temporal_words_it(client):
    handle = await client.start_workflow(Runtime.run, id=new_id("runtime"), task_queue=QUEUE)

    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update("nope", 1)

    assert str(failed.value.cause) == (
        "Update handler for 'nope' expected but not found, and there is no dynamic handler. "
        "known updates: [set]"
    )
    await handle.execute_update("set", 99)
    assert await handle.result() == 99


async def test_an_abandoned_handler_is_not_warned_about(client, caplog):
    handle = await client.start_workflow(LeavesQuietly.run, id=new_id("quiet"), task_queue=QUEUE)
    caplog.set_level(logging.WARNING, logger="perdure.worker")

    update = await handle.start_update(
        LeavesQuietly.slow, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    assert await handle.result() == "left"

    with pytest.raises(WorkflowUpdateFailedError):
        await update.result()
    assert not any("TMPRL1102" in r.getMessage() for r in caplog.records)
