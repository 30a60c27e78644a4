"""A run's history as a server-sent event stream (text/event-stream), for the API and the console.

Each event is `id: <event_id>`, `event: history`, `data: <the event as JSON>`; a browser's
EventSource sends the last id back as `Last-Event-ID` when it reconnects, and the stream
resumes after it. When the run has closed and its last event was sent, a `closed` event
(`data: {"status": …}`) ends the stream; a server shutting down ends it without one, and
the client resumes elsewhere. A comment line keeps idle connections open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from app.engine.reads import RunWatcher, run_row
from app.errors import InvalidArgument

KEEPALIVE_SECONDS = 15.0
RECONNECT_MS = 2000


def parse_last_event_id(header: str | None, fallback: int | None) -> int:
    """The event id to resume after: the `Last-Event-ID` header, else the query's, else 0."""
    if header is None or not header.strip():
        return fallback or 0
    try:
        value = int(header.strip())
    except ValueError:
        raise InvalidArgument(
            "Last-Event-ID must be an event id (an integer)", field="Last-Event-ID"
        ) from None
    if value < 0:
        raise InvalidArgument("Last-Event-ID must not be negative", field="Last-Event-ID")
    return value


def caught_up(row: Any, after_event_id: int) -> bool:
    """True when the run is closed and every event up to its last was already sent."""
    return row["status"] != "RUNNING" and after_event_id >= row["next_event_id"] - 1


async def history_stream(
    watcher: RunWatcher, run_id: str, after_event_id: int
) -> AsyncIterator[bytes]:
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    async for events in watcher.follow(run_id, after_event_id, KEEPALIVE_SECONDS):
        if not events:
            yield b": keepalive\n\n"
        for event in events:
            data = orjson.dumps(event, option=orjson.OPT_UTC_Z)
            yield b"id: %d\nevent: history\ndata: %s\n\n" % (event["event_id"], data)
    async with watcher.db.read() as conn:
        status = (await run_row(conn, run_id))["status"]
    if status != "RUNNING":  # else the server is shutting down: the client reconnects
        yield b"event: closed\ndata: %s\n\n" % orjson.dumps({"status": status})
