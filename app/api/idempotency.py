"""Request ids at the API edge: the `Idempotency-Key` header (IETF httpapi-idempotency-key
draft) or Temporal's `request_id` body field, bound to the request by a fingerprint."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header
from pydantic import BaseModel

from app.engine.idempotency import RequestKey, fingerprint
from app.errors import InvalidArgument
from app.settings import Settings

MAX_KEY_LENGTH = 200

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_KEY_LENGTH + 2,
        description="A request id (1 to 200 printable ASCII characters, plain or as a quoted "
        "structured-field string). The same request sent again with it gets the first answer "
        "and changes nothing; a different request with it is refused with 422. Remembered for "
        "24 hours at least, and while the run it reached is open.",
    ),
]


def _header_value(raw: str) -> str:
    """The key itself: the draft defines the header as an sf-string (`"…"`); a bare token is
    accepted too."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in value):
        raise InvalidArgument(
            "Idempotency-Key must be 1 to 200 printable ASCII characters",
            field="Idempotency-Key",
        )
    return value


def request_key(
    settings: Settings,
    header: str | None,
    body: BaseModel,
    operation: str,
    workflow_id: str,
    name: str | None = None,
) -> RequestKey | None:
    """The request id of a start, signal, cancel or terminate (None: not idempotent), bound
    to the operation, workflow id, signal name and body (without the id itself)."""
    body_id: str | None = getattr(body, "request_id", None)
    key = _header_value(header) if header is not None else body_id
    if header is not None and body_id is not None and body_id != key:
        raise InvalidArgument(
            "the Idempotency-Key header and request_id differ; send one of them",
            field="request_id",
        )
    if key is None:
        return None
    meaning = body.model_dump(mode="json", exclude={"request_id"})
    return RequestKey(
        key=key,
        fingerprint=fingerprint(operation, workflow_id, name, meaning),
        ttl=settings.idempotency_key_seconds,
    )
