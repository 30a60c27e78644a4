"""Cursor pagination: opaque `next_page_token`s that carry the last row's sort key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson

from app.allowed_characters import name_problem
from app.engine.run_limits import MAX_COUNTER, MAX_ID_LENGTH
from app.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode_token(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_token(token: str | None, *, length: int | tuple[int, ...]) -> list[Any] | None:
    """The position a token carries: a list of `length` ids and names (one of the lengths
    when several are allowed); 400 for anything this server did not issue."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        position = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError):
        raise _not_ours() from None
    # Positions hold names, ids, timestamps and event ids: anything else was not issued here
    # (and would reach the database as a value its column cannot hold).
    if (
        not isinstance(position, list)
        or len(position) not in (length if isinstance(length, tuple) else (length,))
        or not all(_fits_a_position(item) for item in position)
    ):
        raise _not_ours()
    return position


def _fits_a_position(item: object) -> bool:
    if type(item) is int:
        return 0 <= item <= MAX_COUNTER
    return isinstance(item, str) and len(item) <= MAX_ID_LENGTH and name_problem(item) is None


def _not_ours() -> InvalidArgument:
    return InvalidArgument(
        "next_page_token is not a token this server issued", field="next_page_token"
    )


def token_int(value: object) -> int:
    """An event id or version carried in a page token."""
    if type(value) is not int or not 0 <= value <= MAX_COUNTER:
        raise _not_ours()
    return value


def token_time(value: object) -> datetime:
    """A timestamp carried in a page token; anything else means the token was not ours."""
    try:
        moment = datetime.fromisoformat(str(value))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise _not_ours() from None
