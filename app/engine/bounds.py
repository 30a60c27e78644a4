"""The ranges Perdure documents for every time, duration, id and count a caller gives, and time
arithmetic that cannot fail past them.

- times: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z, once converted to UTC (Python's
  datetime range, and RFC 3339's four-digit year);
- durations: 0 to ten years (MAX_DURATION seconds; Temporal caps timeouts at 100 years and
  rejects what its protobuf Duration cannot hold — a smaller cap keeps every "now + duration" of
  this century in range);
- event ids, attempts, versions and other counters: 0 to 2^31 - 1 (MAX_COUNTER: 32-bit columns on
  PostgreSQL, Temporal's int32 attempts).

Inputs are checked at the edge (InvalidArgument naming the field, before any work). A value
computed from valid inputs that falls past year 9999 — a schedule's next time, a deadline — is
not an error: `later` answers None ("no such time"), as Temporal's schedules simply have no next
action time then.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.engine.run_limits import MAX_COUNTER, MAX_DURATION
from app.errors import InvalidArgument

MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
TIME_RANGE = "between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"


def in_utc(moment: datetime) -> datetime | None:
    """`moment` in UTC (a time without an offset is taken as UTC), or None when converting it
    leaves the range (e.g. 0001-01-01T00:00:00+01:00 or 9999-12-31T23:59:59-01:00)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def check_time(moment: datetime, field: str) -> datetime:
    """`moment` in UTC, or InvalidArgument naming `field` when it lies outside TIME_RANGE."""
    found = in_utc(moment)
    if found is None:
        raise InvalidArgument(
            f"{field}: the time must lie {TIME_RANGE} once converted to UTC", field=field
        )
    return found


def check_duration(seconds: float, field: str, *, positive: bool = False) -> float:
    """A duration in seconds within 0 (exclusive when `positive`) and MAX_DURATION."""
    if seconds != seconds or seconds < 0 or (positive and seconds == 0) or seconds > MAX_DURATION:
        lowest = "more than 0" if positive else "at least 0"
        raise InvalidArgument(
            f"{field}: a duration of {lowest} and at most {MAX_DURATION} seconds (ten years)",
            field=field,
        )
    return seconds


def check_counter(value: int, field: str, *, lowest: int = 0) -> int:
    """An event id, attempt, version or count within `lowest` and MAX_COUNTER (2^31 - 1)."""
    if value < lowest or value > MAX_COUNTER:
        raise InvalidArgument(
            f"{field}: at least {lowest} and at most {MAX_COUNTER} (32 bits, signed)", field=field
        )
    return value


def later(moment: datetime, delta: timedelta | float) -> datetime | None:
    """`moment + delta` (a timedelta or seconds), or None when it falls outside the range of
    times: a computed time past year 9999 is "never", not an error."""
    if not isinstance(delta, timedelta):
        if delta != delta or abs(delta) > timedelta.max.total_seconds():
            return None
        delta = timedelta(seconds=delta)
    try:
        return moment + delta
    except OverflowError:
        return None


def from_timestamp(seconds: float) -> datetime | None:
    """The UTC time `seconds` after the Unix epoch, or None outside the range of times."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):
        return None
