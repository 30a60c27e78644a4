"""Rate limits of a task queue bind webhook deliveries as they bind polls: a queue at 0 per
second delivers nothing, a queue at N per second at most that many, and a fairness key over
its default rate waits while other keys go (Temporal's UpdateTaskQueueConfig)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import Response

from app.webhooks.loop import DeliveryLoop
from tests.conftest import Tenant
from tests.engine_helpers import advance
from tests.rawhttp import Raw
from tests.webhook_receiver import Receiver, receiving
from tests.webhooks.test_webhooks import (
    QUEUE,
    activity_outcome,
    create_webhook,
    eventually,
    schedule_one,
)
from tests.webhooks.test_webhooks import answers as answering


@pytest.fixture
def raw(tenant: Tenant) -> Raw:
    return Raw(tenant, task_queue="wf")


async def _limit_queue(tenant: Tenant, **body: Any) -> None:
    r = await tenant.client.post(
        tenant.ns(f"/task-queues/{QUEUE}/update-config"),
        json={"task_queue_type": "TASK_QUEUE_TYPE_ACTIVITY", **body},
    )
    assert r.status_code == 200, r.text


def _rate(rps: float | None) -> dict[str, Any]:
    return {"rate_limit": None if rps is None else {"requests_per_second": rps}}


async def _activity_backlog(tenant: Tenant) -> int:
    described = (await tenant.client.get(tenant.ns(f"/task-queues/{QUEUE}"))).json()
    return int(described["backlog"]["activity_tasks"])


def _accepting() -> Receiver:
    """A receiver that accepts every task (202) and completes none, so that no workflow task
    follows a delivery and the decider sees only the starts it schedules activities for."""
    return Receiver(answering(Response(status_code=202)))


def _another_loop(server: Any) -> DeliveryLoop:
    """A second delivery loop on the same database: what another server process runs."""
    engine = server.app.state.engine
    return DeliveryLoop(server.ctx, engine, engine.wakeups)


async def test_a_queue_at_zero_per_second_delivers_nothing_until_the_limit_goes(
    server, tenant, raw: Raw
):
    await _limit_queue(tenant, update_queue_rate_limit=_rate(0))
    async with receiving(Receiver()) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "stopped")
        assert await eventually(lambda: _activity_backlog(tenant)) == 1

        assert await _another_loop(server).tick() == 0
        assert receiver.requests == []
        assert await _activity_backlog(tenant) == 1

        await _limit_queue(tenant, update_queue_rate_limit=_rate(None))
        outcome = await activity_outcome(raw, "stopped")

    assert outcome["event_type"] == "ACTIVITY_TASK_COMPLETED"
    assert len(receiver.requests) == 1


async def test_a_queue_at_n_per_second_delivers_at_most_that_across_delivery_loops(
    server, tenant, raw: Raw
):
    # 0.2 per second: a burst of one, then one every 5 s of the server's clock.
    await _limit_queue(tenant, update_queue_rate_limit=_rate(0.2))
    async with receiving(_accepting()) as receiver:
        await create_webhook(tenant, receiver.url)
        for n in range(3):
            await schedule_one(raw, f"paced-{n}")
        await receiver.nth_request(1)

        # Neither this process's loop nor another's may send a second one yet.
        assert await _another_loop(server).tick() == 0
        assert await _another_loop(server).tick() == 0
        assert len(receiver.requests) == 1
        assert await _activity_backlog(tenant) == 2

        await advance(server, 5)
        await receiver.nth_request(2)
        assert await _another_loop(server).tick() == 0
        assert len(receiver.requests) == 2
        assert await _activity_backlog(tenant) == 1


async def test_a_fairness_key_over_its_default_rate_waits_while_other_keys_are_delivered(
    server, tenant, raw: Raw
):
    await _limit_queue(tenant, update_fairness_key_rate_limit_default=_rate(0.2))
    async with receiving(_accepting()) as receiver:
        await create_webhook(tenant, receiver.url)
        await schedule_one(raw, "busy-1", priority={"fairness_key": "busy"})
        await receiver.nth_request(1)
        await schedule_one(raw, "busy-2", priority={"fairness_key": "busy"})
        await schedule_one(raw, "calm-1", priority={"fairness_key": "calm"})
        await receiver.nth_request(2)

        assert await _another_loop(server).tick() == 0
        sent = [r.json["workflow_id"] for r in receiver.requests]
        assert sent == ["busy-1", "calm-1"]

        await advance(server, 5)
        third = await receiver.nth_request(3)

    assert third.json["workflow_id"] == "busy-2"
