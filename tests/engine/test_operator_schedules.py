# ruff: noqa: F811 - pytest fixtures imported from tests.schedules_helpers
"""A paused run counts as running for its schedule's overlap policy (Temporal's Workflow
Pause): a SKIP schedule starts nothing while its run is paused, and goes on once it closed."""

from __future__ import annotations

from tests.engine_helpers import uid
from tests.rawhttp import Raw
from tests.schedules_helpers import (
    advance,
    clock_server,  # noqa: F401 (fixture)
    create,
    describe,
    sched_tenant,  # noqa: F401 (fixture)
    scheduled_runs,
    sid,
    start_action,
)


async def test_a_paused_run_counts_as_running_for_the_overlap_policy(clock_server, sched_tenant):
    raw = Raw(sched_tenant, task_queue=uid("q"))
    schedule = sid()
    await create(
        sched_tenant,
        schedule,
        {"intervals": [{"every": 60}]},
        action=start_action(raw.q),
        policy={"overlap": "SKIP"},
    )
    await advance(clock_server, 60)
    [run] = await scheduled_runs(sched_tenant, schedule)
    paused = await sched_tenant.client.post(
        sched_tenant.ns(f"/workflows/{run['workflow_id']}/pause"), json={"reason": "look"}
    )
    assert paused.status_code == 200, paused.text

    await advance(clock_server, 60)
    await advance(clock_server, 60)

    assert [r["status"] for r in await scheduled_runs(sched_tenant, schedule)] == ["PAUSED"]
    assert (await describe(sched_tenant, schedule))["info"]["num_actions_skipped_overlap"] == 2
    terminated = await sched_tenant.client.post(
        sched_tenant.ns(f"/workflows/{run['workflow_id']}/terminate"), json={"reason": "done"}
    )
    assert terminated.status_code == 200, terminated.text
    await advance(clock_server, 60)
    assert [r["status"] for r in await scheduled_runs(sched_tenant, schedule)] == [
        "TERMINATED",
        "RUNNING",
    ]
