"""A `PayloadCodec` (Temporal's: encryption, compression) applied where payloads leave and
enter the process: the client's starts, signals, queries and results, the worker's history,
commands and activity tasks. Without a codec nothing here runs.

A payload field's JSON value (one argument, or the array of several) becomes one `json/plain`
payload, which the codec encodes; the outcome travels as the payload envelope
(`perdure._payloads.envelope`), so the server stores and shows it encoded."""

from __future__ import annotations

import json
from typing import Any

from perdure._payloads import (
    JSON_PLAIN,
    Payload,
    PayloadCodec,
    envelope,
    from_envelope,
    is_envelope,
)

# The attributes of events and commands that hold payloads.
PAYLOAD_FIELDS = ("input", "result", "details", "heartbeat_details", "last_heartbeat_details")


async def encode(codec: PayloadCodec | None, value: Any) -> Any:
    """The field as it is to be sent (unchanged without a codec, or when it is null)."""
    if codec is None or value is None:
        return value
    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    (encoded,) = await codec.encode([Payload({"encoding": JSON_PLAIN}, data)])
    return envelope(encoded)


async def decode(codec: PayloadCodec | None, value: Any) -> Any:
    """The field as it was before `encode` (values not encoded pass as they are)."""
    if codec is None or not is_envelope(value):
        return value
    (decoded,) = await codec.decode([from_envelope(value)])
    if decoded.metadata.get("encoding") == JSON_PLAIN:
        return json.loads(decoded.data)
    return envelope(decoded)


async def decode_fields(codec: PayloadCodec | None, attributes: dict[str, Any] | None) -> None:
    """Decode the payload fields of an event's or a task's attributes, in place."""
    if codec is None or not attributes:
        return
    for name in PAYLOAD_FIELDS:
        if name in attributes:
            attributes[name] = await decode(codec, attributes[name])


async def encode_fields(codec: PayloadCodec | None, attributes: dict[str, Any] | None) -> None:
    """Encode the payload fields of a command's attributes, in place."""
    if codec is None or not attributes:
        return
    for name in PAYLOAD_FIELDS:
        if name in attributes:
            attributes[name] = await encode(codec, attributes[name])
