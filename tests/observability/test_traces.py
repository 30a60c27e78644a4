"""Traces: with tracing on, each request and each transition is a span; a caller's W3C
`traceparent` is continued, and the activities a traced request schedules carry its trace
context to the worker that polls them and to the webhook receiver that gets them."""

from __future__ import annotations

import contextlib

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, Tenant, fresh_database, new_tenant, serve_app
from tests.engine_helpers import uid
from tests.rawhttp import Raw, schedule_activity
from tests.webhook_receiver import Receiver
from tests.webhooks.test_webhooks import create_webhook, receiving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@contextlib.asynccontextmanager
async def traced_server(server):  # type: ignore[no-untyped-def]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # A database of its own: the suite server's clock may have been moved ahead by other
    # tests, and its deadline loop would time this server's tasks out.
    with fresh_database(server.database_url) as url:
        settings = Settings(
            database_url=url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.DEVELOPMENT,
        )
        async with serve_app(settings, tracer_provider=provider) as running:
            async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
                tenant = await new_tenant(http)
                yield tenant, exporter
                await tenant.client.aclose()


async def schedule_with_traceparent(tenant: Tenant, queue: str, activity_type: str) -> Raw:
    raw = Raw(tenant, task_queue=queue)
    await raw.start(uid())
    task = await raw.next_workflow_task()
    completed = await tenant.client.post(
        tenant.ns("/workflow-tasks/complete"),
        json={
            "task_token": task["task_token"],
            "commands": [schedule_activity("a1", activity_type, input={"order": 7})],
            "identity": "decider",
        },
        headers={"traceparent": TRACEPARENT},
    )
    assert completed.status_code == 200, completed.text
    return raw


async def test_a_callers_trace_continues_through_the_transition_into_the_activity_task(server):
    async with traced_server(server) as (tenant, exporter):
        raw = await schedule_with_traceparent(tenant, uid("q"), "act")

        activity = await raw.next_activity_task()

        spans = exporter.get_finished_spans()
    ours = [s for s in spans if f"{s.context.trace_id:032x}" == TRACE_ID]
    request = next(s for s in ours if s.parent and f"{s.parent.span_id:016x}" == CALLER_SPAN)
    transition = next(s for s in ours if s.name.startswith("transition "))
    assert "complete" in transition.name
    assert transition.parent is not None
    assert request.attributes.get("http.route", "").endswith("/workflow-tasks/complete")
    version, trace_id, span_id, flags = activity["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id != CALLER_SPAN  # the server's span that scheduled it
    assert any(f"{s.context.span_id:016x}" == span_id for s in ours)


async def test_webhook_deliveries_send_the_activitys_trace_context(server):
    async with traced_server(server) as (tenant, _):
        async with receiving(Receiver()) as receiver:
            queue = uid("hooked")
            await create_webhook(tenant, receiver.url, task_queues=[queue])
            await schedule_with_traceparent(tenant, queue, "Traced")

            received = await receiver.nth_request(1)

    assert received.headers["traceparent"].split("-")[1] == TRACE_ID
    assert received.json["traceparent"] == received.headers["traceparent"]


async def test_without_tracing_no_trace_context_is_invented(tenant):
    raw = await schedule_with_traceparent(tenant, uid("q"), "act")

    activity = await raw.next_activity_task()

    assert activity["traceparent"] is None
