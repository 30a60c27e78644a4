"""Child workflows, parent close policies, and signalling or cancelling other workflows from a
workflow's commands. Raw HTTP + JSON only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_helpers import (
    command,
    of_type,
    raw_on_fresh_queue,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import Raw, complete_workflow, new_events


def start_child(workflow_id: str, task_queue: str, **attrs: Any) -> dict[str, Any]:
    return command(
        "START_CHILD_WORKFLOW_EXECUTION",
        workflow_id=workflow_id,
        workflow_type="Child",
        task_queue=task_queue,
        **attrs,
    )


async def parent_with_running_child(
    tenant, **child_attrs: Any
) -> tuple[Raw, Raw, str, str, dict[str, Any]]:
    """A parent that started a child and has handled CHILD_WORKFLOW_EXECUTION_STARTED.

    Returns (parent raw, child raw, parent id, child id, the parent's next workflow task
    already polled and not yet completed)."""
    parent, child = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    parent_id, child_id = uid("parent"), uid("child")
    _, task = await start_and_take_first_task(parent, parent_id)
    await parent.complete(task, start_child(child_id, child.q, input={"n": 7}, **child_attrs))
    task = await parent.next_workflow_task()
    assert "CHILD_WORKFLOW_EXECUTION_STARTED" in types(new_events(task))
    return parent, child, parent_id, child_id, task


async def test_start_child_records_initiated_then_started_in_the_parent_history(tenant):
    parent, child = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    parent_id, child_id = uid("parent"), uid("child")
    started, task = await start_and_take_first_task(parent, parent_id)

    await parent.complete(task, start_child(child_id, child.q, input={"n": 7}))

    events = await parent.history(parent_id)
    assert types(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    initiated = of_type(events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")[0]
    assert initiated["attributes"]["workflow_id"] == child_id
    assert initiated["attributes"]["workflow_type"] == "Child"
    child_started = of_type(events, "CHILD_WORKFLOW_EXECUTION_STARTED")[0]
    assert child_started["attributes"]["initiated_event_id"] == initiated["event_id"]
    execution = child_started["attributes"]["workflow_execution"]
    assert execution["workflow_id"] == child_id

    described = await child.describe(child_id)
    assert described["run_id"] == execution["run_id"]
    assert described["status"] == "RUNNING"
    assert described["parent"] == {"workflow_id": parent_id, "run_id": started["run_id"]}
    child_task = await child.next_workflow_task()
    first = child_task["history"]["events"][0]
    assert first["attributes"]["input"] == {"n": 7}
    assert first["attributes"]["parent_workflow_id"] == parent_id
    assert first["attributes"]["parent_initiated_event_id"] == initiated["event_id"]


async def test_a_completed_child_is_reported_to_the_parent_with_its_result(tenant):
    parent, child, parent_id, child_id, task = await parent_with_running_child(tenant)
    await parent.complete(task)
    child_task = await child.next_workflow_task()

    await child.complete(child_task, complete_workflow({"child": "done"}))

    task = await parent.next_workflow_task()
    [done] = of_type(new_events(task), "CHILD_WORKFLOW_EXECUTION_COMPLETED")
    assert done["attributes"]["result"] == {"child": "done"}
    assert done["attributes"]["workflow_execution"] == {
        "workflow_id": child_id,
        "run_id": child_task["run_id"],
    }
    initiated = of_type(task["history"]["events"], "START_CHILD_WORKFLOW_EXECUTION_INITIATED")[0]
    assert done["attributes"]["initiated_event_id"] == initiated["event_id"]


async def test_a_failed_child_is_reported_to_the_parent_with_its_failure(tenant):
    parent, child, parent_id, child_id, task = await parent_with_running_child(tenant)
    await parent.complete(task)
    child_task = await child.next_workflow_task()

    await child.complete(
        child_task,
        command(
            "FAIL_WORKFLOW_EXECUTION", failure={"message": "child broke", "type": "ChildError"}
        ),
    )

    task = await parent.next_workflow_task()
    [failed] = of_type(new_events(task), "CHILD_WORKFLOW_EXECUTION_FAILED")
    assert failed["attributes"]["failure"]["message"] == "child broke"
    assert failed["attributes"]["workflow_execution"]["workflow_id"] == child_id


async def test_parent_close_policy_terminate_terminates_the_running_child(tenant):
    parent, child, parent_id, child_id, task = await parent_with_running_child(
        tenant, parent_close_policy="TERMINATE"
    )

    await parent.complete(task, complete_workflow("parent done"))

    assert (await parent.describe(parent_id))["status"] == "COMPLETED"
    described = await child.describe(child_id)
    assert described["status"] == "TERMINATED"
    assert types(await child.history(child_id))[-1] == "WORKFLOW_EXECUTION_TERMINATED"
    assert await child.poll_workflow_task(wait=0.3) is None


async def test_parent_close_policy_request_cancel_asks_the_child_and_leaves_it_running(tenant):
    parent, child, parent_id, child_id, task = await parent_with_running_child(
        tenant, parent_close_policy="REQUEST_CANCEL"
    )

    await parent.complete(task, complete_workflow("parent done"))

    assert (await parent.describe(parent_id))["status"] == "COMPLETED"
    described = await child.describe(child_id)
    assert described["status"] == "RUNNING"
    assert described["cancel_requested"] is True
    child_task = await child.next_workflow_task()
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types(child_task["history"]["events"])

    await child.complete(child_task, command("CANCEL_WORKFLOW_EXECUTION"))

    assert (await child.describe(child_id))["status"] == "CANCELED"


async def test_parent_close_policy_abandon_leaves_the_child_running_untouched(tenant):
    parent, child, parent_id, child_id, task = await parent_with_running_child(
        tenant, parent_close_policy="ABANDON"
    )
    before = await child.history(child_id)

    await parent.complete(task, complete_workflow("parent done"))

    assert (await parent.describe(parent_id))["status"] == "COMPLETED"
    described = await child.describe(child_id)
    assert described["status"] == "RUNNING"
    assert described["cancel_requested"] is False
    assert await child.history(child_id) == before
    child_task = await child.next_workflow_task()
    await child.complete(child_task, complete_workflow("child done"))
    assert (await child.describe(child_id))["status"] == "COMPLETED"
    assert types(await parent.history(parent_id))[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_terminating_the_parent_applies_close_policy_terminate_to_the_child(tenant):
    parent, child, parent_id, child_id, task = await parent_with_running_child(
        tenant, parent_close_policy="TERMINATE"
    )

    r = await tenant.client.post(
        tenant.ns(f"/workflows/{parent_id}/terminate"), json={"reason": "operator"}
    )

    assert r.status_code == 200, r.text
    assert (await parent.describe(parent_id))["status"] == "TERMINATED"
    assert (await child.describe(child_id))["status"] == "TERMINATED"


async def test_a_child_asked_to_cancel_by_its_closed_parent_still_names_its_parent(tenant):
    parent, child, parent_id, child_id, task = await parent_with_running_child(
        tenant, parent_close_policy="REQUEST_CANCEL"
    )
    parent_run = task["run_id"]

    await parent.complete(task, complete_workflow("parent done"))

    described = await child.describe(child_id)
    assert described["status"] == "RUNNING"
    assert described["parent"] == {"workflow_id": parent_id, "run_id": parent_run}


async def test_starting_a_child_with_the_id_of_a_running_workflow_records_start_failed(tenant):
    parent, other = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    parent_id, taken = uid("parent"), uid("taken")
    existing = await other.start(taken)
    _, task = await start_and_take_first_task(parent, parent_id)

    await parent.complete(task, start_child(taken, other.q))

    events = await parent.history(parent_id)
    assert types(events)[-3:] == [
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "START_CHILD_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    assert "CHILD_WORKFLOW_EXECUTION_STARTED" not in types(events)
    initiated = of_type(events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")[0]
    failed = of_type(events, "START_CHILD_WORKFLOW_EXECUTION_FAILED")[0]
    assert failed["attributes"]["cause"] == "WORKFLOW_ALREADY_EXISTS"
    assert failed["attributes"]["initiated_event_id"] == initiated["event_id"]
    assert failed["attributes"]["workflow_id"] == taken
    described = await other.describe(taken)
    assert described["run_id"] == existing["run_id"]
    assert described["parent"] is None


# -- signalling and cancelling other workflows -----------------------------------------------


async def test_signal_external_signals_the_target_and_records_external_signaled(tenant):
    source, target = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    source_id, target_id = uid("source"), uid("target")
    target_run = (await target.start(target_id))["run_id"]
    _, task = await start_and_take_first_task(source, source_id)

    await source.complete(
        task,
        command(
            "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION",
            workflow_id=target_id,
            signal_name="wake",
            input={"from": "source"},
        ),
    )

    events = await source.history(source_id)
    assert types(events)[-3:] == [
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    initiated = of_type(events, "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED")[0]
    signaled = of_type(events, "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED")[0]
    assert signaled["attributes"]["initiated_event_id"] == initiated["event_id"]
    assert signaled["attributes"]["workflow_execution"] == {
        "workflow_id": target_id,
        "run_id": target_run,
    }
    target_task = await target.next_workflow_task()
    [received] = of_type(target_task["history"]["events"], "WORKFLOW_EXECUTION_SIGNALED")
    assert received["attributes"]["signal_name"] == "wake"
    assert received["attributes"]["input"] == {"from": "source"}


async def test_signal_external_to_a_missing_workflow_records_signal_external_failed(tenant):
    source = raw_on_fresh_queue(tenant)
    source_id, missing = uid("source"), uid("missing")
    _, task = await start_and_take_first_task(source, source_id)

    await source.complete(
        task,
        command("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION", workflow_id=missing, signal_name="wake"),
    )

    events = await source.history(source_id)
    assert types(events)[-3:] == [
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    failed = of_type(events, "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED")[0]
    assert failed["attributes"]["cause"] == "EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"
    assert failed["attributes"]["workflow_execution"]["workflow_id"] == missing
    r = await tenant.client.get(tenant.ns(f"/workflows/{missing}"))
    assert r.status_code == 404


async def test_request_cancel_external_asks_the_target_and_records_cancel_requested(tenant):
    source, target = raw_on_fresh_queue(tenant), raw_on_fresh_queue(tenant)
    source_id, target_id = uid("source"), uid("target")
    target_run = (await target.start(target_id))["run_id"]
    _, task = await start_and_take_first_task(source, source_id)

    await source.complete(
        task,
        command(
            "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION", workflow_id=target_id, reason="enough"
        ),
    )

    events = await source.history(source_id)
    assert types(events)[-3:] == [
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    requested = of_type(events, "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED")[0]
    assert requested["attributes"]["workflow_execution"] == {
        "workflow_id": target_id,
        "run_id": target_run,
    }
    target_task = await target.next_workflow_task()
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types(target_task["history"]["events"])
    described = await target.describe(target_id)
    assert described["status"] == "RUNNING"
    assert described["cancel_requested"] is True


async def test_request_cancel_external_of_a_missing_workflow_records_the_failure(tenant):
    source = raw_on_fresh_queue(tenant)
    source_id = uid("source")
    _, task = await start_and_take_first_task(source, source_id)

    await source.complete(
        task,
        command("REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION", workflow_id=uid("missing")),
    )

    events = await source.history(source_id)
    assert types(events)[-3:] == [
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    failed = of_type(events, "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED")[0]
    assert failed["attributes"]["cause"] == "EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"


@pytest.mark.parametrize("policy", ["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
async def test_parent_lists_its_running_child_with_the_close_policy(tenant, policy):
    parent, child, parent_id, child_id, task = await parent_with_running_child(
        tenant, parent_close_policy=policy
    )

    described = await parent.describe(parent_id)

    [pending] = described["pending_children"]
    assert pending["workflow_id"] == child_id
    assert pending["workflow_type"] == "Child"
    assert pending["parent_close_policy"] == policy
    assert pending["run_id"] == (await child.describe(child_id))["run_id"]
