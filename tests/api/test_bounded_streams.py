"""Every held connection bounded (issue 28, kind 1): event streams send small slices with write
back-pressure and drop a reader that stalls; streams and result/history waits count against
per-namespace and per-tenant caps (429 + Retry-After); idle waits share one fallback look per
process and are woken by the run's own change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, RunningServer, Tenant, new_tenant, serve_app
from tests.console.test_console_sessions import sign_in_form
from tests.engine_helpers import signal, uid
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem


@contextlib.asynccontextmanager
async def own_server(server: RunningServer, **settings: Any) -> AsyncIterator[RunningServer]:
    """A server of its own on the suite's database, with `settings`."""
    async with serve_app(
        Settings(
            database_url=server.database_url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.DEVELOPMENT,
            run_background_loops=False,
            **settings,
        )
    ) as running:
        yield running


@contextlib.asynccontextmanager
async def tenant_of(running: RunningServer, namespace: str = "main") -> AsyncIterator[Tenant]:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
        tenant = await new_tenant(http, namespace)
        try:
            yield tenant
        finally:
            await tenant.client.aclose()


async def open_run(tenant: Tenant) -> str:
    workflow_id = uid()
    await Raw(tenant, uid("q")).start(workflow_id)
    return workflow_id


async def held_waits_of(running: RunningServer, tenant: Tenant) -> Any:
    """A function answering the event streams and result/history waits the server holds open
    now (the server is the test's own: they are all the tenant's)."""
    return lambda: running.app.state.limiter.held_waits()


class Captured(logging.Handler):
    """Every record at WARNING or above, and every record carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or record.exc_info:
            self.records.append(record)


@contextlib.contextmanager
def captured_logs() -> Iterator[Captured]:
    handler = Captured()
    loggers = [
        logging.getLogger(),
        logging.getLogger("uvicorn"),
        logging.getLogger("uvicorn.error"),
    ]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def until(condition: Any, seconds: float) -> None:
    """Wait (checking every 50 ms) until `condition()` is true; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


class SilentReader:
    """An event stream opened over a raw socket with a tiny receive buffer, never read."""

    def __init__(self, base_url: str, key: str, path: str) -> None:
        self.address = urlsplit(base_url)
        self.key, self.path = key, path

    async def open(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(
            sock, (self.address.hostname, self.address.port)
        )
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=4096)
        self.writer.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.address.netloc}\r\n"
            f"Authorization: Bearer {self.key}\r\n\r\n".encode()
        )
        await self.writer.drain()

    async def drain_to_end(self) -> bytes:
        """Read what is left until the server closes the connection."""
        chunks = []
        with contextlib.suppress(ConnectionError):
            while chunk := await self.reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.writer.close()


async def test_a_reader_that_stops_reading_is_dropped_after_the_stall_limit(server):
    with contextlib.ExitStack() as stack:
        await reader_dropped_after_the_stall_limit(server, stack)


async def reader_dropped_after_the_stall_limit(server: RunningServer, stack: Any) -> None:
    async with own_server(server, stream_stall_seconds=1.0) as running:
        async with tenant_of(running) as tenant:
            workflow_id = await open_run(tenant)
            big = "x" * 400_000  # 12 signals of 400 KB: far more than the socket buffers
            for i in range(12):
                r = await signal(tenant, workflow_id, f"s{i}", big)
                assert r.status_code == 202, r.text

            reader = SilentReader(
                running.base_url,
                tenant.admin_key,
                tenant.ns(f"/workflows/{workflow_id}/events/stream"),
            )
            held = await held_waits_of(running, tenant)
            logs = stack.enter_context(captured_logs())
            await reader.open()
            await until(lambda: held() == 1, 10)
            # Nothing read: the server stops writing, and after the stall limit gives the slot
            # back and closes the connection.
            await until(lambda: held() == 0, 15)
            received = await asyncio.wait_for(reader.drain_to_end(), 15)
            reader.close()
            # Cut without an error: the stall is a hang-up, logged at DEBUG at most.
            assert [r.getMessage() for r in logs.records if r.levelno >= logging.ERROR] == []
            assert received.startswith(b"HTTP/1.1 200")
            assert len(received) < 12 * 400_000  # cut short, not the whole history
            assert b"event: closed" not in received


async def test_streams_and_result_waits_share_a_cap_per_namespace(server):
    async with own_server(server, namespace_max_held_waits=2) as running:
        async with tenant_of(running) as tenant:
            workflow_id = await open_run(tenant)
            held_now = await held_waits_of(running, tenant)
            stream = tenant.ns(f"/workflows/{workflow_id}/events/stream")
            async with contextlib.AsyncExitStack() as held:
                first = await held.enter_async_context(tenant.client.stream("GET", stream))
                assert first.status_code == 200
                result = asyncio.create_task(
                    tenant.client.get(tenant.ns(f"/workflows/{workflow_id}/result?wait=20"))
                )
                await until(lambda: held_now() == 2, 10)

                refused = [
                    await tenant.client.get(stream),
                    await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}/result?wait=5")),
                    await tenant.client.get(
                        tenant.ns(f"/workflows/{workflow_id}/history?wait_new_event=true&wait=5")
                    ),
                ]
                for r in refused:
                    assert_problem(r, 429)
                    assert r.json()["limit_kind"] == "held_waits"
                    assert int(r.headers["Retry-After"]) >= 1
                # A wait that holds nothing (wait=0) and plain reads still pass.
                assert (
                    await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}/result?wait=0"))
                ).status_code == 200
                assert (
                    await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}/history"))
                ).status_code == 200
                result.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await result
            # The stream closed and the wait left: both slots are free again.
            await until(lambda: held_now() == 0, 10)
            async with tenant.client.stream("GET", stream) as again:
                assert again.status_code == 200


async def test_the_tenant_cap_covers_all_its_namespaces(server):
    async with own_server(server, namespace_max_held_waits=5, tenant_max_held_waits=2) as running:
        async with tenant_of(running) as tenant:
            other_ns = uid("ns")
            r = await tenant.client.post("/api/v1/namespaces", json={"name": other_ns})
            assert r.status_code == 201, r.text
            first = await open_run(tenant)
            async with contextlib.AsyncExitStack() as held:
                for _ in range(2):
                    s = await held.enter_async_context(
                        tenant.client.stream("GET", tenant.ns(f"/workflows/{first}/events/stream"))
                    )
                    assert s.status_code == 200
                second = uid()
                r = await tenant.client.post(
                    f"/api/v1/namespaces/{other_ns}/workflows/{second}",
                    json={"workflow_type": "Flow", "task_queue": "q"},
                )
                assert r.status_code == 201, r.text
                r = await tenant.client.get(
                    f"/api/v1/namespaces/{other_ns}/workflows/{second}/events/stream"
                )
                assert_problem(r, 429)
                assert r.json()["limit_scope"] == "tenant"


async def test_a_change_made_elsewhere_reaches_waiters_through_one_fallback_look(server):
    """Server B changes the run; server A's waiters get no wake-up from it on SQLite (no NOTIFY),
    so A's shared fallback look finds the change and wakes them all — one statement per look,
    however many wait."""
    async with (
        own_server(server, poll_fallback_seconds=0.3) as a,
        own_server(server, poll_fallback_seconds=30) as b,
    ):
        async with tenant_of(a) as tenant:
            runs = [await open_run(tenant) for _ in range(3)]
            held = await held_waits_of(a, tenant)
            db = a.ctx.db
            reads = 0
            read = db.read

            def counted_read(*args: Any, **kwargs: Any) -> Any:
                nonlocal reads
                reads += 1
                return read(*args, **kwargs)

            db.read = counted_read  # type: ignore[method-assign]  (counts, changes nothing)
            try:
                waits = [
                    asyncio.create_task(
                        tenant.client.get(tenant.ns(f"/workflows/{run}/result?wait=25"))
                    )
                    for run in runs
                    for _ in range(10)
                ]
                await until(lambda: held() == 30, 10)
                looks = a.app.state.engine.waits.fallback_looks
                reads = 0
                await asyncio.sleep(1.5)  # idle: about five fallback periods
                fallback = a.app.state.engine.waits.fallback_looks - looks
                # One statement per fallback period for all 30 waiters on 3 runs; waiters that
                # each looked every period would read 150 times.
                assert 2 <= fallback <= 6
                assert reads == fallback

                async with httpx.AsyncClient(
                    base_url=b.base_url, headers=tenant.client.headers, timeout=30
                ) as via_b:
                    for run in runs:
                        r = await via_b.post(
                            tenant.ns(f"/workflows/{run}/terminate"), json={"reason": "elsewhere"}
                        )
                        assert r.status_code in (200, 202), r.text
                answers = await asyncio.wait_for(asyncio.gather(*waits), 10)
            finally:
                db.read = read  # type: ignore[method-assign]
            assert {answer.json()["status"] for answer in answers} == {"TERMINATED"}


async def test_a_console_page_stream_counts_against_the_same_caps(server):
    async with own_server(server, namespace_max_held_waits=1) as running:
        async with tenant_of(running) as tenant:
            workflow_id = uid()
            started = await Raw(tenant, uid("q")).start(workflow_id)
            held = await held_waits_of(running, tenant)
            async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser:
                token = await sign_in_form(browser)
                await browser.post(
                    "/console/sign-in", data={"api_key": tenant.admin_key, "csrf_token": token}
                )
                page_stream = (
                    f"/console/n/{tenant.namespace}/workflows/{workflow_id}"
                    f"/runs/{started['run_id']}/stream"
                )
                async with browser.stream("GET", page_stream) as opened:
                    assert opened.status_code == 200
                    await until(lambda: held() == 1, 10)
                    refused = await tenant.client.get(
                        tenant.ns(f"/workflows/{workflow_id}/events/stream")
                    )
                    assert_problem(refused, 429)
            await until(lambda: held() == 0, 10)
