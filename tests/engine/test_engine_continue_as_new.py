"""Continue-as-new: a run closes and the next run of the same workflow id starts in the same
transaction; results and descriptions follow the chain. Raw HTTP + JSON only."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.engine_helpers import (
    advance,
    command,
    describe_run,
    of_type,
    raw_on_fresh_queue,
    register_search_attributes,
    run_history,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import Raw, complete_workflow, new_events


def continue_as_new(**attrs: Any) -> dict[str, Any]:
    return command("CONTINUE_AS_NEW_WORKFLOW_EXECUTION", **attrs)


async def chain(raw: Raw, workflow_id: str, links: int, result: Any) -> list[str]:
    """Start a workflow that continues as new `links` times, then completes; its run ids."""
    started, task = await start_and_take_first_task(raw, workflow_id, input={"i": 0})
    run_ids = [started["run_id"]]
    for i in range(1, links + 1):
        await raw.complete(task, continue_as_new(input={"i": i}))
        task = await raw.next_workflow_task()
        run_ids.append(task["run_id"])
    await raw.complete(task, complete_workflow(result))
    return run_ids


async def test_continue_as_new_closes_the_run_and_starts_the_next_with_the_new_input(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    started, task = await start_and_take_first_task(raw, wid, input={"i": 0})
    first = started["run_id"]

    await raw.complete(task, continue_as_new(input={"i": 1}))

    old = await describe_run(tenant, wid, first)
    assert old["status"] == "CONTINUED_AS_NEW"
    closing = (await run_history(tenant, wid, first))[-1]
    assert closing["event_type"] == "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    assert closing["attributes"]["input"] == {"i": 1}
    new_run = closing["attributes"]["new_execution_run_id"]
    assert new_run and new_run != first

    task = await raw.next_workflow_task()
    assert task["workflow_id"] == wid
    assert task["run_id"] == new_run
    opening = task["history"]["events"][0]
    assert opening["event_type"] == "WORKFLOW_EXECUTION_STARTED"
    assert opening["attributes"]["input"] == {"i": 1}
    assert opening["attributes"]["continued_execution_run_id"] == first
    assert opening["attributes"]["first_execution_run_id"] == first
    latest = await raw.describe(wid)
    assert latest["run_id"] == new_run
    assert latest["status"] == "RUNNING"


async def test_result_of_the_workflow_id_follows_the_chain_to_the_final_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    run_ids = await chain(raw, wid, links=2, result={"total": 3})

    outcome = await raw.result(wid, wait=0)

    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == {"total": 3}
    assert outcome["run_id"] == run_ids[-1]
    assert outcome["workflow_id"] == wid


async def test_result_asked_with_the_first_run_id_follows_the_chain_to_the_final_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    run_ids = await chain(raw, wid, links=2, result="end")

    outcome = await raw.result(wid, wait=0, run_id=run_ids[0])

    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == "end"
    assert outcome["run_id"] == run_ids[-1]


async def test_a_waiting_result_follows_the_chain_as_it_continues(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    started, task = await start_and_take_first_task(raw, wid)
    waiting = asyncio.create_task(raw.result(wid, wait=20, run_id=started["run_id"]))
    await asyncio.sleep(0)  # let the long poll begin before the chain moves

    await raw.complete(task, continue_as_new(input="next"))
    task = await raw.next_workflow_task()
    await raw.complete(task, complete_workflow("finally"))

    outcome = await asyncio.wait_for(waiting, 25)
    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == "finally"
    assert outcome["run_id"] == task["run_id"]


async def test_describe_shows_continued_from_and_continued_to(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    first, second, third = await chain(raw, wid, links=2, result=None)

    one = await describe_run(tenant, wid, first)
    two = await describe_run(tenant, wid, second)
    three = await describe_run(tenant, wid, third)

    assert (one["continued_from_run_id"], one["continued_to_run_id"]) == (None, second)
    assert (two["continued_from_run_id"], two["continued_to_run_id"]) == (first, third)
    assert (three["continued_from_run_id"], three["continued_to_run_id"]) == (second, None)
    assert one["first_run_id"] == two["first_run_id"] == three["first_run_id"] == first
    assert [one["status"], two["status"], three["status"]] == [
        "CONTINUED_AS_NEW",
        "CONTINUED_AS_NEW",
        "COMPLETED",
    ]


async def test_continue_as_new_carries_memo_and_search_attributes_to_the_next_run(tenant):
    await register_search_attributes(tenant, Tier="Keyword")
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(
        raw, wid, memo={"owner": "ann"}, search_attributes={"Tier": "gold"}
    )

    await raw.complete(task, continue_as_new(input=1))

    latest = await raw.describe(wid)
    assert latest["memo"] == {"owner": "ann"}
    assert latest["search_attributes"] == {"Tier": "gold"}
    listed = await tenant.client.get(
        tenant.ns("/workflows"), params={"search_attribute": "Tier=gold", "status": "RUNNING"}
    )
    assert [w["run_id"] for w in listed.json()["workflows"]] == [latest["run_id"]]


async def test_continue_as_new_may_change_workflow_type_and_task_queue(tenant):
    raw, other = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)

    await raw.complete(task, continue_as_new(workflow_type="FlowV2", task_queue=other.q))

    assert await raw.poll_workflow_task(wait=0.3) is None
    task = await other.next_workflow_task()
    assert task["workflow_id"] == wid
    assert task["workflow_type"] == "FlowV2"
    assert (await raw.describe(wid))["task_queue"] == other.q


async def test_continue_as_new_with_a_backoff_delays_the_next_runs_first_task(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)

    await raw.complete(task, continue_as_new(backoff_start_interval=120))

    latest = await raw.describe(wid)
    assert latest["status"] == "RUNNING"
    assert types(await raw.history(wid)) == ["WORKFLOW_EXECUTION_STARTED"]
    assert await raw.poll_workflow_task(wait=0.3) is None
    await advance(server, 121)
    task = await raw.next_workflow_task()
    assert task["run_id"] == latest["run_id"]


async def test_a_child_that_continues_as_new_reports_the_final_runs_result_to_the_parent(tenant):
    parent, child = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    parent_id, child_id = uid("parent"), uid("child")
    _, task = await start_and_take_first_task(parent, parent_id)
    await parent.complete(
        task,
        command(
            "START_CHILD_WORKFLOW_EXECUTION",
            workflow_id=child_id,
            workflow_type="Child",
            task_queue=child.q,
        ),
    )
    await parent.complete(await parent.next_workflow_task())  # saw CHILD_..._STARTED
    child_task = await child.next_workflow_task()
    await child.complete(child_task, continue_as_new(input="again"))
    assert await parent.poll_workflow_task(wait=0.3) is None  # the chain has not ended

    child_task = await child.next_workflow_task()
    await child.complete(child_task, complete_workflow("child result"))

    task = await parent.next_workflow_task()
    [done] = of_type(new_events(task), "CHILD_WORKFLOW_EXECUTION_COMPLETED")
    assert done["attributes"]["result"] == "child result"
    assert done["attributes"]["workflow_execution"] == {
        "workflow_id": child_id,
        "run_id": child_task["run_id"],
    }
