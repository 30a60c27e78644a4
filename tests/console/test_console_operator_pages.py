"""Console pages of issue 24 over plain HTTP: the definition graph draws Parallel branches and
Map processors and labels Choice and Catch edges; the compact history groups events and hides
the interpreter's internal ids; operator actions refuse a reader and bad input."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import httpx

from tests.conftest import Tenant, keyed_client
from tests.console.test_console_sessions import sign_in_form
from tests.definitions_helpers import run_definition, store, task
from tests.engine_helpers import raw_on_fresh_queue, uid
from tests.rawhttp import schedule_activity, start_timer


@contextlib.asynccontextmanager
async def signed_in(server, key: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A cookie-keeping client signed in to the console with `key`, and its CSRF token."""
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        token = await sign_in_form(browser)
        await browser.post("/console/sign-in", data={"api_key": key, "csrf_token": token})
        page = (await browser.get("/console/namespaces")).text
        yield browser, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


async def test_the_graph_draws_branches_and_item_processors_and_labels_choices(server, tenant):
    q = uid("q")
    name = await store(
        tenant,
        {
            "StartAt": "Route",
            "States": {
                "Route": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.total", "NumericGreaterThan": 100, "Next": "Both"}],
                    "Default": "Each",
                },
                "Both": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "Left", "States": {"Left": {**task(q), "End": True}}},
                        {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": True}}},
                    ],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}],
                    "End": True,
                },
                "Each": {
                    "Type": "Map",
                    "ItemProcessor": {
                        "StartAt": "One",
                        "States": {"One": {"Type": "Pass", "End": True}},
                    },
                    "End": True,
                },
                "Oops": {"Type": "Fail", "Error": "Broken"},
            },
        },
    )
    async with signed_in(server, tenant.admin_key) as (browser, _):
        page = (await browser.get(f"/console/n/{tenant.namespace}/definitions/{name}")).text

    assert "$.total NumericGreaterThan" not in page  # read as an operator, not a key
    assert "$.total &gt; 100" in page
    assert ">default<" in page and "catch States.ALL" in page
    assert "Both: branch 1" in page and "Both: branch 2" in page and "Each: each item" in page
    assert 'data-state="Left"' in page and 'data-state="One"' in page


async def test_the_compact_history_groups_by_family_and_hides_internal_ids(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid("compact")
    started = await raw.start(wid)
    await raw.complete(
        await raw.next_workflow_task(),
        schedule_activity("asl:[[], 1, 1]", "Charge"),
        start_timer("nap", 60),
    )
    act = await raw.next_activity_task()
    await raw.activity("complete", act, result={"charged": True})
    base = f"/console/n/{tenant.namespace}/workflows/{wid}/runs/{started['run_id']}"
    async with signed_in(server, tenant.admin_key) as (browser, _):
        everything = (await browser.get(f"{base}/events-compact")).text
        activities = (await browser.get(f"{base}/events-compact?family=activity")).text
        bad = await browser.get(f"{base}/events-compact?family=nonsense")

    assert everything.count('class="group"') == 5  # started, two tasks, activity, timer
    assert "Activity Charge: <strong>COMPLETED</strong>" in everything
    assert "Timer nap: <strong>STARTED</strong>" in everything
    assert "asl:[" not in activities and activities.count('class="group"') == 1
    assert "Events 5, 7, 8" in activities  # scheduled, started, completed in one row
    assert bad.status_code == 400


async def test_operator_actions_need_operate_and_a_valid_form(server, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    wid = uid("guard")
    started = await raw.start(wid)
    made = await tenant.client.post("/api/v1/api-keys", json={"name": uid("r"), "role": "reader"})
    base = f"/console/n/{tenant.namespace}/workflows/{wid}/runs/{started['run_id']}"
    async with signed_in(server, made.json()["key"]) as (reader, csrf):
        for action in ("pause", "unpause", "reset", "activities/pause"):
            refused = await reader.post(f"{base}/{action}", data={"csrf_token": csrf})
            assert refused.status_code == 403, (action, refused.status_code)
        run_page = (await reader.get(base)).text
        assert "Pause</button>" not in run_page and "Ask</button>" in run_page
    async with signed_in(server, tenant.admin_key) as (operator, csrf):
        no_reason = await operator.post(
            f"{base}/reset", data={"csrf_token": csrf, "point": "LastWorkflowTask"}
        )
        assert no_reason.status_code == 400
        forged = await operator.post(f"{base}/pause", data={"csrf_token": "wrong"})
        assert forged.status_code == 403
    assert (await raw.describe(wid))["status"] == "RUNNING"
    async with keyed_client(tenant.client, tenant.admin_key) as client:
        history = await client.get(tenant.ns(f"/workflows/{wid}/history"))
    assert len(history.json()["events"]) == 2


async def test_a_definition_run_compact_history_shows_states_not_interpreter_internals(
    server, tenant
):
    raw = raw_on_fresh_queue(tenant)
    wid = await run_definition(
        tenant,
        {
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Result": {"ready": True}, "Next": "Charge"},
                "Charge": {**task(raw.q, "charge"), "End": True},
            },
        },
        {"order": 3},
    )
    await raw.next_activity_task()
    run_id = (await raw.describe(wid))["run_id"]
    async with signed_in(server, tenant.admin_key) as (browser, _):
        page = (
            await browser.get(
                f"/console/n/{tenant.namespace}/workflows/{wid}/runs/{run_id}/events-compact"
            )
        ).text

    assert "State Prepare entered" in page and "State Prepare exited" in page
    assert "Activity charge: <strong>SCHEDULED</strong>" in page
    for internal in ("asl:[", "99999999", "&#34;frame&#34;", '"frame"', "entry"):
        assert internal not in page, internal
