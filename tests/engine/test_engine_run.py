"""A complete code-first run driven by a raw-HTTP decider and worker."""

from __future__ import annotations

from datetime import timedelta

from tests.rawhttp import Raw, complete_workflow, new_events, schedule_activity, start_timer


async def test_full_run_with_parallel_activities_timer_and_signal_has_exact_history(tenant, server):
    raw = Raw(tenant)
    started = await raw.start("order-1", input={"order": 1})
    assert started["started"] is True

    task = await raw.next_workflow_task()
    assert task["workflow_id"] == "order-1"
    assert [e["event_type"] for e in task["history"]["events"]] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]
    assert task["history"]["events"][0]["attributes"]["input"] == {"order": 1}
    await raw.complete(task, schedule_activity("a1", input=1), schedule_activity("a2", input=2))

    first = await raw.next_activity_task()
    second = await raw.next_activity_task()
    assert {first["activity_id"], second["activity_id"]} == {"a1", "a2"}
    assert first["attempt"] == 1
    await raw.activity("complete", first, result=first["input"] * 10)
    await raw.activity("complete", second, result=second["input"] * 10)

    task = await raw.next_workflow_task()
    completions = [e for e in new_events(task) if e["event_type"] == "ACTIVITY_TASK_COMPLETED"]
    assert sorted(e["attributes"]["result"] for e in completions) == [10, 20]
    await raw.complete(task, start_timer("pause", 60))

    server.ctx.clock.advance(timedelta(seconds=61))
    await server_fire(server)
    task = await raw.next_workflow_task()
    assert "TIMER_FIRED" in [e["event_type"] for e in new_events(task)]
    await raw.complete(task)

    r = await tenant.client.post(
        tenant.ns("/workflows/order-1/signal/approve"), json={"input": {"by": "ann"}}
    )
    assert r.status_code == 202, r.text
    task = await raw.next_workflow_task()
    signal = [e for e in new_events(task) if e["event_type"] == "WORKFLOW_EXECUTION_SIGNALED"][0]
    assert signal["attributes"]["signal_name"] == "approve"
    assert signal["attributes"]["input"] == {"by": "ann"}
    await raw.complete(task, complete_workflow({"total": 30}))

    outcome = await raw.result("order-1")
    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == {"total": 30}
    events = await raw.history("order-1")
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert [e["event_type"] for e in events] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "TIMER_STARTED",
        "TIMER_FIRED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def server_fire(server) -> None:
    await server.app.state.engine.deadline_loop.fire_due_timers()
