"""The engine's only source of time. Tests and time-skipping mode move it forward by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time in UTC, plus an offset that time-skipping mode advances."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        if delta > timedelta(0):
            self._offset += delta

    def advance_to(self, moment: datetime) -> None:
        self.advance(moment - self.now())
