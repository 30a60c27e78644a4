"""The SDK's lean HTTP transport against a scripted server: keep-alive reuse, the three ways
an answer's body ends, and what cancellation, timeouts and broken connections leave behind
(never a connection whose late answer the next request could read)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
from perdure._transport import LeanTransport

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


def answer(body: bytes, *, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n" % len(body) + extra + b"\r\n" + body
    )


class Scripted:
    """A server that reads each request's head and lets `handler` answer it; it counts the
    connections it accepted and those the client closed."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.closed_by_client = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                await self.handler(head + body, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[tuple[Scripted, httpx.AsyncClient]]:
    server = Scripted(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", transport=LeanTransport(), timeout=5
    )
    try:
        yield server, client
    finally:
        await client.aclose()
        for writer in server.writers:
            writer.close()
        listener.close()
        await asyncio.wait_for(listener.wait_closed(), 5)


async def until(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def echo_path(request: bytes, writer: asyncio.StreamWriter) -> None:
    path = request.split(b" ")[1]
    writer.write(answer(b'{"path": "%b"}' % path))


async def test_answers_reuse_one_keep_alive_connection():
    async with scripted(echo_path) as (server, client):
        for i in range(3):
            r = await client.post(f"/p{i}", json={"i": i}, params={"q": "a b"})
            assert r.status_code == 200
            assert r.json() == {"path": f"/p{i}?q=a+b"}
        assert server.connections == 1


async def test_chunked_and_close_delimited_bodies_are_read_whole():
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> None:
        if b"/chunked" in request:
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
            )
        else:
            writer.write(b"HTTP/1.0 201 Created\r\nX-A: b\r\n\r\nuntil the end")
            await writer.drain()
            writer.close()

    async with scripted(chunked) as (server, client):
        r = await client.get("/chunked")
        assert r.content == b"abcde"
        r = await client.get("/close")
        assert (r.status_code, r.content, r.headers["x-a"]) == (201, b"until the end", "b")
        r = await client.get("/chunked")  # a new connection: the last one was closed
        assert r.content == b"abcde"
        assert server.connections == 2


async def test_informational_answers_are_skipped_and_connection_close_is_honoured():
    async def various(request: bytes, writer: asyncio.StreamWriter) -> None:
        if b"/continue" in request:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"after"))
        elif b"/close" in request:
            writer.write(answer(b"last", extra=b"Connection: close\r\n"))
        else:
            writer.write(answer(b"ok"))

    async with scripted(various) as (server, client):
        r = await client.get("/continue")
        assert (r.status_code, r.content) == (200, b"after")
        assert (await client.get("/close")).content == b"last"
        assert server.connections == 1
        assert (await client.get("/ok")).content == b"ok"  # not on the closed connection
        assert server.connections == 2


async def test_a_cancelled_request_closes_its_connection_and_its_late_answer_is_never_read():
    released = asyncio.Event()

    async def slow_first(request: bytes, writer: asyncio.StreamWriter) -> None:
        if b"/slow" in request:
            await released.wait()
            writer.write(answer(b"late"))
        else:
            writer.write(answer(b"fresh"))

    async with scripted(slow_first) as (server, client):
        poll = asyncio.create_task(client.get("/slow"))
        await until(lambda: server.connections == 1)
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
        released.set()
        r = await client.get("/fresh")
        assert r.content == b"fresh"
        assert server.connections == 2
        await until(lambda: server.closed_by_client >= 1)


async def test_a_read_timeout_raises_httpx_read_timeout_and_drops_the_connection():
    async def first_silent(request: bytes, writer: asyncio.StreamWriter) -> None:
        if b"/silent" not in request:
            writer.write(answer(b"ok"))

    async with scripted(first_silent) as (server, client):
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/silent", timeout=0.2)
        assert (await client.get("/ok")).content == b"ok"
        assert server.connections == 2


async def test_an_idle_connection_the_server_closed_is_not_reused():
    async def answer_then_close(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(b"ok"))
        await writer.drain()
        writer.close()

    async with scripted(answer_then_close) as (server, client):
        assert (await client.get("/a")).content == b"ok"
        await asyncio.sleep(0.05)  # the end of the stream reaches the idle connection
        assert (await client.get("/b")).content == b"ok"
        assert server.connections == 2


async def test_broken_connections_raise_httpx_transport_errors():
    async def hang_up(request: bytes, writer: asyncio.StreamWriter) -> None:
        if b"/half" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            await writer.drain()
        writer.close()

    async with scripted(hang_up) as (_, client):
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.post("/none", json={})
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await client.get("/half")
        with pytest.raises(httpx.LocalProtocolError):
            await client.get("/x", headers={"X-Bad": "a\r\nInjected: 1"})
    with socket_of_nobody() as port:
        nobody = httpx.AsyncClient(transport=LeanTransport(), timeout=5)
        with pytest.raises(httpx.ConnectError):
            await nobody.get(f"http://127.0.0.1:{port}/")
        await nobody.aclose()


@contextlib.contextmanager
def socket_of_nobody() -> Iterator[int]:
    """A local port that nothing listens on (bound, not listening, while the test runs)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


async def test_the_sdk_sends_on_the_lean_path_what_httpx_s_client_would_send(monkeypatch):
    """Same request line, headers (the client's, rpc_metadata at connect and per call, the
    Idempotency-Key, the JSON content type) and body on both paths; rpc_timeout bounds a call."""
    from datetime import timedelta

    import perdure._http
    from perdure.client import Client

    seen: list[bytes] = []

    async def record(request: bytes, writer: asyncio.StreamWriter) -> None:
        seen.append(request)
        if b"/slow" not in request:
            writer.write(answer(b'{"run_id": "r1"}', status=b"201 Created"))

    def parsed(raw: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
        head, _, body = raw.partition(b"\r\n\r\n")
        line, *fields = head.split(b"\r\n")
        headers = {}
        for field in fields:
            name, _, value = field.partition(b":")
            headers[name.strip().lower()] = value.strip()
        return line, headers, body

    async def calls(client: Client) -> None:
        await client.start_workflow(
            "W", 1, id="a b/c", task_queue="q", request_id="key-1", rpc_metadata={"X-A": "2"}
        )
        await client.http.call("GET", "/workflows/x/history", params={"run_id": "r 1"})
        with pytest.raises(httpx.ReadTimeout):  # a write: not retried
            await client.http.call("POST", "/slow", json={}, rpc_timeout=timedelta(seconds=0.2))

    async with scripted(record) as (_, http):
        url = str(http.base_url).rstrip("/")
        for lean in (True, False):
            monkeypatch.setattr(perdure._http, "lean_transport_fits", lambda _a, lean=lean: lean)
            client = await Client.connect(
                url,
                api_key="k",
                namespace="n s",
                identity="me",
                rpc_metadata={"X-A": "1"},
                lazy=True,  # the scripted server records every request, a connect check too
            )
            assert (client.http._lean is not None) is lean
            await calls(client)
            await client.close()
    assert len(seen) == 6
    for lean_raw, httpx_raw in zip(seen[:3], seen[3:], strict=True):
        assert parsed(lean_raw) == parsed(httpx_raw)
    line, headers, body = parsed(seen[0])
    assert line == b"POST /api/v1/namespaces/n%20s/workflows/a%20b%2Fc HTTP/1.1"
    assert headers[b"authorization"] == b"Bearer k"
    assert headers[b"x-a"] == b"2"
    assert headers[b"idempotency-key"] == b"key-1"
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(body)).encode()
    assert (
        parsed(seen[1])[0]
        == b"GET /api/v1/namespaces/n%20s/workflows/x/history?run_id=r+1 HTTP/1.1"
    )
