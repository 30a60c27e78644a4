"""Many callers at once: pollers never share a task, a task token completes once, tokens do not
cross namespaces or tenants, and malformed tokens are refused. Raw HTTP + JSON only."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
import orjson
import pytest

from tests.engine_helpers import (
    assert_problem,
    of_type,
    raw_on_fresh_queue,
    signal,
    start_and_take_first_task,
    types,
    uid,
)
from tests.rawhttp import schedule_activity, start_timer

DEADLINE_SECONDS = 30


async def drain(
    poll, expected: int, pollers: int
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """`pollers` concurrent loops calling `poll()` until `expected` tasks were handed out in
    all (or a bounded deadline passes). Returns the tasks per poller and all tasks."""
    everything: list[dict[str, Any]] = []
    give_up = time.monotonic() + DEADLINE_SECONDS

    async def loop() -> list[dict[str, Any]]:
        mine: list[dict[str, Any]] = []
        while len(everything) < expected and time.monotonic() < give_up:
            task = await poll()
            if task is not None:
                mine.append(task)
                everything.append(task)
        return mine

    per_poller = await asyncio.gather(*(loop() for _ in range(pollers)))
    return list(per_poller), everything


@pytest.mark.parametrize("pollers", [2, 8])
async def test_concurrent_workflow_task_pollers_never_receive_the_same_task(tenant, pollers):
    raw = raw_on_fresh_queue(tenant)
    n = 16
    run_ids = {(await raw.start(uid()))["run_id"] for _ in range(n)}

    _, tasks = await drain(lambda: raw.poll_workflow_task(wait=0.5), n, pollers)

    assert len(tasks) == n
    assert len({t["task_token"] for t in tasks}) == n
    assert {t["run_id"] for t in tasks} == run_ids
    assert await raw.poll_workflow_task(wait=0.2) is None


@pytest.mark.parametrize("pollers", [2, 8])
async def test_concurrent_activity_pollers_never_receive_the_same_activity(tenant, pollers):
    raw = raw_on_fresh_queue(tenant)
    n = 20
    _, task = await start_and_take_first_task(raw, uid())
    await raw.complete(task, *(schedule_activity(f"a{i}", input=i) for i in range(n)))

    _, tasks = await drain(lambda: raw.poll_activity_task(wait=0.5), n, pollers)

    assert len(tasks) == n
    assert sorted(t["activity_id"] for t in tasks) == sorted(f"a{i}" for i in range(n))
    assert len({t["task_token"] for t in tasks}) == n
    assert await raw.poll_activity_task(wait=0.2) is None


async def test_five_concurrent_completions_of_one_workflow_task_let_exactly_one_win(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)

    answers = await asyncio.gather(
        *(
            raw.c.post(
                raw.t.ns("/workflow-tasks/complete"),
                json={"task_token": task["task_token"], "commands": [start_timer(f"t{i}", 60)]},
            )
            for i in range(5)
        )
    )

    assert sorted(a.status_code for a in answers) == [200, 404, 404, 404, 404]
    for refused in (a for a in answers if a.status_code == 404):
        assert_problem(refused, 404, "not-found")
    events = await raw.history(wid)
    assert types(events).count("WORKFLOW_TASK_COMPLETED") == 1
    assert types(events).count("TIMER_STARTED") == 1
    assert len((await raw.describe(wid))["pending_timers"]) == 1


async def test_five_concurrent_completions_of_one_activity_task_let_exactly_one_win(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, schedule_activity("only"))
    activity = await raw.next_activity_task()

    answers = await asyncio.gather(
        *(
            raw.c.post(
                raw.t.ns("/activity-tasks/complete"),
                json={"task_token": activity["task_token"], "result": i},
            )
            for i in range(5)
        )
    )

    codes = [a.status_code for a in answers]
    assert sorted(codes) == [200, 404, 404, 404, 404]
    for refused in (a for a in answers if a.status_code == 404):
        assert_problem(refused, 404, "not-found")
    winner = codes.index(200)
    completed = of_type(await raw.history(wid), "ACTIVITY_TASK_COMPLETED")
    assert len(completed) == 1
    assert completed[0]["attributes"]["result"] == winner


async def test_concurrent_signals_are_all_recorded_with_gapless_event_ids(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)

    answers = await asyncio.gather(*(signal(tenant, wid, "s", i) for i in range(10)))

    assert [a.status_code for a in answers] == [202] * 10
    events = await raw.history(wid)
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    signals = of_type(events, "WORKFLOW_EXECUTION_SIGNALED")
    assert sorted(s["attributes"]["input"] for s in signals) == list(range(10))
    assert types(events).count("WORKFLOW_TASK_SCHEDULED") == 1


async def test_concurrent_starts_of_one_workflow_id_create_exactly_one_run(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    body = {"workflow_type": "Flow", "task_queue": raw.q}

    answers = await asyncio.gather(
        *(tenant.client.post(tenant.ns(f"/workflows/{wid}"), json=body) for _ in range(5))
    )

    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409, 409], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 201).json()["run_id"]
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["run_id"] == winner
    count = await tenant.client.get(
        tenant.ns("/workflow-count"), params={"workflow_id_prefix": wid}
    )
    assert count.json()["count"] == 1


# -- tokens across namespaces and tenants ------------------------------------------------------


async def _second_namespace(tenant) -> str:
    name = uid("ns")
    made = await tenant.client.post("/api/v1/namespaces", json={"name": name})
    assert made.status_code == 201, made.text
    return name


async def _foreign_callers(tenant, other_tenant) -> list[tuple[httpx.AsyncClient, str]]:
    """(client, namespace) pairs that must not be able to use the tenant's `main` tokens."""
    second = await _second_namespace(tenant)
    return [(tenant.client, second), (other_tenant.client, other_tenant.namespace)]


async def test_a_workflow_task_token_is_refused_in_another_namespace_or_tenant(
    tenant, other_tenant
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    before = await raw.history(wid)

    for client, namespace in await _foreign_callers(tenant, other_tenant):
        r = await client.post(
            f"/api/v1/namespaces/{namespace}/workflow-tasks/complete",
            json={"task_token": task["task_token"], "commands": [start_timer("x", 60)]},
        )
        assert_problem(r, 404, "not-found")

    assert await raw.history(wid) == before
    await raw.complete(task, start_timer("x", 60))
    assert "TIMER_STARTED" in types(await raw.history(wid))


async def test_an_activity_task_token_is_refused_in_another_namespace_or_tenant(
    tenant, other_tenant
):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    await raw.complete(task, schedule_activity("a"))
    activity = await raw.next_activity_task()
    before = await raw.history(wid)

    for client, namespace in await _foreign_callers(tenant, other_tenant):
        for action, extra in (
            ("complete", {"result": "stolen"}),
            ("fail", {"failure": {"message": "stolen"}}),
            ("heartbeat", {"details": "stolen"}),
        ):
            r = await client.post(
                f"/api/v1/namespaces/{namespace}/activity-tasks/{action}",
                json={"task_token": activity["task_token"], **extra},
            )
            assert_problem(r, 404, "not-found")

    assert await raw.history(wid) == before
    [pending] = (await raw.describe(wid))["pending_activities"]
    assert pending["state"] == "STARTED" and pending["heartbeat_details"] is None
    await raw.activity("complete", activity, result="mine")
    [done] = of_type(await raw.history(wid), "ACTIVITY_TASK_COMPLETED")
    assert done["attributes"]["result"] == "mine"


def _decode(token: str) -> list[Any]:
    return orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _encode(value: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def _rebadged(victim_token: str, attacker_token: str) -> str:
    """The victim's token with the namespace it names swapped for the attacker's own (read from
    a token the attacker was legitimately given): what anyone can build from a leaked run id."""
    victim, attacker = _decode(victim_token), _decode(attacker_token)
    return _encode([victim[0], attacker[1], *victim[2:]])


async def test_a_workflow_task_token_rebadged_for_another_tenant_is_refused(tenant, other_tenant):
    victim = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(victim, wid)
    attacker = raw_on_fresh_queue(other_tenant)
    _, own = await start_and_take_first_task(attacker, uid())
    before = await victim.history(wid)

    r = await other_tenant.client.post(
        other_tenant.ns("/workflow-tasks/complete"),
        json={
            "task_token": _rebadged(task["task_token"], own["task_token"]),
            "commands": [{"command_type": "COMPLETE_WORKFLOW_EXECUTION", "attributes": {}}],
        },
    )

    assert_problem(r, 404, "not-found")
    assert await victim.history(wid) == before
    assert (await victim.describe(wid))["status"] == "RUNNING"


async def test_an_activity_task_token_rebadged_for_another_tenant_is_refused(tenant, other_tenant):
    victim = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(victim, wid)
    await victim.complete(task, schedule_activity("a"))
    activity = await victim.next_activity_task()
    attacker = raw_on_fresh_queue(other_tenant)
    _, own = await start_and_take_first_task(attacker, uid())
    before = await victim.history(wid)

    r = await other_tenant.client.post(
        other_tenant.ns("/activity-tasks/complete"),
        json={"task_token": _rebadged(activity["task_token"], own["task_token"]), "result": 1},
    )

    assert_problem(r, 404, "not-found")
    assert await victim.history(wid) == before


@pytest.mark.parametrize(
    "route,body",
    [
        ("/workflow-tasks/complete", {"commands": []}),
        ("/workflow-tasks/fail", {}),
        ("/activity-tasks/complete", {"result": 1}),
        ("/activity-tasks/heartbeat", {}),
        ("/activity-tasks/fail", {"failure": {"message": "x"}}),
    ],
)
@pytest.mark.parametrize("token", ["not a token", "bm90LWpzb24", "WzEsMiwzXQ"])
async def test_a_malformed_task_token_is_a_400_problem(tenant, route, body, token):
    r = await tenant.client.post(tenant.ns(route), json={"task_token": token, **body})

    assert_problem(r, 400, "invalid-argument")


async def test_a_workflow_task_token_used_for_an_activity_is_a_400_problem(tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    _, task = await start_and_take_first_task(raw, wid)
    before = await raw.history(wid)

    r = await tenant.client.post(
        tenant.ns("/activity-tasks/complete"), json={"task_token": task["task_token"]}
    )

    assert_problem(r, 400, "invalid-argument")
    assert await raw.history(wid) == before
