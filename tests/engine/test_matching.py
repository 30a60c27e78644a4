"""Matching (app/engine/matching/lines.py): each new task is offered to one waiting poller, oldest
first; a poller that hung up passes its offer on; idle polls cost one look per queue and
fallback interval, not one claim per poll; the task queue view shows backlog age and open polls.

The tests share a server whose fallback look comes every 120 s: a task that arrives within a
test's bound was handed over, not found by the fallback look. Each test leaves no poll waiting
(the pollers gauge counts the whole server's).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, Tenant, fresh_database, new_tenant, serve_app
from tests.rawhttp import Raw, schedule_activity


@asynccontextmanager
async def own_server(database_url: str, fallback: float) -> AsyncIterator[tuple[str, Tenant]]:
    with fresh_database(database_url) as url:
        settings = Settings(
            database_url=url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.DEVELOPMENT,
            poll_fallback_seconds=fallback,
        )
        async with serve_app(settings) as server:
            async with httpx.AsyncClient(base_url=server.base_url) as http:
                tenant = await new_tenant(http)
            try:
                yield server.base_url, tenant
            finally:
                await tenant.client.aclose()


@pytest.fixture(scope="module")
async def slow_fallback(database_url: str) -> AsyncIterator[str]:
    """A server of the module's own whose fallback look comes every 120 s."""
    async with own_server(database_url, fallback=120) as (base_url, tenant):
        yield base_url


@asynccontextmanager
async def tenant_on(base_url: str) -> AsyncIterator[Tenant]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        tenant = await new_tenant(http)
    try:
        yield tenant
    finally:
        await tenant.client.aclose()


async def metric(base_url: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        text = (await http.get("/metrics")).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def until_waiting(base_url: str, kind: str, count: int) -> None:
    """Return once `count` polls of `kind` wait in the server (its pollers gauge)."""
    deadline = time.monotonic() + 10
    while await metric(base_url, "perdure_pollers", kind=kind) != count:
        assert time.monotonic() < deadline, f"{count} {kind} polls never waited together"
        await asyncio.sleep(0.01)


def poll(tenant: Tenant, queue: str, kind: str, identity: str, wait: float = 30) -> asyncio.Task:
    async def once() -> dict | None:
        r = await tenant.client.post(
            tenant.ns(f"/task-queues/{queue}/{kind}-tasks/poll"),
            json={"identity": identity, "wait": wait},
        )
        assert r.status_code in (200, 204), r.text
        return r.json() if r.status_code == 200 else None

    return asyncio.create_task(once())


def looks(base_url: str, tenant: Tenant, outcome: str, kind: str = "workflow"):  # noqa: ANN201
    return metric(
        base_url,
        "perdure_poll_looks_total",
        namespace=f"{tenant.name}/{tenant.namespace}",
        kind=kind,
        outcome=outcome,
    )


async def test_each_task_goes_to_the_oldest_waiting_poller_and_wakes_no_other(slow_fallback):
    base_url = slow_fallback
    async with tenant_on(base_url) as tenant:
        raw = Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:6]}")
        polls = {}
        for i in range(4):
            polls[f"p{i}"] = poll(tenant, raw.q, "workflow", f"p{i}")
            await until_waiting(base_url, "workflow", i + 1)

        # Each start goes to the oldest poller still waiting; the others stay asleep.
        for i in range(4):
            await raw.start(f"wf-{i}")
            task = await asyncio.wait_for(polls[f"p{i}"], 10)
            assert task is not None and task["workflow_id"] == f"wf-{i}"
            assert not any(polls[f"p{j}"].done() for j in range(i + 1, 4))
        assert await looks(base_url, tenant, "claimed") == 4
        assert await looks(base_url, tenant, "empty_claim") == 0

        history = await raw.history("wf-2")
        started = [e for e in history if e["event_type"] == "WORKFLOW_TASK_STARTED"]
        assert started[0]["attributes"]["identity"] == "p2"


async def test_a_poller_that_hung_up_passes_its_task_to_the_next(slow_fallback):
    base_url = slow_fallback
    async with tenant_on(base_url) as tenant:
        raw = Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:6]}")
        gone = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {tenant.admin_key}"}
        )
        first = poll(
            Tenant(tenant.name, tenant.admin_key, tenant.namespace, gone),
            raw.q,
            "workflow",
            "hung-up",
        )
        await until_waiting(base_url, "workflow", 1)
        second = poll(tenant, raw.q, "workflow", "still-here")
        await until_waiting(base_url, "workflow", 2)
        first.cancel()
        await gone.aclose()  # the oldest poller's connection is closed

        await raw.start("handed-on")
        task = await asyncio.wait_for(second, 20)
        assert task is not None and task["workflow_id"] == "handed-on"
        started = [
            e for e in await raw.history("handed-on") if e["event_type"] == "WORKFLOW_TASK_STARTED"
        ]
        assert [e["attributes"]["identity"] for e in started] == ["still-here"]


async def test_idle_polls_look_once_per_queue_and_interval_and_never_claim(database_url):
    fallback, wait, polls = 0.2, 2.0, 40
    async with own_server(database_url, fallback=fallback) as (base_url, tenant):
        queue = f"q-{uuid.uuid4().hex[:6]}"
        waiting = [poll(tenant, queue, "activity", f"idle-{i}", wait=wait) for i in range(polls)]
        assert await asyncio.gather(*waiting) == [None] * polls

        # One arrival look plus one look per fallback interval, whatever the number of polls
        # (each poll claiming once per interval would make 400 transactions).
        assert await looks(base_url, tenant, "empty_claim", "activity") == 0
        assert await looks(base_url, tenant, "empty_look", "activity") <= 2 + wait / fallback + 2


async def test_tasks_added_together_go_to_as_many_waiting_pollers(slow_fallback):
    base_url = slow_fallback
    async with tenant_on(base_url) as tenant:
        raw = Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:6]}")
        await raw.start("fan-out")
        task = await raw.next_workflow_task()
        workers = [poll(tenant, raw.q, "activity", f"w{i}") for i in range(5)]
        await until_waiting(base_url, "activity", 5)
        await raw.complete(task, *[schedule_activity(str(i)) for i in range(5)])

        taken = await asyncio.wait_for(asyncio.gather(*workers), 20)
        assert sorted(t["activity_id"] for t in taken) == ["0", "1", "2", "3", "4"]
        assert await looks(base_url, tenant, "empty_claim", "activity") == 0


async def test_a_backlog_is_drained_by_arriving_polls_and_shown_with_its_age(slow_fallback):
    base_url = slow_fallback
    async with tenant_on(base_url) as tenant:
        raw = Raw(tenant, task_queue=f"q-{uuid.uuid4().hex[:6]}")
        for i in range(6):
            await raw.start(f"backlog-{i}")
        view = (await tenant.client.get(tenant.ns(f"/task-queues/{raw.q}"))).json()
        assert view["backlog"] == {"workflow_tasks": 6, "activity_tasks": 0}
        assert view["backlog_age_seconds"]["workflow"] >= 0
        assert view["backlog_age_seconds"]["activity"] is None

        async def worker(identity: str) -> list[str]:
            taken = []
            while (task := await poll(tenant, raw.q, "workflow", identity, wait=1)) is not None:
                taken.append(task["workflow_id"])
            return taken

        drained = await asyncio.wait_for(asyncio.gather(worker("a"), worker("b")), 30)
        assert sorted(drained[0] + drained[1]) == [f"backlog-{i}" for i in range(6)]
        view = (await tenant.client.get(tenant.ns(f"/task-queues/{raw.q}"))).json()
        assert view["backlog"]["workflow_tasks"] == 0
        assert view["backlog_age_seconds"]["workflow"] is None


async def test_a_poller_is_present_while_its_poll_is_open(slow_fallback):
    base_url = slow_fallback
    async with tenant_on(base_url) as tenant:
        queue = f"q-{uuid.uuid4().hex[:6]}"
        open_poll = poll(tenant, queue, "activity", "long-poller", wait=3)
        await until_waiting(base_url, "activity", 1)
        view = (await tenant.client.get(tenant.ns(f"/task-queues/{queue}"))).json()
        [poller] = view["pollers"]
        assert poller["identity"] == "long-poller" and poller["present"] is True
        opened = datetime.fromisoformat(poller["last_poll_time"])
        until = datetime.fromisoformat(poller["open_until"])
        assert 2.9 <= (until - opened).total_seconds() <= 3.1
        assert await open_poll is None


@pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="several server processes share a database only on PostgreSQL",
)
async def test_a_notify_from_another_replica_wakes_one_waiter(database_url):
    with fresh_database(database_url) as url:
        settings = Settings(
            database_url=url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.DEVELOPMENT,
            poll_fallback_seconds=120,
        )
        async with serve_app(settings) as a, serve_app(settings) as b:
            async with tenant_on(a.base_url) as on_a, tenant_on(b.base_url) as other:
                on_b = Tenant(on_a.name, on_a.admin_key, on_a.namespace, other.client)
                other.client.headers["Authorization"] = f"Bearer {on_a.admin_key}"
                queue = f"q-{uuid.uuid4().hex[:6]}"
                polls = [poll(on_b, queue, "workflow", f"b{i}", wait=5) for i in range(3)]
                await until_waiting(b.base_url, "workflow", 3)

                # Replica A has no waiter: its NOTIFY reaches B, which offers it to one.
                await Raw(on_a, task_queue=queue).start("from-a")
                done, pending = await asyncio.wait(polls, timeout=20, return_when="FIRST_COMPLETED")
                assert [t.result()["workflow_id"] for t in done] == ["from-a"]
                assert await asyncio.gather(*pending) == [None, None]
                assert await looks(b.base_url, on_b, "claimed") == 1
                assert await looks(b.base_url, on_b, "empty_claim") == 0
