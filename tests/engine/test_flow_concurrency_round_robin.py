"""GROUP_ROUND_ROBIN, the waiting strategy: when slots free up for several values of a limit's
key at once (the limit resumed, raised or deleted), the waiters go back in turns across the
values — the oldest of each value, then the next of each — not one value's whole backlog
first; and a long backlog of tasks that go to wait does not hold up a poll."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_helpers import uid
from tests.rawhttp import Raw, schedule_activity


@pytest.fixture
def raw(tenant) -> Raw:
    return Raw(tenant, task_queue=uid("q"))


async def _put_limit(tenant: Any, name: str, expect: int, **spec: Any) -> None:
    body = {"applies_to": "activities", "key": "concurrency_keys.customer"} | spec
    r = await tenant.client.put(tenant.ns(f"/concurrency-limits/{name}"), json=body)
    assert r.status_code == expect, r.text


async def _backlog_of_two_customers(raw: Raw) -> None:
    """acme's three activities are older than globex's two; all are held by a paused limit."""
    wid = uid()
    await raw.start(wid)
    task = await raw.next_workflow_task()
    await raw.complete(
        task,
        *(schedule_activity(f"acme-{n}", concurrency_keys={"customer": "acme"}) for n in (1, 2, 3)),
        *(
            schedule_activity(f"globex-{n}", concurrency_keys={"customer": "globex"})
            for n in (1, 2)
        ),
    )
    # Each poll takes a task and the paused limit holds it: the queue empties into waits.
    assert await raw.poll_activity_task(wait=0.3) is None


async def _dispatch_order(raw: Raw, count: int) -> list[str]:
    return [(await raw.next_activity_task())["activity_id"] for _ in range(count)]


async def test_resuming_a_limit_hands_slots_to_key_values_in_turn(raw, tenant):
    name = uid("lim")
    await _put_limit(tenant, name, 201, max_running=2, paused=True)
    await _backlog_of_two_customers(raw)

    await _put_limit(tenant, name, 200, max_running=2, paused=False)

    assert await _dispatch_order(raw, 4) == ["acme-1", "globex-1", "acme-2", "globex-2"]
    assert await raw.poll_activity_task(wait=0.3) is None  # acme-3: acme's 2 slots are taken


async def test_deleting_a_limit_lets_its_waiters_go_in_turns_across_values(raw, tenant):
    name = uid("lim")
    await _put_limit(tenant, name, 201, max_running=1, paused=True)
    await _backlog_of_two_customers(raw)

    assert (await tenant.client.delete(tenant.ns(f"/concurrency-limits/{name}"))).status_code == 204

    assert await _dispatch_order(raw, 5) == [
        "acme-1",
        "globex-1",
        "acme-2",
        "globex-2",
        "acme-3",
    ]


async def test_a_poll_gets_past_a_long_backlog_of_tasks_that_go_to_wait_for_slots(raw, tenant):
    # Each claim looks at a bounded number of tasks; a backlog of held tasks longer than that
    # must not leave the poll idle until the queue's fallback look while a free task waits.
    await _put_limit(tenant, uid("lim"), 201, max_running=1, key="activity_type")
    held_type = uid("Held")
    wid = uid()
    await raw.start(wid)
    task = await raw.next_workflow_task()
    await raw.complete(
        task,
        *(schedule_activity(f"held-{n}", held_type) for n in range(60)),
        schedule_activity("free", uid("Free")),
    )

    first = await raw.poll_activity_task(wait=0.5)
    second = await raw.poll_activity_task(wait=0.5)

    assert first is not None and first["activity_id"] == "held-0"
    assert second is not None and second["activity_id"] == "free"
