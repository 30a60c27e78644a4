"""The console in a real headless browser (Debian's chromium, driven by Playwright).

One browser for the whole module; each scenario uses its own browser context (cookies) and a
fresh tenant. Screenshots of the main pages go to test-artifacts/console/ (git-ignored), and
every main page is checked with axe-core for serious accessibility violations.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHROMIUM, Tenant, keyed_client
from tests.definitions_helpers import start as start_definition
from tests.definitions_helpers import store
from tests.engine_helpers import raw_on_fresh_queue, uid
from tests.rawhttp import complete_workflow, schedule_activity, start_timer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
ARTIFACTS.mkdir(parents=True, exist_ok=True)
AXE = (Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js").read_text()
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)",
)


@pytest.fixture
async def page(browser: Any, server: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(base_url=server.base_url)
    context.set_default_timeout(TIMEOUT_MS)
    made = await context.new_page()
    yield made
    await context.close()


async def sign_in(page: Any, key: str) -> None:
    await page.goto("/console/sign-in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    # Sign-in lands on the workflows list of the key's namespace (tests/console/test_console_landing.py).
    await page.wait_for_url(re.compile(r":\d+/console/n/[^/]+/workflows$"))


async def check_accessibility(page: Any, name: str) -> None:
    """No serious or critical axe-core violation on the page; and a screenshot of it."""
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    await page.add_script_tag(content=AXE)
    # Only violations are read: axe then skips the details of passes and inapplicable rules.
    result = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    bad = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"accessibility violations on {name}: {bad}"


async def test_sign_in_create_a_namespace_and_a_key_shown_once(page, tenant: Tenant):
    await sign_in(page, tenant.admin_key)
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "perdure_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert tenant.admin_key not in str(cookies)
    assert await page.evaluate("() => JSON.stringify(localStorage) + document.cookie") in (
        "{}",
        "{}" + "",
    )
    await page.goto("/console/namespaces")
    await check_accessibility(page, "namespaces")

    await page.get_by_label("Name", exact=True).fill("orders")
    await page.get_by_role("button", name="Create namespace").click()
    await page.wait_for_url(re.compile(r"/console/namespaces/orders$"))
    await page.goto("/console/api-keys")
    await page.get_by_label("Name", exact=True).fill("orders-reader")
    await page.get_by_label("Role").select_option("reader")
    await page.get_by_label("Only these:").check()
    await page.get_by_role("checkbox", name="orders").check()
    await page.get_by_role("button", name="Create key").click()
    secret = (await page.locator("#new-secret").inner_text()).strip()
    assert secret.startswith("pdk_")
    await check_accessibility(page, "api-keys")
    async with keyed_client(tenant.client, secret) as reader:
        me = (await reader.get("/api/v1/me")).json()
    assert (me["role"], me["namespaces"]) == ("reader", ["orders"])
    await page.goto("/console/api-keys")
    assert secret not in await page.content()


async def test_watch_a_run_complete_in_the_list_then_see_its_timeline_and_history(
    page, tenant: Tenant
):
    raw = raw_on_fresh_queue(tenant)
    workflow_ids = [uid("list") for _ in range(3)]
    await raw.start(workflow_ids[0], input={"n": 1})
    for workflow_id in workflow_ids[1:]:  # on another queue: only the first gets driven
        await raw.start(workflow_id, input={"n": 1}, task_queue=uid("idle"))
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows")
    await page.get_by_label("Auto-refresh").select_option("1")
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(re.compile(r"refresh=1"))
    row = page.get_by_role("row").filter(has_text=workflow_ids[0])
    await row.get_by_text("RUNNING").wait_for()
    await check_accessibility(page, "workflows")

    task = await raw.next_workflow_task()
    first = task["workflow_id"]
    assert first == workflow_ids[0]
    await raw.complete(task, schedule_activity("a1", "Charge"), start_timer("t1", 0.001))
    activity = await raw.next_activity_task()
    await raw.activity("complete", activity, result={"ok": True})
    await raw.complete(await raw.next_workflow_task(), complete_workflow({"done": True}))
    # No reload: the list refreshes itself.
    await page.get_by_role("row").filter(has_text=first).get_by_text("COMPLETED").wait_for()

    await page.get_by_role("link", name=first).click()
    await page.locator("#run-status", has_text="COMPLETED").wait_for()
    await page.locator("svg.timeline rect.bar.completed").first.wait_for()
    assert await page.get_by_role("cell", name="ACTIVITY_TASK_COMPLETED").count() == 1
    assert await page.get_by_role("cell", name="WORKFLOW_EXECUTION_COMPLETED").count() == 1
    await check_accessibility(page, "run")


async def test_signal_then_terminate_a_run_and_watch_it_live(page, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid("steer")
    started = await raw.start(workflow_id)
    await raw.complete(await raw.next_workflow_task())
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}")
    await page.locator("#waiting-on", has_text="waits for a signal").wait_for()

    await page.get_by_label("Signal name").fill("approve")
    await page.get_by_label("Input (JSON)").first.fill('{"by": "ada"}')
    await page.get_by_role("button", name="Send signal").click()
    await page.get_by_role("cell", name="WORKFLOW_EXECUTION_SIGNALED").wait_for()
    events = await raw.history(workflow_id)
    signaled = [e for e in events if e["event_type"] == "WORKFLOW_EXECUTION_SIGNALED"]
    assert signaled[0]["attributes"]["input"] == {"by": "ada"}

    # Terminated through the API while the page is open: the stream brings it in.
    r = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/terminate"), json={"reason": "elsewhere"}
    )
    assert r.status_code == 200
    await page.locator("#run-status", has_text="TERMINATED").wait_for()

    second = uid("steer")
    await raw.start(second)
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{second}")
    await page.get_by_label("Reason").last.fill("no longer needed")
    page.once("dialog", lambda dialog: dialog.accept())  # Terminate asks first (issue 24)
    await page.get_by_role("button", name="Terminate").click()
    await page.locator("#run-status", has_text="TERMINATED").wait_for()
    described = await raw.describe(second)
    assert described["status"] == "TERMINATED"
    assert started["run_id"] != described["run_id"]


async def test_a_definition_run_shows_its_graph_with_the_current_state(page, tenant: Tenant):
    queue = uid("dq")
    name = await store(
        tenant,
        {
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Next": "Charge"},
                "Charge": {
                    "Type": "Task",
                    "Resource": f"perdure:activity:{queue}:charge",
                    "Next": "Done",
                },
                "Done": {"Type": "Succeed"},
            },
        },
    )
    workflow_id = await start_definition(tenant, name, {"order": 7})
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}")
    await page.locator('svg.graph g.node.current[data-state="Charge"]').wait_for()
    await page.locator('svg.graph g.node.taken[data-state="Prepare"]').wait_for()
    await page.locator(
        "#waiting-on", has_text="State 'Charge' (charge) waits on task queue"
    ).wait_for()
    assert await page.locator("table.steps").get_by_text('"order"').count() >= 1
    await check_accessibility(page, "definition-run")
    await page.goto(f"/console/n/{tenant.namespace}/definitions/{name}")
    await page.locator('svg.graph g.node[data-state="Done"]').wait_for()
    await check_accessibility(page, "definition")


async def test_a_reader_sees_no_actions_and_its_forged_post_is_refused(page, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    workflow_id = uid("ro")
    started = await raw.start(workflow_id)
    made = await tenant.client.post(
        "/api/v1/api-keys", json={"name": f"reader-{uuid.uuid4().hex[:6]}", "role": "reader"}
    )
    reader_key = made.json()["key"]
    await sign_in(page, reader_key)
    await page.goto(f"/console/n/{tenant.namespace}/workflows/{workflow_id}")
    await page.locator("#run-status").wait_for()
    assert await page.get_by_role("button", name="Terminate").count() == 0
    assert await page.get_by_role("button", name="Send signal").count() == 0
    assert await page.get_by_role("link", name="API keys").count() == 0

    csrf = await page.evaluate(
        "() => JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']"
    )
    target = (
        f"/console/n/{tenant.namespace}/workflows/{workflow_id}/runs/{started['run_id']}/terminate"
    )
    forged = await page.request.post(target, form={"csrf_token": csrf, "reason": "x"})
    assert forged.status == 403
    no_token = await page.request.post(target, form={"reason": "x"})
    assert no_token.status == 403
    assert (await raw.describe(workflow_id))["status"] == "RUNNING"


async def test_sign_out_and_key_revocation_end_the_session_at_once(page, tenant: Tenant):
    made = await tenant.client.post(
        "/api/v1/api-keys", json={"name": f"op-{uuid.uuid4().hex[:6]}", "role": "operator"}
    )
    body = made.json()
    await sign_in(page, body["key"])
    await page.goto(f"/console/n/{tenant.namespace}/workflows")
    r = await tenant.client.post(f"/api/v1/api-keys/{body['id']}/revoke")
    assert r.status_code == 200
    await page.goto(f"/console/n/{tenant.namespace}/workflows")
    await page.wait_for_url(re.compile(r":\d+/console/sign-in"))

    await sign_in(page, tenant.admin_key)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "perdure_console")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(re.compile(r":\d+/console/sign-in"))
    await page.context.add_cookies([cookie])  # the old cookie, replayed
    await page.goto("/console/namespaces")
    await page.wait_for_url(re.compile(r":\d+/console/sign-in"))


async def test_task_queues_webhooks_and_namespace_pages(page, tenant: Tenant):
    raw = raw_on_fresh_queue(tenant)
    assert await raw.poll_activity_task(wait=0) is None  # a poller on the queue
    r = await tenant.client.post(
        tenant.ns("/webhooks"),
        json={"name": "billing", "url": "https://billing.example.com/hook", "task_queues": ["b"]},
    )
    assert r.status_code == 201, r.text
    await sign_in(page, tenant.admin_key)
    await page.goto(f"/console/n/{tenant.namespace}/task-queues")
    await page.get_by_role("link", name=raw.q).click()
    await page.get_by_role("cell", name="worker", exact=True).wait_for()
    await check_accessibility(page, "task-queue")

    await page.goto(f"/console/n/{tenant.namespace}/webhooks")
    await page.get_by_role("link", name="billing").click()
    await check_accessibility(page, "webhook")
    await page.get_by_role("button", name="Rotate secret").click()
    assert (await page.locator("section.secret code").inner_text()).startswith("whsec_")

    await page.goto(f"/console/namespaces/{tenant.namespace}")
    await page.get_by_label("Retention of closed runs (days)").fill("7")
    await page.get_by_role("button", name="Save settings").click()
    await page.get_by_text("Saved.").wait_for()
    await check_accessibility(page, "namespace-settings")
    described = (await tenant.client.get(tenant.ns())).json()
    assert described["retention_days"] == 7
