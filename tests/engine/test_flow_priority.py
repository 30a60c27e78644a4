"""Priority (Temporal's `Priority.priority_key`): tasks are handed out by priority first, and
activities and children inherit their run's priority field by field unless they set one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.engine_helpers import advance, assert_problem, command, of_type, raw_on_fresh_queue, uid
from tests.rawhttp import Raw, schedule_activity


async def test_workflow_tasks_are_handed_out_by_priority_then_in_order(tenant):
    raw = raw_on_fresh_queue(tenant)
    started = {}
    for name, key in [("low-a", 5), ("default", None), ("low-b", 5), ("urgent", 1), ("mid", 3)]:
        priority = {"priority_key": key} if key else None
        wid = uid(name)
        await raw.start(wid, **({"priority": priority} if priority else {}))
        started[wid] = name

    order = [started[(await raw.next_workflow_task())["workflow_id"]] for _ in started]

    assert order == ["urgent", "default", "mid", "low-a", "low-b"]


async def test_a_priority_1_task_goes_before_a_backlog_of_priority_5(tenant):
    raw = raw_on_fresh_queue(tenant)
    for _ in range(30):
        await raw.start(uid("bulk"), priority={"priority_key": 5})
    urgent = uid("urgent")
    await raw.start(urgent, priority={"priority_key": 1})

    task = await raw.next_workflow_task()

    assert task["workflow_id"] == urgent


@pytest.mark.parametrize(
    "priority,field",
    [
        ({"priority_key": 6}, "priority.priority_key"),
        ({"priority_key": -1}, "priority.priority_key"),
        ({"fairness_key": "é" * 33}, "priority.fairness_key"),  # 66 bytes
        ({"fairness_weight": 0.0009}, "priority.fairness_weight"),
        ({"fairness_weight": 1000.5}, "priority.fairness_weight"),
        ({"fairness_weight": -2}, "priority.fairness_weight"),
    ],
)
async def test_a_start_with_a_priority_out_of_range_is_a_400_and_starts_nothing(
    tenant, priority, field
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}"),
        json={"workflow_type": "Flow", "task_queue": raw.q, "priority": priority},
    )

    assert_problem(r, 400, "invalid-argument")
    assert r.json()["field"] == field
    assert (await tenant.client.get(tenant.ns(f"/workflows/{wid}"))).status_code == 404


async def test_the_limits_themselves_are_accepted(tenant):
    raw = raw_on_fresh_queue(tenant)
    await raw.start(
        uid(),
        priority={"priority_key": 5, "fairness_key": "k" * 64, "fairness_weight": 0.001},
    )
    await raw.start(uid(), priority={"priority_key": 1, "fairness_weight": 1000})


def _priority_of(events: list[dict[str, Any]], event_type: str) -> list[Any]:
    return [e["attributes"].get("priority") for e in of_type(events, event_type)]


async def test_activities_inherit_the_runs_priority_unless_they_set_their_own(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid, priority={"priority_key": 2, "fairness_key": "acme"})
    task = await raw.next_workflow_task()
    assert _priority_of(task["history"]["events"], "WORKFLOW_EXECUTION_STARTED") == [
        {"priority_key": 2, "fairness_key": "acme"}
    ]

    await raw.complete(
        task,
        schedule_activity("inherits"),
        schedule_activity("own", priority={"priority_key": 5, "fairness_weight": 2.0}),
        schedule_activity("urgent", priority={"priority_key": 1}),
    )

    assert _priority_of(await raw.history(wid), "ACTIVITY_TASK_SCHEDULED") == [
        {"priority_key": 2, "fairness_key": "acme"},
        {"priority_key": 5, "fairness_key": "acme", "fairness_weight": 2.0},
        {"priority_key": 1, "fairness_key": "acme"},
    ]
    handed_out = [(await raw.next_activity_task())["activity_id"] for _ in range(3)]
    assert handed_out == ["urgent", "inherits", "own"]


async def test_a_retried_activity_attempt_keeps_its_priority(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)
    task = await raw.next_workflow_task()
    await raw.complete(
        task,
        schedule_activity("plain"),
        schedule_activity("bulk", priority={"priority_key": 4}),
        schedule_activity("urgent", priority={"priority_key": 1}),
    )
    urgent = await raw.next_activity_task()
    assert urgent["activity_id"] == "urgent"
    await raw.activity("fail", urgent, failure={"message": "once more"})
    await advance(server, 2)  # past the 1 s back-off
    await _retry_queued(raw, wid, "urgent")

    # The retry (priority 1 again) comes before the older tasks of priority 3 and 4.
    retried = await raw.next_activity_task()
    assert (retried["activity_id"], retried["attempt"]) == ("urgent", 2)


async def _retry_queued(raw: Raw, wid: str, activity_id: str) -> None:
    """Wait (bounded) for the retry's task: the background loop may be firing its timer."""
    for _ in range(100):
        described = await raw.describe(wid)
        [pending] = [a for a in described["pending_activities"] if a["activity_id"] == activity_id]
        if pending["attempt"] == 2 and pending["state"] == "SCHEDULED":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the retry of {activity_id} was not queued: {pending}")


async def test_children_inherit_the_parents_priority_field_by_field(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid("parent")
    await raw.start(wid, priority={"priority_key": 1, "fairness_key": "acme"})
    task = await raw.next_workflow_task()
    child_q = uid("children")

    await raw.complete(
        task,
        command(
            "START_CHILD_WORKFLOW_EXECUTION",
            workflow_id=f"{wid}-a",
            workflow_type="Child",
            task_queue=child_q,
        ),
        command(
            "START_CHILD_WORKFLOW_EXECUTION",
            workflow_id=f"{wid}-b",
            workflow_type="Child",
            task_queue=child_q,
            priority={"fairness_key": "globex", "fairness_weight": 3},
        ),
    )

    child = Raw(tenant, child_q)
    assert _priority_of(await child.history(f"{wid}-a"), "WORKFLOW_EXECUTION_STARTED") == [
        {"priority_key": 1, "fairness_key": "acme"}
    ]
    assert _priority_of(await child.history(f"{wid}-b"), "WORKFLOW_EXECUTION_STARTED") == [
        {"priority_key": 1, "fairness_key": "globex", "fairness_weight": 3.0}
    ]


async def test_continue_as_new_keeps_the_runs_priority(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid, priority={"priority_key": 4})
    task = await raw.next_workflow_task()

    await raw.complete(task, command("CONTINUE_AS_NEW_WORKFLOW_EXECUTION"))

    events = await raw.history(wid)
    assert _priority_of(events, "WORKFLOW_EXECUTION_STARTED") == [{"priority_key": 4}]


async def test_an_activity_with_a_bad_priority_fails_the_workflow_task(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)
    task = await raw.next_workflow_task()

    await raw.complete(task, schedule_activity("a", priority={"priority_key": 9}), expect=400)

    [failed] = of_type(await raw.history(wid), "WORKFLOW_TASK_FAILED")
    assert failed["attributes"]["cause"] == "BAD_SCHEDULE_ACTIVITY_ATTRIBUTES"
    assert of_type(await raw.history(wid), "ACTIVITY_TASK_SCHEDULED") == []


async def test_a_schedules_action_carries_its_priority_to_the_runs_it_starts(tenant):
    raw = raw_on_fresh_queue(tenant)
    schedule_id = uid("sched")
    action = {
        "start_workflow": {
            "workflow_type": "Flow",
            "task_queue": raw.q,
            "workflow_id": schedule_id,
            "priority": {"priority_key": 1, "fairness_key": "nightly"},
        }
    }
    bad = {"start_workflow": {**action["start_workflow"], "priority": {"priority_key": 0.5}}}
    spec = {"calendars": [{"month": "1", "day_of_month": "1", "hour": "0"}]}

    refused = await tenant.client.post(
        tenant.ns(f"/schedules/{uid('bad')}"), json={"schedule": {"spec": spec, "action": bad}}
    )
    assert_problem(refused, 400, "invalid-argument")

    r = await tenant.client.post(
        tenant.ns(f"/schedules/{schedule_id}"),
        json={"schedule": {"spec": spec, "action": action}, "trigger_immediately": True},
    )
    assert r.status_code == 201, r.text
    task = await raw.next_workflow_task()
    assert _priority_of(task["history"]["events"], "WORKFLOW_EXECUTION_STARTED") == [
        {"priority_key": 1, "fairness_key": "nightly"}
    ]
    await tenant.client.delete(tenant.ns(f"/schedules/{schedule_id}"))
