"""Rate limits of a task queue (Temporal's UpdateTaskQueueConfig): the queue's limit, the
default limit of each fairness key, 0 stopping dispatch, and the configuration as stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_helpers import advance, assert_problem, raw_on_fresh_queue, uid
from tests.rawhttp import Raw

WORKFLOW = "TASK_QUEUE_TYPE_WORKFLOW"
ACTIVITY = "TASK_QUEUE_TYPE_ACTIVITY"


async def _configure(raw: Raw, expect: int = 200, **body: Any) -> dict[str, Any]:
    body.setdefault("task_queue_type", WORKFLOW)
    r = await raw.c.post(raw.t.ns(f"/task-queues/{raw.q}/update-config"), json=body)
    assert r.status_code == expect, r.text
    return r.json()


def _limit(rps: float | None, reason: str = "") -> dict[str, Any]:
    return {"rate_limit": None if rps is None else {"requests_per_second": rps}, "reason": reason}


async def test_a_queue_rate_limit_of_zero_stops_dispatch_until_it_is_removed(tenant):
    raw = raw_on_fresh_queue(tenant)
    await _configure(raw, update_queue_rate_limit=_limit(0, "incident 42"))
    wid = uid()
    await raw.start(wid)

    assert await raw.poll_workflow_task(wait=0.5) is None
    described = (await tenant.client.get(tenant.ns(f"/task-queues/{raw.q}"))).json()
    assert described["backlog"]["workflow_tasks"] == 1

    await _configure(raw, update_queue_rate_limit=_limit(None))
    assert (await raw.next_workflow_task())["workflow_id"] == wid


async def test_a_queue_rate_limit_spaces_dispatches_out(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    await _configure(raw, update_queue_rate_limit=_limit(0.2))
    for _ in range(2):
        await raw.start(uid())

    assert await raw.poll_workflow_task(wait=0.5) is not None
    # One task per 5 s: the second waits for the limiter, not for a task.
    assert await raw.poll_workflow_task(wait=0.5) is None
    await advance(server, 5)
    assert await raw.poll_workflow_task(wait=0.5) is not None


async def test_the_limit_of_one_queue_kind_leaves_the_other_alone(tenant):
    raw = raw_on_fresh_queue(tenant)
    await _configure(raw, task_queue_type=ACTIVITY, update_queue_rate_limit=_limit(0))
    wid = uid()
    await raw.start(wid)

    assert (await raw.next_workflow_task())["workflow_id"] == wid


async def test_a_fairness_key_rate_limit_holds_back_that_key_only(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    await _configure(raw, update_fairness_key_rate_limit_default=_limit(0.2))
    busy = [uid("busy") for _ in range(2)]
    for wid in busy:
        await raw.start(wid, priority={"fairness_key": "busy"})
    other = uid("other")
    await raw.start(other, priority={"fairness_key": "other"})

    taken = [(await raw.next_workflow_task())["workflow_id"] for _ in range(2)]
    assert taken == [busy[0], other]
    assert await raw.poll_workflow_task(wait=0.5) is None
    await advance(server, 5)
    assert (await raw.next_workflow_task())["workflow_id"] == busy[1]


async def test_a_keys_rate_is_scaled_by_its_weight(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    await _configure(
        raw,
        update_fairness_key_rate_limit_default=_limit(0.1),
        set_fairness_weight_overrides={"heavy": 5},
    )
    for _ in range(3):
        await raw.start(uid("heavy"), priority={"fairness_key": "heavy"})

    assert await raw.poll_workflow_task(wait=0.5) is not None
    assert await raw.poll_workflow_task(wait=0.5) is None
    await advance(server, 2.5)  # 0.1/s × 5 = one every 2 s
    assert await raw.poll_workflow_task(wait=0.5) is not None


async def test_the_config_records_who_set_each_limit_when_and_why(tenant):
    raw = raw_on_fresh_queue(tenant)
    answer = await _configure(
        raw,
        identity="ops-alice",
        update_queue_rate_limit=_limit(50, "protect the ledger API"),
        update_fairness_key_rate_limit_default=_limit(5),
        set_fairness_weight_overrides={"gold": 10, "tin": 0.5},
    )
    r = await tenant.client.get(
        tenant.ns(f"/task-queues/{raw.q}/config"), params={"task_queue_type": WORKFLOW}
    )
    assert r.status_code == 200, r.text
    config = r.json()
    assert config == answer["config"]
    assert config["queue_rate_limit"]["rate_limit"] == {"requests_per_second": 50.0}
    assert config["queue_rate_limit"]["metadata"]["reason"] == "protect the ledger API"
    assert config["queue_rate_limit"]["metadata"]["update_identity"] == "ops-alice"
    assert config["queue_rate_limit"]["metadata"]["update_time"]
    assert config["fairness_keys_rate_limit_default"]["rate_limit"] == {"requests_per_second": 5.0}
    assert config["fairness_weight_overrides"] == {"gold": 10.0, "tin": 0.5}

    # Fields left out stay; a limit without `rate_limit` goes; an override can be unset.
    after = await _configure(
        raw,
        update_fairness_key_rate_limit_default=_limit(None),
        unset_fairness_weight_overrides=["tin"],
    )
    assert after["config"]["queue_rate_limit"] == config["queue_rate_limit"]
    assert after["config"]["fairness_keys_rate_limit_default"] is None
    assert after["config"]["fairness_weight_overrides"] == {"gold": 10.0}
    # The activity queue of the same name has a configuration of its own.
    r = await tenant.client.get(
        tenant.ns(f"/task-queues/{raw.q}/config"), params={"task_queue_type": ACTIVITY}
    )
    assert r.json() == {
        "queue_rate_limit": None,
        "fairness_keys_rate_limit_default": None,
        "fairness_weight_overrides": {},
    }


@pytest.mark.parametrize(
    "body",
    [
        {"update_queue_rate_limit": _limit(-1)},
        {"update_queue_rate_limit": {"rate_limit": {"requests_per_second": "fast"}}},
        {"update_fairness_key_rate_limit_default": _limit(-0.5)},
        {"update_queue_rate_limit": _limit(1, "x" * 1001)},
        {"set_fairness_weight_overrides": {"k": 0}},
        {"set_fairness_weight_overrides": {"k": 1000.5}},
        {"set_fairness_weight_overrides": {"k" * 65: 1}},
        {"set_fairness_weight_overrides": {"k": 1}, "unset_fairness_weight_overrides": ["k"]},
        {"set_fairness_weight_overrides": {f"k{i}": 1 for i in range(1001)}},
        {"task_queue_type": "TASK_QUEUE_TYPE_NEXUS"},
        {"task_queue_type": None},
        {"surprise": 1},
    ],
)
async def test_a_bad_config_update_is_a_400_and_changes_nothing(tenant, body):
    raw = raw_on_fresh_queue(tenant)
    await _configure(raw, set_fairness_weight_overrides={"kept": 2})

    answer = await _configure(raw, expect=400, **body)

    assert answer["status"] == 400
    r = await tenant.client.get(tenant.ns(f"/task-queues/{raw.q}/config"))
    assert r.json()["fairness_weight_overrides"] == {"kept": 2.0}


async def test_more_than_1000_overrides_in_all_is_a_400(tenant):
    raw = raw_on_fresh_queue(tenant)
    await _configure(raw, set_fairness_weight_overrides={f"a{i}": 1 for i in range(600)})

    r = await raw.c.post(
        raw.t.ns(f"/task-queues/{raw.q}/update-config"),
        json={
            "task_queue_type": WORKFLOW,
            "set_fairness_weight_overrides": {f"b{i}": 1 for i in range(600)},
        },
    )

    assert_problem(r, 400, "invalid-argument")
    assert r.json()["field"] == "set_fairness_weight_overrides"


async def test_a_reader_may_read_the_config_but_not_change_it(http, tenant):
    raw = raw_on_fresh_queue(tenant)
    made = await tenant.client.post(
        "/api/v1/api-keys",
        json={"name": uid("reader"), "role": "reader", "namespaces": [tenant.namespace]},
    )
    assert made.status_code == 201, made.text
    reader = {"Authorization": f"Bearer {made.json()['key']}"}

    r = await http.get(tenant.ns(f"/task-queues/{raw.q}/config"), headers=reader)
    assert r.status_code == 200, r.text
    r = await http.post(
        tenant.ns(f"/task-queues/{raw.q}/update-config"),
        json={"task_queue_type": WORKFLOW, "update_queue_rate_limit": _limit(0)},
        headers=reader,
    )
    assert_problem(r, 403, "permission-denied")
