"""Reset and pause with Workflow Update: updates accepted after the reset point are reapplied
(WORKFLOW_EXECUTION_UPDATE_ADMITTED, origin REAPPLY) and delivered again, unless excluded;
those accepted before it stay; those admitted but not yet accepted follow to the new run; a
paused run refuses updates (409 workflow-paused)."""

from __future__ import annotations

import asyncio
import time

from tests.engine.test_updates import answer_next, idle_run
from tests.engine_helpers import assert_problem, of_type, types, uid
from tests.rawhttp import Raw, start_timer
from tests.update_helpers import accept, placed, poll_update, respond, send_update


async def run_with_two_updates(raw: Raw) -> tuple[str, int]:
    """A run whose first task started a timer (the reset point: its completion), then took
    update u1 and, after signal-free task 2, update u2. Returns (workflow id, point)."""
    workflow_id, _ = await idle_run(raw)
    point = next(
        e["event_id"]
        for e in await raw.history(workflow_id)
        if e["event_type"] == "WORKFLOW_TASK_COMPLETED"
    )
    for update_id, value in (("u1", 1), ("u2", 2)):
        caller = asyncio.create_task(
            send_update(raw.t, workflow_id, "add", value, update_id=update_id)
        )
        await answer_next(raw, result=value * 10)
        assert (await caller).status_code == 200
    return workflow_id, point


async def test_updates_accepted_after_the_point_are_reapplied_and_delivered_again(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, point = await run_with_two_updates(raw)

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/reset"),
        json={"reason": "replay updates", "event_id": point},
    )

    assert r.status_code == 200, r.text
    new_run = r.json()["run_id"]
    events = await raw.history(workflow_id, run_id=new_run)
    assert types(events[point - 1 :]) == [
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_UPDATE_ADMITTED",
        "WORKFLOW_EXECUTION_UPDATE_ADMITTED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    admitted = of_type(events, "WORKFLOW_EXECUTION_UPDATE_ADMITTED")
    assert [a["attributes"]["origin"] for a in admitted] == ["REAPPLY", "REAPPLY"]
    assert [a["attributes"]["request"]["meta"]["update_id"] for a in admitted] == ["u1", "u2"]
    task = await raw.next_workflow_task()
    assert task["run_id"] == new_run
    assert [m["protocol_instance_id"] for m in task["messages"]] == ["u1", "u2"]
    waiting = await poll_update(tenant, workflow_id, "u1", run_id=new_run)
    assert waiting.json()["stage"] == "ADMITTED"


async def test_excluding_updates_leaves_them_out_and_keeps_those_before_the_point(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await run_with_two_updates(raw)
    completed = [
        e["event_id"]
        for e in await raw.history(workflow_id)
        if e["event_type"] == "WORKFLOW_TASK_COMPLETED"
    ]

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/reset"),
        json={
            "reason": "without updates",
            "event_id": completed[-1],  # u1 before the point, u2 after it
            "reset_reapply_exclude_types": ["UPDATE"],
        },
    )

    assert r.status_code == 200, r.text
    new_run = r.json()["run_id"]
    events = await raw.history(workflow_id, run_id=new_run)
    assert "WORKFLOW_EXECUTION_UPDATE_ADMITTED" not in types(events)
    kept = await poll_update(tenant, workflow_id, "u1", run_id=new_run)
    assert (kept.json()["stage"], kept.json()["outcome"]) == ("COMPLETED", {"success": 10})
    gone = await poll_update(tenant, workflow_id, "u2", run_id=new_run)
    assert gone.status_code == 404


async def test_a_paused_run_refuses_updates_and_takes_them_after_unpause(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    r = await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/pause"), json={})
    assert r.status_code == 200, r.text

    refused = await send_update(tenant, workflow_id, "add", 1, update_id="p1")
    assert_problem(refused, 409, "workflow-paused")
    assert await raw.poll_workflow_task(wait=0.3) is None

    await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/unpause"), json={})
    await raw.complete(await raw.next_workflow_task(), start_timer("again", 60))
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="p1"))
    await answer_next(raw, result=1)
    assert (await caller).json()["outcome"] == {"success": 1}


async def admitted(tenant, workflow_id: str, update_id: str, seconds: float = 20) -> None:
    """Poll (without waiting on the server) until the update is there, not yet accepted."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = await poll_update(tenant, workflow_id, update_id, wait=0)
        if r.status_code == 200 and r.json()["stage"] == "ADMITTED":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"update {update_id} was not admitted: {r.status_code} {r.text}")


async def test_updates_admitted_but_not_accepted_follow_the_reset_to_the_new_run(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    point = next(
        e["event_id"]
        for e in await raw.history(workflow_id)
        if e["event_type"] == "WORKFLOW_TASK_COMPLETED"
    )
    sent = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="w1"))
    old_task = await raw.next_workflow_task()  # w1 goes out with it, unanswered
    assert [m["protocol_instance_id"] for m in old_task["messages"]] == ["w1"]
    waiting = asyncio.create_task(send_update(tenant, workflow_id, "add", 2, update_id="w2"))
    await admitted(tenant, workflow_id, "w2")

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/reset"),
        json={"reason": "bad deploy", "event_id": point},
    )

    assert r.status_code == 200, r.text
    new_run = r.json()["run_id"]
    task = await raw.next_workflow_task()
    assert task["run_id"] == new_run
    messages = task["messages"]
    assert [m["protocol_instance_id"] for m in messages] == ["w1", "w2"]
    answers = []
    for message, result in zip(messages, (10, 20), strict=True):
        answers += [accept(message), respond(message["protocol_instance_id"], success=result)]
    await raw.complete(task, *(placed(m) for m in answers), messages=answers)
    assert (await sent).json()["outcome"] == {"success": 10}
    assert (await waiting).json()["outcome"] == {"success": 20}
    followed = await poll_update(tenant, workflow_id, "w1")
    assert followed.json()["outcome"] == {"success": 10}
    events = await raw.history(workflow_id, run_id=new_run)
    assert "WORKFLOW_EXECUTION_UPDATE_ADMITTED" not in types(events)  # nothing to reapply
    assert types(events).count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 2
