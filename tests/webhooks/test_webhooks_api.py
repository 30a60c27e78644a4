"""The webhook endpoint API: create, read, change, rotate, delete; RFC 9457 problems for bad
input; roles; and the outbound policy that production mode and namespace settings decide."""

from __future__ import annotations

import httpx
import pytest

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, Tenant, fresh_database, keyed_client, new_tenant, serve_app
from tests.rawhttp import Raw, complete_workflow, new_events, schedule_activity
from tests.tenancy_helpers import assert_problem, create_key
from tests.webhook_receiver import Receiver, receiving

HOOK = {"name": "billing", "url": "https://hooks.example.com/perdure", "task_queues": ["pay"]}


async def test_creating_a_webhook_shows_its_secret_once(tenant):
    created = await tenant.client.post(tenant.ns("/webhooks"), json=HOOK)
    described = await tenant.client.get(tenant.ns("/webhooks/billing"))
    listed = await tenant.client.get(tenant.ns("/webhooks"))

    assert created.status_code == 201, created.text
    assert created.json()["secret"].startswith("whsec_")
    assert created.json()["enabled"] is True
    assert created.json()["timeout"] == 30
    assert described.status_code == 200
    assert "secret" not in described.json()
    assert [w["name"] for w in listed.json()["webhooks"]] == ["billing"]
    assert all("secret" not in w for w in listed.json()["webhooks"])


async def test_a_given_secret_is_kept(tenant):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    created = await tenant.client.post(tenant.ns("/webhooks"), json={**HOOK, "secret": secret})

    assert created.json()["secret"] == secret


async def test_a_duplicate_name_is_a_409_problem(tenant):
    await tenant.client.post(tenant.ns("/webhooks"), json=HOOK)

    again = await tenant.client.post(tenant.ns("/webhooks"), json=HOOK)

    assert assert_problem(again, 409, "already-exists")["webhook"] == "billing"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://files.example.com/x"}, "url"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url"),
        ({"colour": "blue"}, "colour"),
        ({"task_queues": []}, "activity_types"),
        ({"timeout": 0}, "timeout"),
        ({"secret": "not-a-secret"}, "secret"),
        ({"headers": {"webhook-signature": "forged"}}, "headers"),
        ({"name": "bad name!"}, "name"),
    ],
)
async def test_bad_input_is_a_400_problem_naming_the_field(tenant, change, field):
    r = await tenant.client.post(tenant.ns("/webhooks"), json={**HOOK, **change})

    assert assert_problem(r, 400, "invalid-argument")["field"] == field


async def test_patch_changes_only_what_it_names(tenant):
    await tenant.client.post(tenant.ns("/webhooks"), json=HOOK)

    patched = await tenant.client.patch(
        tenant.ns("/webhooks/billing"),
        json={"enabled": False, "activity_types": ["Refund"], "timeout": 5},
    )

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["enabled"], body["activity_types"], body["timeout"]) == (False, ["Refund"], 5)
    assert body["task_queues"] == ["pay"]
    assert body["url"] == HOOK["url"]
    unbound = await tenant.client.patch(
        tenant.ns("/webhooks/billing"), json={"activity_types": [], "task_queues": []}
    )
    assert_problem(unbound, 400, "invalid-argument")


async def test_rotating_returns_a_new_secret_once_and_marks_the_grace_period(tenant):
    first = (await tenant.client.post(tenant.ns("/webhooks"), json=HOOK)).json()

    rotated = await tenant.client.post(tenant.ns("/webhooks/billing/rotate-secret"), json={})

    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != first["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None


async def test_deleting_a_webhook_forgets_it(tenant):
    await tenant.client.post(tenant.ns("/webhooks"), json=HOOK)

    deleted = await tenant.client.delete(tenant.ns("/webhooks/billing"))
    after = await tenant.client.get(tenant.ns("/webhooks/billing"))

    assert deleted.status_code == 204
    assert_problem(after, 404, "not-found")
    assert_problem(await tenant.client.delete(tenant.ns("/webhooks/billing")), 404)


async def test_webhooks_of_another_tenant_are_not_found(tenant, other_tenant):
    await tenant.client.post(tenant.ns("/webhooks"), json=HOOK)

    seen = await other_tenant.client.get(other_tenant.ns("/webhooks/billing"))

    assert_problem(seen, 404)


async def test_a_namespace_with_webhooks_can_be_deleted(tenant):
    await tenant.client.post("/api/v1/namespaces", json={"name": "short-lived"})
    await tenant.client.post("/api/v1/namespaces/short-lived/webhooks", json=HOOK)

    deleted = await tenant.client.delete("/api/v1/namespaces/short-lived")

    assert deleted.status_code == 204, deleted.text


@pytest.mark.parametrize(
    "role, can_read, can_manage",
    [("operator", True, True), ("reader", True, False), ("worker", False, False)],
)
async def test_managing_webhooks_needs_operate_and_reading_them_needs_read(
    tenant, role, can_read, can_manage
):
    await tenant.client.post(tenant.ns("/webhooks"), json=HOOK)
    key = await create_key(tenant.client, role)

    async with keyed_client(tenant.client, key["key"]) as client:
        read = await client.get(tenant.ns("/webhooks/billing/deliveries"))
        made = await client.post(tenant.ns("/webhooks"), json={**HOOK, "name": "mine"})

    assert read.status_code == (200 if can_read else 403), read.text
    assert made.status_code == (201 if can_manage else 403), made.text


async def test_in_production_loopback_is_refused_until_the_namespace_allows_private_targets(
    database_url,
):
    with fresh_database(database_url) as url:
        settings = Settings(
            database_url=url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.PRODUCTION,
            secret_key="production-test-secret-key-0123456789",
        )
        async with serve_app(settings) as prod, receiving(Receiver()) as receiver:
            async with httpx.AsyncClient(base_url=prod.base_url, timeout=30) as http:
                tenant: Tenant = await new_tenant(http)
                raw = Raw(tenant, task_queue="wf")
                hook = {"name": "local", "url": receiver.url, "task_queues": ["hooks"]}
                assert (
                    await tenant.client.post(tenant.ns("/webhooks"), json=hook)
                ).status_code == 201

                refused = await run_one(raw, "refused")
                permitted = await tenant.client.patch(
                    tenant.ns(""), json={"settings": {"allow_private_network_targets": True}}
                )
                assert permitted.status_code == 200, permitted.text
                allowed_outcome = await run_one(raw, "allowed")
                await tenant.client.aclose()

    assert refused["event_type"] == "ACTIVITY_TASK_FAILED"
    assert refused["attributes"]["failure"]["type"] == "WebhookTargetRefused"
    assert "loopback" in refused["attributes"]["failure"]["message"]
    assert allowed_outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert len(receiver.requests) == 1


async def run_one(raw: Raw, workflow_id: str) -> dict:
    await raw.start(workflow_id)
    task = await raw.next_workflow_task()
    await raw.complete(task, schedule_activity("a", "Act", task_queue="hooks", input=1))
    task = await raw.next_workflow_task(wait=10)
    await raw.complete(task, complete_workflow())
    return [e for e in new_events(task) if e["event_type"].startswith("ACTIVITY_TASK_")][-1]


async def test_credentials_in_headers_are_not_shown_back(tenant):
    headers = {"Authorization": "Bearer s3cr3t", "X-Api-Key": "k3y", "X-Team": "billing"}
    created = await tenant.client.post(tenant.ns("/webhooks"), json={**HOOK, "headers": headers})

    described = await tenant.client.get(tenant.ns("/webhooks/billing"))

    expected = {"Authorization": "<redacted>", "X-Api-Key": "<redacted>", "X-Team": "billing"}
    assert created.json()["headers"] == expected
    assert described.json()["headers"] == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_a_cloud_metadata_target_is_refused_at_creation_and_nothing_is_stored(tenant, url):
    refused = await tenant.client.post(tenant.ns("/webhooks"), json={"name": "meta", "url": url})

    problem = assert_problem(refused, 400, "invalid-argument")
    assert "metadata" in problem["detail"]
    assert (await tenant.client.get(tenant.ns("/webhooks/meta"))).status_code == 404
