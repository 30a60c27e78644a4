# ruff: noqa: F811 - pytest fixtures imported from tests.schedules_helpers
"""Schedules fire at the times their spec names, under the injected clock: cron, intervals and
calendars, both daylight-saving changes, every overlap policy, backfill, pause, trigger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.engine_helpers import command, fail_workflow, uid
from tests.rawhttp import Raw, complete_workflow
from tests.schedules_helpers import (
    advance,
    advance_to,
    clock_server,  # noqa: F401 (fixture)
    create,
    describe,
    nominal_times,
    sched_tenant,  # noqa: F401 (fixture)
    scheduled_runs,
    sid,
    start_action,
    z,
)

BERLIN = "Europe/Berlin"


def last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1) if month < 12 else date(year, 12, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def next_dst_day(now: datetime, month: int) -> date:
    """The next last Sunday of `month` (when Europe/Berlin changes) at least two days ahead."""
    for year in (now.year, now.year + 1, now.year + 2):
        day = last_sunday(year, month)
        if datetime(day.year, day.month, day.day, tzinfo=UTC) > now + timedelta(days=2):
            return day
    raise AssertionError("unreachable")


def at(day: date, hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) + timedelta(days=days)


async def walk(server, until: datetime, step_hours: int = 6) -> None:  # type: ignore[no-untyped-def]
    """Move the clock to `until` a few hours at a time, firing as it goes."""
    while server.ctx.clock.now() < until:
        await advance_to(server, min(until, server.ctx.clock.now() + timedelta(hours=step_hours)))


async def test_a_daily_cron_in_berlin_skips_the_hour_that_does_not_exist(
    clock_server, sched_tenant
):
    day = next_dst_day(clock_server.ctx.clock.now(), 3)  # 02:00 CET becomes 03:00 CEST
    await advance_to(clock_server, at(day, 0, days=-2))
    schedule = sid()
    await create(
        sched_tenant,
        schedule,
        {"cron_expressions": ["30 2 * * *"], "time_zone_name": BERLIN},
        policy={"overlap": "ALLOW_ALL"},
    )

    await walk(clock_server, at(day, 3, days=2))

    assert await nominal_times(sched_tenant, schedule) == [
        z(at(day, 1, 30, days=-2)),  # 02:30 CET
        z(at(day, 1, 30, days=-1)),
        # no 02:30 on the day itself
        z(at(day, 0, 30, days=1)),  # 02:30 CEST
        z(at(day, 0, 30, days=2)),
    ]


async def test_a_daily_cron_in_berlin_fires_twice_in_the_repeated_hour(clock_server, sched_tenant):
    day = next_dst_day(clock_server.ctx.clock.now(), 10)  # 03:00 CEST becomes 02:00 CET
    await advance_to(clock_server, at(day, 0, days=-1))
    schedule = sid()
    await create(
        sched_tenant,
        schedule,
        {"cron_expressions": ["CRON_TZ=Europe/Berlin 30 2 * * *"]},
        policy={"overlap": "ALLOW_ALL"},
    )

    await walk(clock_server, at(day, 3, days=1), step_hours=1)

    assert await nominal_times(sched_tenant, schedule) == [
        z(at(day, 0, 30, days=-1)),  # 02:30 CEST
        z(at(day, 0, 30)),  # 02:30 CEST, the first time
        z(at(day, 1, 30)),  # 02:30 CET, the second time
        z(at(day, 1, 30, days=1)),
    ]
    described = await describe(sched_tenant, schedule)
    assert described["schedule"]["spec"]["time_zone_name"] == BERLIN


async def test_calendars_intervals_and_skips_fire_at_their_nominal_times(
    clock_server, sched_tenant
):
    now = clock_server.ctx.clock.now()
    monday = (now + timedelta(days=7 - now.weekday())).date()  # next Monday
    await advance_to(clock_server, at(monday, 0))
    schedule = sid()
    await create(
        sched_tenant,
        schedule,
        {
            # 09:15 and 13:15 on weekdays, from ranges as strings and as lists
            "calendars": [{"hour": "9-13/4", "minute": [{"start": 15}], "day_of_week": "mon-fri"}],
            # every 6 hours, 10 minutes past
            "intervals": [{"every": 6 * 3600, "offset": 600}],
            # but never at noon (12:10)
            "skip": [{"hour": "12", "minute": "*", "second": "*"}],
        },
        policy={"overlap": "ALLOW_ALL"},
    )

    await walk(clock_server, at(monday, 23, 59))

    assert await nominal_times(sched_tenant, schedule) == [
        z(at(monday, 0, 10)),
        z(at(monday, 6, 10)),
        z(at(monday, 9, 15)),
        z(at(monday, 13, 15)),
        z(at(monday, 18, 10)),
    ]
    runs = await scheduled_runs(sched_tenant, schedule)
    assert runs[0]["workflow_id"] == f"{schedule}-{z(at(monday, 0, 10))}"
    assert runs[0]["search_attributes"]["TemporalScheduledById"] == schedule


async def overlapping(server, tenant, policy: str, firings: int) -> tuple[str, Raw]:  # type: ignore[no-untyped-def]
    """A schedule every minute whose runs nobody completes, after `firings` minutes."""
    raw = Raw(tenant, task_queue=uid("q"))
    schedule = sid()
    await create(
        tenant,
        schedule,
        {"intervals": [{"every": 60}]},
        action=start_action(raw.q),
        policy={"overlap": policy},
    )
    for _ in range(firings):
        await advance(server, 60)
    return schedule, raw


async def statuses(tenant, schedule: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [run["status"] for run in await scheduled_runs(tenant, schedule)]


async def finish_oldest(server, raw: Raw) -> None:  # type: ignore[no-untyped-def]
    task = await raw.next_workflow_task()
    await raw.complete(task, complete_workflow())
    await server.app.state.engine.deadline_loop.fire_due_timers()


async def test_skip_starts_nothing_while_a_run_is_open(clock_server, sched_tenant):
    schedule, raw = await overlapping(clock_server, sched_tenant, "SKIP", 3)
    assert await statuses(sched_tenant, schedule) == ["RUNNING"]
    assert (await describe(sched_tenant, schedule))["info"]["num_actions_skipped_overlap"] == 2

    await finish_oldest(clock_server, raw)
    assert await statuses(sched_tenant, schedule) == ["COMPLETED"]
    await advance(clock_server, 60)
    assert await statuses(sched_tenant, schedule) == ["COMPLETED", "RUNNING"]


async def test_buffer_one_keeps_the_first_overlapping_time_for_later(clock_server, sched_tenant):
    schedule, raw = await overlapping(clock_server, sched_tenant, "BUFFER_ONE", 3)
    info = (await describe(sched_tenant, schedule))["info"]
    assert (info["buffer_size"], info["num_actions_skipped_overlap"]) == (1, 1)
    first, second = (await nominal_times(sched_tenant, schedule))[0], None

    await finish_oldest(clock_server, raw)

    times = await nominal_times(sched_tenant, schedule)
    assert times[0] == first and len(times) == 2
    second = datetime.fromisoformat(times[1])
    assert second - datetime.fromisoformat(first) == timedelta(minutes=1)
    assert await statuses(sched_tenant, schedule) == ["COMPLETED", "RUNNING"]


async def test_buffer_all_runs_every_overlapping_time_in_turn(clock_server, sched_tenant):
    schedule, raw = await overlapping(clock_server, sched_tenant, "BUFFER_ALL", 3)
    assert (await describe(sched_tenant, schedule))["info"]["buffer_size"] == 2

    await finish_oldest(clock_server, raw)
    await finish_oldest(clock_server, raw)

    assert await statuses(sched_tenant, schedule) == ["COMPLETED", "COMPLETED", "RUNNING"]
    times = [datetime.fromisoformat(t) for t in await nominal_times(sched_tenant, schedule)]
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [timedelta(minutes=1)] * 2


async def test_cancel_other_asks_the_running_one_to_cancel_and_starts_after_it(
    clock_server, sched_tenant
):
    schedule, raw = await overlapping(clock_server, sched_tenant, "CANCEL_OTHER", 2)
    assert await statuses(sched_tenant, schedule) == ["RUNNING"]
    task = await raw.next_workflow_task()
    events = [e["event_type"] for e in task["history"]["events"]]
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in events

    await raw.complete(task, command("CANCEL_WORKFLOW_EXECUTION"))
    await clock_server.app.state.engine.deadline_loop.fire_due_timers()

    assert await statuses(sched_tenant, schedule) == ["CANCELED", "RUNNING"]


async def test_terminate_other_terminates_the_running_one_and_starts_at_once(
    clock_server, sched_tenant
):
    schedule, _ = await overlapping(clock_server, sched_tenant, "TERMINATE_OTHER", 2)
    assert await statuses(sched_tenant, schedule) == ["TERMINATED", "RUNNING"]
    recent = (await describe(sched_tenant, schedule))["info"]["recent_actions"]
    assert [a["status"] for a in recent] == ["TERMINATED", "RUNNING"]


async def test_allow_all_starts_every_time(clock_server, sched_tenant):
    schedule, _ = await overlapping(clock_server, sched_tenant, "ALLOW_ALL", 3)
    assert await statuses(sched_tenant, schedule) == ["RUNNING"] * 3
    assert (await describe(sched_tenant, schedule))["info"]["running_actions"] == []


async def test_backfill_takes_past_times_in_a_range(clock_server, sched_tenant):
    schedule = sid()
    await create(sched_tenant, schedule, {"cron_expressions": ["0 * * * *"]})
    now = clock_server.ctx.clock.now().replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=5)

    r = await sched_tenant.client.post(
        sched_tenant.ns(f"/schedules/{schedule}/backfill"),
        json={
            "backfill": [
                {
                    "start_at": start.isoformat(),
                    "end_at": (start + timedelta(hours=2)).isoformat(),
                    "overlap": "ALLOW_ALL",
                }
            ]
        },
    )

    assert r.status_code == 200, r.text
    assert r.json()["started"] == 3
    assert await nominal_times(sched_tenant, schedule) == [
        z(start + timedelta(hours=h)) for h in range(3)
    ]
    recent = (await describe(sched_tenant, schedule))["info"]["recent_actions"]
    assert {a["origin"] for a in recent} == {"backfill"}


async def test_a_paused_schedule_takes_no_action_and_resumes_from_now(clock_server, sched_tenant):
    schedule = sid()
    await create(
        sched_tenant, schedule, {"intervals": [{"every": 60}]}, policy={"overlap": "ALLOW_ALL"}
    )
    r = await sched_tenant.client.post(
        sched_tenant.ns(f"/schedules/{schedule}/pause"), json={"note": "maintenance"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["schedule"]["state"] == {
        "note": "maintenance",
        "paused": True,
        "limited_actions": False,
        "remaining_actions": 0,
    }

    await advance(clock_server, 300)
    assert await nominal_times(sched_tenant, schedule) == []

    r = await sched_tenant.client.post(
        sched_tenant.ns(f"/schedules/{schedule}/unpause"), json={"note": "back"}
    )
    assert r.json()["schedule"]["state"]["paused"] is False
    await advance(clock_server, 60)
    assert len(await nominal_times(sched_tenant, schedule)) == 1  # the paused minutes are gone


async def test_trigger_starts_now_under_the_overlap_policy(clock_server, sched_tenant):
    schedule = sid()
    await create(sched_tenant, schedule, {"cron_expressions": ["0 0 1 1 *"]})
    trigger = sched_tenant.ns(f"/schedules/{schedule}/trigger")

    first = await sched_tenant.client.post(trigger, json={})
    await advance(clock_server, 1)
    skipped = await sched_tenant.client.post(trigger, json={})
    await advance(clock_server, 1)
    allowed = await sched_tenant.client.post(trigger, json={"overlap": "ALLOW_ALL"})

    assert first.json()["outcome"] == "started", first.text
    assert first.json()["workflow_id"].startswith(f"{schedule}-")
    assert skipped.json()["outcome"] == "skipped"
    assert allowed.json()["outcome"] == "started"
    info = (await describe(sched_tenant, schedule))["info"]
    assert info["num_actions"] == 2
    assert [a["origin"] for a in info["recent_actions"]] == ["trigger", "trigger"]


async def test_remaining_actions_run_out(clock_server, sched_tenant):
    schedule = sid()
    await create(
        sched_tenant,
        schedule,
        {"intervals": [{"every": 60}]},
        policy={"overlap": "ALLOW_ALL"},
        state={"limited_actions": True, "remaining_actions": 2},
    )
    for _ in range(4):
        await advance(clock_server, 60)
    described = await describe(sched_tenant, schedule)
    assert len(await nominal_times(sched_tenant, schedule)) == 2
    assert described["schedule"]["state"]["remaining_actions"] == 0
    assert described["info"]["next_action_times"] == []


async def test_pause_on_failure_pauses_with_the_failure_as_the_note(clock_server, sched_tenant):
    raw = Raw(sched_tenant, task_queue=uid("q"))
    schedule = sid()
    await create(
        sched_tenant,
        schedule,
        {"intervals": [{"every": 60}]},
        action=start_action(raw.q),
        policy={"pause_on_failure": True},
    )
    await advance(clock_server, 60)
    task = await raw.next_workflow_task()
    await raw.complete(task, fail_workflow("it broke"))
    await clock_server.app.state.engine.deadline_loop.fire_due_timers()

    state = (await describe(sched_tenant, schedule))["schedule"]["state"]
    assert state["paused"] is True
    assert state["note"] == f"paused due to workflow failure: {task['workflow_id']}: it broke"
    await advance(clock_server, 120)
    assert len(await nominal_times(sched_tenant, schedule)) == 1


async def test_a_schedule_starts_a_stored_definition(clock_server, sched_tenant):
    name = uid("def")
    r = await sched_tenant.client.put(
        sched_tenant.ns(f"/definitions/{name}"),
        json={"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": 1, "End": True}}},
    )
    assert r.status_code == 201, r.text
    schedule = sid()
    await create(
        sched_tenant,
        schedule,
        {"intervals": [{"every": 60}]},
        action={"start_workflow": {"definition": {"name": name}, "input": {"n": 1}}},
    )
    await advance(clock_server, 60)
    await clock_server.app.state.engine.deadline_loop.fire_due_timers()

    runs = await scheduled_runs(sched_tenant, schedule)
    assert [(r["workflow_type"], r["status"]) for r in runs] == [(name, "COMPLETED")]
    recent = (await describe(sched_tenant, schedule))["info"]["recent_actions"]
    assert recent[0]["status"] == "COMPLETED"


@pytest.mark.parametrize("times", [3])
async def test_firing_again_at_the_same_time_acts_once(clock_server, sched_tenant, times):
    schedule = sid()
    await create(
        sched_tenant, schedule, {"intervals": [{"every": 60}]}, policy={"overlap": "ALLOW_ALL"}
    )
    clock_server.ctx.clock.advance(timedelta(seconds=60))
    engine = clock_server.app.state.engine
    for _ in range(times):
        await engine.deadline_loop.fire_due_timers()
    assert len(await nominal_times(sched_tenant, schedule)) == 1
