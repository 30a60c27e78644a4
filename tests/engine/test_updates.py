"""Workflow Update over plain HTTP: a caller sends an update, a decider receives it as a
protocol message in a workflow task and answers it with messages placed by PROTOCOL_MESSAGE
commands; accepted and completed updates are in history, rejected ones leave no trace."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.engine_helpers import advance, assert_problem, types, uid
from tests.rawhttp import Raw, complete_workflow, start_timer
from tests.update_helpers import accept, placed, poll_update, reject, respond, send_update


async def idle_run(raw: Raw) -> tuple[str, list[str]]:
    """A started run whose first workflow task completed with a timer: (workflow id, history
    event types)."""
    workflow_id = uid()
    await raw.start(workflow_id)
    await raw.complete(await raw.next_workflow_task(), start_timer("t", 3600))
    return workflow_id, await raw.event_types(workflow_id)


async def answer_next(raw: Raw, *, reject_it: bool = False, result: Any = "ok") -> dict[str, Any]:
    """Take the next workflow task, which must carry one update request, and accept and
    complete it (or reject it)."""
    task = await raw.next_workflow_task()
    (message,) = task["messages"]
    if reject_it:
        await raw.complete(task, messages=[reject(message)])
    else:
        accepted = accept(message)
        done = respond(message["protocol_instance_id"], success=result)
        await raw.complete(task, placed(accepted), placed(done), messages=[accepted, done])
    return task


async def test_an_accepted_update_completes_and_its_events_land_where_the_commands_place_them(
    tenant,
):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, before = await idle_run(raw)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 5, update_id="u1"))

    task = await raw.next_workflow_task()
    (message,) = task["messages"]
    assert message["protocol_instance_id"] == "u1"
    assert message["event_id"] == task["started_event_id"] - 1
    assert message["body"]["input"] == {"header": None, "name": "add", "args": [5]}
    assert types(task["history"]["events"])[-2:] == [
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]
    accepted, done = accept(message), respond("u1", success={"total": 5})
    await raw.complete(
        task,
        placed(accepted),
        start_timer("after", 60),
        placed(done),
        messages=[accepted, done],
    )

    r = await caller
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "COMPLETED"
    assert r.json()["outcome"] == {"success": {"total": 5}}
    assert r.json()["update_ref"]["update_id"] == "u1"
    history = await raw.history(workflow_id)
    assert types(history)[len(before) :] == [
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "TIMER_STARTED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    shown_started = task["history"]["events"][-1]
    written_started = history[len(before) + 1]
    assert written_started["event_id"] == shown_started["event_id"] == task["started_event_id"]
    assert written_started["event_time"] == shown_started["event_time"]  # replays the same now()
    accepted_event, completed_event = history[-3], history[-1]
    assert accepted_event["attributes"]["protocol_instance_id"] == "u1"
    assert accepted_event["attributes"]["accepted_request"]["input"]["args"] == [5]
    assert completed_event["attributes"]["accepted_event_id"] == accepted_event["event_id"]
    assert completed_event["attributes"]["outcome"] == {"success": {"total": 5}}


async def test_ten_rejected_updates_leave_the_history_unchanged(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, before = await idle_run(raw)
    for n in range(10):
        caller = asyncio.create_task(send_update(tenant, workflow_id, "add", n))
        await answer_next(raw, reject_it=True)
        r = await caller
        assert r.status_code == 200, r.text
        assert r.json()["stage"] == "COMPLETED"
        assert r.json()["outcome"]["failure"]["message"] == "not valid"

    assert await raw.event_types(workflow_id) == before
    assert (await raw.describe(workflow_id))["status"] == "RUNNING"


async def test_an_update_the_worker_ignores_is_rejected_for_it_and_leaves_no_event(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, before = await idle_run(raw)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1))
    await raw.complete(await raw.next_workflow_task())  # an SDK that knows no updates

    r = await caller
    assert r.json()["stage"] == "COMPLETED"
    assert "wasn't processed by worker" in r.json()["outcome"]["failure"]["message"]
    assert await raw.event_types(workflow_id) == before


async def test_the_same_update_id_answers_the_same_outcome_and_is_handled_once(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    first = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="once"))
    await answer_next(raw, result=1)
    assert (await first).json()["outcome"] == {"success": 1}

    again = await send_update(tenant, workflow_id, "add", 99, update_id="once")

    assert again.status_code == 200
    assert again.json()["outcome"] == {"success": 1}
    assert await raw.poll_workflow_task(wait=0.3) is None  # never delivered again
    assert types(await raw.history(workflow_id)).count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 1


async def test_a_rejected_id_is_not_kept_it_is_delivered_again_and_polls_404(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    first = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="r"))
    await answer_next(raw, reject_it=True)
    assert "failure" in (await first).json()["outcome"]

    assert_problem(await poll_update(tenant, workflow_id, "r"), 404, "not-found")
    second = asyncio.create_task(send_update(tenant, workflow_id, "add", 2, update_id="r"))
    task = await answer_next(raw, result="taken")
    assert task["messages"][0]["body"]["input"]["args"] == [2]
    assert (await second).json()["outcome"] == {"success": "taken"}


async def test_waiting_for_acceptance_then_polling_the_outcome(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    caller = asyncio.create_task(
        send_update(tenant, workflow_id, "approve", update_id="a1", wait_for_stage="ACCEPTED")
    )
    task = await raw.next_workflow_task()
    accepted = accept(task["messages"][0])
    await raw.complete(task, placed(accepted), messages=[accepted])

    r = await caller
    assert r.json()["stage"] == "ACCEPTED"
    assert r.json()["outcome"] is None
    early = await poll_update(tenant, workflow_id, "a1", wait=0.2)
    assert early.json()["stage"] == "ACCEPTED"

    waiter = asyncio.create_task(poll_update(tenant, workflow_id, "a1", wait=20))
    await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/signal/go"), json={})
    task = await raw.next_workflow_task()
    done = respond("a1", success="receipt")
    await raw.complete(task, placed(done), messages=[done])

    polled = await waiter
    assert polled.status_code == 200
    assert polled.json() == {
        "update_ref": {
            "workflow_execution": {"workflow_id": workflow_id, "run_id": task["run_id"]},
            "update_id": "a1",
        },
        "stage": "COMPLETED",
        "outcome": {"success": "receipt"},
    }


async def test_a_wait_that_ends_before_acceptance_answers_the_stage_reached(tenant):
    raw = Raw(tenant, task_queue=uid("nobody"))
    workflow_id = uid()
    await raw.start(workflow_id)

    r = await send_update(tenant, workflow_id, "add", 1, update_id="w", wait=0.2)

    assert r.status_code == 200
    assert r.json()["stage"] == "ADMITTED"
    assert r.json()["outcome"] is None


async def test_admitted_is_not_a_stage_to_wait_for(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = uid()
    await raw.start(workflow_id)

    r = await send_update(tenant, workflow_id, "add", wait_for_stage="ADMITTED")

    assert_problem(r, 400, "invalid-argument")


async def test_an_update_to_a_closed_run_is_a_workflow_closed_conflict(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = uid()
    await raw.start(workflow_id)
    await raw.complete(await raw.next_workflow_task(), complete_workflow(1))

    assert_problem(await send_update(tenant, workflow_id, "add", 1), 409, "workflow-closed")


async def test_a_run_that_closes_aborts_unaccepted_updates_and_fails_accepted_ones(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    accepted_caller = asyncio.create_task(
        send_update(tenant, workflow_id, "a", update_id="acc", wait_for_stage="ACCEPTED")
    )
    task = await raw.next_workflow_task()
    accepted = accept(task["messages"][0])
    await raw.complete(task, placed(accepted), messages=[accepted])
    assert (await accepted_caller).json()["stage"] == "ACCEPTED"
    # A second update arrives while the next task runs; the workflow then completes.
    await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/signal/go"), json={})
    task = await raw.next_workflow_task()
    late_caller = asyncio.create_task(send_update(tenant, workflow_id, "b", update_id="late"))
    await asyncio.sleep(0.3)  # let the update be admitted while the task is in hand
    await raw.complete(task, complete_workflow("done"))

    late = await late_caller
    assert_problem(late, 409, "workflow-closed")
    polled = await poll_update(tenant, workflow_id, "acc")
    assert polled.json()["stage"] == "COMPLETED"
    assert polled.json()["outcome"]["failure"]["message"] == (
        "Workflow Update failed because the Workflow completed before the Update completed."
    )


async def test_continue_as_new_carries_updates_the_run_has_not_seen_to_the_new_run(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/signal/go"), json={})
    task = await raw.next_workflow_task()
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 7, update_id="moved"))
    await asyncio.sleep(0.3)
    await raw.complete(
        task,
        {"command_type": "CONTINUE_AS_NEW_WORKFLOW_EXECUTION", "attributes": {"input": None}},
    )

    new_task = await answer_next(raw, result="on the new run")
    assert new_task["run_id"] != task["run_id"]
    r = await caller
    assert r.json()["outcome"] == {"success": "on the new run"}
    assert r.json()["update_ref"]["workflow_execution"]["run_id"] == new_task["run_id"]


async def test_ten_updates_in_flight_then_429_with_retry_after(tenant):
    raw = Raw(tenant, task_queue=uid("nobody"))
    workflow_id = uid()
    await raw.start(workflow_id)
    for n in range(10):
        r = await send_update(tenant, workflow_id, "add", n, wait=0)
        assert r.json()["stage"] == "ADMITTED"

    r = await send_update(tenant, workflow_id, "add", 10, wait=0)

    assert_problem(r, 429, "rate-limited")
    assert r.headers["Retry-After"] == "1"
    same = await send_update(tenant, workflow_id, "add", 0, update_id="dup", wait=0)
    assert same.status_code == 429


async def test_past_the_total_of_updates_per_run_a_409(tenant, monkeypatch):
    from app.engine import updates

    monkeypatch.setattr(updates, "MAX_TOTAL", 2)
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    for n in range(2):
        caller = asyncio.create_task(send_update(tenant, workflow_id, "add", n))
        await answer_next(raw)
        assert (await caller).status_code == 200
    rejected_one = asyncio.create_task(send_update(tenant, workflow_id, "add", 9, wait=1))
    await asyncio.sleep(0)

    r = await send_update(tenant, workflow_id, "add", 3)

    assert_problem(r, 409, "failed-precondition")
    rejected_one.cancel()


async def test_a_worker_crash_redelivers_the_update_and_it_is_handled_once(server, tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 3, update_id="crash"))
    lost = await raw.next_workflow_task()  # the worker dies holding it
    assert lost["messages"][0]["protocol_instance_id"] == "crash"

    await advance(server, 11)  # its workflow task times out
    again = await answer_next(raw, result="handled")

    assert again["messages"][0]["protocol_instance_id"] == "crash"
    assert (await caller).json()["outcome"] == {"success": "handled"}
    stale = await raw.complete(lost, messages=[], expect=404)
    assert stale.status_code == 404
    history = types(await raw.history(workflow_id))
    assert "WORKFLOW_TASK_TIMED_OUT" in history
    assert history.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 1
    assert (await send_update(tenant, workflow_id, "add", 3, update_id="crash")).json()[
        "outcome"
    ] == {"success": "handled"}


async def test_an_update_rides_on_the_workflow_task_already_scheduled(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = uid()
    await raw.start(workflow_id)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="first"))
    await asyncio.sleep(0.2)

    task = await answer_next(raw, result=1)

    assert types(task["history"]["events"])[0] == "WORKFLOW_EXECUTION_STARTED"
    assert (await caller).json()["outcome"] == {"success": 1}


async def test_another_tenant_sees_no_update(tenant, other_tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="mine"))
    await answer_next(raw)
    await caller

    assert_problem(await poll_update(other_tenant, workflow_id, "mine"), 404, "not-found")
    assert_problem(await send_update(other_tenant, workflow_id, "add", 1), 404, "not-found")


async def test_a_bad_protocol_message_fails_the_workflow_task(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="bad"))
    task = await raw.next_workflow_task()

    r = await raw.complete(
        task,
        {"command_type": "PROTOCOL_MESSAGE", "attributes": {"message_id": "nope"}},
        expect=400,
    )

    assert_problem(r, 400, "invalid-argument")
    retried = await answer_next(raw, result="second try")
    assert retried["messages"][0]["protocol_instance_id"] == "bad"
    assert (await caller).json()["outcome"] == {"success": "second try"}
    assert "WORKFLOW_TASK_FAILED" in await raw.event_types(workflow_id)


async def test_at_ninety_percent_of_the_total_the_task_suggests_continue_as_new(tenant):
    # The namespace's total of 3 updates a run: suggested from 2 (90 %, rounded down).
    limited = await tenant.client.patch(tenant.ns(), json={"settings": {"max_total_updates": 3}})
    assert limited.status_code == 200
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    seen = []
    for n in range(3):
        caller = asyncio.create_task(send_update(tenant, workflow_id, "add", n))
        task = await answer_next(raw)
        seen.append(task["history"]["events"][-1]["attributes"].get("suggest_continue_as_new"))
        await caller

    assert seen == [None, True, True]  # counting the update the task carries
    started = [
        e for e in await raw.history(workflow_id) if e["event_type"] == "WORKFLOW_TASK_STARTED"
    ]
    assert started[-1]["attributes"]["suggest_continue_as_new"] is True


async def test_past_the_bytes_of_updates_in_flight_a_413(tenant, monkeypatch):
    from app.engine import updates

    monkeypatch.setattr(updates, "MAX_IN_FLIGHT_BYTES", 100)
    raw = Raw(tenant, task_queue=uid("nobody"))
    workflow_id = uid()
    await raw.start(workflow_id)
    assert (await send_update(tenant, workflow_id, "add", "x" * 60, wait=0)).status_code == 200

    r = await send_update(tenant, workflow_id, "add", "y" * 60, wait=0)

    assert_problem(r, 413, "payload-too-large")


async def test_deduplication_does_not_cross_continue_as_new(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="again"))
    first = await answer_next(raw, result="first run")
    assert (await caller).json()["outcome"] == {"success": "first run"}
    await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/signal/go"), json={})
    await raw.complete(
        await raw.next_workflow_task(),
        {"command_type": "CONTINUE_AS_NEW_WORKFLOW_EXECUTION", "attributes": {"input": None}},
    )
    await raw.complete(await raw.next_workflow_task(), start_timer("t", 3600))

    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="again"))
    second = await answer_next(raw, result="second run")

    assert second["run_id"] != first["run_id"]
    assert (await caller).json()["outcome"] == {"success": "second run"}
    old = await poll_update(tenant, workflow_id, "again", run_id=first["run_id"])
    assert old.json()["outcome"] == {"success": "first run"}


async def test_a_first_execution_run_id_of_another_chain_is_404(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)

    r = await send_update(tenant, workflow_id, "add", first_execution_run_id="not-this-chain")

    assert_problem(r, 404, "not-found")


async def test_an_update_the_continuing_task_left_unanswered_goes_to_the_new_run(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    caller = asyncio.create_task(send_update(tenant, workflow_id, "add", 1, update_id="left"))
    task = await raw.next_workflow_task()
    assert task["messages"][0]["protocol_instance_id"] == "left"
    rejected = asyncio.create_task(send_update(tenant, workflow_id, "add", 2, update_id="no"))
    await asyncio.sleep(0.2)  # admitted while the task runs: it rides on the next one

    await raw.complete(
        task,
        {"command_type": "CONTINUE_AS_NEW_WORKFLOW_EXECUTION", "attributes": {"input": None}},
    )
    new_task = await raw.next_workflow_task()
    ids = [m["protocol_instance_id"] for m in new_task["messages"]]
    assert ids == ["left", "no"]
    accepted, done = accept(new_task["messages"][0]), respond("left", success="new run")
    await raw.complete(
        new_task,
        placed(accepted),
        placed(done),
        messages=[accepted, done, reject(new_task["messages"][1])],
    )

    assert (await caller).json()["outcome"] == {"success": "new run"}
    assert "failure" in (await rejected).json()["outcome"]


async def test_a_stale_token_of_a_dropped_speculative_task_completes_nothing(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id, _ = await idle_run(raw)
    first = asyncio.create_task(send_update(tenant, workflow_id, "add", 1))
    dropped = await answer_next(raw, reject_it=True)
    await first
    second = asyncio.create_task(send_update(tenant, workflow_id, "add", 2, update_id="2nd"))
    task = await raw.next_workflow_task()
    assert (task["scheduled_event_id"], task["started_event_id"]) == (
        dropped["scheduled_event_id"],
        dropped["started_event_id"],
    )

    stale = await raw.complete(dropped, expect=404)

    assert_problem(stale, 404, "not-found")
    accepted, done = accept(task["messages"][0]), respond("2nd", success=2)
    await raw.complete(task, placed(accepted), placed(done), messages=[accepted, done])
    assert (await second).json()["outcome"] == {"success": 2}
