"""Search attribute types (Temporal's): which names exist, what each value must be, and the
stored form that the database compares and orders the way the type does.

Every indexed value is kept as text in one column. Its form preserves the type's order under
plain byte comparison (SQLite's BINARY collation, PostgreSQL's "C"), so one index serves
`=`, ranges and prefixes for every type: Int and Double become fixed-width sortable digits,
Datetime a fixed-width UTC timestamp, Bool `false`/`true`. Text values are kept apart for
full-text search.
"""

from __future__ import annotations

import math
import re
import struct
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from app.errors import InvalidArgument


class SAType(StrEnum):
    KEYWORD = "Keyword"
    TEXT = "Text"
    INT = "Int"
    DOUBLE = "Double"
    BOOL = "Bool"
    DATETIME = "Datetime"
    KEYWORD_LIST = "KeywordList"

    @classmethod
    def parse(cls, text: str, *, field: str) -> SAType:
        """A type by its name, in any case; Temporal's `INDEXED_VALUE_TYPE_…` names too."""
        wanted = text.removeprefix("INDEXED_VALUE_TYPE_").replace("_", "").lower()
        for member in cls:
            if member.value.lower() == wanted:
                return member
        names = ", ".join(m.value for m in cls)
        raise InvalidArgument(f"'{text}' is not a search attribute type ({names})", field=field)


# Attributes every run has, read from the run's own row; never set by a start or an upsert.
# https://docs.temporal.io/search-attribute#default-search-attribute
SYSTEM_ATTRIBUTES: dict[str, SAType] = {
    "WorkflowId": SAType.KEYWORD,
    "RunId": SAType.KEYWORD,
    "WorkflowType": SAType.KEYWORD,
    "ExecutionStatus": SAType.KEYWORD,
    "StartTime": SAType.DATETIME,
    "CloseTime": SAType.DATETIME,
    "ExecutionTime": SAType.DATETIME,
    "ExecutionDuration": SAType.INT,
    "TaskQueue": SAType.KEYWORD,
    "HistoryLength": SAType.INT,
    "HistorySizeBytes": SAType.INT,
    "ParentWorkflowId": SAType.KEYWORD,
    "ParentRunId": SAType.KEYWORD,
    "RootWorkflowId": SAType.KEYWORD,
}

# Temporal's predefined attributes: registered in every namespace by the system, set by the
# server (schedules) or by SDKs (versioning), stored and queried like custom ones.
PREDEFINED_ATTRIBUTES: dict[str, SAType] = {
    "BatcherUser": SAType.KEYWORD,
    "BinaryChecksums": SAType.KEYWORD_LIST,
    "BuildIds": SAType.KEYWORD_LIST,
    "TemporalChangeVersion": SAType.KEYWORD_LIST,
    # Set while a run is paused (app/engine/pause.py).
    "TemporalPauseInfo": SAType.KEYWORD_LIST,
    "TemporalReportedProblems": SAType.KEYWORD_LIST,
    "TemporalScheduledById": SAType.KEYWORD,
    "TemporalScheduledStartTime": SAType.DATETIME,
    "TemporalSchedulePaused": SAType.BOOL,
    "TemporalWorkerDeployment": SAType.KEYWORD,
    "TemporalWorkerDeploymentVersion": SAType.KEYWORD,
    "TemporalWorkflowVersioningBehavior": SAType.KEYWORD,
}
RESERVED_PREFIX = "Temporal"

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")
# Temporal's limit on one value is 2 KB; ours is in bytes of the stored form, which also keeps
# every indexed value under PostgreSQL's B-tree entry limit.
MAX_VALUE_BYTES = 2000
MAX_KEYWORD_LIST_ITEMS = 100

# RFC 3339 as Go's time.RFC3339Nano reads it (Temporal parses Datetime values with it).
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)
_INT_OFFSET = 1 << 63


def parse_datetime(text: str) -> datetime | None:
    """An RFC 3339 timestamp (fractions past microseconds are cut), or None if it is not one."""
    match = _RFC3339.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if offset not in ("Z", "z"):
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:  # RFC 3339's time-numoffset: 00-23 and 00-59
            return None
        sign = 1 if offset[0] == "+" else -1
        try:
            moment -= sign * timedelta(hours=hours, minutes=minutes)
        except OverflowError:  # past 9999-12-31 or before 0001-01-01 in UTC
            return None
    return moment


def encode_datetime(moment: datetime) -> str:
    """Fixed width, UTC, microseconds: sorts as the instants do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_int(value: int) -> str:
    """Offset binary, as 20 decimal digits: sorts as the signed 64-bit integers do."""
    return f"{value + _INT_OFFSET:020d}"


def encode_double(value: float) -> str:
    """IEEE 754 bits made order-preserving (sign flipped, negatives inverted), as hex."""
    bits = struct.unpack(">Q", struct.pack(">d", value + 0.0))[0]  # + 0.0: -0.0 is 0.0
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def encode_bool(value: bool) -> str:
    return "true" if value else "false"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_value(name: str, sa_type: SAType, value: Any, *, field: str) -> list[str]:
    """The stored forms of a value of this type (several for a KeywordList, the text itself
    for Text), or InvalidArgument saying what the type expects."""

    def refuse(expected: str) -> InvalidArgument:
        return InvalidArgument(
            f"search attribute '{name}' is of type {sa_type.value}: the value must be {expected}",
            field=field,
            search_attribute=name,
            search_attribute_type=sa_type.value,
        )

    if sa_type in (SAType.KEYWORD, SAType.TEXT):
        if not isinstance(value, str):
            raise refuse("a string")
        stored = [value]
    elif sa_type is SAType.KEYWORD_LIST:
        # A single string is a list of one, as Temporal's decoder reads it.
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise refuse("a list of strings")
        if len(items) > MAX_KEYWORD_LIST_ITEMS:
            raise refuse(f"a list of at most {MAX_KEYWORD_LIST_ITEMS} strings")
        stored = sorted(set(items))
    elif sa_type is SAType.INT:
        if not is_int(value) or not -_INT_OFFSET <= value < _INT_OFFSET:
            raise refuse("a 64-bit integer")
        stored = [encode_int(value)]
    elif sa_type is SAType.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse("a number")
        if not math.isfinite(value):
            raise refuse("a finite number")
        stored = [encode_double(float(value))]
    elif sa_type is SAType.BOOL:
        if not isinstance(value, bool):
            raise refuse("true or false")
        stored = [encode_bool(value)]
    else:
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            raise refuse("an RFC 3339 timestamp such as '2024-05-01T12:00:00Z'")
        stored = [encode_datetime(moment)]
    for item in stored:
        if len(item.encode()) > MAX_VALUE_BYTES:
            raise refuse(f"at most {MAX_VALUE_BYTES} bytes")
    return stored


def check_name(name: str, *, field: str) -> None:
    """A name a namespace may register: well formed and not one of the system's."""
    if not NAME.match(name):
        raise InvalidArgument(
            f"search attribute name '{name}' is not valid (letters, digits, '_', '.', '-'; "
            "starting with a letter or '_'; at most 200 characters)",
            field=field,
        )
    if name in SYSTEM_ATTRIBUTES or name in PREDEFINED_ATTRIBUTES:
        raise InvalidArgument(
            f"search attribute '{name}' is reserved by the system",
            field=field,
            search_attribute=name,
        )
    if name.startswith(RESERVED_PREFIX):
        raise InvalidArgument(
            f"search attribute names starting with '{RESERVED_PREFIX}' are reserved by the system",
            field=field,
            search_attribute=name,
        )
