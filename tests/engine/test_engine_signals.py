"""Signals, signal-with-start, buffering of events that arrive while a workflow task runs, and
cancellation requests. Raw HTTP + JSON only."""

from __future__ import annotations

from typing import Any

from tests.engine_helpers import (
    assert_problem,
    command,
    of_type,
    raw_on_fresh_queue,
    signal,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import Raw, complete_workflow, new_events, start_timer


async def signal_with_start(
    raw: Raw, workflow_id: str, name: str, signal_input: Any = None, **fields: Any
):
    body = {"workflow_type": "Flow", "task_queue": raw.q, "signal_input": signal_input, **fields}
    return await raw.c.post(
        raw.t.ns(f"/workflows/{workflow_id}/signal-with-start/{name}"), json=body
    )


# -- signal-with-start -------------------------------------------------------------------------


async def test_signal_with_start_starts_a_missing_workflow_with_the_signal_in_its_first_task(
    tenant,
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()

    r = await signal_with_start(raw, wid, "go", {"fast": True}, input={"order": 9})

    assert r.status_code == 201, r.text
    assert r.json()["started"] is True
    task = await raw.next_workflow_task()
    assert task["run_id"] == r.json()["run_id"]
    events = task["history"]["events"]
    assert types(events)[-1] == "WORKFLOW_TASK_STARTED"
    before_start = types(events)[:-1]
    assert before_start[0] == "WORKFLOW_EXECUTION_STARTED"
    assert sorted(before_start[1:]) == ["WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_TASK_SCHEDULED"]
    assert events[0]["attributes"]["input"] == {"order": 9}
    [signaled] = of_type(events, "WORKFLOW_EXECUTION_SIGNALED")
    assert signaled["attributes"]["signal_name"] == "go"
    assert signaled["attributes"]["input"] == {"fast": True}


async def test_signal_with_start_signals_a_running_workflow_without_starting_a_new_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    started = await raw.start(wid)

    r = await signal_with_start(raw, wid, "more", [1, 2])

    assert r.status_code == 200, r.text
    assert r.json()["started"] is False
    assert r.json()["run_id"] == started["run_id"]
    count = await tenant.client.get(
        tenant.ns("/workflow-count"), params={"workflow_id_prefix": wid}
    )
    assert count.json()["count"] == 1
    task = await raw.next_workflow_task()
    assert task["run_id"] == started["run_id"]
    [signaled] = of_type(task["history"]["events"], "WORKFLOW_EXECUTION_SIGNALED")
    assert signaled["attributes"]["signal_name"] == "more"
    assert signaled["attributes"]["input"] == [1, 2]
    assert of_type(task["history"]["events"], "WORKFLOW_EXECUTION_STARTED")[0]["event_id"] == 1


async def test_signal_with_start_after_the_run_closed_starts_a_new_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    first, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, complete_workflow())

    r = await signal_with_start(raw, wid, "again")

    assert r.status_code == 201, r.text
    assert r.json()["started"] is True
    assert r.json()["run_id"] != first["run_id"]
    task = await raw.next_workflow_task()
    assert task["run_id"] == r.json()["run_id"]
    assert len(of_type(task["history"]["events"], "WORKFLOW_EXECUTION_SIGNALED")) == 1


async def test_signal_with_start_retried_with_the_same_idempotency_key_signals_only_once(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    key = {"Idempotency-Key": uid("key")}
    body = {"workflow_type": "Flow", "task_queue": raw.q, "signal_input": {"n": 1}}
    path = raw.t.ns(f"/workflows/{wid}/signal-with-start/go")

    first = await raw.c.post(path, json=body, headers=key)
    again = await raw.c.post(path, json=body, headers=key)

    assert first.status_code == 201, first.text
    assert again.status_code in (200, 201), again.text
    assert again.json()["run_id"] == first.json()["run_id"]
    assert len(of_type(await raw.history(wid), "WORKFLOW_EXECUTION_SIGNALED")) == 1


# -- delivery ----------------------------------------------------------------------------------


async def test_signals_sent_before_the_task_is_taken_join_that_one_task_in_arrival_order(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)

    for n in range(3):
        assert (await signal(tenant, wid, f"s{n}", n)).status_code == 202

    task = await raw.next_workflow_task()
    assert types(task["history"]["events"]) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_STARTED",
    ]
    signals = of_type(task["history"]["events"], "WORKFLOW_EXECUTION_SIGNALED")
    assert [s["attributes"]["signal_name"] for s in signals] == ["s0", "s1", "s2"]
    assert [s["attributes"]["input"] for s in signals] == [0, 1, 2]
    assert await raw.poll_workflow_task(wait=0.3) is None


async def test_a_signal_during_a_started_workflow_task_is_buffered_until_the_task_completes(
    tenant,
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)

    r = await signal(tenant, wid, "late", {"v": 1})
    assert r.status_code == 202, r.text
    assert "WORKFLOW_EXECUTION_SIGNALED" not in types(await raw.history(wid))

    await raw.complete(task, start_timer("t", 3600))

    assert types(await raw.history(wid))[3:] == [
        "WORKFLOW_TASK_COMPLETED",
        "TIMER_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    task = await raw.next_workflow_task()
    [late] = of_type(new_events(task), "WORKFLOW_EXECUTION_SIGNALED")
    assert late["attributes"]["signal_name"] == "late"
    assert late["attributes"]["input"] == {"v": 1}


async def test_a_buffered_signal_comes_back_in_the_task_returned_by_the_completion(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    assert (await signal(tenant, wid, "late")).status_code == 202

    r = await raw.complete(task, return_new_workflow_task=True)

    follow_up = r.json()["workflow_task"]
    assert follow_up is not None
    assert follow_up["run_id"] == task["run_id"]
    assert "WORKFLOW_EXECUTION_SIGNALED" in types(new_events(follow_up))
    assert await raw.poll_workflow_task(wait=0.3) is None


async def test_closing_while_a_signal_is_buffered_is_refused_and_a_task_with_the_signal_follows(
    tenant,
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    assert (await signal(tenant, wid, "wait", "please")).status_code == 202

    r = await raw.complete(task, complete_workflow("too soon"), expect=409)

    body = assert_problem(r, 409)
    assert body["cause"] == "UNHANDLED_COMMAND"
    assert (await raw.describe(wid))["status"] == "RUNNING"
    events = await raw.history(wid)
    assert types(events)[3:] == [
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert of_type(events, "WORKFLOW_TASK_FAILED")[0]["attributes"]["cause"] == (
        "UNHANDLED_COMMAND"
    )
    task = await raw.next_workflow_task()
    [waited] = of_type(new_events(task), "WORKFLOW_EXECUTION_SIGNALED")
    assert waited["attributes"]["input"] == "please"
    await raw.complete(task, complete_workflow("now"))
    assert (await raw.result(wid, wait=0))["result"] == "now"


# -- cancellation ------------------------------------------------------------------------------


async def test_cancel_request_reaches_the_next_task_and_the_cancel_command_closes_canceled(
    tenant,
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, start_timer("wait", 3600))

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{wid}/cancel"), json={"reason": "customer left"}
    )

    assert r.status_code == 202, r.text
    task = await raw.next_workflow_task()
    [requested] = of_type(new_events(task), "WORKFLOW_EXECUTION_CANCEL_REQUESTED")
    assert requested["attributes"]["cause"] == "customer left"
    assert (await raw.describe(wid))["cancel_requested"] is True

    await raw.complete(task, command("CANCEL_WORKFLOW_EXECUTION", details={"refund": True}))

    described = await raw.describe(wid)
    assert described["status"] == "CANCELED"
    assert described["pending_timers"] == []
    last = (await raw.history(wid))[-1]
    assert last["event_type"] == "WORKFLOW_EXECUTION_CANCELED"
    assert last["attributes"]["details"] == {"refund": True}
    assert (await raw.result(wid, wait=0))["status"] == "CANCELED"


async def test_a_cancel_request_does_not_close_the_run_by_itself(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task)

    r = await tenant.client.post(tenant.ns(f"/workflows/{wid}/cancel"), json={})

    assert r.status_code == 202, r.text
    task = await raw.next_workflow_task()
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types(new_events(task))
    await raw.complete(task, complete_workflow("finished anyway"))
    assert (await raw.result(wid, wait=0))["status"] == "COMPLETED"
