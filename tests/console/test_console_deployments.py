"""The console's worker deployments (issue 21) over plain HTTP: the list and a deployment's
versions (status, pollers, open runs, drainage) as versioned polls made them; set current and
ramp behind a confirmation page, refused with the API's problem and changing nothing; an
operator sees no routing controls and its forged posts are refused; the run page shows the run's
versioning info."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from tests.cli.test_cli_versioning import routing, versioned_poll
from tests.conftest import Tenant
from tests.console.test_console_operator_pages import signed_in
from tests.console.test_console_sessions import sign_in_form
from tests.engine_helpers import raw_on_fresh_queue, uid
from tests.rawhttp import schedule_activity
from tests.replay_helpers import answer, replay_poll
from tests.versioning_helpers import age_version_polls


def deployment_page(tenant: Tenant, name: str) -> str:
    return f"/console/n/{tenant.namespace}/deployments/{name}"


def token_of(page: str) -> str:
    return re.search(r'name="conflict_token" value="([^"]*)"', page).group(1)


async def test_the_list_and_a_deployment_show_versions_pollers_and_open_runs(server, tenant):
    name, queue = uid("orders"), uid("q")
    await versioned_poll(tenant, queue, name, "b1", identity="worker-b1")
    await versioned_poll(tenant, queue, name, "b2", identity="worker-b2")

    async with signed_in(server, tenant.admin_key) as (browser, _):
        listed = await browser.get(f"/console/n/{tenant.namespace}/deployments")
        detail = await browser.get(deployment_page(tenant, name))

    assert listed.status_code == 200 and name in listed.text
    assert "unversioned workers" in listed.text  # nothing is current yet
    assert detail.status_code == 200
    versions = detail.text.split('id="versions"')[1]
    assert "<code>b1</code>" in versions and "<code>b2</code>" in versions
    assert versions.count(f"{queue} (workflow, ") == 2  # each version's poller, just now
    assert "version-inactive" in versions
    assert f"/console/n/{tenant.namespace}/task-queues/{queue}" in versions
    assert "Set current…" in versions and "Ramp…" in versions  # an admin may route
    assert "Make the unversioned workers current" not in detail.text  # they are already


async def test_set_current_asks_first_then_routes_and_records_who(server, tenant):
    name, queue = uid("billing"), uid("q")
    await versioned_poll(tenant, queue, name, "b1")
    page = deployment_page(tenant, name)

    async with signed_in(server, tenant.admin_key) as (browser, csrf):
        asked = await browser.get(f"{page}/set-current", params={"build_id": "b1"})
        unchanged = await routing(tenant, name)
        done = await browser.post(
            f"{page}/set-current",
            data={
                "csrf_token": csrf,
                "build_id": "b1",
                "conflict_token": token_of(asked.text),
                "ignore_replay_check": "1",
            },
        )
        after = await browser.get(page)

    assert asked.status_code == 200
    assert f"make {name}.b1 the current version of {name}" in asked.text
    assert unchanged["current_version"]["build_id"] == ""  # asking changed nothing
    assert done.status_code == 303 and done.headers["location"].endswith(f"/deployments/{name}")
    assert (await routing(tenant, name))["current_version"]["build_id"] == "b1"
    assert "version-current" in after.text
    assert "Make the unversioned workers current…" in after.text  # the way back


async def test_a_refused_change_shows_the_problem_and_changes_nothing(server, tenant):
    name, queue = uid("refused"), uid("q")
    await versioned_poll(tenant, queue, name, "b0")
    await age_version_polls(server, tenant, name, "b0", by=timedelta(minutes=6))
    await versioned_poll(tenant, queue, name, "b1")
    page = deployment_page(tenant, name)

    async with signed_in(server, tenant.admin_key) as (browser, csrf):
        no_pollers = await browser.post(
            f"{page}/set-current",
            data={"csrf_token": csrf, "build_id": "b0", "ignore_replay_check": "1"},
        )
        stale = await browser.post(
            f"{page}/set-ramping",
            data={
                "csrf_token": csrf,
                "build_id": "b1",
                "percentage": "20",
                "conflict_token": "00000000-0000-0000-0000-000000000000",
                "ignore_replay_check": "1",
            },
        )

    assert no_pollers.status_code == 409 and 'role="alert"' in no_pollers.text
    assert "no-pollers" in no_pollers.text
    # The overrides chosen are kept, so that trying again is one click.
    assert re.search(r'name="ignore_replay_check" value="1" checked', no_pollers.text)
    assert stale.status_code == 409 and "conflict-token-mismatch" in stale.text
    after = await routing(tenant, name)
    assert after["current_version"]["build_id"] == "" and after["ramping_version"] is None


async def test_ramping_then_stopping_through_the_confirmation(server, tenant):
    name, queue = uid("ramp"), uid("q")
    await versioned_poll(tenant, queue, name, "b1")
    page = deployment_page(tenant, name)

    async with signed_in(server, tenant.admin_key) as (browser, csrf):
        asked = await browser.get(
            f"{page}/set-ramping", params={"build_id": "b1", "percentage": 25}
        )
        ramped = await browser.post(
            f"{page}/set-ramping",
            data={
                "csrf_token": csrf,
                "build_id": "b1",
                "percentage": "25",
                "ignore_replay_check": "1",
            },  # fmt: skip
        )
        ramping = await routing(tenant, name)
        detail = await browser.get(page)
        stop = await browser.post(
            f"{page}/set-ramping", data={"csrf_token": csrf, "build_id": "", "percentage": "0"}
        )
        bad = await browser.get(f"{page}/set-ramping", params={"build_id": "b1", "percentage": 101})

    assert f"ramp 25 % of new runs of {name} to {name}.b1" in asked.text
    assert ramped.status_code == 303
    assert ramping["ramping_version"]["build_id"] == "b1"
    assert ramping["ramping_version_percentage"] == 25
    assert "at 25 %" in detail.text and "Stop ramping…" in detail.text
    assert stop.status_code == 303
    assert (await routing(tenant, name))["ramping_version"] is None
    assert bad.status_code == 400


async def test_an_operator_sees_no_routing_controls_and_its_posts_are_refused(server, tenant):
    name, queue = uid("guarded"), uid("q")
    await versioned_poll(tenant, queue, name, "b1")
    made = await tenant.client.post(
        "/api/v1/api-keys", json={"name": uid("operator"), "role": "operator"}
    )
    page = deployment_page(tenant, name)

    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        form_token = await sign_in_form(browser)
        await browser.post(
            "/console/sign-in", data={"api_key": made.json()["key"], "csrf_token": form_token}
        )
        detail = await browser.get(page)
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', detail.text).group(1)
        asked = await browser.get(f"{page}/set-current", params={"build_id": "b1"})
        forged = await browser.post(
            f"{page}/set-current",
            data={"csrf_token": csrf, "build_id": "b1", "ignore_replay_check": "1"},
        )

    assert detail.status_code == 200 and "<code>b1</code>" in detail.text
    assert "Set current…" not in detail.text and "Ramp…" not in detail.text
    assert asked.status_code == 403 and forged.status_code == 403
    assert (await routing(tenant, name))["current_version"]["build_id"] == ""


async def test_another_tenants_deployment_is_not_found(server, tenant, other_tenant):
    name = uid("private")
    await versioned_poll(tenant, uid("q"), name, "b1")

    async with signed_in(server, other_tenant.admin_key) as (browser, _):
        theirs = await browser.get(f"/console/n/{tenant.namespace}/deployments/{name}")
        own_list = await browser.get(f"/console/n/{other_tenant.namespace}/deployments")

    assert theirs.status_code == 404 and "b1" not in theirs.text
    assert name not in own_list.text


async def test_the_run_page_shows_the_runs_versioning_override(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid("pinned")
    version = {"deployment_name": "orders", "build_id": "b7"}
    started = await raw.start(
        workflow_id, versioning_override={"pinned": {"behavior": "PINNED", "version": version}}
    )
    plain_id = uid("plain")
    plain = await raw.start(plain_id)

    async with signed_in(server, tenant.admin_key) as (browser, _):
        run_page = await browser.get(
            f"/console/n/{tenant.namespace}/workflows/{workflow_id}/runs/{started['run_id']}"
        )
        plain_page = await browser.get(
            f"/console/n/{tenant.namespace}/workflows/{plain_id}/runs/{plain['run_id']}"
        )

    versioning = run_page.text.split('id="versioning"')[1].split("</dd>")[0]
    assert "PINNED" in versioning and "pinned to orders.b7" in versioning
    assert f'/console/n/{tenant.namespace}/deployments/orders"' in versioning
    assert 'id="versioning"' not in plain_page.text  # an unversioned run shows nothing


async def test_a_replay_check_from_the_page_its_progress_and_the_gate_it_closes(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    run = await raw.start(uid("open"))
    await raw.complete(await raw.next_workflow_task(), schedule_activity("a1"))
    name = uid("gated")
    await versioned_poll(tenant, raw.q, name, "v2")
    page = deployment_page(tenant, name)
    fragment = f"{page}/versions/v2/replay-check"

    async with signed_in(server, tenant.admin_key) as (browser, csrf):
        before = await browser.get(page)
        started = await browser.post(fragment, data={"csrf_token": csrf})
        running = await browser.get(fragment)
        task = await replay_poll(tenant, raw.q, name, "v2")
        failure = {"message": "emitted START_TIMER", "kind": "nondeterminism", "event_id": 5}
        await answer(tenant, task["replay_task"]["token"], "failed", failure=failure)
        failed = await browser.get(page)
        finished = await browser.get(fragment)
        refused = await browser.post(
            f"{page}/set-current", data={"csrf_token": csrf, "build_id": "v2"}
        )

    assert "No replay check of v2 yet" in before.text
    assert started.status_code == 303
    assert "check-running" in running.text and 'hx-trigger="every 2s"' in running.text
    assert "replay" in running.text.split('class="waiting"')[1]  # what it waits for
    assert "check-failed" in failed.text and "emitted START_TIMER" in failed.text
    assert f"/runs/{run['run_id']}" in failed.text
    assert "hx-trigger" not in finished.text  # a finished check is not asked again
    assert refused.status_code == 409 and "replay-check-failed" in refused.text
    runs = refused.text.split("Runs that did not replay")[1]
    assert f"/runs/{run['run_id']}" in runs and "<td>5</td>" in runs
    assert (await routing(tenant, name))["current_version"]["build_id"] == ""
