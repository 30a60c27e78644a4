"""A lean httpx transport: HTTP/1.1 over asyncio protocols, for plain-http servers.

httpx's default transport (httpcore over anyio and h11) spends most of the SDK's CPU on a
busy worker: cancel scopes, locks and a socket check of every pooled connection per request,
and h11's state machine around each event. Perdure's calls are small JSON exchanges on
keep-alive connections, so this transport writes the request in one piece, reads the whole
answer (Content-Length, chunked, or until the server closes), and keeps idle connections in
a last-in-first-out stack. httpx stays the SDK's client: its requests, responses and errors
are the ones callers see; `https://` addresses keep httpx's own transport.

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
import re
from typing import Any

import httpx

# An idle connection is not reused after this many seconds: uvicorn closes keep-alive
# connections after 5 s, and one closing while a request is sent on it would fail it.
KEEPALIVE_EXPIRY = 4.0
MAX_IDLE = 500
# An answer's status line and headers (Perdure sends well under 1 KiB).
MAX_HEAD = 64 * 1024
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_NO_BODY = frozenset((204, 304))


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
        data = _serialize(request, await request.aread())
        key = (url.host, url.port or 80)
        loop = asyncio.get_running_loop()
        conn = self._checkout(key, loop.time())
        if conn is None:
            conn = await _connect(loop, key, timeouts.get("connect"), request)
        self._busy.add(conn)
        try:
            response, reusable = await conn.exchange(request, data, timeouts)
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
        """Close every connection; exchanges in flight fail with a ReadError."""
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


def _serialize(request: httpx.Request, body: bytes) -> bytes:
    """The request's bytes: request line, headers (checked as h11 checks them), body."""
    parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    chunked = False
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name):
            raise httpx.LocalProtocolError(f"Illegal header name {name!r}", request=request)
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise httpx.LocalProtocolError(f"Illegal header value {value!r}", request=request)
        if name.lower() == b"transfer-encoding":
            chunked = True
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    if chunked:  # a streamed body (the SDK sends none); read whole above, sent as one chunk
        body = (b"%x\r\n%b\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    parts.append(body)
    return b"".join(parts)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a receive buffer and the one exchange waiting on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bool] | None = None
        self.eof = False
        self.error: BaseException | None = None
        self.paused = False
        self.idle_since = 0.0

    # -- asyncio's callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
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
            and not self.buffer
            and self.idle_since >= idle_after
            and self.transport is not None
            and not self.transport.is_closing()
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
        self, request: httpx.Request, data: bytes, timeouts: dict[str, float | None]
    ) -> tuple[httpx.Response, bool]:
        """Write the request, read the answer: (response, whether the connection is reusable)."""
        assert self.transport is not None
        if self.eof:
            raise self._broken(request, started=False)
        self.transport.write(data)
        while self.paused:
            if not await self._wait(timeouts.get("write")):
                raise httpx.WriteTimeout("timed out writing the request", request=request)
        if self.eof and self.error is not None and not self.buffer:
            raise httpx.WriteError(str(self.error), request=request)
        read_timeout = timeouts.get("read")
        while True:
            head = await self._read_until(b"\r\n\r\n", read_timeout, request, MAX_HEAD, False)
            version, status, reason, headers = _parse_head(head, request)
            if not (100 <= status < 200) or status == 101:
                break  # informational answers (100 Continue) precede the real one
        length: int | None = None
        chunked = False
        keep_alive = version == b"HTTP/1.1"
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise httpx.RemoteProtocolError(
                        "invalid Content-Length", request=request
                    ) from None
            elif lowered == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif lowered == b"connection":
                keep_alive = keep_alive and b"close" not in value.lower()
        if request.method == "HEAD" or status in _NO_BODY:
            body = b""
        elif chunked:
            body = await self._read_chunked(read_timeout, request)
        elif length is not None:
            body = await self._read_exactly(length, read_timeout, request)
        else:  # delimited by the end of the connection
            while not self.eof:
                if not await self._wait(read_timeout):
                    raise httpx.ReadTimeout("timed out reading the answer", request=request)
            if self.error is not None:
                raise httpx.ReadError(str(self.error), request=request)
            body, keep_alive = bytes(self.buffer), False
            self.buffer.clear()
        if request.headers.get("connection", "").lower() == "close":
            keep_alive = False
        response = httpx.Response(
            status,
            headers=headers,
            content=body,
            extensions={"http_version": version, "reason_phrase": reason},
        )
        return response, keep_alive and not self.buffer and not self.eof

    def _broken(self, request: httpx.Request, *, started: bool) -> httpx.TransportError:
        """The error for a connection that ended before the whole answer was read."""
        if self.error is not None:
            return httpx.ReadError(str(self.error) or type(self.error).__name__, request=request)
        if not started:
            return httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=request
        )

    async def _read_until(
        self,
        separator: bytes,
        seconds: float | None,
        request: httpx.Request,
        limit: int,
        started: bool,
    ) -> bytes:
        """The bytes before `separator` (which is consumed)."""
        searched = 0
        while True:
            found = self.buffer.find(separator, searched)
            if found >= 0:
                line = bytes(self.buffer[:found])
                del self.buffer[: found + len(separator)]
                return line
            if len(self.buffer) > limit:
                raise httpx.RemoteProtocolError("the answer's head is too large", request=request)
            searched = max(0, len(self.buffer) - len(separator) + 1)
            if self.eof:
                raise self._broken(request, started=started or bool(self.buffer))
            if not await self._wait(seconds):
                raise httpx.ReadTimeout("timed out reading the answer", request=request)

    async def _read_exactly(
        self, size: int, seconds: float | None, request: httpx.Request
    ) -> bytes:
        while len(self.buffer) < size:
            if self.eof:
                raise self._broken(request, started=True)
            if not await self._wait(seconds):
                raise httpx.ReadTimeout("timed out reading the answer", request=request)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def _read_chunked(self, seconds: float | None, request: httpx.Request) -> bytes:
        body = bytearray()
        while True:
            line = await self._read_until(b"\r\n", seconds, request, MAX_HEAD, True)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise httpx.RemoteProtocolError("invalid chunk size", request=request) from None
            if size == 0:
                while await self._read_until(b"\r\n", seconds, request, MAX_HEAD, True):
                    pass  # trailers, up to the empty line
                return bytes(body)
            body += await self._read_exactly(size, seconds, request)
            if await self._read_exactly(2, seconds, request) != b"\r\n":
                raise httpx.RemoteProtocolError("a chunk does not end in CRLF", request=request)


def _parse_head(
    head: bytes, request: httpx.Request
) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    """(version, status, reason, headers) of an answer's head."""
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise httpx.RemoteProtocolError(f"not an HTTP/1 answer: {lines[0]!r}", request=request)
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise httpx.RemoteProtocolError(f"malformed header line {line!r}", request=request)
        headers.append((name, value.strip(b" \t")))
    return version, int(code), reason, headers
