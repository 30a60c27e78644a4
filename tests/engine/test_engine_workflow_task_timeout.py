"""Workflow task start-to-close timeouts: the started task times out, a new attempt follows, the
old token is dead. Time moves only through the injected clock. Raw HTTP + JSON only."""

from __future__ import annotations

from tests.engine_helpers import (
    advance,
    assert_problem,
    of_type,
    raw_on_fresh_queue,
    signal,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import complete_workflow, new_events, start_timer

TASK_TIMEOUT = 5


async def test_a_started_workflow_task_past_its_timeout_times_out_and_attempt_two_is_scheduled(
    tenant, server
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid, task_timeout=TASK_TIMEOUT)

    await advance(server, TASK_TIMEOUT + 1)

    events = await raw.history(wid)
    assert types(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_TIMED_OUT",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    timed_out = events[3]["attributes"]
    assert timed_out["timeout_type"] == "START_TO_CLOSE"
    assert timed_out["scheduled_event_id"] == task["scheduled_event_id"]
    assert timed_out["started_event_id"] == task["started_event_id"]
    assert events[4]["attributes"]["attempt"] == 2
    retry = await raw.next_workflow_task()
    assert retry["attempt"] == 2
    assert retry["run_id"] == task["run_id"]
    assert retry["scheduled_event_id"] == events[4]["event_id"]


async def test_the_token_of_a_timed_out_workflow_task_is_refused_and_changes_nothing(
    tenant, server
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid, task_timeout=TASK_TIMEOUT)
    await advance(server, TASK_TIMEOUT + 1)
    retry = await raw.next_workflow_task()
    before = await raw.history(wid)

    r = await raw.complete(task, complete_workflow("stale"), expect=404)

    assert_problem(r, 404, "not-found")
    assert await raw.history(wid) == before
    assert (await raw.describe(wid))["status"] == "RUNNING"
    await raw.complete(retry, complete_workflow("fresh"))
    assert (await raw.result(wid, wait=0))["result"] == "fresh"


async def test_the_token_of_a_timed_out_workflow_task_is_refused_before_the_retry_is_polled(
    tenant, server
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid, task_timeout=TASK_TIMEOUT)
    await advance(server, TASK_TIMEOUT + 1)

    r = await raw.complete(task, start_timer("t", 60), expect=404)

    assert_problem(r, 404, "not-found")
    assert "TIMER_STARTED" not in types(await raw.history(wid))
    assert (await raw.next_workflow_task())["attempt"] == 2


async def test_a_workflow_task_completed_in_time_does_not_time_out(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid, task_timeout=TASK_TIMEOUT)
    await raw.complete(task)

    await advance(server, TASK_TIMEOUT * 3)

    assert "WORKFLOW_TASK_TIMED_OUT" not in types(await raw.history(wid))
    assert await raw.poll_workflow_task(wait=0.3) is None


async def test_a_scheduled_workflow_task_nobody_polls_does_not_time_out(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid, task_timeout=TASK_TIMEOUT)

    await advance(server, TASK_TIMEOUT * 3)

    assert types(await raw.history(wid)) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert (await raw.next_workflow_task())["attempt"] == 1


async def test_a_signal_buffered_during_a_task_that_times_out_is_in_the_next_attempt(
    tenant, server
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await start_and_take_first_task(raw, wid, task_timeout=TASK_TIMEOUT)
    assert (await signal(tenant, wid, "meanwhile", 1)).status_code == 202

    await advance(server, TASK_TIMEOUT + 1)

    assert types(await raw.history(wid))[3:] == [
        "WORKFLOW_TASK_TIMED_OUT",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    retry = await raw.next_workflow_task()
    [meanwhile] = of_type(new_events(retry), "WORKFLOW_EXECUTION_SIGNALED")
    assert meanwhile["attributes"]["signal_name"] == "meanwhile"


async def test_a_completed_retry_resets_the_attempt_for_the_next_workflow_task(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await start_and_take_first_task(raw, wid, task_timeout=TASK_TIMEOUT)
    await advance(server, TASK_TIMEOUT + 1)
    retry = await raw.next_workflow_task()
    await raw.complete(retry)

    assert (await signal(tenant, wid, "next")).status_code == 202

    task = await raw.next_workflow_task()
    assert task["attempt"] == 1


async def test_workflow_tasks_that_keep_timing_out_keep_being_retried_with_rising_attempts(
    tenant, server
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await start_and_take_first_task(raw, wid, task_timeout=TASK_TIMEOUT)
    attempts = []
    for _ in range(3):
        await advance(server, TASK_TIMEOUT + 1)
        await advance(server, 60)  # past any retry back-off
        task = await raw.next_workflow_task()
        attempts.append(task["attempt"])

    assert attempts == [2, 3, 4]
    assert types(await raw.history(wid)).count("WORKFLOW_TASK_TIMED_OUT") == 3
    assert (await raw.describe(wid))["status"] == "RUNNING"
