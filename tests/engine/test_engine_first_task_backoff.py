"""A run's first workflow task held back — by a start delay, a workflow retry's back-off or a
continue-as-new back-off — stays held whatever arrives meanwhile; the first task then carries
every event recorded during the back-off. Only a signal-with-start ends a start delay early
(Temporal's rule). Raw HTTP + JSON."""

from __future__ import annotations

from typing import Any

from tests.engine_helpers import (
    advance,
    command,
    fail_workflow,
    raw_on_fresh_queue,
    signal,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import Raw, complete_workflow


async def assert_held(raw: Raw, workflow_id: str) -> None:
    """No workflow task was scheduled (it would be, in the transaction that recorded the
    event) and the queue hands out nothing."""
    assert "WORKFLOW_TASK_SCHEDULED" not in await raw.event_types(workflow_id)
    assert await raw.poll_workflow_task(wait=0) is None


async def signal_with_start(raw: Raw, workflow_id: str, name: str, **body: Any) -> dict[str, Any]:
    r = await raw.c.post(
        raw.t.ns(f"/workflows/{workflow_id}/signal-with-start/{name}"),
        json={"workflow_type": "Flow", "task_queue": raw.q, **body},
    )
    assert r.status_code in (200, 201), r.text
    return r.json()


async def test_signals_and_a_cancel_request_wait_out_a_start_delay(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid, start_delay=30)

    assert (await signal(tenant, wid, "s", 1)).status_code == 202
    r = await raw.c.post(raw.t.ns(f"/workflows/{wid}/cancel"), json={"reason": "stop"})
    assert r.status_code == 202, r.text
    await assert_held(raw, wid)

    await advance(server, 31)
    task = await raw.next_workflow_task()
    assert types(task["history"]["events"]) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]


async def test_a_signal_from_another_workflow_waits_out_a_start_delay(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    delayed, sender = uid("delayed"), uid("sender")
    await raw.start(delayed, start_delay=30)
    _, task = await start_and_take_first_task(raw, sender)

    await raw.complete(
        task,
        command("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION", workflow_id=delayed, signal_name="ping"),
    )
    assert "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED" in await raw.event_types(sender)
    assert "WORKFLOW_TASK_SCHEDULED" not in await raw.event_types(delayed)

    await advance(server, 31)
    tasks = [await raw.next_workflow_task(), await raw.next_workflow_task()]
    first = next(t for t in tasks if t["workflow_id"] == delayed)
    assert types(first["history"]["events"])[:2] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
    ]


async def test_signal_with_start_on_a_new_id_keeps_the_start_delay(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    started = await signal_with_start(raw, wid, "s", start_delay=30, signal_input={"x": 1})
    assert started["started"] is True
    await assert_held(raw, wid)

    await advance(server, 31)
    task = await raw.next_workflow_task()
    events = task["history"]["events"]
    assert types(events)[:3] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert events[0]["attributes"]["first_workflow_task_backoff"] == 30


async def test_a_later_signal_with_start_ends_a_start_delay_at_once(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid, start_delay=3600)
    await signal(tenant, wid, "first")
    await assert_held(raw, wid)

    answer = await signal_with_start(raw, wid, "second", start_delay=3600)
    assert answer["started"] is False
    task = await raw.next_workflow_task(wait=0)
    assert types(task["history"]["events"]) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]
    await raw.complete(task)

    await advance(server, 3601)  # the delay's timer was dropped: it schedules nothing now
    assert await raw.poll_workflow_task(wait=0) is None
    assert (await raw.event_types(wid)).count("WORKFLOW_TASK_SCHEDULED") == 1


async def test_a_workflow_retry_back_off_holds_against_signals_and_signal_with_start(
    tenant, server
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid, retry_policy={"initial_interval": 60, "maximum_attempts": 2})
    await raw.complete(await raw.next_workflow_task(), fail_workflow("once"))
    retried = await raw.describe(wid)
    assert retried["attempt"] == 2

    await signal(tenant, wid, "s")
    assert (await signal_with_start(raw, wid, "sws"))["started"] is False
    await assert_held(raw, wid)

    await advance(server, 61)
    task = await raw.next_workflow_task()
    assert task["run_id"] == retried["run_id"]
    assert types(task["history"]["events"])[:3] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
    ]


async def test_a_continue_as_new_back_off_holds_against_signals_and_cancel_requests(tenant, server):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(
        task, command("CONTINUE_AS_NEW_WORKFLOW_EXECUTION", backoff_start_interval=120)
    )

    await signal(tenant, wid, "s")
    await signal_with_start(raw, wid, "sws")
    await raw.c.post(raw.t.ns(f"/workflows/{wid}/cancel"), json={})
    await assert_held(raw, wid)

    await advance(server, 121)
    task = await raw.next_workflow_task()
    assert types(task["history"]["events"])[:4] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
    ]
    await raw.complete(task, complete_workflow())
