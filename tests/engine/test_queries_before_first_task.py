"""Queries on runs whose workflow code has not run yet (no workflow task completed): a closed run
is refused at once and nothing reaches a worker; a running one is asked once its first task
completes, or refused at once when its back-off outlasts the query. Raw HTTP + JSON."""

from __future__ import annotations

import asyncio

from tests.engine_helpers import assert_problem, raw_on_fresh_queue, uid
from tests.rawhttp import complete_workflow


async def ask(tenant, workflow_id: str, name: str, **body):
    return await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/query/{name}"), json=body)


async def test_a_run_terminated_before_its_first_task_refuses_queries_at_once(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)
    r = await raw.c.post(raw.t.ns(f"/workflows/{wid}/terminate"), json={"reason": "stop"})
    assert r.status_code == 200, r.text
    poller = asyncio.create_task(raw.poll_workflow_task(wait=0.5))

    r = await ask(tenant, wid, "state", timeout=10)

    assert_problem(r, 409, "failed-precondition")
    assert "closed before its first workflow task" in r.json()["detail"]
    assert r.json()["run_status"] == "TERMINATED"
    assert await poller is None  # nothing was sent to the worker


async def test_a_query_before_the_first_task_completes_waits_for_it(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)
    first = await raw.next_workflow_task()  # started, not completed: no code has run yet
    caller = asyncio.create_task(ask(tenant, wid, "state", timeout=20))

    assert await raw.poll_workflow_task(wait=0.3) is None  # the query is not handed out
    await raw.complete(first)
    query = await raw.next_workflow_task()
    assert query["query"]["query_type"] == "state"
    assert "WORKFLOW_TASK_COMPLETED" in [e["event_type"] for e in query["history"]["events"]]
    r = await tenant.client.post(
        tenant.ns("/workflow-tasks/respond-query"),
        json={"query_id": query["query"]["query_id"], "answer": "ready"},
    )
    assert r.status_code == 200, r.text

    answered = await caller
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == "ready"


async def test_a_run_closed_by_its_first_task_is_still_queried(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)
    await raw.complete(await raw.next_workflow_task(), complete_workflow("done"))

    caller = asyncio.create_task(ask(tenant, wid, "state", timeout=10))
    query = await raw.next_workflow_task()
    await tenant.client.post(
        tenant.ns("/workflow-tasks/respond-query"),
        json={"query_id": query["query"]["query_id"], "answer": "final"},
    )
    assert (await caller).json()["answer"] == "final"


async def test_a_start_delay_longer_than_the_query_timeout_refuses_the_query_at_once(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid, start_delay=3600)

    r = await ask(tenant, wid, "state", timeout=10)

    assert_problem(r, 409, "failed-precondition")
    assert "not scheduled yet" in r.json()["detail"]
    assert await raw.poll_workflow_task(wait=0) is None
