"""Activity attempts: retries with back-off, timeouts, heartbeats, cancellation, stale tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.rawhttp import Raw, new_events, schedule_activity


@pytest.fixture
def raw(tenant) -> Raw:
    return Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:8]}")


async def advance(server, seconds: float) -> None:
    server.ctx.clock.advance(timedelta(seconds=seconds))
    await server.app.state.engine.deadline_loop.fire_due_timers()


async def started_with_activity(raw: Raw, workflow_id: str, **activity_attrs) -> None:
    await raw.start(workflow_id)
    task = await raw.next_workflow_task()
    await raw.complete(task, schedule_activity("a", **activity_attrs))


async def closing_event(raw: Raw, workflow_id: str) -> dict:
    task = await raw.next_workflow_task()
    events = new_events(task)
    return [
        e
        for e in events
        if e["event_type"].startswith("ACTIVITY_TASK_")
        and e["event_type"] not in ("ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED")
    ][-1]


async def test_failed_attempt_is_retried_with_backoff_then_completes(raw, server):
    policy = {"initial_interval": 2, "backoff_coefficient": 3, "maximum_attempts": 5}
    await started_with_activity(raw, "retry-1", retry_policy=policy)

    attempt1 = await raw.next_activity_task()
    assert attempt1["attempt"] == 1
    await raw.activity("fail", attempt1, failure={"message": "boom", "type": "IOError"})
    assert await raw.poll_activity_task(wait=0) is None  # waiting out 2 s of back-off
    await advance(server, 2.1)
    attempt2 = await raw.next_activity_task()
    assert attempt2["attempt"] == 2
    assert attempt2["last_failure"]["message"] == "boom"

    await raw.activity("fail", attempt2, failure={"message": "boom again", "type": "IOError"})
    await advance(server, 5)  # second back-off is 2 * 3 = 6 s
    assert await raw.poll_activity_task(wait=0) is None
    await advance(server, 1.1)
    attempt3 = await raw.next_activity_task()
    assert attempt3["attempt"] == 3
    await raw.activity("complete", attempt3, result="ok")

    closed = await closing_event(raw, "retry-1")
    assert closed["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert closed["attributes"]["attempt"] == 3
    types = await raw.event_types("retry-1")
    assert types.count("ACTIVITY_TASK_STARTED") == 1  # one event for all attempts


async def test_non_retryable_failure_closes_the_activity_at_once(raw, server):
    await started_with_activity(raw, "nonretry-1")
    task = await raw.next_activity_task()
    await raw.activity(
        "fail", task, failure={"message": "bad input", "type": "ValueError", "non_retryable": True}
    )
    closed = await closing_event(raw, "nonretry-1")
    assert closed["event_type"] == "ACTIVITY_TASK_FAILED"
    assert closed["attributes"]["retry_state"] == "RETRY_STATE_NON_RETRYABLE_FAILURE"
    assert closed["attributes"]["failure"]["message"] == "bad input"


async def test_error_type_listed_as_non_retryable_is_not_retried(raw, server):
    await started_with_activity(
        raw, "nonretry-2", retry_policy={"non_retryable_error_types": ["Fatal"]}
    )
    task = await raw.next_activity_task()
    await raw.activity("fail", task, failure={"message": "no", "type": "Fatal"})
    closed = await closing_event(raw, "nonretry-2")
    assert closed["attributes"]["retry_state"] == "RETRY_STATE_NON_RETRYABLE_FAILURE"


async def test_maximum_attempts_reached_fails_the_activity(raw, server):
    await started_with_activity(
        raw, "maxattempts-1", retry_policy={"maximum_attempts": 2, "initial_interval": 1}
    )
    await raw.activity("fail", await raw.next_activity_task(), failure={"message": "1"})
    await advance(server, 1.1)
    await raw.activity("fail", await raw.next_activity_task(), failure={"message": "2"})
    closed = await closing_event(raw, "maxattempts-1")
    assert closed["event_type"] == "ACTIVITY_TASK_FAILED"
    assert closed["attributes"]["retry_state"] == "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"
    assert closed["attributes"]["attempt"] == 2


async def test_heartbeat_timeout_retries_with_the_last_heartbeat_details(raw, server):
    await started_with_activity(
        raw,
        "hb-1",
        heartbeat_timeout=5,
        start_to_close_timeout=60,
        retry_policy={"initial_interval": 1},
    )
    task = await raw.next_activity_task()
    answer = await raw.activity("heartbeat", task, details={"progress": 40})
    assert answer.json() == {"cancel_requested": False}
    await advance(server, 3)
    await raw.activity("heartbeat", task, details={"progress": 70})
    await advance(server, 4)  # 4 s since the last heartbeat: still alive
    assert await raw.poll_activity_task(wait=0) is None
    await advance(server, 2)  # 6 s since the last heartbeat: timed out, retry after 1 s
    await advance(server, 1.1)
    retry = await raw.next_activity_task()
    assert retry["attempt"] == 2
    assert retry["heartbeat_details"] == {"progress": 70}
    assert retry["last_failure"]["timeout_type"] == "HEARTBEAT"
    await raw.activity(
        "heartbeat", task, expect=404, details={}
    )  # the old attempt's token is stale


async def test_schedule_to_close_exhaustion_times_out_the_activity(raw, server):
    await started_with_activity(
        raw,
        "s2c-1",
        schedule_to_close_timeout=10,
        start_to_close_timeout=3,
        retry_policy={"initial_interval": 1, "backoff_coefficient": 1},
    )
    await raw.next_activity_task()
    await advance(server, 3.1)  # start-to-close: retried
    await advance(server, 1.1)
    await raw.next_activity_task()
    await advance(server, 3.1)  # start-to-close again: retried
    await advance(server, 1.1)  # the third attempt waits for a poller...
    await advance(server, 2)  # ...when schedule-to-close (10 s since scheduling) runs out
    closed = await closing_event(raw, "s2c-1")
    assert closed["event_type"] == "ACTIVITY_TASK_TIMED_OUT"
    assert closed["attributes"]["failure"]["timeout_type"] == "SCHEDULE_TO_CLOSE"
    assert closed["attributes"]["retry_state"] == "RETRY_STATE_TIMEOUT"


async def test_cancellation_is_delivered_through_heartbeat(raw, server):
    await started_with_activity(raw, "cancel-1", heartbeat_timeout=30)
    activity = await raw.next_activity_task()
    assert (await raw.activity("heartbeat", activity)).json()["cancel_requested"] is False

    r = await raw.c.post(raw.t.ns("/workflows/cancel-1/cancel"), json={"reason": "user asked"})
    assert r.status_code == 202
    task = await raw.next_workflow_task()
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in [e["event_type"] for e in new_events(task)]
    scheduled = [
        e for e in task["history"]["events"] if e["event_type"] == "ACTIVITY_TASK_SCHEDULED"
    ][0]
    await raw.complete(
        task,
        {
            "command_type": "REQUEST_CANCEL_ACTIVITY_TASK",
            "attributes": {"scheduled_event_id": scheduled["event_id"]},
        },
    )

    assert (await raw.activity("heartbeat", activity)).json()["cancel_requested"] is True
    await raw.activity("canceled", activity, details="stopped at 50%")
    closed = await closing_event(raw, "cancel-1")
    assert closed["event_type"] == "ACTIVITY_TASK_CANCELED"
    assert closed["attributes"]["details"] == "stopped at 50%"


async def test_stale_task_token_is_refused_and_changes_nothing(raw, server):
    await started_with_activity(raw, "stale-1", retry_policy={"initial_interval": 1})
    first = await raw.next_activity_task()
    await raw.activity("fail", first, failure={"message": "x"})
    await advance(server, 1.1)
    second = await raw.next_activity_task()
    before = await raw.history("stale-1")

    refused = await raw.activity("complete", first, expect=404, result="late")
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/not-found")
    assert await raw.history("stale-1") == before

    await raw.activity("complete", second, result="on time")
    closed = await closing_event(raw, "stale-1")
    assert closed["attributes"]["result"] == "on time"


async def test_activity_can_be_completed_by_workflow_and_activity_id(raw, server):
    await started_with_activity(raw, "byid-1")
    await raw.next_activity_task()
    r = await raw.c.post(raw.t.ns("/workflows/byid-1/activities/a/complete"), json={"result": 7})
    assert r.status_code == 200, r.text
    closed = await closing_event(raw, "byid-1")
    assert closed["attributes"]["result"] == 7
