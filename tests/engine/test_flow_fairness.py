"""Fairness keys and weights (Temporal's `Priority.fairness_key` / `fairness_weight`): within a
priority, tasks are handed out across keys in proportion to their weights, FIFO within a key;
and the queue's configuration (weight overrides), shown by the task-queue describe."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.engine_helpers import assert_problem, raw_on_fresh_queue, uid
from tests.rawhttp import Raw


async def _start_keyed(raw: Raw, key: str | None, count: int, **priority: Any) -> list[str]:
    ids = []
    for _ in range(count):
        wid = uid(key or "unkeyed")
        fields = {"priority": {"fairness_key": key, **priority}} if key else {}
        await raw.start(wid, **fields)
        ids.append(wid)
    return ids


async def _take(raw: Raw, count: int) -> list[str]:
    return [(await raw.next_workflow_task())["workflow_id"] for _ in range(count)]


def _key(workflow_id: str) -> str:
    return workflow_id.rsplit("-", 1)[0]


async def test_keys_share_the_queue_in_proportion_to_their_weights(tenant):
    raw = raw_on_fresh_queue(tenant)
    for key, weight in (("one", 1), ("two", 2), ("three", 3)):
        await _start_keyed(raw, key, 40, fairness_weight=weight)

    shares = Counter(_key(w) for w in await _take(raw, 36))

    assert shares == {"one": 6, "two": 12, "three": 18}


async def test_tasks_of_one_key_keep_their_order(tenant):
    raw = raw_on_fresh_queue(tenant)
    a = await _start_keyed(raw, "a", 5)
    b = await _start_keyed(raw, "b", 5)

    taken = await _take(raw, 10)

    assert [w for w in taken if w in a] == a
    assert [w for w in taken if w in b] == b


async def test_a_quiet_key_is_not_stuck_behind_a_noisy_keys_backlog(tenant):
    raw = raw_on_fresh_queue(tenant)
    await _start_keyed(raw, "noisy", 40)
    first = await _take(raw, 5)
    [quiet] = await _start_keyed(raw, "quiet", 1)

    assert quiet in await _take(raw, 2)
    assert all(_key(w) == "noisy" for w in first)


async def test_a_key_that_drained_earns_no_credit_over_a_new_one(tenant):
    raw = raw_on_fresh_queue(tenant)
    await _start_keyed(raw, "early", 10)
    await _take(raw, 10)
    # The queue is empty: a new key and the early one start level.
    await _start_keyed(raw, "early", 5)
    await _start_keyed(raw, "late", 5)

    shares = Counter(_key(w) for w in await _take(raw, 4))

    assert shares == {"early": 2, "late": 2}


async def test_tasks_queued_before_fairness_was_used_go_first_then_unkeyed_is_one_key(tenant):
    raw = raw_on_fresh_queue(tenant)
    before = await _start_keyed(raw, None, 3)
    await _start_keyed(raw, "keyed", 10)
    after = await _start_keyed(raw, None, 4)

    taken = await _take(raw, 9)

    assert taken[:3] == before
    # From then on the unkeyed tasks are one key among the others, taking turns.
    assert Counter(w in after for w in taken[3:]) == {True: 3, False: 3}


async def test_priority_comes_before_fairness(tenant):
    raw = raw_on_fresh_queue(tenant)
    await _start_keyed(raw, "bulk", 10, fairness_weight=1000)
    urgent = await _start_keyed(raw, "rare", 2, priority_key=1, fairness_weight=0.001)

    assert await _take(raw, 2) == urgent


async def test_a_queue_weight_override_wins_over_the_tasks_weight(tenant):
    raw = raw_on_fresh_queue(tenant)
    r = await tenant.client.post(
        tenant.ns(f"/task-queues/{raw.q}/update-config"),
        json={
            "task_queue_type": "TASK_QUEUE_TYPE_WORKFLOW",
            "set_fairness_weight_overrides": {"gold": 3},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["config"]["fairness_weight_overrides"] == {"gold": 3.0}
    await _start_keyed(raw, "gold", 20, fairness_weight=0.5)
    await _start_keyed(raw, "tin", 20, fairness_weight=1)

    shares = Counter(_key(w) for w in await _take(raw, 8))

    assert shares == {"gold": 6, "tin": 2}


async def test_activities_are_fair_across_keys_too(tenant):
    raw = raw_on_fresh_queue(tenant)
    await raw.start(uid())
    task = await raw.next_workflow_task()
    commands = [
        {
            "command_type": "SCHEDULE_ACTIVITY_TASK",
            "attributes": {
                "activity_id": f"{key}-{i}",
                "activity_type": "act",
                "start_to_close_timeout": 30,
                "priority": {"fairness_key": key},
            },
        }
        for key in ("a", "b")
        for i in range(6)
    ]
    await raw.complete(task, *commands)

    taken = [(await raw.next_activity_task())["activity_id"] for _ in range(4)]

    assert Counter(t[0] for t in taken) == {"a": 2, "b": 2}


async def test_the_describe_shows_backlog_by_priority_and_the_largest_keys(tenant):
    raw = raw_on_fresh_queue(tenant)
    await _start_keyed(raw, "big", 4, priority_key=5)
    await _start_keyed(raw, "small", 1, priority_key=1)
    await _start_keyed(raw, None, 2)

    r = await tenant.client.get(tenant.ns(f"/task-queues/{raw.q}"))

    assert r.status_code == 200, r.text
    described = r.json()
    assert described["backlog_by_priority"] == {
        "workflow": {"1": 1, "3": 2, "5": 4},
        "activity": {},
    }
    assert described["top_fairness_keys"] == {
        "workflow": [
            {"key": "big", "backlog": 4},
            {"key": "", "backlog": 2},
            {"key": "small", "backlog": 1},
        ],
        "activity": [],
    }


async def test_another_tenant_never_sees_a_queues_config(tenant, other_tenant):
    raw = raw_on_fresh_queue(tenant)
    body = {
        "task_queue_type": "TASK_QUEUE_TYPE_WORKFLOW",
        "set_fairness_weight_overrides": {"k": 2},
    }
    r = await tenant.client.post(tenant.ns(f"/task-queues/{raw.q}/update-config"), json=body)
    assert r.status_code == 200, r.text

    # The same path in the other tenant's namespace of the same name is its own queue.
    r = await other_tenant.client.get(other_tenant.ns(f"/task-queues/{raw.q}/config"))
    assert r.status_code == 200, r.text
    assert r.json()["fairness_weight_overrides"] == {}
    # A namespace only the other tenant has is not found for the first, config or not.
    theirs = uid("theirs")
    made = await other_tenant.client.post("/api/v1/namespaces", json={"name": theirs})
    assert made.status_code == 201, made.text
    path = f"/api/v1/namespaces/{theirs}/task-queues/{raw.q}"
    assert_problem(await tenant.client.get(f"{path}/config"), 404, "not-found")
    assert_problem(await tenant.client.post(f"{path}/update-config", json=body), 404, "not-found")
