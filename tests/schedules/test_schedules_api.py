# ruff: noqa: F811 - pytest fixtures imported from tests.schedules_helpers
"""The schedule routes: validation problems that point at the field, permissions, the namespace
cap, listing and previews, deletion that leaves workflows running."""

from __future__ import annotations

import pytest

from tests.conftest import keyed_client
from tests.schedules_helpers import create, delete_all_schedules, describe, sid, start_action
from tests.tenancy_helpers import assert_problem, create_key

YEARLY = {"cron_expressions": ["0 0 1 1 *"]}


@pytest.fixture
async def owner(tenant):  # type: ignore[no-untyped-def]
    yield tenant
    await delete_all_schedules(tenant)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"cron_expressions": ["61 * * * *"]}, "schedule.spec.cron_expressions.0.minute"),
        ({"cron_expressions": ["0 0 * * 1#2"]}, "schedule.spec.cron_expressions.0.day_of_week"),
        ({"cron_expressions": ["0 0 * *"]}, "schedule.spec.cron_expressions.0"),
        ({**YEARLY, "time_zone_name": "Mars/Olympus"}, "schedule.spec.time_zone_name"),
        ({"calendars": [{"hour": "25"}]}, "schedule.spec.calendars.0.hour"),
        ({"calendars": [{"hour": [{"start": 3}], "month": []}]}, "schedule.spec.calendars.0.month"),
        ({"intervals": [{"every": 60, "offset": 60}]}, "schedule.spec.intervals.0.offset"),
        ({}, "schedule.spec"),
    ],
)
async def test_a_bad_spec_is_a_400_problem_naming_the_field(owner, spec, field):
    r = await owner.client.post(
        owner.ns(f"/schedules/{sid()}"), json={"schedule": {"spec": spec, "action": start_action()}}
    )
    assert assert_problem(r, 400, "invalid-argument")["field"] == field
    listed = await owner.client.get(owner.ns("/schedules"))
    assert listed.json()["schedules"] == []


async def test_a_bad_action_is_refused(owner):
    body = {"schedule": {"spec": YEARLY, "action": {"start_workflow": {"workflow_type": "X"}}}}
    r = await owner.client.post(owner.ns(f"/schedules/{sid()}"), json=body)
    assert assert_problem(r, 400)["field"] == "schedule.action.start_workflow.task_queue"
    action = start_action(search_attributes={"TemporalScheduledById": "me"})
    r = await owner.client.post(
        owner.ns(f"/schedules/{sid()}"), json={"schedule": {"spec": YEARLY, "action": action}}
    )
    assert assert_problem(r, 400)["field"].endswith("search_attributes.TemporalScheduledById")


async def test_describe_shows_cron_compiled_into_calendars_and_the_next_times(owner):
    schedule = sid()
    created = await create(
        owner, schedule, {"cron_expressions": ["CRON_TZ=Europe/Berlin 15 9 * * mon-fri # work"]}
    )
    spec = created["schedule"]["spec"]
    assert spec["cron_expressions"] == []
    assert spec["time_zone_name"] == "Europe/Berlin"
    calendar = spec["calendars"][0]
    assert calendar["hour"] == [{"start": 9, "end": 9, "step": 1}]
    assert calendar["day_of_week"] == [{"start": 1, "end": 5, "step": 1}]
    assert calendar["comment"] == "work"
    assert len(created["info"]["next_action_times"]) == 10
    preview = await owner.client.get(
        owner.ns(f"/schedules/{schedule}/matching-times"),
        params={"start_time": "2027-01-01T00:00:00Z", "count": 3},
    )
    assert preview.json()["start_times"] == [
        "2027-01-01T08:15:00Z",  # a Friday, CET
        "2027-01-04T08:15:00Z",
        "2027-01-05T08:15:00Z",
    ]


async def test_a_taken_id_is_a_409_and_a_missing_one_a_404(owner):
    schedule = sid()
    await create(owner, schedule, YEARLY)
    again = await owner.client.post(
        owner.ns(f"/schedules/{schedule}"),
        json={"schedule": {"spec": YEARLY, "action": start_action()}},
    )
    assert_problem(again, 409, "already-exists")
    assert_problem(await owner.client.get(owner.ns("/schedules/nope")), 404, "not-found")


async def test_update_replaces_the_schedule_and_refuses_a_stale_token(owner):
    schedule = sid()
    created = await create(owner, schedule, YEARLY)
    token = created["conflict_token"]
    new = {"spec": {"intervals": [{"every": 3600}]}, "action": start_action("other")}
    r = await owner.client.post(
        owner.ns(f"/schedules/{schedule}/update"), json={"schedule": new, "conflict_token": token}
    )
    assert r.status_code == 200, r.text
    assert r.json()["schedule"]["spec"]["intervals"] == [{"every": 3600.0, "offset": 0.0}]
    assert r.json()["info"]["last_updated_at"] is not None
    stale = await owner.client.post(
        owner.ns(f"/schedules/{schedule}/update"), json={"schedule": new, "conflict_token": token}
    )
    assert_problem(stale, 409, "conflict")


async def test_the_namespace_setting_caps_the_number_of_schedules(owner):
    r = await owner.client.patch(owner.ns(), json={"settings": {"max_schedules": 1}})
    assert r.status_code == 200, r.text
    await create(owner, sid(), YEARLY)
    r = await owner.client.post(
        owner.ns(f"/schedules/{sid()}"),
        json={"schedule": {"spec": YEARLY, "action": start_action()}},
    )
    assert assert_problem(r, 422, "limit-exceeded")["limit"] == 1


async def test_list_pages_through_schedules_by_id(owner):
    ids = sorted(sid() for _ in range(3))
    for schedule in ids:
        await create(owner, schedule, YEARLY)
    first = (await owner.client.get(owner.ns("/schedules"), params={"page_size": 2})).json()
    rest = (
        await owner.client.get(
            owner.ns("/schedules"), params={"next_page_token": first["next_page_token"]}
        )
    ).json()
    assert [s["schedule_id"] for s in first["schedules"] + rest["schedules"]] == ids
    assert first["schedules"][0]["workflow_type"] == "Nightly"
    assert len(first["schedules"][0]["next_action_times"]) == 5


async def test_deleting_a_schedule_leaves_its_workflows_running(owner):
    schedule = sid()
    created = await owner.client.post(
        owner.ns(f"/schedules/{schedule}"),
        json={"schedule": {"spec": YEARLY, "action": start_action()}, "trigger_immediately": True},
    )
    assert created.status_code == 201, created.text
    workflow_id = created.json()["info"]["recent_actions"][0]["workflow_id"]

    assert (await owner.client.delete(owner.ns(f"/schedules/{schedule}"))).status_code == 204

    assert_problem(await owner.client.get(owner.ns(f"/schedules/{schedule}")), 404)
    run = await owner.client.get(owner.ns(f"/workflows/{workflow_id}"))
    assert run.json()["status"] == "RUNNING"


@pytest.mark.parametrize("role", ["operator", "reader", "worker"])
async def test_operate_changes_schedules_and_read_sees_them(owner, role):
    schedule = sid()
    await create(owner, schedule, YEARLY)
    key = await create_key(owner.client, role)
    async with keyed_client(owner.client, key["key"]) as client:
        seen = await client.get(owner.ns(f"/schedules/{schedule}"))
        paused = await client.post(owner.ns(f"/schedules/{schedule}/pause"), json={})
    if role == "worker":
        assert_problem(seen, 403, "permission-denied")
    else:
        assert seen.status_code == 200
    if role == "operator":
        assert paused.status_code == 200
    else:
        assert assert_problem(paused, 403)["required_permission"] == "operate"
        assert (await describe(owner, schedule))["schedule"]["state"]["paused"] is False


async def test_another_tenant_sees_404(owner, other_tenant):
    schedule = sid()
    await create(owner, schedule, YEARLY)
    r = await other_tenant.client.get(f"/api/v1/namespaces/{owner.namespace}/schedules/{schedule}")
    assert_problem(r, 404)
