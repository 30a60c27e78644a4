"""/metrics on a port of its own (PERDURE_METRICS_PORT), for production.

Engine metrics carry tenant and namespace names, so in production they are not served on the
API port to anyone who asks: Prometheus scrapes this listener, which the chart exposes to the
cluster only (its ServiceMonitor), never through the ingress. A tiny HTTP/1.0 responder on the
event loop: GET /metrics answers the same text as the API port's /metrics, anything else 404.
Several worker processes share the port (SO_REUSEPORT), as they share the API port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.responses import Response

log = logging.getLogger("perdure.metrics")

MAX_REQUEST_HEAD = 8192  # bytes of request line and headers read
READ_SECONDS = 5.0  # a scraper that sends nothing for this long is let go


class MetricsListener:
    """Serves `render()` (the /metrics response) on host:port until `stop()`."""

    def __init__(self, render: Callable[[], Awaitable[Response]], host: str, port: int) -> None:
        self.render = render
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._answer, self.host, self.port, reuse_port=True, limit=MAX_REQUEST_HEAD
        )
        log.info("metrics served on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = head.partition(b" ")
            target = rest.partition(b" ")[0].partition(b"?")[0]
            if method == b"GET" and target == b"/metrics":
                response = await self.render()
                status, body = b"200 OK", bytes(response.body)
                kind = (response.media_type or "text/plain").encode()
            else:
                status, body, kind = b"404 Not Found", b"only GET /metrics here\n", b"text/plain"
            writer.write(
                b"HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (status, kind, len(body), body)
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a scraper that left or sent no request: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
