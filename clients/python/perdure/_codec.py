"""A `PayloadCodec` (Temporal's: encryption, compression) applied where payloads leave and
enter the process: the client's starts, signals, queries and results, the worker's history,
commands and activity tasks. Without a codec nothing here runs.

A payload field's JSON value (one argument, or the array of several) becomes one `json/plain`
payload, which the codec encodes; the outcome travels as the payload envelope
(`perdure.converter.envelope`), so the server stores and shows it encoded."""

from __future__ import annotations

import json
from typing import Any

from perdure.converter import (
    JSON_PLAIN,
    Payload,
    PayloadCodec,
    envelope,
    from_envelope,
    is_envelope,
)

# The attributes of events and commands that hold payloads.
PAYLOAD_FIELDS = ("input", "result", "details", "heartbeat_details", "last_heartbeat_details")
# The attributes holding a memo (name -> one payload each, as Temporal's `Memo.fields`) and
# failures (whose `details`, and their causes', are payloads), as Temporal's client and worker
# pass memo and failures through the codec.
MEMO_FIELDS = ("memo",)
FAILURE_FIELDS = ("failure", "last_failure")


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


async def encode_memo(codec: PayloadCodec | None, memo: Any) -> Any:
    """A memo with each value encoded as its own payload (Temporal's `Memo.fields`)."""
    if codec is None or not isinstance(memo, dict):
        return memo
    return {key: await encode(codec, value) for key, value in memo.items()}


async def decode_memo(codec: PayloadCodec | None, memo: Any) -> Any:
    """A memo with each value decoded (inverse of `encode_memo`)."""
    if codec is None or not isinstance(memo, dict):
        return memo
    return {key: await decode(codec, value) for key, value in memo.items()}


async def encode_failure(codec: PayloadCodec | None, failure: Any) -> Any:
    """A JSON failure with its `details` encoded, down its `cause` chain (a new dict)."""
    if codec is None or not isinstance(failure, dict):
        return failure
    failure = dict(failure)
    if failure.get("details") is not None:
        failure["details"] = await encode(codec, failure["details"])
    if isinstance(failure.get("cause"), dict):
        failure["cause"] = await encode_failure(codec, failure["cause"])
    return failure


async def decode_failure(codec: PayloadCodec | None, failure: Any) -> Any:
    """A JSON failure with its `details` decoded, down its `cause` chain (a new dict)."""
    if codec is None or not isinstance(failure, dict):
        return failure
    failure = dict(failure)
    if "details" in failure:
        failure["details"] = await decode(codec, failure["details"])
    if isinstance(failure.get("cause"), dict):
        failure["cause"] = await decode_failure(codec, failure["cause"])
    return failure


async def decode_fields(codec: PayloadCodec | None, attributes: dict[str, Any] | None) -> None:
    """Decode the payload, memo and failure fields of an event's or a task's attributes (or
    of a run's description), in place."""
    if codec is None or not attributes:
        return
    for name in PAYLOAD_FIELDS:
        if name in attributes:
            attributes[name] = await decode(codec, attributes[name])
    for name in MEMO_FIELDS:
        if name in attributes:
            attributes[name] = await decode_memo(codec, attributes[name])
    for name in FAILURE_FIELDS:
        if name in attributes:
            attributes[name] = await decode_failure(codec, attributes[name])


async def encode_fields(codec: PayloadCodec | None, attributes: dict[str, Any] | None) -> None:
    """Encode the payload, memo and failure fields of a command's attributes, in place."""
    if codec is None or not attributes:
        return
    for name in PAYLOAD_FIELDS:
        if name in attributes:
            attributes[name] = await encode(codec, attributes[name])
    for name in MEMO_FIELDS:
        if name in attributes:
            attributes[name] = await encode_memo(codec, attributes[name])
    for name in FAILURE_FIELDS:
        if name in attributes:
            attributes[name] = await encode_failure(codec, attributes[name])
