"""A run's history as a server-sent event stream (text/event-stream), for the API and the console.

Each event is `id: <event_id>`, `event: history`, `data: <the event as JSON>`; a browser's
EventSource sends the last id back as `Last-Event-ID` when it reconnects, and the stream
resumes after it. When the run has closed and its last event was sent, a `closed` event
(`data: {"status": …}`) ends the stream; a server shutting down ends it without one, and
the client resumes elsewhere. A comment line keeps idle connections open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Message, Send

from app.engine.bounds import check_counter
from app.engine.reads import RunWatcher, run_row
from app.errors import InvalidArgument

log = logging.getLogger("perdure.streams")

KEEPALIVE_SECONDS = 15.0
RECONNECT_MS = 2000


def parse_last_event_id(header: str | None, fallback: int | None) -> int:
    """The event id to resume after: the `Last-Event-ID` header, else the query's, else 0;
    within 0 and 2^31 - 1 (event ids are 32-bit), else InvalidArgument naming it."""
    if header is None or not header.strip():
        return fallback or 0
    try:
        value = int(header.strip())
    except ValueError:
        raise InvalidArgument(
            "Last-Event-ID must be an event id (an integer)", field="Last-Event-ID"
        ) from None
    return check_counter(value, "Last-Event-ID")


def caught_up(row: Any, after_event_id: int) -> bool:
    """True when the run is closed and every event up to its last was already sent."""
    return row["status"] != "RUNNING" and after_event_id >= row["next_event_id"] - 1


def event_frame(row: Any) -> bytes:
    """One history event (a row of app/db/statements.py's EVENT_COLUMNS) as an SSE frame. The
    stored attributes text goes out as it is (orjson.Fragment), never parsed and re-encoded;
    a text with a line break (not written by Perdure) is re-encoded on one line."""
    attributes: Any = orjson.Fragment(row.attributes)
    if "\n" in row.attributes or "\r" in row.attributes:
        attributes = orjson.loads(row.attributes)
    data = orjson.dumps(
        {
            "event_id": row.event_id,
            "event_type": row.event_type,
            "event_time": row.event_time,
            "attributes": attributes,
        },
        option=orjson.OPT_UTC_Z,
    )
    return b"id: %d\nevent: history\ndata: %s\n\n" % (row.event_id, data)


async def history_stream(
    watcher: RunWatcher, run_id: str, after_event_id: int
) -> AsyncIterator[bytes]:
    """The frames of the stream, one event each: the response sends each before the next is
    made, so a slow reader holds back the stream (write back-pressure), not memory."""
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    async for rows in watcher.follow(run_id, after_event_id, KEEPALIVE_SECONDS):
        if not rows:
            yield b": keepalive\n\n"
        while rows:
            yield event_frame(rows.pop(0))
    async with watcher.db.read() as conn:
        status = (await run_row(conn, run_id))["status"]
    if status != "RUNNING":  # else the server is shutting down: the client reconnects
        yield b"event: closed\ndata: %s\n\n" % orjson.dumps({"status": status})


class StreamStalled(Exception):
    """An event stream's reader made no progress for the stall limit: the server cut it."""


class EventStreamResponse(StreamingResponse):
    """A `text/event-stream` response that drops a reader making no write progress.

    Each frame is one `send`, which waits while the connection's write buffer is full
    (uvicorn's flow control), so a reader that stops reading stops the stream. If one send
    waits `stall_seconds`, the response ends with StreamStalled; the server closes the
    connection, and app/observability/logs.py logs that at DEBUG as a hang-up, not an error.
    `on_close` runs once whatever the ending (the stream's slot is given back there)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        stall_seconds: float,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.stall_seconds = stall_seconds
        self.on_close = on_close

    async def stream_response(self, send: Send) -> None:
        try:
            await self._timed(
                send,
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                },
            )
            async for chunk in self.body_iterator:
                await self._timed(
                    send, {"type": "http.response.body", "body": chunk, "more_body": True}
                )
            await self._timed(send, {"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            closing = getattr(self.body_iterator, "aclose", None)
            if closing is not None:
                await closing()
            if self.on_close is not None:
                on_close, self.on_close = self.on_close, None
                await on_close()

    async def _timed(self, send: Send, message: Message) -> None:
        try:
            async with asyncio.timeout(self.stall_seconds):
                await send(message)
                # A send to a client that left returns at once, and on SQLite a slice is read
                # without suspending: without this turn the stream would run through the whole
                # history before the disconnect could cancel it.
                await asyncio.sleep(0)
        except TimeoutError:
            log.debug("event stream dropped: no write progress for %g s", self.stall_seconds)
            raise StreamStalled(f"no write progress for {self.stall_seconds:g} s") from None
