"""The SDK's flow control: `priority` on starts, activities and children (inherited field by
field), and `concurrency_keys` that per-key concurrency limits count by."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from perdure import Priority, RPCError, activity, workflow
from perdure.client import Client
from perdure.schedules import Schedule, ScheduleActionStartWorkflow, ScheduleSpec, ScheduleUpdate
from perdure.worker import Worker

from tests.conftest import new_tenant
from tests.sdk_helpers import new_id, sdk_client

QUEUE = "flow-sdk"


@activity.defn
async def echo(text: str) -> str:
    return text


@workflow.defn
class Leaf:
    @workflow.run
    async def run(self) -> str:
        return "leaf"


@workflow.defn
class Tree:
    @workflow.run
    async def run(self) -> list[str]:
        inherited = await workflow.execute_activity(
            echo, "inherited", start_to_close_timeout=timedelta(seconds=30)
        )
        own = await workflow.execute_activity(
            echo,
            "own",
            start_to_close_timeout=timedelta(seconds=30),
            priority=Priority(priority_key=1, fairness_weight=4.0),
            concurrency_keys={"customer": "globex"},
        )
        child = await workflow.execute_child_workflow(
            Leaf.run,
            id=f"{workflow.info().workflow_id}-leaf",
            priority=Priority(fairness_key="k"),
            concurrency_keys={"customer": "initech"},
        )
        return [inherited, own, child]


@workflow.defn
class Refused:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.start_child_workflow(Leaf.run, id=f"{workflow.info().workflow_id}-c")
        except RPCError as refused:
            return f"{refused.status}: {refused}"
        return "started"


@pytest.fixture(scope="module")
async def client(server) -> AsyncIterator[Client]:
    async with sdk_client(server) as client:
        async with Worker(client, task_queue=QUEUE, workflows=[Tree, Leaf], activities=[echo]):
            yield client


def _priorities(events: list[dict], event_type: str) -> list[dict | None]:
    return [e["attributes"].get("priority") for e in events if e["event_type"] == event_type]


async def test_priority_and_concurrency_keys_reach_activities_and_children(client):
    handle = await client.start_workflow(
        Tree.run,
        id=new_id("tree"),
        task_queue=QUEUE,
        priority=Priority(priority_key=2, fairness_key="acme"),
        concurrency_keys={"customer": "acme"},
    )

    assert await handle.result() == ["inherited", "own", "leaf"]
    events = (await handle.fetch_history())["events"]
    assert _priorities(events, "WORKFLOW_EXECUTION_STARTED") == [
        {"priority_key": 2, "fairness_key": "acme"}
    ]
    assert _priorities(events, "ACTIVITY_TASK_SCHEDULED") == [
        {"priority_key": 2, "fairness_key": "acme"},
        {"priority_key": 1, "fairness_key": "acme", "fairness_weight": 4.0},
    ]
    initiated = [
        e["attributes"]
        for e in events
        if e["event_type"] == "START_CHILD_WORKFLOW_EXECUTION_INITIATED"
    ]
    assert [a.get("concurrency_keys") for a in initiated] == [{"customer": "initech"}]
    leaf = client.get_workflow_handle(f"{handle.id}-leaf")
    leaf_events = (await leaf.fetch_history())["events"]
    assert _priorities(leaf_events, "WORKFLOW_EXECUTION_STARTED") == [
        {"priority_key": 2, "fairness_key": "k"}
    ]


async def test_a_start_refused_by_a_concurrency_limit_raises_an_rpc_error(server):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        tenant = await new_tenant(http)
        r = await tenant.client.put(
            tenant.ns(f"/concurrency-limits/{new_id('lim')}"),
            json={
                "applies_to": "workflows",
                "key": "concurrency_keys.tenant",
                "max_running": 1,
                "strategy": "CANCEL_NEWEST",
            },
        )
        assert r.status_code == 201, r.text
        await tenant.client.aclose()
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    keys = {"tenant": "acme"}
    await client.start_workflow(
        "Idle", id=new_id("first"), task_queue="nobody", concurrency_keys=keys
    )

    with pytest.raises(RPCError) as refused:
        await client.start_workflow(
            "Idle", id=new_id("second"), task_queue="nobody", concurrency_keys=keys
        )
    assert refused.value.status == 409
    await client.close()


async def test_a_bad_priority_is_refused_before_anything_starts(client):
    with pytest.raises(RPCError) as refused:
        await client.start_workflow(
            Tree.run, id=new_id("bad"), task_queue=QUEUE, priority=Priority(priority_key=7)
        )
    assert refused.value.status == 400


async def test_a_schedules_action_carries_priority_and_concurrency_keys_through_an_update(client):
    action = ScheduleActionStartWorkflow(
        Leaf.run,
        id=new_id("leaf"),
        task_queue=QUEUE,
        priority=Priority(priority_key=1, fairness_key="acme"),
        concurrency_keys={"customer": "acme"},
    )
    spec = ScheduleSpec(cron_expressions=["0 0 1 1 *"])
    handle = await client.create_schedule(new_id("sched"), Schedule(action=action, spec=spec))

    def paused(update):  # type: ignore[no-untyped-def]
        update.description.schedule.state.paused = True
        return ScheduleUpdate(update.description.schedule)

    await handle.update(paused)
    shown = (await handle.describe()).schedule.action
    await handle.delete()

    assert shown.priority == Priority(priority_key=1, fairness_key="acme")
    assert shown.concurrency_keys == {"customer": "acme"}


async def test_a_child_refused_by_its_inherited_keys_limit_raises_in_the_workflow(server):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        tenant = await new_tenant(http)
        r = await tenant.client.put(
            tenant.ns(f"/concurrency-limits/{new_id('lim')}"),
            json={
                "applies_to": "workflows",
                "key": "concurrency_keys.customer",
                "max_running": 1,
                "strategy": "CANCEL_NEWEST",
            },
        )
        assert r.status_code == 201, r.text
        await tenant.client.aclose()
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    async with Worker(client, task_queue=QUEUE, workflows=[Refused, Leaf]):
        answer = await client.execute_workflow(
            Refused.run,
            id=new_id("refused"),
            task_queue=QUEUE,
            concurrency_keys={"customer": "acme"},
        )
    await client.close()

    assert answer.startswith("409: child workflow")
    assert "1 of 1 running for customer=acme" in answer
