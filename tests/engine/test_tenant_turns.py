"""Turns between tenants (app/api/tenant_limits/admission.py): a tenant's requests beyond its
requests at work wait their turn in its own queue, beyond its requests in flight they are
refused 429 at once, and another tenant's request is served meanwhile. Raw HTTP only.

The server here allows one request at work and two in flight per tenant; a request whose body
has not all arrived yet holds its turn, which is how the test keeps tenant A busy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import orjson

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, new_tenant, serve_app
from tests.engine_helpers import uid
from tests.tenancy_helpers import assert_problem


@contextlib.asynccontextmanager
async def one_request_at_work(server) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    settings = Settings(
        database_url=server.database_url,
        admin_token=ADMIN_TOKEN,
        environment=Environment.DEVELOPMENT,
        run_background_loops=False,
        tenant_requests_at_work=1,
        tenant_max_requests_in_flight=2,
    )
    async with serve_app(settings) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
            yield http, running


class HalfSentStart:
    """A start sent over a raw connection with its body cut short; `finish()` sends the rest
    and reads the answer's status line."""

    def __init__(self, base_url: str, key: str, path: str) -> None:
        self.address = urlsplit(base_url)
        self.key, self.path = key, path
        self.body = orjson.dumps({"workflow_type": "Flow", "task_queue": "q"})

    async def send_half(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.address.hostname, self.address.port
        )
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.address.netloc}\r\n"
            f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + self.body[:5])
        await self.writer.drain()

    async def finish(self) -> int:
        self.writer.write(self.body[5:])
        await self.writer.drain()
        status_line = await asyncio.wait_for(self.reader.readline(), 30)
        self.writer.close()
        return int(status_line.split()[1])


async def until_requests(running, tenant_id: str, at_work: int, waiting: int) -> None:
    """Until the gate counts that many of the tenant's requests (bounded)."""
    gate = running.app.state.admission
    for _ in range(1000):
        if gate.requests(tenant_id) == (at_work, waiting):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never saw {at_work} at work and {waiting} waiting")


async def test_a_tenant_beyond_its_requests_in_flight_gets_429_while_another_is_served(server):
    async with one_request_at_work(server) as (http, running):
        a, b = await new_tenant(http), await new_tenant(http)
        a_id = (await a.client.get("/api/v1/me")).json()["tenant_id"]
        first, second = (
            HalfSentStart(running.base_url, a.admin_key, a.ns(f"/workflows/{uid()}"))
            for _ in range(2)
        )
        await first.send_half()
        await until_requests(running, a_id, 1, 0)  # at work, waiting for its body
        await second.send_half()
        await until_requests(running, a_id, 1, 1)  # waiting for its turn

        refused = await a.client.post(
            a.ns(f"/workflows/{uid()}"), json={"workflow_type": "Flow", "task_queue": "q"}
        )
        served = await b.client.post(
            b.ns(f"/workflows/{uid()}"), json={"workflow_type": "Flow", "task_queue": "q"}
        )
        answers = [await first.finish(), await second.finish()]
        count = await a.client.get(a.ns("/workflow-count"))
        for tenant in (a, b):
            await tenant.client.aclose()

    body = assert_problem(refused, 429, "rate-limited")
    assert refused.headers["Retry-After"] == "1"
    assert body["limit_kind"] == "requests_in_flight" and body["limit_scope"] == "tenant"
    assert served.status_code == 201, served.text  # tenant B did not wait for A's turns
    assert answers == [201, 201]  # A's queued request had its turn after the first
    assert count.json()["count"] == 2  # the refused start started nothing


async def test_a_waiting_long_poll_gives_its_turn_to_the_tenants_next_request(server):
    async with one_request_at_work(server) as (http, running):
        a = await new_tenant(http)
        poll = asyncio.create_task(
            a.client.post(
                a.ns("/task-queues/q/workflow-tasks/poll"), json={"identity": "w", "wait": 30}
            )
        )
        me = (await a.client.get("/api/v1/me")).json()
        await a.client.get(a.ns("/workflow-count"))  # the namespace is now cached
        namespace = running.ctx.auth_cache.namespace(me["tenant_id"], a.namespace)
        for _ in range(1000):  # until the poll waits (bounded)
            if running.app.state.limiter.long_polls(namespace.id) == 1:
                break
            await asyncio.sleep(0.01)

        started = await a.client.post(
            a.ns(f"/workflows/{uid()}"), json={"workflow_type": "Flow", "task_queue": "q"}
        )
        polled = await poll
        await a.client.aclose()

    assert started.status_code == 201, started.text  # not held behind the waiting poll
    assert (
        polled.status_code == 200 and polled.json()["workflow_id"] == started.json()["workflow_id"]
    )
