"""Workers that keep runs in memory can ask for only the events they have not seen."""

from __future__ import annotations

import uuid

from tests.rawhttp import Raw, start_timer


async def test_partial_history_sends_only_events_after_the_previous_task(tenant, server):
    raw = Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:8]}")
    await raw.start("cached-run")
    first = await raw.next_workflow_task()
    assert first["history"]["after_event_id"] == 0
    await raw.complete(first, start_timer("t", 60))
    await tenant.client.post(tenant.ns("/workflows/cached-run/signal/nudge"), json={})

    r = await raw.c.post(
        raw.t.ns(f"/task-queues/{raw.q}/workflow-tasks/poll"),
        json={"identity": "decider", "wait": 5, "partial_history": True},
    )
    task = r.json()
    events = task["history"]["events"]
    assert (
        task["history"]["after_event_id"]
        == task["previous_started_event_id"]
        == first["started_event_id"]
    )
    assert events[0]["event_id"] == first["started_event_id"] + 1
    assert [e["event_type"] for e in events] == [
        "WORKFLOW_TASK_COMPLETED",
        "TIMER_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]
    # What it skipped is there for a worker that lost the run from memory.
    full = await raw.history("cached-run")
    assert [e["event_id"] for e in full] == list(range(1, task["started_event_id"] + 1))
