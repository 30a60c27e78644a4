"""Flow control on schedules' start actions: the action's `concurrency_keys` (and `priority`)
go with every run the schedule starts, so per-key concurrency limits count those runs."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant
from tests.engine_helpers import advance, assert_problem, uid
from tests.schedules_helpers import create, delete_all_schedules, describe, sid, start_action


@pytest.fixture
async def owner(tenant):  # type: ignore[no-untyped-def]
    yield tenant
    await delete_all_schedules(tenant)


async def _one_per_customer(tenant: Tenant) -> None:
    r = await tenant.client.put(
        tenant.ns(f"/concurrency-limits/{uid('lim')}"),
        json={"applies_to": "workflows", "key": "concurrency_keys.customer", "max_running": 1},
    )
    assert r.status_code == 201, r.text


async def test_runs_a_schedule_starts_count_by_its_actions_concurrency_keys(server, owner):
    await _one_per_customer(owner)
    schedule = sid()
    action = start_action(
        uid("q"), concurrency_keys={"customer": "acme"}, priority={"priority_key": 1}
    )
    await create(owner, schedule, {"cron_expressions": ["0 0 1 1 *"]}, action=action)
    trigger = owner.ns(f"/schedules/{schedule}/trigger")

    first = await owner.client.post(trigger, json={"overlap": "ALLOW_ALL"})
    await advance(server, 1)
    second = await owner.client.post(trigger, json={"overlap": "ALLOW_ALL"})

    assert first.json()["outcome"] == second.json()["outcome"] == "started", second.text
    held = await owner.client.get(owner.ns(f"/workflows/{second.json()['workflow_id']}"))
    assert held.json()["waiting_on"]["message"] == (
        "The run waits for a concurrency slot: 1 of 1 running for customer=acme."
    )
    shown = (await describe(owner, schedule))["schedule"]["action"]["start_workflow"]
    assert shown["concurrency_keys"] == {"customer": "acme"}
    assert shown["priority"] == {"priority_key": 1}


async def test_a_bad_concurrency_keys_map_on_an_action_is_a_400_and_creates_nothing(owner):
    schedule = sid()
    made = await owner.client.post(
        owner.ns(f"/schedules/{schedule}"),
        json={
            "schedule": {
                "spec": {"cron_expressions": ["0 0 1 1 *"]},
                "action": start_action(concurrency_keys={"bad name": "x"}),
            }
        },
    )

    problem = assert_problem(made, 400, "invalid-argument")
    assert "concurrency_keys" in problem["detail"]
    gone = await owner.client.get(owner.ns(f"/schedules/{schedule}"))
    assert gone.status_code == 404
