"""GET …/workflows/{id}/events/stream: a run's new events as server-sent events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.conftest import Tenant
from tests.engine_helpers import assert_problem, raw_on_fresh_queue, uid
from tests.rawhttp import Raw, complete_workflow


async def read_stream(
    tenant: Tenant, workflow_id: str, *, until_events: int | None = None, **headers: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """The stream's history events and all its (id, event, data) messages, read until it
    ends (or, with `until_events`, until that many history events came)."""
    messages: list[tuple[str, str, str]] = []
    events: list[dict[str, Any]] = []
    async with tenant.client.stream(
        "GET", tenant.ns(f"/workflows/{workflow_id}/events/stream"), headers=headers
    ) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in r.aiter_lines():
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "data" in fields:
                messages.append((fields.get("id", ""), fields.get("event", ""), fields["data"]))
                if fields.get("event") == "history":
                    events.append(json.loads(fields["data"]))
            fields = {}
            if until_events is not None and len(events) >= until_events:
                break
    return events, messages


async def open_run(tenant: Tenant) -> tuple[Raw, str]:
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid()
    await raw.start(workflow_id)
    return raw, workflow_id


async def test_the_stream_follows_new_events_and_ends_when_the_run_closes(tenant):
    raw, workflow_id = await open_run(tenant)
    reader = asyncio.create_task(read_stream(tenant, workflow_id))
    task = await raw.next_workflow_task()
    await raw.complete(task, complete_workflow("done"))
    events, messages = await asyncio.wait_for(reader, 30)

    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event_type"] == "WORKFLOW_EXECUTION_STARTED"
    assert events[-1]["event_type"] == "WORKFLOW_EXECUTION_COMPLETED"
    assert [m[0] for m in messages if m[1] == "history"] == [str(e["event_id"]) for e in events]
    assert messages[-1][1:] == ("closed", json.dumps({"status": "COMPLETED"}).replace(" ", ""))


async def test_last_event_id_resumes_after_that_event(tenant):
    raw, workflow_id = await open_run(tenant)
    await raw.complete(await raw.next_workflow_task(), complete_workflow("done"))
    everything, _ = await read_stream(tenant, workflow_id)
    assert len(everything) >= 4

    resumed, messages = await read_stream(tenant, workflow_id, **{"Last-Event-ID": "2"})
    assert [e["event_id"] for e in resumed] == [e["event_id"] for e in everything[2:]]
    assert messages[-1][1] == "closed"


async def test_a_resume_while_open_waits_for_the_next_event(tenant):
    raw, workflow_id = await open_run(tenant)
    first, _ = await read_stream(tenant, workflow_id, until_events=2)
    assert [e["event_type"] for e in first] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    reader = asyncio.create_task(read_stream(tenant, workflow_id, **{"Last-Event-ID": "2"}))
    await raw.complete(await raw.next_workflow_task(), complete_workflow(None))
    rest, _ = await asyncio.wait_for(reader, 30)
    assert rest[0]["event_id"] == 3 and rest[0]["event_type"] == "WORKFLOW_TASK_STARTED"


async def test_a_closed_run_with_nothing_left_answers_204(tenant):
    raw, workflow_id = await open_run(tenant)
    await raw.complete(await raw.next_workflow_task(), complete_workflow("done"))
    events, _ = await read_stream(tenant, workflow_id)
    r = await tenant.client.get(
        tenant.ns(f"/workflows/{workflow_id}/events/stream"),
        headers={"Last-Event-ID": str(events[-1]["event_id"])},
    )
    assert r.status_code == 204


async def test_another_tenant_gets_404_and_a_bad_last_event_id_400(tenant, other_tenant):
    _, workflow_id = await open_run(tenant)
    r = await other_tenant.client.get(
        f"/api/v1/namespaces/{tenant.namespace}/workflows/{workflow_id}/events/stream"
    )
    assert_problem(r, 404)
    r = await other_tenant.client.get(other_tenant.ns(f"/workflows/{workflow_id}/events/stream"))
    assert_problem(r, 404)
    r = await tenant.client.get(
        tenant.ns(f"/workflows/{workflow_id}/events/stream"), headers={"Last-Event-ID": "x"}
    )
    assert_problem(r, 400)
    async with httpx.AsyncClient(base_url=str(tenant.client.base_url)) as anonymous:
        r = await anonymous.get(tenant.ns(f"/workflows/{workflow_id}/events/stream"))
    assert_problem(r, 401)


async def test_runs_list_by_close_time_lists_closed_runs_newest_close_first(tenant):
    raw = raw_on_fresh_queue(tenant)
    prefix = uid("order")
    for n in range(3):
        await raw.start(f"{prefix}-{n}")
    for _ in range(3):
        task = await raw.next_workflow_task()
        if task["workflow_id"] != f"{prefix}-1":
            await raw.complete(task, complete_workflow(None))
    r = await tenant.client.get(
        tenant.ns("/workflows"),
        params={"workflow_id_prefix": prefix, "order_by": "close_time_desc", "page_size": 1},
    )
    first = r.json()
    assert [w["workflow_id"] for w in first["workflows"]] == [f"{prefix}-2"]
    r = await tenant.client.get(
        tenant.ns("/workflows"),
        params={
            "workflow_id_prefix": prefix,
            "order_by": "close_time_desc",
            "next_page_token": first["next_page_token"],
        },
    )
    assert [w["workflow_id"] for w in r.json()["workflows"]] == [f"{prefix}-0"]
