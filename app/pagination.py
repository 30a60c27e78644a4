"""Cursor pagination: opaque `next_page_token`s that carry the last row's sort key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson

from app.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode_token(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_token(token: str | None, *, length: int) -> list[Any] | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        position = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidArgument(
            "next_page_token is not a token this server issued", field="next_page_token"
        ) from None
    if not isinstance(position, list) or len(position) != length:
        raise InvalidArgument(
            "next_page_token is not a token this server issued", field="next_page_token"
        )
    return position


def token_time(value: object) -> datetime:
    """A timestamp carried in a page token; anything else means the token was not ours."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidArgument(
            "next_page_token is not a token this server issued", field="next_page_token"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
