"""Commands a decider answers with: invalid sets fail the workflow task and change nothing else;
activity cancellation, timer cancellation, markers and search attributes; payload and id limits
on start. Raw HTTP + JSON only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_helpers import (
    advance,
    assert_problem,
    command,
    of_type,
    raw_on_fresh_queue,
    register_search_attributes,
    signal,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import complete_workflow, new_events, schedule_activity, start_timer

TWO_MIB = 2 * 1024 * 1024

INVALID_SETS: dict[str, list[dict[str, Any]]] = {
    "unknown_command_type": [start_timer("ok", 60), command("LAUNCH_ROCKET", to="moon")],
    "activity_without_any_timeout": [
        start_timer("ok", 60),
        command("SCHEDULE_ACTIVITY_TASK", activity_id="a", activity_type="act"),
    ],
    "duplicate_activity_id": [
        start_timer("ok", 60),
        schedule_activity("same"),
        schedule_activity("same"),
    ],
    "close_command_not_last": [complete_workflow("early"), start_timer("ok", 60)],
    "two_close_commands": [
        start_timer("ok", 60),
        complete_workflow("one"),
        command("FAIL_WORKFLOW_EXECUTION", failure={"message": "two"}),
    ],
    "bad_attribute_type": [
        start_timer("ok", 60),
        command("START_TIMER", timer_id="t", start_to_fire_timeout="soon"),
    ],
    "unknown_attribute": [
        start_timer("ok", 60),
        schedule_activity("a", colour="blue"),
    ],
    "missing_required_attribute": [
        start_timer("ok", 60),
        command("SCHEDULE_ACTIVITY_TASK", activity_type="act", start_to_close_timeout=5),
    ],
}


@pytest.mark.parametrize("case", list(INVALID_SETS))
async def test_an_invalid_command_set_fails_the_workflow_task_and_changes_nothing_else(
    tenant, case
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)

    r = await raw.complete(task, *INVALID_SETS[case], expect=400)

    assert_problem(r, 400, "invalid-argument")
    events = await raw.history(wid)
    assert types(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    failed = events[3]["attributes"]
    assert isinstance(failed["cause"], str) and failed["cause"]
    assert failed["failure"]["message"]
    described = await raw.describe(wid)
    assert described["status"] == "RUNNING"
    assert described["pending_activities"] == [] and described["pending_timers"] == []
    retry = await raw.next_workflow_task()
    assert retry["attempt"] == 2
    assert retry["run_id"] == task["run_id"]


@pytest.mark.parametrize(
    "bad,cause",
    [
        (
            command("SCHEDULE_ACTIVITY_TASK", activity_id="a", activity_type="act"),
            "BAD_SCHEDULE_ACTIVITY_ATTRIBUTES",
        ),
        (
            command("START_TIMER", timer_id="t", start_to_fire_timeout="soon"),
            "BAD_START_TIMER_ATTRIBUTES",
        ),
        (command("CANCEL_TIMER"), "BAD_CANCEL_TIMER_ATTRIBUTES"),
        (command("RECORD_MARKER"), "BAD_RECORD_MARKER_ATTRIBUTES"),
        (command("REQUEST_CANCEL_ACTIVITY_TASK"), "BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES"),
        pytest.param(
            [schedule_activity("same"), schedule_activity("same")],
            "SCHEDULE_ACTIVITY_DUPLICATE_ID",
        ),
        pytest.param(
            [start_timer("same", 5), start_timer("same", 5)],
            "START_TIMER_DUPLICATE_ID",
        ),
        pytest.param(
            schedule_activity("a", retry_policy={"initial_interval": -1}),
            "BAD_SCHEDULE_ACTIVITY_ATTRIBUTES",
        ),
        pytest.param(
            command("COMPLETE_WORKFLOW_EXECUTION", bogus=1),
            "BAD_COMPLETE_WORKFLOW_EXECUTION_ATTRIBUTES",
        ),
        pytest.param(
            command("FAIL_WORKFLOW_EXECUTION"),
            "BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES",
        ),
        pytest.param(
            command("CANCEL_WORKFLOW_EXECUTION", bogus=1),
            "BAD_CANCEL_WORKFLOW_EXECUTION_ATTRIBUTES",
        ),
        pytest.param(
            command("CONTINUE_AS_NEW_WORKFLOW_EXECUTION", bogus=1),
            "BAD_CONTINUE_AS_NEW_ATTRIBUTES",
        ),
        pytest.param(
            command("START_CHILD_WORKFLOW_EXECUTION", workflow_type="Child"),
            "BAD_START_CHILD_EXECUTION_ATTRIBUTES",
        ),
        pytest.param(
            command("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION", workflow_id="x"),
            "BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES",
        ),
        pytest.param(
            command("REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION"),
            "BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES",
        ),
        pytest.param(
            command("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", search_attributes={"bad name": 1}),
            "BAD_SEARCH_ATTRIBUTES",
        ),
    ],
)
async def test_the_workflow_task_failure_cause_is_temporals_name_for_the_bad_command(
    tenant, bad, cause
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)

    await raw.complete(task, *(bad if isinstance(bad, list) else [bad]), expect=400)

    [failed] = of_type(await raw.history(wid), "WORKFLOW_TASK_FAILED")
    assert failed["attributes"]["cause"] == cause


async def test_a_command_payload_over_2_mib_is_a_413_and_fails_the_workflow_task(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)

    r = await raw.complete(task, schedule_activity("big", input="x" * (TWO_MIB + 1)), expect=413)

    assert_problem(r, 413, "payload-too-large")
    events = await raw.history(wid)
    assert "ACTIVITY_TASK_SCHEDULED" not in types(events)
    assert types(events)[3:] == ["WORKFLOW_TASK_FAILED", "WORKFLOW_TASK_SCHEDULED"]


# -- activity and timer cancellation -----------------------------------------------------------


async def _task_after_signal(raw, tenant, wid: str) -> dict[str, Any]:
    """A fresh workflow task, brought about by a signal."""
    assert (await signal(tenant, wid, "nudge")).status_code == 202
    return await raw.next_workflow_task()


async def test_cancelling_a_not_yet_started_activity_cancels_it_at_once(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, schedule_activity("slow", task_queue=uid("nobody-polls")))
    scheduled = of_type(await raw.history(wid), "ACTIVITY_TASK_SCHEDULED")[0]
    task = await _task_after_signal(raw, tenant, wid)

    await raw.complete(
        task,
        command("REQUEST_CANCEL_ACTIVITY_TASK", scheduled_event_id=scheduled["event_id"]),
    )

    events = await raw.history(wid)
    completed_at = types(events).index("WORKFLOW_TASK_COMPLETED", scheduled["event_id"])
    assert types(events)[completed_at + 1 :] == [
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "ACTIVITY_TASK_CANCELED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    requested, canceled = events[completed_at + 1], events[completed_at + 2]
    assert requested["attributes"]["scheduled_event_id"] == scheduled["event_id"]
    assert canceled["attributes"]["scheduled_event_id"] == scheduled["event_id"]
    assert canceled["attributes"]["latest_cancel_requested_event_id"] == requested["event_id"]
    assert (await raw.describe(wid))["pending_activities"] == []
    queue = scheduled["attributes"]["task_queue"]
    assert await raw.poll_activity_task(wait=0.3, queue=queue) is None


async def test_cancelling_a_started_activity_asks_the_worker_which_reports_it_canceled(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, schedule_activity("long", heartbeat_timeout=60))
    activity = await raw.next_activity_task()
    task = await _task_after_signal(raw, tenant, wid)

    await raw.complete(task, command("REQUEST_CANCEL_ACTIVITY_TASK", activity_id="long"))

    assert types(await raw.history(wid))[-1] == "ACTIVITY_TASK_CANCEL_REQUESTED"
    beat = await raw.activity("heartbeat", activity)
    assert beat.json()["cancel_requested"] is True
    await raw.activity("canceled", activity, details={"stopped_at": 3})
    task = await raw.next_workflow_task()
    [canceled] = of_type(new_events(task), "ACTIVITY_TASK_CANCELED")
    assert canceled["attributes"]["details"] == {"stopped_at": 3}


async def test_a_canceled_timer_records_timer_canceled_and_never_fires(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, start_timer("nap", 60))
    started = of_type(await raw.history(wid), "TIMER_STARTED")[0]
    task = await _task_after_signal(raw, tenant, wid)

    await raw.complete(task, command("CANCEL_TIMER", timer_id="nap"))

    [canceled] = of_type(await raw.history(wid), "TIMER_CANCELED")
    assert canceled["attributes"]["timer_id"] == "nap"
    assert canceled["attributes"]["started_event_id"] == started["event_id"]
    assert (await raw.describe(wid))["pending_timers"] == []
    before = await raw.history(wid)
    await advance(server, 120)
    assert await raw.poll_workflow_task(wait=0.3) is None
    assert await raw.history(wid) == before
    assert "TIMER_FIRED" not in types(before)


# -- markers and search attributes -------------------------------------------------------------


async def test_record_marker_appears_in_history_with_its_details(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)

    await raw.complete(task, command("RECORD_MARKER", marker_name="version", details={"v": 2}))

    [marker] = of_type(await raw.history(wid), "MARKER_RECORDED")
    assert marker["attributes"]["marker_name"] == "version"
    assert marker["attributes"]["details"] == {"v": 2}
    completed = of_type(await raw.history(wid), "WORKFLOW_TASK_COMPLETED")[0]
    assert marker["attributes"]["workflow_task_completed_event_id"] == completed["event_id"]


async def test_upserted_search_attributes_appear_in_history_describe_and_list_filters(tenant):
    await register_search_attributes(tenant, Stage="Keyword", Region="Keyword", Amount="Double")
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(
        raw, wid, search_attributes={"Stage": "new", "Region": "eu"}
    )

    await raw.complete(
        task,
        command(
            "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
            search_attributes={"Stage": "paid", "Amount": 12.5},
        ),
    )

    [upsert] = of_type(await raw.history(wid), "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES")
    assert upsert["attributes"]["search_attributes"] == {"Stage": "paid", "Amount": 12.5}
    described = await raw.describe(wid)
    assert described["search_attributes"] == {"Stage": "paid", "Region": "eu", "Amount": 12.5}
    paid = await tenant.client.get(
        tenant.ns("/workflows"), params={"search_attribute": "Stage=paid"}
    )
    assert [w["workflow_id"] for w in paid.json()["workflows"]] == [wid]
    stale = await tenant.client.get(
        tenant.ns("/workflow-count"), params={"search_attribute": "Stage=new"}
    )
    assert stale.json()["count"] == 0


# -- limits on start ---------------------------------------------------------------------------


async def test_a_start_input_over_2_mib_is_a_413_problem_and_creates_no_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}"),
        json={"workflow_type": "Flow", "task_queue": raw.q, "input": "x" * (TWO_MIB + 1)},
    )

    assert_problem(r, 413, "payload-too-large")
    assert (await tenant.client.get(tenant.ns(f"/workflows/{wid}"))).status_code == 404
    count = await tenant.client.get(tenant.ns("/workflow-count"))
    assert count.json()["count"] == 0
    assert await raw.poll_workflow_task(wait=0.3) is None


async def test_a_start_input_of_just_under_2_mib_is_accepted(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()

    started = await raw.start(wid, input="x" * (TWO_MIB - 2))  # the JSON string adds 2 quotes

    assert started["started"] is True


async def test_a_workflow_id_over_1000_characters_is_a_400_problem(tenant):
    raw = raw_on_fresh_queue(tenant)

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{'w' * 1001}"), json={"workflow_type": "Flow", "task_queue": raw.q}
    )

    assert_problem(r, 400, "invalid-argument")
    count = await tenant.client.get(tenant.ns("/workflow-count"))
    assert count.json()["count"] == 0


async def test_a_workflow_id_of_exactly_1000_characters_is_accepted(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = "w" * 1000

    started = await raw.start(wid)

    assert started["workflow_id"] == wid
    assert (await raw.describe(wid))["workflow_id"] == wid
