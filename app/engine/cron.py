"""Temporal's cron workflows: the cron string a run is started with, and when its next run
starts. Temporal's rules: standard five-field cron (or `@daily`-style descriptors), in UTC
unless prefixed `CRON_TZ=<zone>`; the first run waits for the first cron time too; each next
run starts at the first cron time after the previous run closed."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError
from croniter import croniter as _croniter

from app.errors import InvalidArgument

MAX_CRON_LENGTH = 255


def _split(cron: str) -> tuple[ZoneInfo | None, str]:
    text = cron.strip()
    for prefix in ("CRON_TZ=", "TZ="):
        if text.startswith(prefix):
            zone_name, _, rest = text[len(prefix) :].partition(" ")
            return ZoneInfo(zone_name), rest.strip()
    return None, text


def check(cron: str | None, *, field: str = "cron_schedule") -> str | None:
    """The cron string if it is one Temporal accepts; InvalidArgument naming `field` if not."""
    if cron is None or cron == "":
        return None
    if len(cron) > MAX_CRON_LENGTH:
        raise InvalidArgument(
            f"a cron schedule is at most {MAX_CRON_LENGTH} characters", field=field
        )
    try:
        _, expression = _split(cron)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidArgument(f"unknown time zone in cron schedule '{cron}'", field=field) from err
    fields = expression.split()
    if not expression.startswith("@") and len(fields) != 5:
        raise InvalidArgument(
            f"'{cron}' is not a cron schedule (five fields: minute hour day month weekday)",
            field=field,
        )
    try:
        _croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except (CroniterError, ValueError, KeyError) as err:
        raise InvalidArgument(f"'{cron}' is not a cron schedule: {err}", field=field) from err
    return cron


def seconds_until_next(cron: str, now: datetime) -> float:
    """Seconds from `now` to the first cron time strictly after it."""
    zone, expression = _split(cron)
    local = now.astimezone(zone or UTC)
    following: datetime = _croniter(expression, local).get_next(datetime)
    return max(0.0, (following - local).total_seconds())
