"""Workflow Update's limits per run are namespace settings (Temporal's per-namespace dynamic
config history.maxInFlightUpdates, maxTotalUpdates, maxInFlightUpdatePayloads): lowered for
one namespace they bind there at the new bound, and another namespace keeps the defaults."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.conftest import Tenant
from tests.engine_helpers import assert_problem, uid
from tests.rawhttp import Raw, start_timer
from tests.update_helpers import accept, placed, respond, send_update


async def set_limits(tenant: Tenant, **settings: int) -> dict:
    r = await tenant.client.patch(tenant.ns(), json={"settings": settings})
    assert r.status_code == 200, r.text
    return r.json()


async def second_namespace(tenant: Tenant) -> Tenant:
    """Another namespace of the same tenant, left at the defaults."""
    r = await tenant.client.post("/api/v1/namespaces", json={"name": "other"})
    assert r.status_code == 201, r.text
    return replace(tenant, namespace="other")


async def idle_run(raw: Raw, workflow_id: str) -> None:
    """Start the workflow and complete its first task with a long timer."""
    await raw.start(workflow_id)
    await raw.complete(await raw.next_workflow_task(), start_timer("t", 3600))


async def answer_next(raw: Raw) -> None:
    task = await raw.next_workflow_task()
    (message,) = task["messages"]
    accepted = accept(message)
    done = respond(message["protocol_instance_id"], success="ok")
    await raw.complete(task, placed(accepted), placed(done), messages=[accepted, done])


async def test_the_settings_are_validated_and_shown_by_get_namespace(tenant):
    for name in (
        "max_in_flight_updates",
        "max_total_updates",
        "max_in_flight_update_payload_bytes",
    ):
        r = await tenant.client.patch(tenant.ns(), json={"settings": {name: 0}})
        assert_problem(r, 400, "invalid-argument")
        assert name in r.text
    too_many = await tenant.client.patch(
        tenant.ns(), json={"settings": {"max_total_updates": 1_000_000}}
    )
    assert_problem(too_many, 400, "invalid-argument")
    not_a_number = await tenant.client.patch(
        tenant.ns(), json={"settings": {"max_in_flight_updates": "ten"}}
    )
    assert_problem(not_a_number, 400, "invalid-argument")

    await set_limits(tenant, max_in_flight_updates=3, max_total_updates=50)
    await set_limits(tenant, max_in_flight_update_payload_bytes=4096)

    shown = (await tenant.client.get(tenant.ns())).json()["settings"]
    assert shown["max_in_flight_updates"] == 3
    assert shown["max_total_updates"] == 50
    assert shown["max_in_flight_update_payload_bytes"] == 4096
    created = await tenant.client.post(
        "/api/v1/namespaces", json={"name": "made", "settings": {"max_in_flight_updates": 2}}
    )
    assert created.status_code == 201
    assert created.json()["settings"] == {"max_in_flight_updates": 2}


async def test_a_lowered_in_flight_limit_answers_429_there_only(tenant):
    other = await second_namespace(tenant)
    await set_limits(tenant, max_in_flight_updates=2)
    here, there = Raw(tenant, task_queue=uid("nobody")), Raw(other, task_queue=uid("nobody"))
    workflow_id = uid()
    await here.start(workflow_id)
    await there.start(workflow_id)
    for n in range(2):
        assert (await send_update(tenant, workflow_id, "add", n, wait=0)).status_code == 200

    r = await send_update(tenant, workflow_id, "add", 2, wait=0)

    assert_problem(r, 429, "rate-limited")
    assert r.headers["Retry-After"] == "1"
    assert "max_in_flight_updates" in r.json()["detail"]
    for n in range(3):  # the other namespace keeps Temporal's 10
        assert (await send_update(other, workflow_id, "add", n, wait=0)).status_code == 200
    await set_limits(tenant, max_in_flight_updates=3)  # raised: the next update is taken
    assert (await send_update(tenant, workflow_id, "add", 2, wait=0)).status_code == 200


async def test_a_lowered_total_answers_409_there_only(tenant):
    other = await second_namespace(tenant)
    await set_limits(tenant, max_total_updates=2)
    here, there = Raw(tenant, task_queue=uid("q")), Raw(other, task_queue=uid("q"))
    workflow_id = uid()
    await idle_run(here, workflow_id)
    await idle_run(there, workflow_id)
    for raw, who in ((here, tenant), (there, other)):
        for n in range(2):
            caller = asyncio.create_task(send_update(who, workflow_id, "add", n))
            await answer_next(raw)
            assert (await caller).json()["outcome"] == {"success": "ok"}

    r = await send_update(tenant, workflow_id, "add", 3)

    assert_problem(r, 409, "failed-precondition")
    assert r.json()["limit"] == 2
    caller = asyncio.create_task(send_update(other, workflow_id, "add", 3))
    await answer_next(there)
    assert (await caller).json()["outcome"] == {"success": "ok"}


async def test_lowered_in_flight_bytes_answer_413_there_only(tenant):
    other = await second_namespace(tenant)
    await set_limits(tenant, max_in_flight_update_payload_bytes=100)
    here, there = Raw(tenant, task_queue=uid("nobody")), Raw(other, task_queue=uid("nobody"))
    workflow_id = uid()
    await here.start(workflow_id)
    await there.start(workflow_id)
    assert (await send_update(tenant, workflow_id, "add", "x" * 60, wait=0)).status_code == 200

    r = await send_update(tenant, workflow_id, "add", "y" * 60, wait=0)

    assert_problem(r, 413, "payload-too-large")
    assert r.json()["limit"] == 100
    for text in ("x" * 60, "y" * 60):
        assert (await send_update(other, workflow_id, "add", text, wait=0)).status_code == 200


async def test_continue_as_new_is_suggested_at_ninety_percent_of_the_namespace_total(tenant):
    other = await second_namespace(tenant)
    await set_limits(tenant, max_total_updates=1)  # suggested from the first update on
    here, there = Raw(tenant, task_queue=uid("q")), Raw(other, task_queue=uid("q"))
    workflow_id = uid()
    await here.start(workflow_id)
    first = await here.next_workflow_task()
    assert "suggest_continue_as_new" not in first["history"]["events"][-1]["attributes"]
    await here.complete(first, start_timer("t", 3600))
    await idle_run(there, workflow_id)
    seen = {}
    for raw, who in ((here, tenant), (there, other)):
        caller = asyncio.create_task(send_update(who, workflow_id, "add", 1))
        task = await raw.next_workflow_task()
        seen[who.namespace] = task["history"]["events"][-1]["attributes"]
        accepted = accept(task["messages"][0])
        done = respond(task["messages"][0]["protocol_instance_id"], success="ok")
        await raw.complete(task, placed(accepted), placed(done), messages=[accepted, done])
        await caller

    assert seen["main"]["suggest_continue_as_new"] is True
    assert "suggest_continue_as_new" not in seen["other"]
