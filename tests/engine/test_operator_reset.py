"""Reset (Temporal's ResetWorkflowExecution) through the HTTP API: the new run's history, what
is reapplied, timers, activities and children on both sides of the point, every kind of
target, request ids, and stored-definition redrive. Raw HTTP + JSON only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.conftest import Tenant
from tests.definitions_helpers import run_definition, task
from tests.engine_helpers import (
    assert_problem,
    command,
    describe_run,
    of_type,
    raw_on_fresh_queue,
    run_history,
    signal,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import Raw, complete_workflow, new_events, schedule_activity, start_timer


async def reset(tenant: Tenant, workflow_id: str, expect: int = 200, **body: Any) -> dict:
    body.setdefault("reason", "bad deploy")
    r = await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/reset"), json=body)
    assert r.status_code == expect, r.text
    return r.json()


def completed_ids(events: list[dict[str, Any]]) -> list[int]:
    return [e["event_id"] for e in of_type(events, "WORKFLOW_TASK_COMPLETED")]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def two_tasks_with_timer(raw: Raw, wid: str) -> str:
    """Task 1 starts a one-hour timer and an activity; the activity completes; task 2
    schedules a second activity. Returns the run id."""
    started, first = await start_and_take_first_task(raw, wid)
    await raw.complete(first, start_timer("hour", 3600), schedule_activity("a1"))
    act = await raw.next_activity_task()
    await raw.activity("complete", act, result={"a1": "done"})
    second = await raw.next_workflow_task()
    await raw.complete(second, schedule_activity("a2"))
    return started["run_id"]


async def test_reset_to_a_completed_task_terminates_the_run_and_starts_one_from_before_it(
    tenant,
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    base_id = await two_tasks_with_timer(raw, wid)
    assert (await signal(tenant, wid, "late", {"n": 1})).status_code == 202
    base_events = await run_history(tenant, wid, base_id)
    point = completed_ids(base_events)[1]  # task 2's completion

    answer = await reset(tenant, wid, event_id=point, reason="roll back")

    new_id = answer["run_id"]
    assert (answer["workflow_id"], answer["base_run_id"]) == (wid, base_id)
    assert new_id != base_id
    base = await describe_run(tenant, wid, base_id)
    assert base["status"] == "TERMINATED"
    assert base["reset_run_id"] == new_id
    terminated = (await run_history(tenant, wid, base_id))[-1]
    assert terminated["event_type"] == "WORKFLOW_EXECUTION_TERMINATED"
    assert terminated["attributes"]["reason"] == "roll back"

    events = await run_history(tenant, wid, new_id)
    kept = base_events[: point - 1]  # up to task 2's WORKFLOW_TASK_STARTED
    assert [(e["event_id"], e["event_type"], e["event_time"]) for e in events[: point - 1]] == [
        (e["event_id"], e["event_type"], e["event_time"]) for e in kept
    ]
    assert types(events[point - 1 :]) == [
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    failed = events[point - 1]["attributes"]
    assert failed["cause"] == "RESET_WORKFLOW"
    assert (failed["base_run_id"], failed["new_run_id"]) == (base_id, new_id)
    assert failed["started_event_id"] == point - 1
    assert events[point]["attributes"]["input"] == {"n": 1}

    described = await describe_run(tenant, wid, new_id)
    assert described["status"] == "RUNNING"
    assert described["reset_from_run_id"] == base_id
    # The timer keeps its original fire time; a2 was scheduled after the point: gone.
    [timer] = described["pending_timers"]
    [timer_started] = of_type(events, "TIMER_STARTED")
    assert (at(timer["fire_time"]) - at(timer_started["event_time"])).total_seconds() == 3600
    assert described["pending_activities"] == []


async def test_the_new_run_re_decides_the_reset_task_with_the_whole_history(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await two_tasks_with_timer(raw, wid)
    point = completed_ids(await raw.history(wid))[1]

    new_id = (await reset(tenant, wid, event_id=point))["run_id"]

    task_ = await raw.next_workflow_task()
    assert task_["run_id"] == new_id
    assert task_["previous_started_event_id"] == 0  # a worker replays it from the start
    assert types(task_["history"]["events"])[-3:] == [
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]
    await raw.complete(task_, complete_workflow("fixed"))
    outcome = await raw.result(wid)
    assert (outcome["run_id"], outcome["status"], outcome["result"]) == (
        new_id,
        "COMPLETED",
        "fixed",
    )


async def test_reset_reapply_exclude_types_signal_leaves_the_signals_out(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await two_tasks_with_timer(raw, wid)
    await signal(tenant, wid, "late")
    point = completed_ids(await raw.history(wid))[1]

    new_id = (
        await reset(tenant, wid, event_id=point, reset_reapply_exclude_types=["SIGNAL", "UPDATE"])
    )["run_id"]

    events = await run_history(tenant, wid, new_id)
    assert types(events[point - 1 :]) == ["WORKFLOW_TASK_FAILED", "WORKFLOW_TASK_SCHEDULED"]


async def test_an_activity_scheduled_before_the_point_and_completed_after_it_runs_again(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, first = await start_and_take_first_task(raw, wid)
    await raw.complete(first, schedule_activity("slow", input={"k": 1}))
    act = await raw.next_activity_task()
    await signal(tenant, wid, "poke")
    between = await raw.next_workflow_task()
    await raw.complete(between)  # task 2: nothing to do
    await raw.activity("complete", act, result="first result")
    third = await raw.next_workflow_task()
    await raw.complete(third, complete_workflow())
    point = completed_ids(await raw.history(wid))[1]

    new_id = (await reset(tenant, wid, event_id=point))["run_id"]

    again = await raw.next_activity_task()
    assert (again["run_id"], again["activity_id"], again["attempt"]) == (new_id, "slow", 1)
    assert again["input"] == {"k": 1}
    # The first attempt's token names the closed run: its late answer changes nothing.
    stale = await tenant.client.post(
        tenant.ns("/activity-tasks/complete"),
        json={"task_token": act["task_token"], "result": "stale"},
    )
    assert stale.status_code == 404, stale.text
    [pending] = (await describe_run(tenant, wid, new_id))["pending_activities"]
    assert pending["activity_id"] == "slow"


async def test_each_reset_type_finds_its_workflow_task(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await two_tasks_with_timer(raw, wid)
    events = await raw.history(wid)
    first, last = completed_ids(events)[0], completed_ids(events)[-1]

    by_first = await reset(tenant, wid, reset_type="FirstWorkflowTask")
    assert len(await run_history(tenant, wid, by_first["run_id"])) == first + 1
    # Resetting the reset run: LastWorkflowTask of the original base, named by run id.
    by_last = await reset(
        tenant, wid, reset_type="LastWorkflowTask", run_id=by_first["base_run_id"]
    )
    assert len(await run_history(tenant, wid, by_last["run_id"])) == last + 1
    # The raw decider completes as identity "decider": its first task is the build's first.
    by_build = await reset(
        tenant, wid, reset_type="BuildId", build_id="decider", run_id=by_first["base_run_id"]
    )
    assert len(await run_history(tenant, wid, by_build["run_id"])) == first + 1
    started_of_last = last - 1
    by_started = await reset(tenant, wid, event_id=started_of_last, run_id=by_first["base_run_id"])
    assert len(await run_history(tenant, wid, by_started["run_id"])) == last + 1
    # Each reset terminated the open run before it; only the last is open.
    statuses = [
        (await describe_run(tenant, wid, r["run_id"]))["status"]
        for r in (by_first, by_last, by_build, by_started)
    ]
    assert statuses == ["TERMINATED", "TERMINATED", "TERMINATED", "RUNNING"]
    points = (await describe_run(tenant, wid, by_first["base_run_id"]))["reset_points"]
    assert [(p["build_id"], p["first_workflow_task_completed_id"]) for p in points] == [
        ("decider", first)
    ]


async def test_last_continued_as_new_resets_the_run_that_continued(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    started, first = await start_and_take_first_task(raw, wid)
    await raw.complete(first, command("CONTINUE_AS_NEW_WORKFLOW_EXECUTION", input={"round": 2}))
    second = await raw.next_workflow_task()
    assert second["run_id"] != started["run_id"]

    answer = await reset(tenant, wid, reset_type="LastContinuedAsNew")

    assert answer["base_run_id"] == started["run_id"]
    assert (await describe_run(tenant, wid, second["run_id"]))["status"] == "TERMINATED"
    again = await raw.next_workflow_task()
    assert again["run_id"] == answer["run_id"]
    assert types(again["history"]["events"])[:3] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]


async def test_a_request_id_resets_once(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await two_tasks_with_timer(raw, wid)

    one = await reset(tenant, wid, reset_type="FirstWorkflowTask", request_id="reset-1")
    two = await reset(tenant, wid, reset_type="FirstWorkflowTask", request_id="reset-1")
    by_header = {
        "reason": "bad deploy",
        "reset_type": "FirstWorkflowTask",
        "run_id": one["base_run_id"],
    }
    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/reset"), json=by_header, headers={"Idempotency-Key": "reset-2"}
    )
    three = r.json()
    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/reset"), json=by_header, headers={"Idempotency-Key": "reset-2"}
    )

    assert one == two
    assert r.json() == three and three["run_id"] != one["run_id"]
    runs = await tenant.client.get(
        tenant.ns("/workflows"), params={"query": f"WorkflowId = '{wid}'"}
    )
    assert len(runs.json()["workflows"]) == 3  # base, and one run per request id
    reused = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/reset"),
        json={"reason": "another", "reset_type": "LastWorkflowTask", "request_id": "reset-1"},
    )
    assert_problem(reused, 422, "idempotency-key-reused")


async def test_open_children_stay_connected_and_later_ones_keep_running(tenant):
    parent, child = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    pid, early, late = uid("parent"), uid("early"), uid("late")
    _, first = await start_and_take_first_task(parent, pid)
    await parent.complete(first, start_child_cmd(early, child.q))
    second = await parent.next_workflow_task()
    await parent.complete(second, start_child_cmd(late, child.q))
    point = completed_ids(await parent.history(pid))[1]

    new_id = (await reset(tenant, pid, event_id=point))["run_id"]

    early_run = (await tenant.client.get(tenant.ns(f"/workflows/{early}"))).json()
    late_run = (await tenant.client.get(tenant.ns(f"/workflows/{late}"))).json()
    assert (early_run["status"], early_run["parent"]["run_id"]) == ("RUNNING", new_id)
    assert late_run["status"] == "RUNNING"  # started after the point: left running
    described = await describe_run(tenant, pid, new_id)
    assert [c["workflow_id"] for c in described["pending_children"]] == [early]
    # The re-decided task starts `late` again: an id conflict, as for any start.
    again = await parent.next_workflow_task()
    await parent.complete(again, start_child_cmd(late, child.q))
    history = await run_history(tenant, pid, new_id)
    [refused] = of_type(history, "START_CHILD_WORKFLOW_EXECUTION_FAILED")
    assert refused["attributes"]["cause"] == "WORKFLOW_ALREADY_EXISTS"
    # The connected child reports to the new run.
    for _ in range(2):
        child_task = await child.next_workflow_task()
        if child_task["workflow_id"] == early:
            await child.complete(child_task, complete_workflow("early done"))
            break
    follow = await parent.next_workflow_task()
    [done] = of_type(new_events(follow), "CHILD_WORKFLOW_EXECUTION_COMPLETED")
    assert done["attributes"]["result"] == "early done"


def start_child_cmd(workflow_id: str, task_queue: str) -> dict[str, Any]:
    return command(
        "START_CHILD_WORKFLOW_EXECUTION",
        workflow_id=workflow_id,
        workflow_type="Child",
        task_queue=task_queue,
    )


async def test_bad_reset_requests_are_problems_and_change_nothing(tenant, other_tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    started, first = await start_and_take_first_task(raw, wid)
    await raw.complete(first, start_timer("t", 60))

    not_a_task = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/reset"), json={"reason": "x", "event_id": 1}
    )
    assert_problem(not_a_task, 400, "invalid-argument")
    past_the_end = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/reset"), json={"reason": "x", "event_id": 999}
    )
    assert_problem(past_the_end, 400, "invalid-argument")
    for body in (
        {"reason": "x"},
        {"reason": "x", "event_id": 4, "reset_type": "FirstWorkflowTask"},
        {"reason": "x", "reset_type": "BuildId"},
        {"reason": "x", "reset_type": "Sometime"},
        {"event_id": 4},
        {"reason": "x", "event_id": 4, "reset_reapply_exclude_types": ["TIMER"]},
    ):
        r = await tenant.client.post(tenant.ns(f"/workflows/{wid}/reset"), json=body)
        assert_problem(r, 400)
    unknown_build = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/reset"),
        json={"reason": "x", "reset_type": "BuildId", "build_id": "never-deployed"},
    )
    assert_problem(unknown_build, 400, "invalid-argument")
    not_continued = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/reset"),
        json={"reason": "x", "reset_type": "LastContinuedAsNew"},
    )
    assert_problem(not_continued, 400, "invalid-argument")
    elsewhere = await other_tenant.client.post(
        other_tenant.ns(f"/workflows/{wid}/reset"),
        json={"reason": "x", "reset_type": "FirstWorkflowTask"},
    )
    assert_problem(elsewhere, 404)

    described = await describe_run(tenant, wid, started["run_id"])
    assert (described["status"], described["reset_run_id"]) == ("RUNNING", None)
    assert len(await run_history(tenant, wid, started["run_id"])) == 5


async def test_a_failed_definition_run_reset_to_its_last_task_is_redriven(tenant):
    """Step Functions' RedriveExecution: the failed state runs again, the states that
    succeeded before it do not."""
    raw = raw_on_fresh_queue(tenant)
    definition = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {**task(raw.q, "prepare"), "Next": "Charge"},
            "Charge": {**task(raw.q, "charge"), "End": True},
        },
    }
    wid = await run_definition(tenant, definition, {"order": 1})
    prepare = await raw.next_activity_task()
    await raw.activity("complete", prepare, result={"prepared": True})
    charge = await raw.next_activity_task()
    assert charge["activity_type"] == "charge"
    await raw.activity(
        "fail",
        charge,
        failure={"message": "card declined", "type": "Declined", "non_retryable": True},
    )
    failed = await raw.result(wid)
    assert failed["status"] == "FAILED"

    redriven = await reset(tenant, wid, reset_type="LastWorkflowTask", reason="redrive")

    again = await raw.next_activity_task()
    assert (again["run_id"], again["activity_type"]) == (redriven["run_id"], "charge")
    await raw.activity("complete", again, result={"charged": True})
    outcome = await raw.result(wid)
    assert (outcome["run_id"], outcome["status"]) == (redriven["run_id"], "COMPLETED")
    history = await run_history(tenant, wid, redriven["run_id"])
    scheduled = [
        e["attributes"]["activity_type"] for e in of_type(history, "ACTIVITY_TASK_SCHEDULED")
    ]
    assert scheduled == ["prepare", "charge"]  # prepare ran once, in the base run's history


async def test_a_connected_child_that_closed_after_the_point_has_its_close_reapplied(tenant):
    parent, child = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    pid, kid = uid("parent"), uid("kid")
    _, first = await start_and_take_first_task(parent, pid)
    await parent.complete(first, start_child_cmd(kid, child.q))
    second = await parent.next_workflow_task()  # sees CHILD_WORKFLOW_EXECUTION_STARTED
    await parent.complete(second)
    await child.complete(await child.next_workflow_task(), complete_workflow("kid done"))
    third = await parent.next_workflow_task()
    assert "CHILD_WORKFLOW_EXECUTION_COMPLETED" in types(new_events(third))
    point = completed_ids(await parent.history(pid))[1]  # before the child closed

    new_id = (await reset(tenant, pid, event_id=point))["run_id"]

    events = await run_history(tenant, pid, new_id)
    assert types(events[point - 1 :]) == [
        "WORKFLOW_TASK_FAILED",
        "CHILD_WORKFLOW_EXECUTION_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert events[point]["attributes"]["result"] == "kid done"
    assert (await describe_run(tenant, pid, new_id))["pending_children"] == []
