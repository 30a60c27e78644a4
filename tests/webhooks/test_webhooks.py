"""Webhook activities: activity tasks delivered to real HTTP receivers on 127.0.0.1, signed per
Standard Webhooks, answered, retried by the activity's policy, and logged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.responses import JSONResponse, Response

from tests.conftest import Tenant
from tests.rawhttp import Raw, complete_workflow, new_events, schedule_activity
from tests.webhook_receiver import Received, Receiver, receiving

QUEUE = "hooks"


async def eventually(check: Callable[[], Awaitable[Any]], wait: float = 10) -> Any:
    """The first truthy answer of `check`, asked until `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        answer = await check()
        if answer:
            return answer
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def create_webhook(tenant: Tenant, url: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("task_queues", [QUEUE])
    r = await tenant.client.post(
        tenant.ns("/webhooks"), json={"name": "hook", "url": url, **fields}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def schedule_one(raw: Raw, workflow_id: str, **attrs: Any) -> None:
    """Start a workflow whose decider schedules one activity on the webhook's queue."""
    attrs.setdefault("task_queue", QUEUE)
    attrs.setdefault("input", {"order": 7})
    await raw.start(workflow_id)
    task = await raw.next_workflow_task()
    await raw.complete(task, schedule_activity("charge", "Charge", **attrs))


async def activity_outcome(raw: Raw, workflow_id: str, wait: float = 10) -> dict[str, Any]:
    """The closing event of the workflow's activity, as its decider sees it next; the run is
    then completed, so that no workflow task is left open while a test moves time."""
    deadline = time.monotonic() + wait
    while True:
        task = await raw.next_workflow_task(wait=max(0.1, deadline - time.monotonic()))
        await raw.complete(task, complete_workflow())
        if task["workflow_id"] != workflow_id:
            continue  # an earlier test run's leftover task: closed above
        closing = [e for e in new_events(task) if e["event_type"].startswith("ACTIVITY_TASK_")]
        assert closing, [e["event_type"] for e in new_events(task)]
        return closing[-1]


async def pending_activity(raw: Raw, workflow_id: str) -> dict[str, Any]:
    described = await raw.describe(workflow_id)
    return described["pending_activities"][0] if described["pending_activities"] else {}


async def in_backoff(raw: Raw, workflow_id: str, attempt: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        activity = await pending_activity(raw, workflow_id)
        ok = activity.get("state") == "BACKOFF" and activity["attempt"] == attempt
        return activity if ok else None

    return await eventually(check)


async def move_time(server, seconds: float) -> None:  # type: ignore[no-untyped-def]
    server.ctx.clock.advance(timedelta(seconds=seconds))
    await server.app.state.engine.deadline_loop.fire_due_timers()


async def deliveries(tenant: Tenant, name: str = "hook") -> list[dict[str, Any]]:
    r = await tenant.client.get(tenant.ns(f"/webhooks/{name}/deliveries"))
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


async def settled_deliveries(tenant: Tenant, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        found = await deliveries(tenant)
        settled = [d for d in found if d["state"] != "in_flight"]
        return found if len(settled) >= count else None

    return await eventually(check)


def answers(*responses: Response) -> Callable[[Received], Awaitable[Response]]:
    """A handler that answers with the given responses in turn, then repeats the last."""
    queue = list(responses)

    async def handler(received: Received) -> Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


@pytest.fixture
def raw(tenant: Tenant) -> Raw:
    return Raw(tenant, task_queue="wf")


async def test_a_2xx_json_answer_completes_the_activity_with_that_body(tenant, raw):
    async with receiving(Receiver()) as receiver:
        await create_webhook(tenant, receiver.url, headers={"Authorization": "Bearer for-you"})
        await schedule_one(raw, "sync")

        outcome = await activity_outcome(raw, "sync")
        received = receiver.requests[0]
        sent = received.json

    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert outcome["attributes"]["result"] == {"echo": {"order": 7}}
    assert outcome["attributes"]["identity"] == "webhook:hook"
    assert sent["activity_id"] == "charge"
    assert sent["activity_type"] == "Charge"
    assert sent["input"] == {"order": 7}
    assert sent["attempt"] == 1
    assert sent["workflow_id"] == "sync"
    assert sent["run_id"]
    assert sent["task_token"]
    assert sent["namespace"] == tenant.namespace
    assert sent["deadline"]
    assert received.headers["authorization"] == "Bearer for-you"
    assert received.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert received.headers["content-type"] == "application/json"


async def test_the_receiver_verifies_the_signature_with_the_standard_webhooks_library(tenant, raw):
    async with receiving(Receiver()) as receiver:
        created = await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "signed")
        await activity_outcome(raw, "signed")
        received = receiver.requests[0]

    verified = Webhook(created["secret"]).verify(received.body, received.headers)
    assert verified["workflow_id"] == "signed"
    assert created["secret"].startswith("whsec_")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(received.body, received.headers)


async def test_during_a_secret_rotation_both_secrets_verify_and_afterwards_only_the_new(
    server, tenant, raw
):
    async with receiving(Receiver()) as receiver:
        old = (await create_webhook(tenant, receiver.url))["secret"]
        rotated = await tenant.client.post(
            tenant.ns("/webhooks/hook/rotate-secret"), json={"grace_period": 3600}
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        await schedule_one(raw, "rotating")
        await activity_outcome(raw, "rotating")

        server.ctx.clock.advance(timedelta(hours=2))
        await schedule_one(raw, "rotated")
        await activity_outcome(raw, "rotated")
        during, after = receiver.requests

    assert new != old and new.startswith("whsec_")
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


async def test_202_accepts_and_the_receiver_completes_later_by_task_token(tenant, raw):
    async with receiving(Receiver(answers(Response(status_code=202)))) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "async")
        token = (await receiver.nth_request(1)).json["task_token"]
        [logged] = await settled_deliveries(tenant, 1)
        assert await raw.poll_workflow_task(wait=0) is None

        done = await tenant.client.post(
            tenant.ns("/activity-tasks/complete"),
            json={"task_token": token, "result": "charged later"},
        )
        assert done.status_code == 200, done.text
        outcome = await activity_outcome(raw, "async")

    assert logged["state"] == "accepted"
    assert logged["status_code"] == 202
    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert outcome["attributes"]["result"] == "charged later"


async def test_a_500_is_retried_after_the_policys_back_off_and_then_completes(server, tenant, raw):
    handler = answers(JSONResponse({"error": "db down"}, status_code=500), JSONResponse("ok"))
    async with receiving(Receiver(handler)) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "flaky", retry_policy={"initial_interval": 10})
        waiting = await in_backoff(raw, "flaky", attempt=2)

        await move_time(server, 5)
        still_waiting = await pending_activity(raw, "flaky")
        await move_time(server, 6)
        outcome = await activity_outcome(raw, "flaky")
        attempts = [r.json["attempt"] for r in receiver.requests]

    assert waiting["last_failure"]["type"] == "WebhookHttpError"
    assert waiting["last_failure"]["details"]["status_code"] == 500
    assert still_waiting["state"] == "BACKOFF"
    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert outcome["attributes"]["attempt"] == 2
    assert attempts == [1, 2]
    first, second = await settled_deliveries(tenant, 2)  # newest first
    assert (second["state"], second["status_code"]) == ("failed", 500)
    assert "db down" in second["response_excerpt"]
    assert (first["state"], first["status_code"]) == ("completed", 200)
    assert first["latency_ms"] is not None


async def test_a_receiver_that_does_not_answer_in_time_is_retried(server, tenant, raw):
    release = asyncio.Event()
    calls = 0

    async def slow_then_fast(received: Received) -> Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
        return JSONResponse("finally")

    async with receiving(Receiver(slow_then_fast)) as receiver:
        await create_webhook(tenant, receiver.url, timeout=0.5)
        await schedule_one(raw, "slow")
        waiting = await in_backoff(raw, "slow", attempt=2)
        await move_time(server, 2)
        outcome = await activity_outcome(raw, "slow")
        release.set()

    assert waiting["last_failure"]["type"] == "WebhookUnreachable"
    assert "no answer within" in waiting["last_failure"]["message"]
    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert outcome["attributes"]["result"] == "finally"


async def test_a_400_fails_the_activity_for_good(tenant, raw):
    handler = answers(JSONResponse({"error": "card declined"}, status_code=400))
    async with receiving(Receiver(handler)) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "declined")
        outcome = await activity_outcome(raw, "declined")

    assert outcome["event_type"] == "ACTIVITY_TASK_FAILED"
    assert outcome["attributes"]["retry_state"] == "RETRY_STATE_NON_RETRYABLE_FAILURE"
    failure = outcome["attributes"]["failure"]
    assert failure["non_retryable"] is True
    assert failure["details"]["status_code"] == 400
    assert len(receiver.requests) == 1


async def test_an_endpoint_may_ask_for_client_errors_to_be_retried(server, tenant, raw):
    handler = answers(JSONResponse("not yet", status_code=404), JSONResponse("found"))
    async with receiving(Receiver(handler)) as receiver:
        await create_webhook(tenant, receiver.url, retry_client_errors=True)
        await schedule_one(raw, "patient")
        await in_backoff(raw, "patient", attempt=2)
        await move_time(server, 2)
        outcome = await activity_outcome(raw, "patient")

    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert outcome["attributes"]["result"] == "found"


async def test_a_429_is_retried_no_sooner_than_its_retry_after(server, tenant, raw):
    handler = answers(
        Response(status_code=429, headers={"Retry-After": "120"}), JSONResponse("served")
    )
    async with receiving(Receiver(handler)) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "throttled")
        await in_backoff(raw, "throttled", attempt=2)
        await eventually(lambda: settled_deliveries(tenant, 1))

        await move_time(server, 60)  # well past the policy's 1 s back-off
        held_back = await pending_activity(raw, "throttled")
        await move_time(server, 61)
        outcome = await activity_outcome(raw, "throttled")

    assert held_back["state"] == "BACKOFF"
    assert len(receiver.requests) == 2
    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"


async def test_410_gone_disables_the_endpoint(tenant, raw):
    async with receiving(Receiver(answers(Response(status_code=410)))) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "gone")
        await in_backoff(raw, "gone", attempt=2)
        await settled_deliveries(tenant, 1)

    described = (await tenant.client.get(tenant.ns("/webhooks/hook"))).json()
    assert described["enabled"] is False
    assert "410" in described["disabled_reason"]
    assert len(receiver.requests) == 1


async def test_a_private_address_is_refused_without_a_request(tenant, raw):
    await create_webhook(tenant, "http://10.20.30.40:8080/hook")
    await schedule_one(raw, "private")
    outcome = await activity_outcome(raw, "private")

    assert outcome["event_type"] == "ACTIVITY_TASK_FAILED"
    assert outcome["attributes"]["failure"]["type"] == "WebhookTargetRefused"
    assert "10.20.30.40" in outcome["attributes"]["failure"]["message"]
    [logged] = await settled_deliveries(tenant, 1)
    assert logged["state"] == "refused"
    assert logged["status_code"] is None


async def test_a_redirect_is_a_failure_and_is_never_followed(tenant, raw):
    async with receiving(Receiver()) as elsewhere:
        redirect = Response(status_code=307, headers={"Location": elsewhere.url})
        async with receiving(Receiver(answers(redirect))) as receiver:
            await create_webhook(tenant, receiver.url)
            await schedule_one(raw, "redirected")
            outcome = await activity_outcome(raw, "redirected")

    assert outcome["event_type"] == "ACTIVITY_TASK_FAILED"
    assert outcome["attributes"]["failure"]["type"] == "WebhookRedirected"
    assert len(receiver.requests) == 1
    assert elsewhere.requests == []


async def test_a_run_whose_receiver_is_down_for_a_while_completes_once_it_is_back(
    server, tenant, raw
):
    receiver = Receiver()  # not listening yet
    await create_webhook(tenant, receiver.url)
    await schedule_one(raw, "patient-run")
    await in_backoff(raw, "patient-run", attempt=2)
    await move_time(server, 1.5)
    await in_backoff(raw, "patient-run", attempt=3)

    async with receiving(receiver):
        await move_time(server, 2.5)
        outcome = await activity_outcome(raw, "patient-run")

    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert outcome["attributes"]["attempt"] == 3
    logged = await settled_deliveries(tenant, 3)
    assert [d["state"] for d in logged] == ["completed", "failed", "failed"]
    assert "unreachable" in logged[-1]["error"]


async def test_an_activity_type_binding_serves_that_type_on_any_queue(tenant, raw):
    async with receiving(Receiver()) as receiver:
        await create_webhook(tenant, receiver.url, task_queues=[], activity_types=["Charge"])
        await schedule_one(raw, "by-type", task_queue="anything")
        outcome = await activity_outcome(raw, "by-type")

    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert receiver.requests[0].json["task_queue"] == "anything"


async def test_an_accepted_delivery_can_be_redelivered_while_its_attempt_runs(tenant, raw):
    handler = answers(Response(status_code=202), JSONResponse("second time lucky"))
    async with receiving(Receiver(handler)) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "redelivered")
        [accepted] = await settled_deliveries(tenant, 1)

        again = await tenant.client.post(
            tenant.ns(f"/webhooks/hook/deliveries/{accepted['id']}/redeliver")
        )
        outcome = await activity_outcome(raw, "redelivered")
        too_late = await tenant.client.post(
            tenant.ns(f"/webhooks/hook/deliveries/{accepted['id']}/redeliver")
        )
        first, second = receiver.requests

    assert again.status_code == 200, again.text
    assert again.json()["state"] == "completed"
    assert again.json()["message_id"] == accepted["message_id"]
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert too_late.status_code == 409
    assert too_late.headers["content-type"] == "application/problem+json"


async def test_the_delivery_log_pages_newest_first(server, tenant, raw):
    async with receiving(Receiver()) as receiver:
        await create_webhook(tenant, receiver.url)
        for n in range(3):
            await schedule_one(raw, f"logged-{n}")
            await activity_outcome(raw, f"logged-{n}")
            server.ctx.clock.advance(timedelta(seconds=1))

    page = await tenant.client.get(tenant.ns("/webhooks/hook/deliveries"), params={"page_size": 2})
    rest = await tenant.client.get(
        tenant.ns("/webhooks/hook/deliveries"),
        params={"page_size": 2, "next_page_token": page.json()["next_page_token"]},
    )

    seen = [d["workflow_id"] for d in page.json()["deliveries"] + rest.json()["deliveries"]]
    assert seen == ["logged-2", "logged-1", "logged-0"]
    assert rest.json()["next_page_token"] is None


async def test_deliveries_to_one_endpoint_stay_within_its_concurrency(tenant, raw):
    release = asyncio.Event()

    async def held(received: Received) -> Response:
        await release.wait()
        return JSONResponse(received.json["workflow_id"])

    async with receiving(Receiver(held)) as receiver:
        await create_webhook(tenant, receiver.url, max_concurrency=2)
        ids = [f"busy-{n}" for n in range(4)]
        for workflow_id in ids:
            await schedule_one(raw, workflow_id)
        await receiver.nth_request(2)
        states = [(await pending_activity(raw, w)).get("state") for w in ids]
        release.set()
        results = {}
        for _ in ids:
            task = await raw.next_workflow_task(wait=10)
            await raw.complete(task, complete_workflow())
            [done] = [e for e in new_events(task) if e["event_type"] == "ACTIVITY_TASK_COMPLETED"]
            results[task["workflow_id"]] = done["attributes"]["result"]

    assert sorted(states) == ["SCHEDULED", "SCHEDULED", "STARTED", "STARTED"]
    assert results == {w: w for w in ids}
    assert len(receiver.requests) == 4


async def test_nothing_is_delivered_after_the_workflow_closed(server, tenant, raw):
    async with receiving(Receiver(answers(Response(status_code=503)))) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "closed-early")
        await in_backoff(raw, "closed-early", attempt=2)
        terminated = await tenant.client.post(
            tenant.ns("/workflows/closed-early/terminate"), json={"reason": "no longer needed"}
        )
        assert terminated.status_code == 200, terminated.text

        await move_time(server, 10)
        backlog = await tenant.client.get(tenant.ns(f"/task-queues/{QUEUE}"))

    assert len(receiver.requests) == 1
    assert backlog.json()["backlog"]["activity_tasks"] == 0


async def test_an_answer_larger_than_the_cap_fails_the_attempt_without_being_read_whole(
    tenant, raw
):
    huge = b'"' + b"x" * (3 * 1024 * 1024) + b'"'
    handler = answers(Response(huge, media_type="application/json"))
    async with receiving(Receiver(handler)) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "huge")
        outcome = await activity_outcome(raw, "huge")

    assert outcome["event_type"] == "ACTIVITY_TASK_FAILED"
    assert outcome["attributes"]["failure"]["type"] == "WebhookResponseTooLarge"
    [logged] = await settled_deliveries(tenant, 1)
    assert len(logged["response_excerpt"]) <= 2000


async def test_re_enabling_a_gone_endpoint_resumes_its_deliveries(server, tenant, raw):
    handler = answers(Response(status_code=410), JSONResponse("back again"))
    async with receiving(Receiver(handler)) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "comeback")
        await in_backoff(raw, "comeback", attempt=2)
        await settled_deliveries(tenant, 1)

        enabled = await tenant.client.patch(tenant.ns("/webhooks/hook"), json={"enabled": True})
        await move_time(server, 2)
        outcome = await activity_outcome(raw, "comeback")

    assert enabled.json()["disabled_reason"] is None
    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert outcome["attributes"]["result"] == "back again"
