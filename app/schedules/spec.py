"""A schedule's spec: which instants it names, with Temporal's rules.

Cron strings and calendar range strings are parsed by croniter (its 7-field layout, seconds
first and year last, is Temporal's); matching is our own because Temporal's semantics differ
from cron's iteration: day of month AND day of week must both match, and in a time zone with
daylight saving a wall-clock time that does not exist that day does not fire while one that
occurs twice fires twice (Temporal's ScheduleSpec.timezone_name documentation). Intervals count
from the Unix epoch plus an offset (phase). Jitter is derived from the schedule and the nominal
time, so every replica computes the same actual time.
"""

from __future__ import annotations

import calendar as _calendar
import hashlib
import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError
from croniter import croniter as _croniter

from app.engine.bounds import check_time, from_timestamp, later
from app.engine.run_limits import MAX_DURATION
from app.errors import InvalidArgument

# Field: (first value, last value, default ranges). Year's default (none) matches every year.
FIELDS: dict[str, tuple[int, int, list[tuple[int, int]]]] = {
    "second": (0, 59, [(0, 0)]),
    "minute": (0, 59, [(0, 0)]),
    "hour": (0, 23, [(0, 0)]),
    "day_of_month": (1, 31, [(1, 31)]),
    "month": (1, 12, [(1, 12)]),
    "year": (1970, 2099, []),
    "day_of_week": (0, 6, [(0, 6)]),
}
# Where each field sits in croniter's expansion of "second minute hour dom month dow year"
# (it moves the second to after the day of week).
_EXPANDED_INDEX = {
    "minute": 0,
    "hour": 1,
    "day_of_month": 2,
    "month": 3,
    "day_of_week": 4,
    "second": 5,
    "year": 6,
}
_FIELD_ORDER = ["second", "minute", "hour", "day_of_month", "month", "day_of_week", "year"]
# Hashed (H) and random (R) values are croniter extensions Temporal does not have.
_UNSUPPORTED_TOKEN = re.compile(r"(^|[,/-])[hr](\(|/|,|$)", re.IGNORECASE)
_PREDEFINED = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SPECS = 100  # calendars, intervals, cron expressions and skips, each
MAX_COMMENT = 1000
# Search bounds: a spec whose next time lies further than this many candidates away (e.g. one
# excluded almost entirely) is treated as having no more times, as Temporal does.
MAX_EXCLUDED_CANDIDATES = 10_000
ONE_SECOND = timedelta(seconds=1)


# -- parsing --------------------------------------------------------------------------------------


def _compact(values: list[int]) -> list[dict[str, int]]:
    """Sorted values as ranges; arithmetic runs of three or more become one stepped range."""
    out: list[dict[str, int]] = []
    i = 0
    while i < len(values):
        j = i + 1
        if j + 1 < len(values):
            step = values[j] - values[i]
            while j + 1 < len(values) and values[j + 1] - values[j] == step:
                j += 1
            if j - i >= 2:
                out.append({"start": values[i], "end": values[j], "step": step})
                i = j + 1
                continue
        out.append({"start": values[i], "end": values[i], "step": 1})
        i += 1
    return out


def parse_field(name: str, text: str, where: str) -> list[dict[str, int]]:
    """A calendar field written as a range string ("*", "5", "1-5/2,8", "mon-fri", "jan") as
    ranges; InvalidArgument naming `where` when croniter refuses it."""
    text = text.strip()
    if not text:
        raise InvalidArgument(f"{where}: the {name.replace('_', ' ')} field is empty", field=where)
    if _UNSUPPORTED_TOKEN.search(text):
        raise InvalidArgument(
            f"{where}: '{text}' uses hashed (H) or random (R) values, which schedules do not have",
            field=where,
        )
    fields = ["*"] * 7
    fields[_FIELD_ORDER.index(name)] = text
    try:
        expanded, nth = _croniter.expand(" ".join(fields), second_at_beginning=True)
    except (CroniterError, ValueError, KeyError, IndexError) as err:
        raise InvalidArgument(
            f"{where}: '{text}' is not a valid {name.replace('_', ' ')} ({_reason(err)})",
            field=where,
        ) from None
    values = expanded[_EXPANDED_INDEX[name]]
    if nth or any(isinstance(v, str) and v != "*" for v in values):
        raise InvalidArgument(
            f"{where}: '{text}' uses L or # (last day, nth weekday), which schedules do not have",
            field=where,
        )
    low, high, _ = FIELDS[name]
    if values == ["*"]:
        return [{"start": low, "end": high, "step": 1}]
    numbers = sorted({0 if name == "day_of_week" and v == 7 else int(v) for v in values})
    if numbers and (numbers[0] < low or numbers[-1] > high):
        raise InvalidArgument(f"{where}: {name} values lie in {low}-{high}", field=where)
    return _compact(numbers)


def _reason(err: Exception) -> str:
    message = str(err)
    # croniter echoes the expression with its fields reordered; the field name says enough.
    return "not acceptable" if "[" in message else message or type(err).__name__


def _ranges(value: Any, name: str, where: str) -> list[dict[str, int]]:
    low, high, default = FIELDS[name]
    if value is None:
        return [{"start": a, "end": b, "step": 1} for a, b in default]
    if isinstance(value, str):
        return parse_field(name, value, where)
    if not isinstance(value, list):
        raise InvalidArgument(f"{where}: a range string or a list of ranges", field=where)
    if not value and name != "year":
        raise InvalidArgument(
            f"{where}: at least one range (an empty list would never match)", field=where
        )
    out = []
    for i, item in enumerate(value):
        at = f"{where}.{i}"
        if not isinstance(item, dict) or not isinstance(item.get("start"), int):
            raise InvalidArgument(f"{at}: a range is {{start, end, step}} integers", field=at)
        start, end, step = item["start"], item.get("end") or 0, item.get("step") or 0
        if not isinstance(end, int) or not isinstance(step, int) or step < 0:
            raise InvalidArgument(f"{at}: end and step are integers, step >= 0", field=at)
        end = max(end, start)  # Temporal: an end before the start means the start alone
        if start < low or end > high:
            raise InvalidArgument(f"{at}: {name} values lie in {low}-{high}", field=at)
        out.append({"start": start, "end": end, "step": step or 1})
    return out


def canonical_calendar(value: Any, where: str) -> dict[str, Any]:
    """A calendar spec (fields as range strings or range lists) in its stored form."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: a calendar spec is an object", field=where)
    unknown = set(value) - set(FIELDS) - {"comment"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidArgument(f"{where}.{name}: not a calendar field", field=f"{where}.{name}")
    out: dict[str, Any] = {
        name: _ranges(value.get(name), name, f"{where}.{name}") for name in FIELDS
    }
    comment = value.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise InvalidArgument(
            f"{where}.comment: text of at most {MAX_COMMENT} characters", field=f"{where}.comment"
        )
    out["comment"] = comment or None
    return out


def _duration(text: str, where: str) -> int:
    found = _DURATION.match(text)
    if not found:
        raise InvalidArgument(
            f"{where}: '{text}' is not a duration like 15m, 2h or 1d", field=where
        )
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)]


def parse_cron(
    text: str, where: str
) -> tuple[dict[str, Any] | None, dict[str, float] | None, str | None]:
    """Temporal's cron string: optional `CRON_TZ=`/`TZ=` prefix, 5 fields (minute hour
    day-of-month month day-of-week), 6 (+ year) or 7 (second first, year last), an `@daily`-style
    name or `@every <interval>[/<offset>]`, and an optional `# comment`.
    Returns (calendar, interval, time zone name)."""
    if not isinstance(text, str):
        raise InvalidArgument(f"{where}: a cron expression is a string", field=where)
    # A comment starts at a "#" after a space ("1#2" is cron's nth weekday, refused below).
    body, _, comment = re.sub(r"^#|\s#", " #", text, count=1).partition(" #")
    body = body.strip()
    zone = None
    if body.startswith(("CRON_TZ=", "TZ=")):
        prefix, _, body = body.partition(" ")
        zone = prefix.partition("=")[2] or None
        body = body.strip()
    if body.startswith("@every"):
        _, _, rest = body.partition(" ")
        every, _, offset = rest.strip().partition("/")
        interval = {
            "every": float(_duration(every, where)),
            "offset": float(_duration(offset, where)) if offset else 0.0,
        }
        return None, check_interval(interval, where), zone
    body = _PREDEFINED.get(body, body)
    fields = body.split()
    if len(fields) == 5:
        fields = ["0", *fields, "*"]
    elif len(fields) == 6:
        fields = ["0", *fields]
    elif len(fields) != 7:
        raise InvalidArgument(
            f"{where}: '{text}' needs 5, 6 or 7 fields, or a name like @daily", field=where
        )
    named = dict(zip(_FIELD_ORDER, fields, strict=True))
    return (
        canonical_calendar({**named, "comment": comment.strip() or None}, where),
        None,
        zone,
    )


def check_interval(value: Any, where: str) -> dict[str, float]:
    """Temporal's IntervalSpec: every >= 1 s, 0 <= offset < every, whole seconds."""
    if not isinstance(value, dict) or not isinstance(value.get("every"), int | float):
        raise InvalidArgument(f"{where}: an interval is {{every, offset}} in seconds", field=where)
    every, offset = float(value["every"]), float(value.get("offset") or 0)
    if every < 1 or every != int(every) or every > MAX_DURATION:
        raise InvalidArgument(
            f"{where}.every: a whole number of seconds, at least 1 and at most {MAX_DURATION} "
            "(ten years)",
            field=f"{where}.every",
        )
    if offset < 0 or offset >= every or offset != int(offset):
        raise InvalidArgument(
            f"{where}.offset: whole seconds, at least 0 and less than every",
            field=f"{where}.offset",
        )
    return {"every": every, "offset": offset}


def time_zone(name: str | None, where: str) -> ZoneInfo | None:
    """The IANA zone (from the system or the tzdata package); None means UTC."""
    if not name or name == "UTC":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgument(
            f"{where}: '{name}' is not an IANA time zone name (e.g. Europe/Berlin)", field=where
        ) from None


def _as_utc(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidArgument(f"{where}: an RFC 3339 time", field=where) from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidArgument(f"{where}: a time with its UTC offset", field=where)
    return check_time(value, where)


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as Temporal formats scheduled times."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def canonicalize(spec: dict[str, Any], where: str = "schedule.spec") -> dict[str, Any]:
    """The stored form of a spec, as Temporal keeps it: cron expressions and range strings
    compiled into calendars of ranges, a `CRON_TZ=` prefix moved into `time_zone_name`.
    Raises InvalidArgument whose `field` points at the offending part."""
    calendars: list[dict[str, Any]] = []
    intervals: list[dict[str, float]] = []
    for key in ("calendars", "intervals", "cron_expressions", "skip"):
        if len(spec.get(key) or []) > MAX_SPECS:
            raise InvalidArgument(f"{where}.{key}: at most {MAX_SPECS}", field=f"{where}.{key}")
    for i, item in enumerate(spec.get("calendars") or []):
        calendars.append(canonical_calendar(item, f"{where}.calendars.{i}"))
    for i, item in enumerate(spec.get("intervals") or []):
        intervals.append(check_interval(item, f"{where}.intervals.{i}"))
    zone_name = spec.get("time_zone_name") or None
    cron_zones = set()
    for i, text in enumerate(spec.get("cron_expressions") or []):
        at = f"{where}.cron_expressions.{i}"
        found, interval, zone = parse_cron(text, at)
        if found is not None:
            calendars.append(found)
        if interval is not None:
            intervals.append(interval)
        cron_zones.add(zone)
        if zone is not None and zone_name is not None and zone != zone_name:
            raise InvalidArgument(
                f"{at}: its time zone {zone} conflicts with time_zone_name {zone_name}", field=at
            )
    if len(cron_zones) > 1:
        raise InvalidArgument(
            f"{where}.cron_expressions: every cron expression must name the same time zone",
            field=f"{where}.cron_expressions",
        )
    zone_name = zone_name or next(iter(cron_zones), None)
    time_zone(zone_name, f"{where}.time_zone_name")
    skip = [
        canonical_calendar(c, f"{where}.skip.{i}") for i, c in enumerate(spec.get("skip") or [])
    ]
    start_at = _as_utc(spec.get("start_at"), f"{where}.start_at")
    end_at = _as_utc(spec.get("end_at"), f"{where}.end_at")
    if start_at and end_at and end_at < start_at:
        raise InvalidArgument(f"{where}.end_at: before start_at", field=f"{where}.end_at")
    jitter = spec.get("jitter")
    if jitter is not None and (not isinstance(jitter, int | float) or jitter < 0):
        raise InvalidArgument(f"{where}.jitter: seconds, at least 0", field=f"{where}.jitter")
    if not calendars and not intervals:
        raise InvalidArgument(
            f"{where}: name some times: calendars, intervals or cron_expressions", field=where
        )
    return {
        "calendars": calendars,
        "intervals": intervals,
        "cron_expressions": [],
        "skip": skip,
        "start_at": iso(start_at) if start_at else None,
        "end_at": iso(end_at) if end_at else None,
        "jitter": float(jitter) if jitter else None,
        "time_zone_name": zone_name,
    }


# -- matching -------------------------------------------------------------------------------------


def _values(ranges: list[dict[str, int]]) -> list[int]:
    found: set[int] = set()
    for r in ranges:
        found.update(range(r["start"], r["end"] + 1, r["step"]))
    return sorted(found)


def _first_at_least(values: list[int], v: int) -> int | None:
    i = bisect_left(values, v)
    return values[i] if i < len(values) else None


class Calendar:
    """One calendar spec: which local wall-clock times match."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.seconds = _values(spec["second"])
        self.minutes = _values(spec["minute"])
        self.hours = _values(spec["hour"])
        self.days = set(_values(spec["day_of_month"]))
        self.months = _values(spec["month"])
        self.weekdays = set(_values(spec["day_of_week"]))
        self.years = _values(spec["year"]) if spec["year"] else None

    def matches_wall(self, w: datetime) -> bool:
        return (
            (self.years is None or w.year in self.years)
            and w.month in self.months
            and w.day in self.days
            and (w.weekday() + 1) % 7 in self.weekdays
            and w.hour in self.hours
            and w.minute in self.minutes
            and w.second in self.seconds
        )

    def _day_matches(self, y: int, mo: int, d: int) -> bool:
        return d in self.days and (_calendar.weekday(y, mo, d) + 1) % 7 in self.weekdays

    def first_wall(self, w: datetime) -> datetime | None:
        """The first matching wall-clock time at or after `w` (naive, whole seconds)."""
        y, mo, d, h, mi, s = w.year, w.month, w.day, w.hour, w.minute, w.second
        last_year = self.years[-1] if self.years else FIELDS["year"][1]
        while True:
            if s > 59:
                mi, s = mi + 1, 0
            if mi > 59:
                h, mi = h + 1, 0
            if h > 23:
                d, h = d + 1, 0
            if d > _calendar.monthrange(y, mo)[1]:
                mo, d = mo + 1, 1
            if mo > 12:
                y, mo = y + 1, 1
            if y > last_year:
                return None
            if self.years is not None and y not in self.years:
                found = _first_at_least(self.years, y)
                if found is None:
                    return None
                y, mo, d, h, mi, s = found, 1, 1, 0, 0, 0
            month = _first_at_least(self.months, mo)
            if month is None:
                y, mo, d, h, mi, s = y + 1, 1, 1, 0, 0, 0
                continue
            if month != mo:
                mo, d, h, mi, s = month, 1, 0, 0, 0
            last_day = _calendar.monthrange(y, mo)[1]
            while d <= last_day and not self._day_matches(y, mo, d):
                d, h, mi, s = d + 1, 0, 0, 0
            if d > last_day:
                continue
            hour = _first_at_least(self.hours, h)
            if hour is None:
                d, h, mi, s = d + 1, 0, 0, 0
                continue
            if hour != h:
                h, mi, s = hour, 0, 0
            minute = _first_at_least(self.minutes, mi)
            if minute is None:
                h, mi, s = h + 1, 0, 0
                continue
            if minute != mi:
                mi, s = minute, 0
            second = _first_at_least(self.seconds, s)
            if second is None:
                mi, s = mi + 1, 0
                continue
            return datetime(y, mo, d, h, mi, second)


class Zone:
    """Wall-clock time ↔ instants in one zone, with daylight saving's gaps and repeats."""

    def __init__(self, tz: ZoneInfo | None) -> None:
        self.tz = tz

    def wall(self, moment: datetime) -> tuple[datetime, int]:
        """(naive wall-clock time, fold) of an instant: fold 1 is a repeated time's second copy."""
        if self.tz is None:
            return moment.replace(tzinfo=None), 0
        local = moment.astimezone(self.tz)
        return local.replace(tzinfo=None), local.fold

    def instants(self, w: datetime) -> list[datetime]:
        """The instants showing wall time `w`: none in a gap, two in a repeated hour."""
        if self.tz is None:
            return [w.replace(tzinfo=UTC)]
        found = []
        for fold in (0, 1):
            moment = w.replace(tzinfo=self.tz, fold=fold).astimezone(UTC)
            if moment.astimezone(self.tz).replace(tzinfo=None) == w and moment not in found:
                found.append(moment)
        return sorted(found)

    def repeat_end(self, w: datetime) -> datetime:
        """The first wall-clock time after the repeated period that `w` lies in."""
        first, second = self.instants(w)
        before = first.astimezone(self.tz).utcoffset()
        # The offset changes somewhere in (first, second]: find the second it does.
        low, high = int(first.timestamp()), int(second.timestamp())
        while high - low > 1:
            mid = (low + high) // 2
            if datetime.fromtimestamp(mid, self.tz).utcoffset() == before:
                low = mid
            else:
                high = mid
        high_at = datetime.fromtimestamp(high, UTC)
        # From the change (`high`) the clock shows the repeated walls again, for as long as
        # the offset went back.
        after = second.astimezone(self.tz).utcoffset()
        assert before is not None and after is not None  # an aware time in a ZoneInfo zone
        shift = before - after
        return self.wall(high_at)[0] + shift


def next_calendar_time(cal: Calendar, zone: Zone, after: datetime) -> datetime | None:
    """The first instant after `after` whose wall-clock time in `zone` matches `cal`. A wall
    time in a daylight-saving gap does not fire; one in a repeated hour fires in both copies."""
    wall_after, fold = zone.wall(after)
    start = wall_after + ONE_SECOND
    repeat_end = None
    if len(zone.instants(wall_after)) == 2:
        repeat_end = zone.repeat_end(wall_after)
        if fold == 0:
            # In the first copy: later walls of its first copy come first, then the whole
            # repeat again (second copies), then what follows it.
            w = cal.first_wall(start)
            if w is not None and w < repeat_end:
                return zone.instants(w)[0]
            repeat_start = repeat_end - (
                zone.instants(wall_after)[1] - zone.instants(wall_after)[0]
            )
            w = cal.first_wall(repeat_start)
            if w is not None and w < repeat_end:
                return zone.instants(w)[1]
            start = repeat_end
    w = start
    while True:
        found = cal.first_wall(w)
        if found is None:
            return None
        moments = zone.instants(found)
        if moments:
            if repeat_end is not None and found < repeat_end:
                return moments[-1]  # still in the repeat whose second copy `after` is in
            return moments[0]
        w = found + ONE_SECOND  # a wall time that does not exist today (spring forward)


@dataclass(frozen=True)
class NextTime:
    nominal: datetime  # the time the spec names
    actual: datetime  # with jitter: when the action is taken


class CompiledSpec:
    """A stored spec ready to answer "what is the next time after t?"."""

    def __init__(self, spec: dict[str, Any], jitter_seed: str) -> None:
        self.spec = spec
        self.zone = Zone(time_zone(spec.get("time_zone_name"), "spec.time_zone_name"))
        self.calendars = [Calendar(c) for c in spec["calendars"]]
        self.skip = [Calendar(c) for c in spec.get("skip") or []]
        self.intervals = [(int(i["every"]), int(i["offset"])) for i in spec["intervals"]]
        self.start_at = _as_utc(spec.get("start_at"), "spec.start_at")
        self.end_at = _as_utc(spec.get("end_at"), "spec.end_at")
        self.jitter = spec.get("jitter") or 0.0
        self.seed = jitter_seed

    def _raw_next(self, after: datetime) -> datetime | None:
        best: datetime | None = None
        for cal in self.calendars:
            found = next_calendar_time(cal, self.zone, after)
            if found is not None and (best is None or found < best):
                best = found
        ts = int(after.timestamp())
        for every, offset in self.intervals:
            found = from_timestamp(((ts - offset) // every + 1) * every + offset)
            if found is not None and (best is None or found < best):
                best = found  # None: the interval's next time lies past year 9999
        return best

    def _skipped(self, nominal: datetime) -> bool:
        wall = self.zone.wall(nominal)[0]
        return any(cal.matches_wall(wall) for cal in self.skip)

    def next_time(self, after: datetime) -> NextTime | None:
        """The first time after `after` (1 s resolution), or None when the spec has no more —
        including when it would lie past year 9999 (Temporal accepts such a spec, which
        simply has no next action time; computing it never fails)."""
        try:
            return self._next_time(after)
        except (OverflowError, ValueError):
            # Wall-clock conversions of a zone next to year 9999 (or year 1) leave Python's
            # range: there is no such time.
            return None

    def _next_time(self, after: datetime) -> NextTime | None:
        after = after.astimezone(UTC).replace(microsecond=0)
        if self.start_at is not None and after < self.start_at:
            after = later(self.start_at, -ONE_SECOND) or self.start_at
        nominal: datetime | None = after
        for _ in range(MAX_EXCLUDED_CANDIDATES):
            assert nominal is not None
            nominal = self._raw_next(nominal)
            if nominal is None or (self.end_at is not None and nominal > self.end_at):
                return None
            if nominal <= after:
                # Never happens by construction; guards the firing loop from going backwards.
                raise AssertionError(f"schedule spec went back from {after} to {nominal}")
            if not self._skipped(nominal):
                break
        else:
            return None
        actual = later(nominal, self._jitter(nominal))
        return None if actual is None else NextTime(nominal, actual)

    def _jitter(self, nominal: datetime) -> timedelta:
        """Temporal's: a deterministic fraction of the jitter, never past the next nominal."""
        if not self.jitter:
            return timedelta(0)
        most = timedelta(seconds=self.jitter)
        following = self._raw_next(nominal)
        if following is not None:
            most = min(most, following - nominal)
        digest = hashlib.sha256(f"{iso(nominal)}|{self.seed}".encode()).digest()
        fraction = int.from_bytes(digest[:4], "big")
        millis = int(most / timedelta(milliseconds=1))
        return timedelta(milliseconds=(fraction * millis) >> 32)

    def times(self, after: datetime, *, until: datetime | None, count: int) -> list[NextTime]:
        """Up to `count` times after `after` and at most `until` (by actual time)."""
        out: list[NextTime] = []
        at = after
        while len(out) < count:
            found = self.next_time(at)
            if found is None or (until is not None and found.actual > until):
                break
            out.append(found)
            at = found.actual
        return out
