"""Ids and names with `/` (sent as `%2F`) work on every route: the server routes on the raw
path, so an encoded slash stays inside its segment. Raw HTTP with explicit escapes."""

from __future__ import annotations

import asyncio
import uuid

from tests.engine_helpers import assert_problem, raw_on_fresh_queue
from tests.rawhttp import complete_workflow, schedule_activity


def enc(text: str) -> str:
    """What a client puts into a path segment (httpx leaves existing escapes alone)."""
    return text.replace("%", "%25").replace("/", "%2F")


async def test_a_workflow_id_with_a_slash_works_on_every_workflow_route(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = f"order/{uuid.uuid4().hex[:8]}/42"
    path = tenant.ns(f"/workflows/{enc(wid)}")
    c = tenant.client

    started = await c.post(path, json={"workflow_type": "Flow", "task_queue": raw.q})
    assert started.status_code == 201, started.text
    assert started.json()["workflow_id"] == wid
    run_id = started.json()["run_id"]
    assert (await c.get(path)).json()["workflow_id"] == wid
    assert (await c.get(f"{path}/runs/{run_id}")).json()["run_id"] == run_id

    r = await c.post(f"{path}/signal/{enc('price/update')}", json={"input": 7})
    assert r.status_code == 202, r.text
    r = await c.post(
        f"{path}/signal-with-start/{enc('a/b')}",
        json={"workflow_type": "Flow", "task_queue": raw.q},
    )
    assert r.status_code == 200, r.text
    task = await raw.next_workflow_task()
    assert task["workflow_id"] == wid
    signals = [
        e["attributes"]["signal_name"]
        for e in task["history"]["events"]
        if e["event_type"] == "WORKFLOW_EXECUTION_SIGNALED"
    ]
    assert signals == ["price/update", "a/b"]
    await raw.complete(task, schedule_activity("act/1"))

    activity = await raw.next_activity_task()
    assert activity["workflow_id"] == wid and activity["activity_id"] == "act/1"
    r = await c.post(f"{path}/activities/{enc('act/1')}/complete", json={"result": "ok"})
    assert r.status_code == 200, r.text

    caller = asyncio.create_task(c.post(f"{path}/query/{enc('state/now')}", json={"timeout": 10}))
    query = await raw.next_workflow_task()
    while "query" not in query:  # the task that saw the activity complete comes first
        await raw.complete(query)
        query = await raw.next_workflow_task()
    assert query["query"]["query_type"] == "state/now"
    await c.post(
        tenant.ns("/workflow-tasks/respond-query"),
        json={"query_id": query["query"]["query_id"], "answer": 1},
    )
    assert (await caller).json()["answer"] == 1

    history = await c.get(f"{path}/history")
    assert "ACTIVITY_TASK_COMPLETED" in [e["event_type"] for e in history.json()["events"]]
    r = await c.post(f"{path}/cancel", json={})
    assert r.status_code == 202, r.text
    r = await c.post(f"{path}/terminate", json={"reason": "done"})
    assert r.status_code == 200, r.text
    outcome = await c.get(f"{path}/result", params={"wait": 0})
    assert outcome.json()["status"] == "TERMINATED"


async def test_an_encoded_slash_is_not_a_path_separator(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = f"split-{uuid.uuid4().hex[:8]}/x"
    await raw.start(enc(wid))

    # `/workflows/<a>/x` is another route shape altogether: there is no such route.
    r = await tenant.client.get(tenant.ns(f"/workflows/{wid}"))
    assert_problem(r, 404)
    assert (await tenant.client.get(tenant.ns(f"/workflows/{enc(wid)}"))).status_code == 200


async def test_percent_signs_round_trip_next_to_encoded_slashes(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = f"pct-{uuid.uuid4().hex[:8]}-%2F/100%"  # a literal "%2F" and a real "/"
    started = await raw.start(enc(wid))
    assert started["workflow_id"] == wid
    await raw.complete(await raw.next_workflow_task(), complete_workflow("ok"))
    outcome = await raw.result(enc(wid))
    assert outcome["result"] == "ok"


async def test_a_task_queue_with_a_slash_is_polled_by_its_encoded_name(tenant):
    queue = f"team/{uuid.uuid4().hex[:8]}"
    r = await tenant.client.post(
        tenant.ns("/workflows/on-slashed-queue"),
        json={"workflow_type": "Flow", "task_queue": queue},
    )
    assert r.status_code == 201, r.text

    r = await tenant.client.post(
        tenant.ns(f"/task-queues/{enc(queue)}/workflow-tasks/poll"), json={"wait": 5}
    )

    assert r.status_code == 200, r.text
    assert r.json()["task_queue"] == queue
