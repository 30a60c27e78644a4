"""Queries over raw HTTP: the caller long-waits, a worker polling the run's task queue receives
the query (with the run's history) from its workflow-task poll and answers it."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from app.db.tables import query_tasks
from tests.rawhttp import Raw, complete_workflow


async def ask(tenant, workflow_id: str, name: str, **body):
    return await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/query/{name}"), json=body)


async def test_a_polling_worker_receives_the_query_with_history_and_its_answer_reaches_the_caller(
    tenant,
):
    raw = Raw(tenant)
    await raw.start("q-1", input={"n": 1})
    await raw.complete(await raw.next_workflow_task())

    caller = asyncio.create_task(ask(tenant, "q-1", "status", args={"verbose": True}, timeout=10))
    task = await raw.next_workflow_task()
    assert task["task_token"] == ""
    assert task["query"]["query_type"] == "status"
    assert task["query"]["args"] == {"verbose": True}
    assert [e["event_type"] for e in task["history"]["events"]][-1] == "WORKFLOW_TASK_COMPLETED"
    r = await tenant.client.post(
        tenant.ns("/workflow-tasks/respond-query"),
        json={"query_id": task["query"]["query_id"], "answer": {"step": 2}},
    )
    assert r.status_code == 200, r.text

    answered = await caller
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == {"step": 2}
    assert "WORKFLOW_TASK_SCHEDULED" not in (await raw.event_types("q-1"))[4:]


async def test_a_query_nobody_answers_ends_in_a_deadline_exceeded_problem(tenant):
    raw = Raw(tenant, task_queue="nobody-polls")
    await raw.start("q-2")

    r = await ask(tenant, "q-2", "status", timeout=0.3)

    assert r.status_code == 504
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/deadline-exceeded")


async def test_a_failed_query_answers_a_query_failed_problem(tenant):
    raw = Raw(tenant, task_queue="failing-queries")
    await raw.start("q-3")
    await raw.complete(await raw.next_workflow_task())

    caller = asyncio.create_task(ask(tenant, "q-3", "nope", timeout=10))
    task = await raw.next_workflow_task()
    await tenant.client.post(
        tenant.ns("/workflow-tasks/respond-query"),
        json={"query_id": task["query"]["query_id"], "error": {"message": "unknown query 'nope'"}},
    )
    r = await caller

    assert r.status_code == 400
    assert r.json()["type"].endswith("/query-failed")
    assert "unknown query 'nope'" in r.json()["detail"]


async def test_a_closed_run_is_queried_too(tenant):
    raw = Raw(tenant, task_queue="closed-queries")
    await raw.start("q-4")
    await raw.complete(await raw.next_workflow_task(), complete_workflow("done"))

    caller = asyncio.create_task(ask(tenant, "q-4", "status", timeout=10))
    task = await raw.next_workflow_task()
    assert task["history"]["events"][-1]["event_type"] == "WORKFLOW_EXECUTION_COMPLETED"
    await tenant.client.post(
        tenant.ns("/workflow-tasks/respond-query"),
        json={"query_id": task["query"]["query_id"], "answer": "final"},
    )

    assert (await caller).json()["answer"] == "final"


async def test_an_answer_to_an_unknown_or_answered_query_is_not_found(tenant):
    r = await tenant.client.post(
        tenant.ns("/workflow-tasks/respond-query"), json={"query_id": "no-such-query", "answer": 1}
    )

    assert r.status_code == 404


async def test_a_query_of_an_unknown_workflow_is_not_found(tenant):
    assert (await ask(tenant, "no-such-workflow", "status")).status_code == 404


async def test_queries_of_another_tenant_are_invisible(tenant, other_tenant):
    raw = Raw(tenant, task_queue="private")
    await raw.start("q-5")

    assert (await ask(other_tenant, "q-5", "status", timeout=0.2)).status_code == 404


async def test_time_skipping_waits_while_a_query_is_pending(tenant, server):
    raw = Raw(tenant, task_queue="skipping-queries")
    await raw.start("q-6")
    await raw.complete(
        await raw.next_workflow_task(),
        {
            "command_type": "START_TIMER",
            "attributes": {"timer_id": "t", "start_to_fire_timeout": 3600},
        },
    )
    engine = server.app.state.engine
    caller = asyncio.create_task(ask(tenant, "q-6", "status", timeout=5))
    for _ in range(100):
        async with server.ctx.db.read() as conn:
            pending = await conn.scalar(sa.select(sa.func.count()).select_from(query_tasks))
        if pending:
            break
        await asyncio.sleep(0.01)

    assert (
        await engine.deadline_loop.skip_time_if_idle() is False
    )  # the query's deadline is on the clock

    task = await raw.next_workflow_task()
    await tenant.client.post(
        tenant.ns("/workflow-tasks/respond-query"),
        json={"query_id": task["query"]["query_id"], "answer": "ok"},
    )
    assert (await caller).json()["answer"] == "ok"
