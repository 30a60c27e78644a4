"""Literals of a list filter read as the type of the attribute they are compared with, the way
Temporal's SQL visibility reads them (common/persistence/visibility/store/sql, sqlquery):

- Datetime: an RFC 3339 string, an integer of nanoseconds since the epoch, or `NOW() ± d`;
- ExecutionStatus: `'Running'`, `'WORKFLOW_EXECUTION_STATUS_RUNNING'`, `'RUNNING'` or 1…7;
- ExecutionDuration: nanoseconds, a Go duration (`'1h30m'`, `'1.5s'`, `'2d'`) or `'hh:mm:ss'`;
- Int, Double: numbers (or strings holding one); Bool: true/false (or 'true'/'false');
- Keyword, KeywordList, Text: strings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from app.engine.events import RunStatus
from app.engine.run_limits import MAX_DURATION
from app.engine.search_attribute_types import (
    SAType,
    encode_bool,
    encode_datetime,
    encode_double,
    encode_int,
    is_int,
    parse_datetime,
)
from app.errors import InvalidArgument
from app.visibility.syntax import Field, Literal

# Temporal's enum numbers and shorthand names (go.temporal.io/api/enums/v1).
STATUS_NUMBERS = {
    RunStatus.RUNNING: 1,
    RunStatus.COMPLETED: 2,
    RunStatus.FAILED: 3,
    RunStatus.CANCELED: 4,
    RunStatus.TERMINATED: 5,
    RunStatus.CONTINUED_AS_NEW: 6,
    RunStatus.TIMED_OUT: 7,
}
STATUS_SHORTHAND = {
    status: "".join(part.capitalize() for part in status.value.split("_")) for status in RunStatus
}
_STATUS_BY_NAME = {
    **{name: status for status, name in STATUS_SHORTHAND.items()},
    **{status.value: status for status in RunStatus},
    **{f"WORKFLOW_EXECUTION_STATUS_{status.value}": status for status in RunStatus},
}
_STATUS_BY_NUMBER = {number: status for status, number in STATUS_NUMBERS.items()}

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)", re.I)
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_HHMMSS = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")


def invalid(field: Field, literal: Literal, expected: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field.name} at position {literal.position}: {literal.text} is not {expected}",
        field="query",
        position=literal.position,
    )


def parse_duration(text: str, literal: Literal, field: Field | None = None) -> timedelta:
    """A Go-style duration ('1h30m', '1.5s', '-2d' is refused) or 'hh:mm:ss'."""
    where = field or Field("NOW()", literal.position)
    clock = _HHMMSS.match(text)
    if clock:
        hours, minutes, seconds = (int(g) for g in clock.groups())
        total = hours * 3600.0 + minutes * 60 + seconds
    else:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(a + b for a, b in parts) != text:
            raise invalid(where, literal, "a duration")
        total = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    if total > MAX_DURATION:  # every duration Perdure takes (app/engine/bounds.py)
        raise invalid(where, literal, "a duration of at most ten years")
    return timedelta(seconds=total)


def status(field: Field, literal: Literal) -> RunStatus:
    value = literal.value
    found = (
        _STATUS_BY_NUMBER.get(value)
        if literal.kind == "number"
        else _STATUS_BY_NAME.get(value)
        if literal.kind == "string"
        else None
    )
    if found is None:
        names = ", ".join(f"'{n}'" for n in STATUS_SHORTHAND.values())
        raise invalid(field, literal, f"an execution status ({names})")
    return found


def instant(field: Field, literal: Literal, now: datetime) -> datetime:
    if literal.kind == "now":
        offset = literal.value.offset_text
        if not offset:
            return now
        delta = parse_duration(offset[1:], literal, field)
        return now + delta if offset[0] == "+" else now - delta
    if literal.kind == "number" and is_int(literal.value):
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=literal.value // 1000)
    moment = parse_datetime(literal.value) if literal.kind == "string" else None
    if moment is None:
        raise invalid(
            field, literal, "a datetime (RFC 3339 such as '2024-05-01T12:00:00Z', or nanoseconds)"
        )
    return moment


def duration_seconds(field: Field, literal: Literal) -> float:
    """ExecutionDuration values, in seconds (the column arithmetic is in seconds)."""
    if literal.kind == "number" and is_int(literal.value):
        return _bounded_nanoseconds(field, literal, literal.value)
    if literal.kind == "string":
        if re.fullmatch(r"-?\d+", literal.value):
            return _bounded_nanoseconds(field, literal, int(literal.value))
        return parse_duration(literal.value, literal, field).total_seconds()
    raise invalid(field, literal, "a duration (nanoseconds, '1h30m' or 'hh:mm:ss')")


def _bounded_nanoseconds(field: Field, literal: Literal, nanoseconds: int) -> float:
    if abs(nanoseconds) > MAX_DURATION * 10**9:
        raise invalid(field, literal, "a duration of at most ten years")
    return nanoseconds / 1e9


def number(field: Field, literal: Literal, *, integer: bool) -> int | float:
    value: Any = literal.value
    if literal.kind == "string":
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            value = None
    elif literal.kind != "number":
        value = None
    if value is None or (integer and not is_int(value)):
        raise invalid(field, literal, "an integer" if integer else "a number")
    return value


def text(field: Field, literal: Literal) -> str:
    if literal.kind != "string":
        raise invalid(field, literal, "a 'string'")
    return literal.value


def stored(sa_type: SAType, field: Field, literal: Literal, now: datetime) -> str:
    """A literal in the stored, order-preserving form of a custom attribute's type."""
    if sa_type is SAType.INT:
        return encode_int(int(number(field, literal, integer=True)))
    if sa_type is SAType.DOUBLE:
        return encode_double(float(number(field, literal, integer=False)))
    if sa_type is SAType.DATETIME:
        return encode_datetime(instant(field, literal, now))
    if sa_type is SAType.BOOL:
        truth = {"true": True, "false": False}.get(str(literal.value).lower())
        if literal.kind == "bool":
            truth = literal.value
        elif literal.kind != "string":
            truth = None
        if truth is None:
            raise invalid(field, literal, "true or false")
        return encode_bool(truth)
    return text(field, literal)
