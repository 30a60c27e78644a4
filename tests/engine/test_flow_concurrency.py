"""Per-key concurrency limits: at most `max_running` activity attempts in workers' hands, or
open runs, per value of a key; strategies GROUP_ROUND_ROBIN, CANCEL_IN_PROGRESS and
CANCEL_NEWEST; slots freed when an attempt ends or times out, and when a run closes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_helpers import (
    advance,
    assert_problem,
    command,
    of_type,
    register_search_attributes,
    uid,
)
from tests.rawhttp import Raw, complete_workflow, schedule_activity


async def _limit(tenant: Any, name: str, expect: int = 201, **spec: Any) -> dict[str, Any]:
    r = await tenant.client.put(tenant.ns(f"/concurrency-limits/{name}"), json=spec)
    assert r.status_code == expect, r.text
    return r.json()


@pytest.fixture
def raw(tenant) -> Raw:
    return Raw(tenant, task_queue=uid("q"))


async def _run_with_activities(raw: Raw, *activities: dict[str, Any], **start: Any) -> str:
    wid = uid()
    await raw.start(wid, **start)
    task = await raw.next_workflow_task()
    await raw.complete(task, *activities)
    return wid


async def _poll_ids(raw: Raw, count: int, wait: float = 0.3) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(count):
        task = await raw.poll_activity_task(wait=wait)
        out.append(task["activity_id"] if task else None)
    return out


# -- the limits themselves ----------------------------------------------------------------------


async def test_a_limit_is_created_read_listed_changed_and_deleted(tenant):
    name = uid("lim")
    made = await _limit(tenant, name, applies_to="activities", key="activity_type", max_running=3)
    assert made["strategy"] == "GROUP_ROUND_ROBIN"
    assert (made["running"], made["waiting"], made["paused"]) == (0, 0, False)

    changed = await _limit(
        tenant,
        name,
        expect=200,
        applies_to="activities",
        key="activity_type",
        max_running=5,
        strategy="CANCEL_NEWEST",
        paused=True,
    )
    assert (changed["max_running"], changed["strategy"], changed["paused"]) == (
        5,
        "CANCEL_NEWEST",
        True,
    )
    got = await tenant.client.get(tenant.ns(f"/concurrency-limits/{name}"))
    assert got.json() == changed
    listed = (await tenant.client.get(tenant.ns("/concurrency-limits"))).json()["limits"]
    assert [limit["name"] for limit in listed] == [name]

    assert (await tenant.client.delete(tenant.ns(f"/concurrency-limits/{name}"))).status_code == 204
    gone = await tenant.client.get(tenant.ns(f"/concurrency-limits/{name}"))
    assert_problem(gone, 404, "not-found")


@pytest.mark.parametrize(
    "spec",
    [
        {"applies_to": "activities", "key": "customer", "max_running": 1},
        {"applies_to": "activities", "key": "search_attributes.", "max_running": 1},
        {"applies_to": "workflows", "key": "activity_type", "max_running": 1},
        {"applies_to": "activities", "key": "activity_type", "max_running": 0},
        {"applies_to": "tasks", "key": "activity_type", "max_running": 1},
        {"applies_to": "activities", "key": "activity_type", "max_running": 1, "strategy": "X"},
        {"applies_to": "activities", "key": "activity_type"},
    ],
)
async def test_a_bad_limit_is_a_400_and_creates_nothing(tenant, spec):
    name = uid("bad")
    r = await tenant.client.put(tenant.ns(f"/concurrency-limits/{name}"), json=spec)

    assert_problem(r, 400, "invalid-argument")
    assert (await tenant.client.get(tenant.ns(f"/concurrency-limits/{name}"))).status_code == 404


async def test_what_a_limit_counts_by_cannot_change_in_place(tenant):
    name = uid("lim")
    await _limit(tenant, name, applies_to="activities", key="activity_type", max_running=1)

    r = await tenant.client.put(
        tenant.ns(f"/concurrency-limits/{name}"),
        json={"applies_to": "activities", "key": "task_queue", "max_running": 1},
    )

    assert_problem(r, 409, "failed-precondition")


async def test_another_tenants_limits_are_not_found(tenant, other_tenant):
    theirs = uid("theirs")
    made = await other_tenant.client.post("/api/v1/namespaces", json={"name": theirs})
    assert made.status_code == 201, made.text
    name = uid("lim")
    r = await other_tenant.client.put(
        f"/api/v1/namespaces/{theirs}/concurrency-limits/{name}",
        json={"applies_to": "activities", "key": "activity_type", "max_running": 1},
    )
    assert r.status_code == 201, r.text

    for response in (
        await tenant.client.get(f"/api/v1/namespaces/{theirs}/concurrency-limits/{name}"),
        await tenant.client.get(f"/api/v1/namespaces/{theirs}/concurrency-limits"),
        await tenant.client.delete(f"/api/v1/namespaces/{theirs}/concurrency-limits/{name}"),
    ):
        assert_problem(response, 404, "not-found")


# -- activities ---------------------------------------------------------------------------------


async def test_activities_of_one_type_wait_for_a_slot_while_others_go(raw, tenant):
    await _limit(tenant, uid("lim"), applies_to="activities", key="activity_type", max_running=2)
    charge = uid("charge")
    wid = await _run_with_activities(
        raw,
        *(schedule_activity(f"c{i}", charge) for i in range(4)),
        schedule_activity("other", uid("other")),
    )

    first = await _poll_ids(raw, 4)

    assert sorted(filter(None, first)) == ["c0", "c1", "other"]
    assert first[-1] is None
    described = await raw.describe(wid)
    assert described["waiting_on"]["kind"] == "CONCURRENCY_LIMIT"
    assert described["waiting_on"]["message"] == (
        f"Activity 'c2' ({charge}) waits for a concurrency slot: "
        f"2 of 2 running for activity_type={charge}."
    )


async def test_a_finished_attempt_hands_its_slot_to_the_oldest_waiting_task(raw, tenant):
    await _limit(tenant, uid("lim"), applies_to="activities", key="activity_type", max_running=1)
    charge = uid("charge")
    await _run_with_activities(raw, *(schedule_activity(f"c{i}", charge) for i in range(3)))
    running = await raw.next_activity_task()
    assert await raw.poll_activity_task(wait=0.3) is None

    await raw.activity("complete", running, result="ok")

    assert (await raw.next_activity_task())["activity_id"] == "c1"
    assert await raw.poll_activity_task(wait=0.3) is None


async def test_concurrency_keys_of_a_start_limit_its_activities_per_value(raw, tenant):
    await _limit(
        tenant, uid("lim"), applies_to="activities", key="concurrency_keys.customer", max_running=1
    )
    await _run_with_activities(
        raw,
        schedule_activity("acme-1"),
        schedule_activity("acme-2"),
        schedule_activity("globex-own", concurrency_keys={"customer": "globex"}),
        concurrency_keys={"customer": "acme"},
    )

    taken = await _poll_ids(raw, 3)

    assert sorted(filter(None, taken)) == ["acme-1", "globex-own"]


async def test_a_killed_workers_attempt_frees_its_slot_when_it_times_out(raw, tenant, server):
    await _limit(tenant, uid("lim"), applies_to="activities", key="activity_type", max_running=1)
    charge = uid("charge")
    await _run_with_activities(
        raw,
        schedule_activity("lost", charge, start_to_close_timeout=5),
        schedule_activity("next", charge, start_to_close_timeout=5),
    )
    assert (await raw.next_activity_task())["activity_id"] == "lost"  # its worker dies here
    assert await raw.poll_activity_task(wait=0.3) is None

    await advance(server, 6)

    assert (await raw.next_activity_task())["activity_id"] == "next"
    limits = (await tenant.client.get(tenant.ns("/concurrency-limits"))).json()["limits"]
    # "next" runs; "lost" is in its retry back-off, waiting for the slot again once due.
    assert [(limit["running"], limit["waiting"]) for limit in limits] == [(1, 0)]


async def test_cancel_newest_fails_the_new_attempt_without_retrying_it(raw, tenant):
    await _limit(
        tenant,
        uid("lim"),
        applies_to="activities",
        key="activity_type",
        max_running=1,
        strategy="CANCEL_NEWEST",
    )
    charge = uid("charge")
    wid = await _run_with_activities(
        raw, schedule_activity("first", charge), schedule_activity("second", charge)
    )

    assert await _poll_ids(raw, 2) == ["first", None]

    [failed] = of_type(await raw.history(wid), "ACTIVITY_TASK_FAILED")
    failure = failed["attributes"]["failure"]
    assert failure["type"] == "ConcurrencyLimitExceeded"
    assert "1 of 1 running" in failure["message"]
    assert failed["attributes"]["retry_state"] == "RETRY_STATE_NON_RETRYABLE_FAILURE"


async def test_cancel_in_progress_asks_the_oldest_to_stop_and_does_not_retry_it(raw, tenant):
    await _limit(
        tenant,
        uid("lim"),
        applies_to="activities",
        key="activity_type",
        max_running=1,
        strategy="CANCEL_IN_PROGRESS",
    )
    charge = uid("charge")
    wid = await _run_with_activities(
        raw, schedule_activity("old", charge), schedule_activity("new", charge)
    )
    old = await raw.next_activity_task()
    assert await raw.poll_activity_task(wait=0.3) is None  # "new" waits; "old" is asked to stop

    answer = (await raw.activity("heartbeat", old)).json()
    assert answer["cancel_requested"] is True
    await raw.activity("fail", old, failure={"message": "stopped"})

    assert (await raw.next_activity_task())["activity_id"] == "new"
    [failed] = of_type(await raw.history(wid), "ACTIVITY_TASK_FAILED")
    assert failed["attributes"]["retry_state"] == "RETRY_STATE_CANCEL_REQUESTED"


async def test_a_paused_limit_dispatches_nothing_until_resumed(raw, tenant):
    name = uid("lim")
    spec = {"applies_to": "activities", "key": "activity_type", "max_running": 5}
    await _limit(tenant, name, **spec, paused=True)
    await _run_with_activities(raw, schedule_activity("a", uid("t")))
    assert await raw.poll_activity_task(wait=0.3) is None

    await _limit(tenant, name, expect=200, **spec, paused=False)

    assert (await raw.next_activity_task())["activity_id"] == "a"


async def test_lowering_a_limit_preempts_nothing_and_raising_it_lets_waiters_go(raw, tenant):
    name = uid("lim")
    spec = {"applies_to": "activities", "key": "activity_type"}
    await _limit(tenant, name, **spec, max_running=2)
    charge = uid("charge")
    await _run_with_activities(raw, *(schedule_activity(f"c{i}", charge) for i in range(3)))
    running = [await raw.next_activity_task() for _ in range(2)]

    lowered = await _limit(tenant, name, expect=200, **spec, max_running=1)
    assert (lowered["running"], lowered["waiting"]) == (2, 0)
    for task in running:  # both keep running and complete normally
        await raw.activity("heartbeat", task)
    assert await raw.poll_activity_task(wait=0.3) is None
    await raw.activity("complete", running[0], result=1)
    assert await raw.poll_activity_task(wait=0.3) is None  # still 1 of 1

    await _limit(tenant, name, expect=200, **spec, max_running=3)
    assert (await raw.next_activity_task())["activity_id"] == "c2"


async def test_deleting_a_limit_lets_what_waited_go(raw, tenant):
    name = uid("lim")
    await _limit(tenant, name, applies_to="activities", key="activity_type", max_running=1)
    charge = uid("charge")
    await _run_with_activities(raw, schedule_activity("a", charge), schedule_activity("b", charge))
    await raw.next_activity_task()
    assert await raw.poll_activity_task(wait=0.3) is None

    await tenant.client.delete(tenant.ns(f"/concurrency-limits/{name}"))

    assert (await raw.next_activity_task())["activity_id"] == "b"


# -- workflows ----------------------------------------------------------------------------------


async def _workflow_limit(tenant: Any, **spec: Any) -> None:
    spec.setdefault("key", "concurrency_keys.customer")
    await _limit(tenant, uid("lim"), applies_to="workflows", **spec)


async def test_a_run_over_the_limit_waits_running_without_a_workflow_task(raw, tenant):
    await _workflow_limit(tenant, max_running=1)
    first, second = uid("first"), uid("second")
    await raw.start(first, concurrency_keys={"customer": "acme"})
    await raw.start(second, concurrency_keys={"customer": "acme"})
    other = uid("other")
    await raw.start(other, concurrency_keys={"customer": "globex"})

    taken = [(await raw.next_workflow_task())["workflow_id"] for _ in range(2)]
    assert sorted(taken) == sorted([first, other])
    assert await raw.poll_workflow_task(wait=0.3) is None
    described = await raw.describe(second)
    assert described["status"] == "RUNNING"
    assert described["waiting_on"]["kind"] == "CONCURRENCY_LIMIT"
    assert described["waiting_on"]["message"] == (
        "The run waits for a concurrency slot: 1 of 1 running for customer=acme."
    )


async def test_a_closing_run_hands_its_slot_to_the_oldest_waiting_run(raw, tenant):
    await _workflow_limit(tenant, max_running=1)
    ids = [uid(f"r{i}") for i in range(3)]
    for wid in ids:
        await raw.start(wid, concurrency_keys={"customer": "acme"})
    task = await raw.next_workflow_task()
    assert task["workflow_id"] == ids[0]

    await raw.complete(task, complete_workflow("done"))

    assert (await raw.next_workflow_task())["workflow_id"] == ids[1]
    assert await raw.poll_workflow_task(wait=0.3) is None


async def test_a_sleeping_run_keeps_its_slot(raw, tenant):
    await _workflow_limit(tenant, max_running=1, key="workflow_type")
    sleeper, waiter = uid("sleeper"), uid("waiter")
    await raw.start(sleeper)
    task = await raw.next_workflow_task()
    await raw.complete(task, command("START_TIMER", timer_id="nap", start_to_fire_timeout=3600))
    await raw.start(waiter)

    assert await raw.poll_workflow_task(wait=0.3) is None
    assert (await raw.describe(waiter))["waiting_on"]["kind"] == "CONCURRENCY_LIMIT"


async def test_cancel_newest_refuses_the_start_with_a_409(raw, tenant):
    await _workflow_limit(tenant, max_running=1, strategy="CANCEL_NEWEST")
    await raw.start(uid(), concurrency_keys={"customer": "acme"})
    refused = uid()

    r = await raw.c.post(
        raw.t.ns(f"/workflows/{refused}"),
        json={
            "workflow_type": "Flow",
            "task_queue": raw.q,
            "concurrency_keys": {"customer": "acme"},
        },
    )

    problem = assert_problem(r, 409, "failed-precondition")
    assert "1 of 1 running for customer=acme" in problem["detail"]
    assert (await raw.c.get(raw.t.ns(f"/workflows/{refused}"))).status_code == 404


async def test_cancel_in_progress_asks_the_oldest_run_to_cancel_and_the_new_one_waits(raw, tenant):
    await _workflow_limit(tenant, max_running=1, strategy="CANCEL_IN_PROGRESS")
    old, new = uid("old"), uid("new")
    await raw.start(old, concurrency_keys={"customer": "acme"})
    task = await raw.next_workflow_task()
    await raw.complete(task, command("START_TIMER", timer_id="nap", start_to_fire_timeout=3600))

    await raw.start(new, concurrency_keys={"customer": "acme"})

    task = await raw.next_workflow_task()
    assert task["workflow_id"] == old
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in [
        e["event_type"] for e in task["history"]["events"]
    ]
    await raw.complete(task, command("CANCEL_WORKFLOW_EXECUTION"))
    assert (await raw.next_workflow_task())["workflow_id"] == new


async def test_bad_concurrency_keys_are_a_400(raw):
    for keys in ({"customer": 7}, {"bad name": "x"}, {f"k{i}": "v" for i in range(17)}):
        r = await raw.c.post(
            raw.t.ns(f"/workflows/{uid()}"),
            json={"workflow_type": "Flow", "task_queue": raw.q, "concurrency_keys": keys},
        )
        assert_problem(r, 400, "invalid-argument")


async def test_a_held_run_with_a_start_delay_starts_when_both_are_over(raw, tenant, server):
    await _workflow_limit(tenant, max_running=1)
    holder, delayed = uid("holder"), uid("delayed")
    await raw.start(holder, concurrency_keys={"customer": "acme"}, task_timeout=60)
    await raw.start(delayed, concurrency_keys={"customer": "acme"}, start_delay=10)
    task = await raw.next_workflow_task()
    assert task["workflow_id"] == holder

    await advance(server, 20)  # the delay is over; the slot is not free yet
    assert await raw.poll_workflow_task(wait=0.3) is None
    await raw.complete(task, complete_workflow("done"))

    assert (await raw.next_workflow_task())["workflow_id"] == delayed


async def test_a_held_runs_execution_timeout_keeps_running(raw, tenant, server):
    await _workflow_limit(tenant, max_running=1)
    await raw.start(uid("holder"), concurrency_keys={"customer": "acme"}, task_timeout=60)
    held = uid("held")
    await raw.start(held, concurrency_keys={"customer": "acme"}, execution_timeout=30)

    await advance(server, 31)

    assert (await raw.describe(held))["status"] == "TIMED_OUT"
    limits = (await tenant.client.get(tenant.ns("/concurrency-limits"))).json()["limits"]
    assert [(limit["running"], limit["waiting"]) for limit in limits] == [(1, 0)]


async def test_a_limit_can_count_runs_by_a_search_attribute(raw, tenant):
    await register_search_attributes(tenant, Region="Keyword")
    await _workflow_limit(tenant, max_running=1, key="search_attributes.Region")
    first, second, elsewhere = uid("eu-1"), uid("eu-2"), uid("us-1")
    await raw.start(first, search_attributes={"Region": "eu"})
    await raw.start(second, search_attributes={"Region": "eu"})
    await raw.start(elsewhere, search_attributes={"Region": "us"})

    taken = {(await raw.next_workflow_task())["workflow_id"] for _ in range(2)}

    assert taken == {first, elsewhere}
    assert (await raw.describe(second))["waiting_on"]["message"].endswith(
        "1 of 1 running for Region=eu."
    )
