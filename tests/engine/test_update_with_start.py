"""Update-with-start over plain HTTP (Temporal's ExecuteMultiOperation: start + update): the
conflict policy decides which run takes the update; a run it starts stays started whatever
the update's fate; the same request again answers the same."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.engine.test_updates import answer_next
from tests.engine_helpers import assert_problem, types, uid
from tests.rawhttp import Raw


async def update_with_start(
    raw: Raw,
    workflow_id: str,
    name: str = "add",
    *,
    policy: str | None = "USE_EXISTING",
    **body: Any,
) -> httpx.Response:
    update = body.pop("update", {})
    fields: dict[str, Any] = {"workflow_type": "Flow", "task_queue": raw.q, **body}
    if policy is not None:
        fields["id_conflict_policy"] = policy
    return await raw.c.post(
        raw.t.ns(f"/workflows/{workflow_id}/update-with-start/{name}"),
        json={**fields, "update": {"args": [1], "update_id": "u", **update}},
        timeout=40,
    )


async def test_it_starts_the_run_and_the_first_task_carries_the_update(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = uid()
    caller = asyncio.create_task(update_with_start(raw, workflow_id))

    task = await answer_next(raw, result="started and updated")

    r = await caller
    assert r.status_code == 200, r.text
    assert r.json()["started"] is True
    assert r.json()["run_id"] == task["run_id"]
    assert r.json()["update"]["outcome"] == {"success": "started and updated"}
    assert types(task["history"]["events"])[0] == "WORKFLOW_EXECUTION_STARTED"


async def test_a_rejected_update_leaves_the_run_it_started_running(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = uid()
    caller = asyncio.create_task(update_with_start(raw, workflow_id))

    await answer_next(raw, reject_it=True)

    r = await caller
    assert r.json()["started"] is True
    assert "failure" in r.json()["update"]["outcome"]
    assert (await raw.describe(workflow_id))["status"] == "RUNNING"


async def test_the_same_request_again_answers_the_same(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = uid()
    headers = {"Idempotency-Key": uid("key")}
    first = asyncio.create_task(
        raw.c.post(
            raw.t.ns(f"/workflows/{workflow_id}/update-with-start/add"),
            json={
                "workflow_type": "Flow",
                "task_queue": raw.q,
                "id_conflict_policy": "FAIL",
                "update": {"args": [1], "update_id": "same"},
            },
            headers=headers,
            timeout=40,
        )
    )
    await answer_next(raw, result=1)
    answer = (await first).json()

    again = await raw.c.post(
        raw.t.ns(f"/workflows/{workflow_id}/update-with-start/add"),
        json={
            "workflow_type": "Flow",
            "task_queue": raw.q,
            "id_conflict_policy": "FAIL",
            "update": {"args": [1], "update_id": "same"},
        },
        headers=headers,
    )

    assert again.status_code == 200, again.text
    assert again.json() == answer


async def test_the_conflict_policy_is_required_and_start_delay_refused(tenant):
    raw = Raw(tenant, task_queue=uid("q"))

    assert_problem(await update_with_start(raw, uid(), policy=None), 400, "invalid-argument")
    assert_problem(await update_with_start(raw, uid(), start_delay=5), 400, "invalid-argument")
    refused = await update_with_start(raw, uid(), update={"wait_for_stage": "ADMITTED"})
    assert_problem(refused, 400, "invalid-argument")
    for field in ({"cron_schedule": "* * * * *"}, {"request_eager_execution": True}):
        assert_problem(await update_with_start(raw, uid(), **field), 400, "invalid-argument")
    named_run = await update_with_start(raw, uid(), update={"run_id": "r"})
    assert_problem(named_run, 400, "invalid-argument")


async def race(raw: Raw, policy: str) -> tuple[httpx.Response, httpx.Response, str]:
    """A plain start and an update-with-start of one workflow id sent together; the decider
    answers whatever update arrives."""
    workflow_id = uid()
    plain = asyncio.create_task(
        raw.c.post(
            raw.t.ns(f"/workflows/{workflow_id}"),
            json={"workflow_type": "Flow", "task_queue": raw.q},
        )
    )
    with_start = asyncio.create_task(update_with_start(raw, workflow_id, policy=policy))
    await asyncio.wait({plain, with_start}, timeout=2)
    while not with_start.done():
        task = await raw.poll_workflow_task(wait=1)
        if task is None:
            continue
        if task["messages"]:
            await answer_next_from(raw, task)
        else:
            await raw.complete(task)
    return await plain, await with_start, workflow_id


async def answer_next_from(raw: Raw, task: dict[str, Any]) -> None:
    from tests.update_helpers import accept, placed, respond

    (message,) = task["messages"]
    accepted = accept(message)
    done = respond(message["protocol_instance_id"], success="ok")
    await raw.complete(task, placed(accepted), placed(done), messages=[accepted, done])


async def test_racing_a_plain_start_with_use_existing_one_run_takes_the_update(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    plain, with_start, workflow_id = await race(raw, "USE_EXISTING")

    assert with_start.status_code == 200, with_start.text
    assert with_start.json()["update"]["outcome"] == {"success": "ok"}
    if plain.status_code == 201:  # the plain start won: the update went to its run
        assert with_start.json()["started"] is False
        assert with_start.json()["run_id"] == plain.json()["run_id"]
    else:  # update-with-start won: the plain start found its run
        assert with_start.json()["started"] is True
        assert_problem(plain, 409, "already-exists")


async def test_racing_a_plain_start_with_fail_one_of_them_is_refused(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    plain, with_start, workflow_id = await race(raw, "FAIL")

    outcomes = sorted([plain.status_code, with_start.status_code])
    assert outcomes in ([200, 409], [201, 409]), (plain.text, with_start.text)


async def test_racing_a_plain_start_with_terminate_existing_the_update_run_wins(tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    plain, with_start, workflow_id = await race(raw, "TERMINATE_EXISTING")

    assert with_start.status_code == 200, with_start.text
    assert with_start.json()["started"] is True
    described = await raw.describe(workflow_id)
    assert described["run_id"] == with_start.json()["run_id"]
    assert described["status"] == "RUNNING"
