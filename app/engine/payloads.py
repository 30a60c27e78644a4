"""JSON payloads: stored and passed on as JSON text, checked once for size."""

from __future__ import annotations

from typing import Any

import orjson

from app.engine.run_limits import MAX_PAYLOAD_BYTES
from app.errors import PayloadTooLarge


def dump(value: Any) -> str:
    return orjson.dumps(value).decode()


def dump_payload(value: Any, *, field: str) -> str | None:
    """JSON text of a user payload, refused with 413 past the payload limit."""
    if value is None:
        return None
    text = orjson.dumps(value)
    if len(text) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"{field} is {len(text)} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes",
            field=field,
            limit=MAX_PAYLOAD_BYTES,
        )
    return text.decode()


def load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)
