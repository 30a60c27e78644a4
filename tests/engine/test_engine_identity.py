"""History events name the worker that answered: the identity sent with the answer, or else
the identity that polled the task (a raw-HTTP worker often sends it only with its polls)."""

from __future__ import annotations

from tests.engine_helpers import uid
from tests.rawhttp import Raw, complete_workflow, schedule_activity


async def test_answers_without_identity_are_recorded_as_the_poller(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = uid()
    await raw.start(workflow_id)
    ns = tenant.ns
    polled = await tenant.client.post(
        ns(f"/task-queues/{raw.q}/workflow-tasks/poll"), json={"identity": "decider-7", "wait": 5}
    )
    await tenant.client.post(
        ns("/workflow-tasks/complete"),
        json={"task_token": polled.json()["task_token"], "commands": [schedule_activity("a")]},
    )
    task = await tenant.client.post(
        ns(f"/task-queues/{raw.q}/activity-tasks/poll"), json={"identity": "worker-9", "wait": 5}
    )
    await tenant.client.post(
        ns("/activity-tasks/complete"), json={"task_token": task.json()["task_token"], "result": 1}
    )
    last = await raw.next_workflow_task()
    await raw.complete(last, complete_workflow(), identity="decider-explicit")

    events = {e["event_type"]: e["attributes"] for e in await raw.history(workflow_id)}
    history = await raw.history(workflow_id)
    completed_by = [
        e["attributes"]["identity"] for e in history if e["event_type"] == "WORKFLOW_TASK_COMPLETED"
    ]
    assert completed_by == ["decider-7", "decider-explicit"]
    assert events["ACTIVITY_TASK_STARTED"]["identity"] == "worker-9"
    assert events["ACTIVITY_TASK_COMPLETED"]["identity"] == "worker-9"
