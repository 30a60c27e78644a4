"""Time-skipping's lock, as Temporal's test server keeps it: a reference count that holds the
clock at wall-clock speed while positive, and sleepers waiting for the clock to reach a moment.

Development only (time-skipping mode refuses production). The state lives in the one process of
`perdure dev`: a restarted server starts unlocked, as `perdure dev --time-skipping` always did.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime

from app.clock import Clock
from app.errors import FailedPrecondition


class TimeSkippingLock:
    """Temporal's `LockTimeSkipping` / `UnlockTimeSkipping` counter plus `SleepUntil` waiters.

    Time skips only while the count is 0 (a server without an environment never locks, so it
    keeps skipping whenever idle); a sleeper's moment is a skip target like a timer's."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.count = 0
        self._sleepers: dict[int, datetime] = {}
        self._ids = itertools.count()
        # Set at every jump of the clock, so that sleepers look again at once.
        self._moved = asyncio.Event()

    @property
    def locked(self) -> bool:
        return self.count > 0

    def lock(self) -> None:
        """One more holder of the lock (Temporal's `LockTimeSkipping`)."""
        self.count += 1

    def unlock(self) -> None:
        """One holder fewer (Temporal's `UnlockTimeSkipping`). `FailedPrecondition` when
        nobody holds it: Temporal's test server refuses an unbalanced unlock too."""
        if self.count == 0:
            raise FailedPrecondition(
                "time skipping is not locked: an unlock needs an earlier lock", lock_count=0
            )
        self.count -= 1

    def earliest_sleeper(self) -> datetime | None:
        """The nearest moment a sleeper waits for: a moment the clock may jump to."""
        return min(self._sleepers.values(), default=None)

    def moved(self) -> None:
        """The clock jumped: sleepers look again."""
        self._moved.set()
        self._moved = asyncio.Event()

    async def sleep_until(self, moment: datetime) -> None:
        """Return once the engine clock reaches `moment` (by a jump or by wall time)."""
        sleeper = next(self._ids)
        self._sleepers[sleeper] = moment
        try:
            while (remaining := (moment - self.clock.now()).total_seconds()) > 0:
                moved = self._moved
                try:
                    await asyncio.wait_for(moved.wait(), remaining)
                except TimeoutError:
                    pass
        finally:
            del self._sleepers[sleeper]
