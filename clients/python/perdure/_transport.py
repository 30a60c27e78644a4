"""A lean httpx transport: HTTP/1.1 via h11 over asyncio protocols, for plain-http servers.

httpx's default transport (httpcore over anyio) spends most of the SDK's CPU on a busy
worker: cancel scopes, locks and a socket check of every pooled connection per request.
Perdure's calls are small JSON exchanges on keep-alive connections, so this transport keeps
only what they need: asyncio protocol connections, idle ones in a last-in-first-out stack,
one exchange per connection at a time. The HTTP/1.1 framing is h11's, as in httpcore: it
writes the request, reads the status line and headers (skipping informational answers) and
the body (Content-Length, chunked, or until the server closes), and says whether the
connection may carry another request. httpx stays the SDK's client: its requests, responses
and errors are the ones callers see; `https://` addresses keep httpx's own transport.

Rules that keep cancellation and errors as they were:

- A connection carries one exchange at a time. Any failure or cancellation before the whole
  answer is read closes the connection: a late answer can never be read by the next request.
- Nothing waits for a free connection (no pool limit), so no request can wait on another.
- Timeouts are httpx's (`connect`, `read`: between bytes of the answer, `write`: while the
  socket's buffer is full) and raise httpx's timeout errors; a broken or closed connection
  raises httpx's `ConnectError`, `ReadError`, `WriteError` or `RemoteProtocolError`, all
  `httpx.TransportError`s, which the worker retries as before.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import h11
import httpx

# An idle connection is not reused after this many seconds: uvicorn closes keep-alive
# connections after 5 s, and one closing while a request is sent on it would fail it.
KEEPALIVE_EXPIRY = 4.0
MAX_IDLE = 500
# An answer's status line and headers, or a chunk-size line (Perdure sends well under 1 KiB).
MAX_HEAD = 64 * 1024


class LeanTransport(httpx.AsyncBaseTransport):
    """Plain-http keep-alive connections for an `httpx.AsyncClient` (see the module doc)."""

    def __init__(
        self, *, keepalive_expiry: float = KEEPALIVE_EXPIRY, max_idle: int = MAX_IDLE
    ) -> None:
        self._idle: dict[tuple[str, int], collections.deque[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._keepalive_expiry = keepalive_expiry
        self._max_idle = max_idle
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` and read its whole answer; httpx's TransportErrors on failure."""
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(
                f"the lean transport speaks plain http, not {url.scheme!r}", request=request
            )
        if self._closed:
            raise RuntimeError("the transport is closed")
        timeouts = request.extensions.get("timeout") or {}
        body = await request.aread()
        key = (url.host, url.port or 80)
        loop = asyncio.get_running_loop()
        conn = self._checkout(key, loop.time())
        if conn is None:
            conn = await _connect(loop, key, timeouts.get("connect"), request)
        self._busy.add(conn)
        try:
            response, reusable = await conn.exchange(request, body, timeouts)
        except BaseException:
            # Cancelled or failed mid-exchange: its answer may still come, so the connection
            # must never carry another request.
            conn.close()
            raise
        finally:
            self._busy.discard(conn)
        if reusable and not self._closed:
            self._checkin(key, conn, loop.time())
        else:
            conn.close()
        return response

    def _checkout(self, key: tuple[str, int], now: float) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()  # the newest: the least likely to be closing
            if conn.reusable_at(now - self._keepalive_expiry):
                return conn
            conn.close()
        return None

    def _checkin(self, key: tuple[str, int], conn: _Connection, now: float) -> None:
        conn.idle_since = now
        idle = self._idle.setdefault(key, collections.deque())
        idle.append(conn)
        oldest = now - self._keepalive_expiry
        while idle and (len(idle) > self._max_idle or idle[0].idle_since < oldest):
            idle.popleft().close()

    async def aclose(self) -> None:
        """Close every connection; exchanges in flight fail with a RemoteProtocolError."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        for conn in list(self._busy):
            conn.close()


async def _connect(
    loop: asyncio.AbstractEventLoop, key: tuple[str, int], seconds: float | None, request: Any
) -> _Connection:
    try:
        async with asyncio.timeout(seconds):
            _, conn = await loop.create_connection(lambda: _Connection(loop), *key)
    except TimeoutError as err:
        raise httpx.ConnectTimeout("timed out connecting", request=request) from err
    except OSError as err:
        raise httpx.ConnectError(str(err), request=request) from err
    return conn


class _Connection(asyncio.Protocol):
    """One keep-alive connection: its h11 state (which buffers what arrives) and the one
    exchange waiting on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.waiter: asyncio.Future[bool] | None = None
        # The server ended the stream (h11 is told only when it needs more, see _next_event).
        self.eof = False
        self.error: BaseException | None = None
        self.paused = False
        self.idle_since = 0.0

    # -- asyncio's callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio gives connection_made a transport of this kind

    def data_received(self, data: bytes) -> None:
        self.h11.receive_data(data)
        self._wake(True)

    def eof_received(self) -> bool:
        self.eof = True
        self._wake(True)
        return False  # let asyncio close the transport

    def connection_lost(self, exc: BaseException | None) -> None:
        self.eof = True
        self.error = exc
        self.paused = False
        self._wake(True)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake(True)

    def _wake(self, value: bool) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    # -- the exchange -----------------------------------------------------------------------

    def reusable_at(self, idle_after: float) -> bool:
        """Whether this idle connection may carry a request (open, quiet, not expired)."""
        return (
            not self.eof
            and self.idle_since >= idle_after
            and self.transport is not None
            and not self.transport.is_closing()
            and not self.h11.trailing_data[0]  # nothing arrived unasked
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def _wait(self, seconds: float | None) -> bool:
        """Wait for bytes, the end of the stream or room to write; False when `seconds`
        passed first (None: no limit)."""
        waiter = self.waiter = self.loop.create_future()
        timer = None if seconds is None else self.loop.call_later(seconds, self._wake, False)
        try:
            return await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    async def exchange(
        self, request: httpx.Request, body: bytes, timeouts: dict[str, float | None]
    ) -> tuple[httpx.Response, bool]:
        """Write the request, read the answer: (response, whether the connection is reusable)."""
        assert self.transport is not None
        if self.eof:
            raise self._broken(request)
        h = self.h11
        try:
            data = h.send(
                h11.Request(
                    method=request.method, target=request.url.raw_path, headers=request.headers.raw
                )
            )
            if body:
                data += h.send(h11.Data(data=body))
            data += h.send(h11.EndOfMessage())
        except h11.LocalProtocolError as err:
            raise httpx.LocalProtocolError(str(err), request=request) from err
        self.transport.write(data)
        while self.paused:
            if not await self._wait(timeouts.get("write")):
                raise httpx.WriteTimeout("timed out writing the request", request=request)
        if self.error is not None and not h.trailing_data[0]:  # lost before any answer
            raise httpx.WriteError(str(self.error), request=request)

        read_timeout = timeouts.get("read")
        head = await self._next_event(read_timeout, request)
        while type(head) is h11.InformationalResponse:  # 100 Continue precedes the answer
            head = await self._next_event(read_timeout, request)
        if type(head) is not h11.Response:
            raise httpx.RemoteProtocolError(f"unexpected {head!r}", request=request)
        chunks: list[bytes] = []
        while True:
            event = await self._next_event(read_timeout, request)
            if type(event) is h11.Data:
                chunks.append(event.data)
            elif type(event) is h11.EndOfMessage:
                break
            else:
                raise httpx.RemoteProtocolError(f"unexpected {event!r}", request=request)
        response = httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            content=b"".join(chunks),
            extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
        )
        # h11 knows whether both sides may go on (keep-alive, Connection: close, HTTP/1.0).
        reusable = h.our_state is h11.DONE and h.their_state is h11.DONE and not self.eof
        if reusable:
            h.start_next_cycle()
        return response, reusable

    async def _next_event(self, seconds: float | None, request: httpx.Request) -> Any:
        """h11's next event of the answer, waiting for bytes as long as it needs them."""
        h = self.h11
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as err:
                raise httpx.RemoteProtocolError(str(err), request=request) from err
            if event is not h11.NEED_DATA:
                return event
            if self.eof:
                if self.error is not None or h.their_state is h11.SEND_RESPONSE:
                    raise self._broken(request)
                if h.trailing_data[1]:  # h11 knows of the end and still needs bytes
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body",
                        request=request,
                    )
                h.receive_data(b"")  # the end of a close-delimited body, or h11's error
            elif not await self._wait(seconds):
                raise httpx.ReadTimeout("timed out reading the answer", request=request)

    def _broken(self, request: httpx.Request) -> httpx.TransportError:
        """The error for a connection that ended before an answer began (as httpcore's)."""
        if self.error is not None:
            return httpx.ReadError(str(self.error) or type(self.error).__name__, request=request)
        return httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
