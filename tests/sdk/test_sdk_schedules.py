# ruff: noqa: F811 - pytest fixtures imported from tests.schedules_helpers
"""The SDK's schedule API end to end, in Temporal's shapes, with a worker running the runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from perdure import workflow
from perdure.client import Client
from perdure.schedules import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)
from perdure.worker import Worker

from tests.engine_helpers import uid
from tests.schedules_helpers import advance, clock_server, sched_tenant  # noqa: F401


@workflow.defn
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}"


async def test_the_sdk_creates_describes_updates_and_deletes_a_schedule(clock_server, sched_tenant):
    client = await Client.connect(
        clock_server.base_url, api_key=sched_tenant.admin_key, namespace=sched_tenant.namespace
    )
    queue = uid("sdk")
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(Greet.run, "Ada", id="greet", task_queue=queue),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))],
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(9)], comment="nine")],
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
    )
    handle = await client.create_schedule("greeter", schedule)
    with pytest.raises(ScheduleAlreadyRunningError):
        await client.create_schedule("greeter", schedule)

    async with Worker(client, task_queue=queue, workflows=[Greet]):
        await advance(clock_server, 60)
        described = await handle.describe()
        started = described.info.recent_actions[0].action.workflow_id
        assert started.startswith("greet-")
        assert await client.get_workflow_handle(started).result() == "Hello, Ada"

    described = await handle.describe()
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ONE
    assert described.schedule.spec.calendars[0].hour == (ScheduleRange(9, 9, 1),)
    assert described.info.num_actions == 1
    assert described.info.recent_actions[0].status == "COMPLETED"
    assert len(described.info.next_action_times) == 10

    def to_allow_all(update):  # type: ignore[no-untyped-def]
        update.description.schedule.policy.overlap = ScheduleOverlapPolicy.ALLOW_ALL
        return ScheduleUpdate(update.description.schedule)

    await handle.update(to_allow_all)
    await handle.pause(note="quiet")
    described = await handle.describe()
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.ALLOW_ALL
    assert (described.schedule.state.paused, described.schedule.state.note) == (True, "quiet")

    await handle.trigger()
    now = clock_server.ctx.clock.now().replace(second=0, microsecond=0)
    await handle.backfill(
        ScheduleBackfill(now - timedelta(minutes=30), now - timedelta(minutes=28))
    )
    # Counted while still paused: once unpaused, the every-minute spec may fire again (the
    # clock also moves with real time).
    described = await handle.describe()
    assert described.info.num_actions == 1 + 1 + 3  # the spec's, the trigger's, the backfill's
    await handle.unpause()
    described = await handle.describe()
    assert described.schedule.state.paused is False

    assert [s.id async for s in client.list_schedules()] == ["greeter"]
    await handle.delete()
    assert [s.id async for s in client.list_schedules()] == []
    await client.close()
