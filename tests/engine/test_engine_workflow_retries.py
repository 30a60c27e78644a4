"""Workflow retry policies: a failed or run-timed-out run is retried as a new run of the same
workflow id after the back-off, until the policy says stop; `result` follows the chain."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.rawhttp import Raw, complete_workflow


@pytest.fixture
def raw(tenant) -> Raw:
    return Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:8]}")


def fail(message: str = "boom", **failure) -> dict:
    return {
        "command_type": "FAIL_WORKFLOW_EXECUTION",
        "attributes": {"failure": {"message": message, **failure}},
    }


async def advance(server, seconds: float) -> None:
    server.ctx.clock.advance(timedelta(seconds=seconds))
    await server.app.state.engine.deadline_loop.fire_due_timers()


async def test_a_failed_run_is_retried_after_the_backoff_and_result_follows(raw, server):
    first = await raw.start(
        "flaky", input={"n": 1}, retry_policy={"initial_interval": 2, "maximum_attempts": 3}
    )
    await raw.complete(await raw.next_workflow_task(), fail())

    closed = (await raw.history("flaky", run_id=first["run_id"]))[-1]
    assert closed["event_type"] == "WORKFLOW_EXECUTION_FAILED"
    assert closed["attributes"]["retry_state"] == "RETRY_STATE_IN_PROGRESS"
    second_run = closed["attributes"]["new_execution_run_id"]
    assert await raw.poll_workflow_task(wait=0) is None  # waiting out the 2 s back-off

    await advance(server, 2.1)
    task = await raw.next_workflow_task()
    assert task["run_id"] == second_run
    started = task["history"]["events"][0]["attributes"]
    assert started["attempt"] == 2 and started["input"] == {"n": 1}
    assert started["continued_execution_run_id"] == first["run_id"]
    assert (await raw.describe("flaky"))["attempt"] == 2
    await raw.complete(task, complete_workflow("second time lucky"))

    outcome = await raw.result("flaky", run_id=first["run_id"])
    assert outcome["status"] == "COMPLETED"
    assert outcome["result"] == "second time lucky"
    assert outcome["run_id"] == second_run


async def test_retries_stop_at_maximum_attempts(raw, server):
    await raw.start("always-fails", retry_policy={"initial_interval": 1, "maximum_attempts": 2})
    await raw.complete(await raw.next_workflow_task(), fail("first"))
    await advance(server, 1.1)
    await raw.complete(await raw.next_workflow_task(), fail("second"))

    outcome = await raw.result("always-fails")
    assert outcome["status"] == "FAILED"
    assert outcome["failure"]["message"] == "second"
    closed = (await raw.history("always-fails"))[-1]
    assert "new_execution_run_id" not in closed["attributes"]


async def test_a_non_retryable_failure_type_is_not_retried(raw, server):
    await raw.start("fatal", retry_policy={"non_retryable_error_types": ["Fatal"]})
    await raw.complete(await raw.next_workflow_task(), fail("no", type="Fatal"))
    outcome = await raw.result("fatal")
    assert outcome["status"] == "FAILED"
    assert (await raw.describe("fatal"))["attempt"] == 1


async def test_a_run_timeout_is_retried_too(raw, server):
    first = await raw.start(
        "slow", run_timeout=5, retry_policy={"initial_interval": 1, "maximum_attempts": 2}
    )
    await raw.next_workflow_task()  # and never answer it
    await advance(server, 5.1)
    closed = (await raw.history("slow", run_id=first["run_id"]))[-1]
    assert closed["event_type"] == "WORKFLOW_EXECUTION_TIMED_OUT"
    assert closed["attributes"]["new_execution_run_id"]
    await advance(server, 1.1)
    task = await raw.next_workflow_task()
    assert task["history"]["events"][0]["attributes"]["attempt"] == 2
    await raw.complete(task, complete_workflow("in time"))
    assert (await raw.result("slow", run_id=first["run_id"]))["result"] == "in time"


async def test_a_malformed_retry_policy_is_a_400_problem_and_starts_nothing(raw, tenant):
    refused = await tenant.client.post(
        tenant.ns("/workflows/bad-policy"),
        json={
            "workflow_type": "Flow",
            "task_queue": raw.q,
            "retry_policy": {"backoff_coefficient": 0.5},
        },
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await tenant.client.get(tenant.ns("/workflows/bad-policy"))).status_code == 404
