"""Values beyond their range are 400s before any work; nothing computed past them is a 500
(issue 28, kind 3). Times lie in 0001-9999 UTC, durations are at most ten years, event ids,
attempts and counters fit in 32 bits (app/engine/bounds.py), on every route that takes one.
A valid input whose consequence lies past year 9999 is accepted and simply has no such time."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import Tenant
from tests.engine_helpers import register_search_attributes, uid
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem

ACTION = {"start_workflow": {"workflow_type": "Flow", "task_queue": "ranges"}}


def refused(response: httpx.Response, field: str) -> None:
    """A 400 problem whose `field` (or, for the list filter, its detail) names `field`."""
    body = assert_problem(response, 400)
    named = f"{body.get('field', '')} {body['detail']} {json.dumps(body.get('errors', []))}"
    assert field in named, body


def schedule(**spec: Any) -> dict[str, Any]:
    return {"schedule": {"spec": spec, "action": ACTION}}


def token(items: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(items).encode()).decode().rstrip("=")


async def listed(tenant: Tenant, query: str, route: str = "/workflows") -> httpx.Response:
    return await tenant.client.get(tenant.ns(f"{route}?query={quote(query)}"))


async def test_times_outside_0001_to_9999_utc_are_refused_naming_the_field(tenant):
    await register_search_attributes(tenant, When="Datetime")
    c = tenant.client
    sid = uid("s")
    cases = [
        (
            await c.post(
                tenant.ns(f"/schedules/{sid}"),
                json=schedule(intervals=[{"every": 60}], start_at="0001-01-01T00:00:00+05:00"),
            ),
            "schedule.spec.start_at",
        ),
        (
            await c.post(
                tenant.ns(f"/schedules/{sid}"),
                json=schedule(intervals=[{"every": 60}], end_at="9999-12-31T23:59:59-00:01"),
            ),
            "schedule.spec.end_at",
        ),
        (
            await c.post(
                tenant.ns(f"/schedules/{sid}"),
                json={
                    **schedule(intervals=[{"every": 60}]),
                    "backfill": [
                        {"start_at": "0001-01-01T00:30:00+01:00", "end_at": "2020-01-01T00:00:00Z"}
                    ],
                },
            ),
            "backfill.0.start_at",
        ),
        (
            await c.post(
                "/api/v1/api-keys",
                json={"name": "k", "role": "reader", "expires_at": "9999-12-31T23:00:00-02:00"},
            ),
            "expires_at",
        ),
        (await listed(tenant, "StartTime > '0001-01-01T00:00:00+01:00'"), "StartTime"),
        (await listed(tenant, "CloseTime < '9999-12-31T23:59:59-00:30'"), "CloseTime"),
        (
            await listed(tenant, "StartTime > '0001-01-01T00:00:00+01:00'", "/workflow-count"),
            "StartTime",
        ),
    ]
    for offset in ("+99:99", "+24:00", "-00:60"):
        started = await c.post(
            tenant.ns(f"/workflows/{uid()}"),
            json={
                "workflow_type": "Flow",
                "task_queue": "ranges",
                "search_attributes": {"When": f"2020-01-01T00:00:00{offset}"},
            },
        )
        cases.append((started, "When"))
    for response, field in cases:
        refused(response, field)
    # Nothing was made by the refused requests.
    assert (await c.get(tenant.ns(f"/schedules/{sid}"))).status_code == 404


async def test_durations_longer_than_ten_years_are_refused_naming_the_field(tenant):
    c = tenant.client
    ten_years = 10 * 365 * 86400
    cases = [
        (
            await c.post(
                tenant.ns(f"/schedules/{uid('s')}"), json=schedule(intervals=[{"every": 1e12}])
            ),
            "schedule.spec.intervals.0.every",
        ),
        (
            await c.post(
                tenant.ns(f"/schedules/{uid('s')}"),
                json=schedule(cron_expressions=["@every 100000000h"]),
            ),
            "schedule.spec.cron_expressions.0",
        ),
        (
            await c.post(
                tenant.ns(f"/schedules/{uid('s')}"),
                json=schedule(intervals=[{"every": ten_years + 1}]),
            ),
            "every",
        ),
        (await listed(tenant, "StartTime > NOW() - 99999999999d"), "StartTime"),
        (await listed(tenant, "StartTime < NOW() + 5000w", "/workflow-count"), "StartTime"),
        (await listed(tenant, "ExecutionDuration > '99999999:00:00'"), "ExecutionDuration"),
        (await listed(tenant, "ExecutionDuration > 9223372036854775807"), "ExecutionDuration"),
        (
            await c.post(
                tenant.ns(f"/workflows/{uid()}"),
                json={"workflow_type": "Flow", "task_queue": "ranges", "start_delay": 1e12},
            ),
            "start_delay",
        ),
        (
            await c.put(
                tenant.ns("/definitions/waits-too-long"),
                json={
                    "StartAt": "W",
                    "States": {"W": {"Type": "Wait", "Seconds": 10**12, "End": True}},
                },
            ),
            "Seconds",
        ),
    ]
    for response, field in cases:
        refused(response, field)
    # Ten years exactly is a valid duration.
    ok = await c.post(
        tenant.ns(f"/schedules/{uid('s')}"), json=schedule(intervals=[{"every": ten_years}])
    )
    assert ok.status_code == 201, ok.text


async def test_event_ids_and_counters_beyond_32_bits_are_refused_naming_the_field(tenant):
    raw = Raw(tenant, "ranges")
    workflow_id = uid()
    await raw.start(workflow_id)
    c = tenant.client
    stream = tenant.ns(f"/workflows/{workflow_id}/events/stream")
    cases = [
        (await c.get(stream, params={"after_event_id": 2**31}), "after_event_id"),
        (await c.get(stream, params={"after_event_id": 2**63}), "after_event_id"),
        (await c.get(stream, headers={"Last-Event-ID": str(2**31)}), "Last-Event-ID"),
        (await c.get(stream, headers={"Last-Event-ID": str(2**63)}), "Last-Event-ID"),
        (
            await c.get(
                tenant.ns(f"/workflows/{workflow_id}/history"),
                params={"next_page_token": token([2**40])},
            ),
            "next_page_token",
        ),
        (
            await c.post(
                tenant.ns(f"/schedules/{uid('s')}"),
                json={
                    "schedule": {
                        "spec": {"intervals": [{"every": 60}]},
                        "action": ACTION,
                        "state": {"limited_actions": True, "remaining_actions": 2**40},
                    }
                },
            ),
            "remaining_actions",
        ),
        (
            await c.put(
                tenant.ns("/definitions/retries-too-many"),
                json={
                    "StartAt": "T",
                    "States": {
                        "T": {
                            "Type": "Task",
                            "Resource": "activity:act",
                            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2**40}],
                            "End": True,
                        }
                    },
                },
            ),
            "MaxAttempts",
        ),
    ]
    for response, field in cases:
        refused(response, field)
    # The stream still works from a valid point.
    async with c.stream("GET", stream, params={"after_event_id": 2**31 - 1}) as ok:
        assert ok.status_code == 200


async def test_a_schedule_whose_next_time_lies_past_9999_has_no_next_time(tenant):
    c = tenant.client
    specs = [
        {"intervals": [{"every": 10 * 365 * 86400}], "start_at": "9995-06-01T00:00:00Z"},
        {"intervals": [{"every": 60}], "start_at": "9999-12-31T23:59:30Z"},
        {
            "cron_expressions": ["CRON_TZ=Pacific/Kiritimati 0 12 * * *"],
            "start_at": "9999-12-31T00:00:00Z",
        },
        {"intervals": [{"every": 3600}], "start_at": "9999-12-31T23:00:00Z", "jitter": 86400},
    ]
    for spec in specs:
        sid = uid("s")
        made = await c.post(tenant.ns(f"/schedules/{sid}"), json=schedule(**spec))
        assert made.status_code == 201, made.text
        described = await c.get(tenant.ns(f"/schedules/{sid}"))
        assert described.status_code == 200, described.text
        assert described.json()["info"]["next_action_times"] == []
        preview = await c.get(
            tenant.ns(f"/schedules/{sid}/matching-times"),
            params={"start_time": "9999-12-31T23:59:59Z"},
        )
        assert preview.status_code == 200, preview.text
        assert preview.json()["start_times"] == []
        listed_ok = await c.get(tenant.ns("/schedules"))
        assert listed_ok.status_code == 200, listed_ok.text
        await c.delete(tenant.ns(f"/schedules/{sid}"))

    # A backfill from the first second of year 1 is a valid range: its times are taken.
    sid = uid("s")
    made = await c.post(
        tenant.ns(f"/schedules/{sid}"),
        json=schedule(intervals=[{"every": 60}], start_at="2100-01-01T00:00:00Z"),
    )
    assert made.status_code == 201, made.text
    preview = await c.get(
        tenant.ns(f"/schedules/{sid}/matching-times"),
        params={"start_time": "0001-01-01T00:00:00Z", "count": 3},
    )
    assert preview.status_code == 200, preview.text
    await c.delete(tenant.ns(f"/schedules/{sid}"))
