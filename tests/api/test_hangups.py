"""A client hanging up is normal (issue 28, kind 2): 500 connections closed at seeded points —
queued for their tenant's turn, admitted, waiting, mid-stream, mid-read, with half a body —
leave no traceback and no ERROR line in the log, and leave the pool clean (no connection
checked out, no session idle in a transaction)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa

from tests.api.test_bounded_streams import captured_logs, open_run, own_server, tenant_of, until
from tests.conftest import Tenant
from tests.engine_helpers import uid

SEED = 28
CONNECTIONS = 500
AT_ONCE = 50


def requests_for(tenant: Tenant, runs: list[str], host: str) -> list[bytes]:
    """What the clients send: waits, streams, reads, starts, and starts cut short."""
    auth = f"Host: {host}\r\nAuthorization: Bearer {tenant.admin_key}\r\n"

    def get(path: str) -> bytes:
        return f"GET {tenant.ns(path)} HTTP/1.1\r\n{auth}\r\n".encode()

    def start(whole: bool) -> bytes:
        body = orjson.dumps({"workflow_type": "Flow", "task_queue": "hangups"})
        head = (
            f"POST {tenant.ns('/workflows/' + uid())} HTTP/1.1\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + (body if whole else body[:7])

    run = runs[0]
    return [
        get(f"/workflows/{run}/events/stream"),
        get(f"/workflows/{run}/result?wait=20"),
        get(f"/workflows/{run}/history?wait_new_event=true&wait=20"),
        get(f"/workflows/{run}/history"),
        get("/workflows?page_size=50"),
        start(whole=True),
        start(whole=False),
    ]


async def hang_up(address: tuple[str, int], request: bytes, after: float, reset: bool) -> None:
    """Send `request`, wait `after` seconds, and close (with a TCP reset when `reset`)."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request)
    await writer.drain()
    await asyncio.sleep(after)
    if reset:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def test_five_hundred_clients_hanging_up_leave_no_error_and_a_clean_pool(server):
    rng = random.Random(SEED)
    # One request of a tenant at work at a time: most of the burst queues for its turn.
    async with own_server(
        server, tenant_requests_at_work=1, tenant_max_requests_in_flight=10_000
    ) as running:
        async with tenant_of(running) as tenant:
            runs = [await open_run(tenant) for _ in range(3)]
            url = urlsplit(running.base_url)
            address = (url.hostname, url.port)
            kinds = requests_for(tenant, runs, url.netloc)
            with captured_logs() as logs:
                for first in range(0, CONNECTIONS, AT_ONCE):
                    await asyncio.gather(
                        *(
                            hang_up(
                                address,
                                rng.choice(kinds),
                                rng.choice([0.0, 0.0005, 0.002, 0.01, 0.05, 0.2]),
                                reset=rng.random() < 0.5,
                            )
                            for _ in range(first, min(first + AT_ONCE, CONNECTIONS))
                        )
                    )
                limiter, db = running.app.state.limiter, running.ctx.db
                await until(lambda: limiter.held_waits() == 0, 30)
                await until(lambda: db.connections_in_use() == 0, 30)
                # The server still answers, and its tenant's queue is empty again.
                r = await tenant.client.get(tenant.ns(f"/workflows/{runs[0]}"))
                assert r.status_code == 200, r.text
                gate = running.app.state.admission
                await until(lambda: gate.requests(gate.share_of(tenant.admin_key)) == (0, 0), 10)

            bad = [
                f"{r.levelname} {r.name}: {r.getMessage()}"
                for r in logs.records
                if r.levelno >= logging.ERROR or r.exc_info
            ]
            assert bad == []
            if not server.database_url.startswith("sqlite"):
                assert idle_in_transaction(server.database_url) == 0


def idle_in_transaction(url: str) -> int:
    """Sessions of the database left inside a transaction with nothing running."""
    engine = sa.create_engine(url)
    deadline = time.monotonic() + 10
    try:
        while True:
            with engine.connect() as conn:
                count = conn.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                )
            if not count or time.monotonic() > deadline:
                return int(count or 0)
            time.sleep(0.2)
    finally:
        engine.dispose()
