"""Following a run's history with `wait_new_event` (Temporal's GetWorkflowExecutionHistory with
wait_new_event): the answer carries a next page token while the run may still record events,
and none once its closing event has been given; a follower of a closed run is not kept waiting."""

from __future__ import annotations

import asyncio
import uuid


async def follow(tenant, workflow_id: str, token: str | None, **more) -> dict:
    params = {"wait_new_event": "true", "wait": 30, **more}
    if token:
        params["next_page_token"] = token
    r = await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}/history"), params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_follower_gets_every_event_to_the_closing_one_then_no_token(tenant):
    workflow_id = f"followed-{uuid.uuid4().hex[:8]}"
    started = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}"), json={"workflow_type": "T", "task_queue": "none"}
    )
    assert started.status_code == 201, started.text

    first = await follow(tenant, workflow_id, None)
    terminated = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/terminate"), json={"reason": "enough"}
    )
    assert terminated.status_code == 200, terminated.text
    rest = await follow(tenant, workflow_id, first["next_page_token"])
    # A full page ends exactly at the closing event: its token, followed, is answered at once
    # (well within the 30 s wait) with nothing more and no token.
    whole = len(first["events"]) + len(rest["events"])
    full_page = await follow(tenant, workflow_id, None, page_size=whole)
    after_close = await asyncio.wait_for(
        follow(tenant, workflow_id, full_page["next_page_token"]), 10
    )

    assert first["next_page_token"]
    events = [e["event_type"] for e in first["events"] + rest["events"]]
    assert events[-1] == "WORKFLOW_EXECUTION_TERMINATED"
    assert rest["next_page_token"] is None
    assert full_page["next_page_token"]
    assert after_close["events"] == [] and after_close["next_page_token"] is None
