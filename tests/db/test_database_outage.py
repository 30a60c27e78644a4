"""A database that goes away (issue #12): every route answers 503 with Retry-After on a kept
connection, the log gets one line per failure instead of tracebacks, and the server recovers
without a restart with nothing lost. And any 500 is a problem on a kept connection too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import uuid

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.db.database import Database
from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, Tenant, fresh_database, new_tenant, serve_app
from tests.tenancy_helpers import assert_problem

START = {"workflow_type": "T", "task_queue": "q"}


def local_address(response: httpx.Response) -> object:
    """The client side of the TCP connection that carried the response."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, admin_token=ADMIN_TOKEN, environment=Environment.DEVELOPMENT)


class Proxy:
    """A TCP relay on 127.0.0.1 in front of PostgreSQL that can refuse connections, so the
    database goes away for one server without stopping the shared cluster."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


async def requests_while_down(t: Tenant) -> list[httpx.Response]:
    c = t.client
    return [
        await c.get(t.ns("/workflows/w-before")),
        await c.post(t.ns("/workflows/w-during"), json=START),
        await c.post(t.ns("/task-queues/q/activity-tasks/poll"), json={"wait": 0}),
        await c.get(t.ns("/definitions")),
    ]


def assert_unavailable(response: httpx.Response) -> None:
    problem = assert_problem(response, 503, "unavailable")
    assert int(response.headers["Retry-After"]) > 0, problem


async def test_postgres_going_away_answers_503_and_recovers_without_a_restart(
    database_url: str, caplog: pytest.LogCaptureFixture
):
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only; SQLite's outage is a lock held by another process")
    real = make_url(database_url)
    proxy = Proxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.open()
    name = f"perdure-outage-{uuid.uuid4().hex[:8]}"
    proxied = real.set(host="127.0.0.1", port=proxy.port).update_query_dict(
        {"application_name": name}
    )
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    async with serve_app(settings_for(proxied.render_as_string(hide_password=False))) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
            t = await new_tenant(http)
            assert (await t.client.post(t.ns("/workflows/w-before"), json=START)).status_code == 201
            first = await t.client.get(t.ns("/workflows/w-before"))

            await proxy.cut()
            with admin.connect() as conn:  # the server's own backends only, on this database
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND datname = current_database()"
                    ),
                    {"name": name},
                )
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                down = await requests_while_down(t)
                ready = await http.get("/readyz")
                alive = await http.get("/healthz")

            for response in down:
                assert_unavailable(response)
            assert_problem(ready, 503, "unavailable")
            assert alive.status_code == 200
            assert local_address(down[-1]) == local_address(first)  # the connection was kept
            outage_lines = [r for r in caplog.records if r.name.startswith("perdure")]
            assert outage_lines and all(r.exc_info is None for r in outage_lines)
            assert len(outage_lines) <= 2 * len(down) + 2  # ~one line per failure, no floods

            await proxy.open()
            again = await t.client.post(t.ns("/workflows/w-during"), json=START)
            listed = await t.client.get(t.ns("/workflows"))
            assert (await http.get("/readyz")).status_code == 200

    admin.dispose()
    await proxy.cut()
    assert again.status_code == 201, again.text
    assert sorted(w["workflow_id"] for w in listed.json()["workflows"]) == ["w-before", "w-during"]


async def test_sqlite_locked_by_another_process_answers_503_to_writes_and_recovers(
    database_url: str,
):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    with fresh_database(database_url) as url:
        # A short wait for the lock keeps the test fast; the default is 10 s.
        db = Database(url, lock_timeout=0.2)
        async with serve_app(settings_for(url), db=db) as running:
            async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
                t = await new_tenant(http)
                assert (
                    await t.client.post(t.ns("/workflows/w-before"), json=START)
                ).status_code == 201
                first = await t.client.get(t.ns("/workflows/w-before"))
                other = sqlite3.connect(make_url(url).database, isolation_level=None)
                other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
                try:
                    write = await t.client.post(t.ns("/workflows/w-during"), json=START)
                    read = await t.client.get(t.ns("/workflows/w-before"))
                    alive = await http.get("/healthz")
                finally:
                    other.rollback()
                    other.close()
                again = await t.client.post(t.ns("/workflows/w-during"), json=START)

    assert_unavailable(write)
    assert read.status_code == 200  # readers go on under WAL
    assert alive.status_code == 200
    assert local_address(read) == local_address(first)
    assert again.status_code == 201, again.text


async def test_an_unexpected_error_is_a_500_problem_on_a_kept_connection(
    server, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
):
    async def fail() -> None:
        raise RuntimeError("a bug")

    # A route that fails like a bug would; every real input is refused before it gets this far.
    server.app.add_api_route("/test-only/bug", fail, include_in_schema=False)
    try:
        before = await http.get("/healthz")
        with caplog.at_level(logging.ERROR):
            failed = await http.get("/test-only/bug")
        after = await http.get("/healthz")
    finally:
        server.app.router.routes[:] = [
            r for r in server.app.router.routes if getattr(r, "path", "") != "/test-only/bug"
        ]

    assert_problem(failed, 500, "internal")
    assert after.status_code == 200
    assert local_address(before) == local_address(failed) == local_address(after)
    bugs = [r for r in caplog.records if r.exc_info]
    assert len(bugs) == 1 and "a bug" in str(bugs[0].exc_info[1])
