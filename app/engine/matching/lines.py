"""Matching: each new task is offered to one waiting poller of its queue, oldest waiter first.

Temporal's matching service hands a task to a single waiting poller ("sync match") and keeps
the rest in the queue's backlog. Perdure's backlog is the `tasks` table, and a hand-off is only
an *offer*: the poller that receives it claims the task in its own transaction
(app/engine/matching/dispatch.py), so the task is started only when that claim commits. A poller that
hangs up or dies between the offer and the claim loses nothing: its offer passes to the next
waiter (or the task stays in the backlog for the next poll).

Per task queue (a wake-up key `q|namespace|kind|queue`, see app/engine/matching/wakeups.py) and per
process, `Matcher` keeps a *line* of waiting polls in arrival order:

- a committed transition that added n tasks to the queue offers them to n waiters, oldest
  first (a TASK offer);
- a look at the backlog that finds a task (an arriving poll's, or the fallback's), and a
  NOTIFY from another process (which does not say how many tasks it stands for), make a DRAIN
  offer: the waiter that claims on it passes another DRAIN offer on when its claim saw more
  tasks behind the one it took, so a backlog drains through the line one claim at a time
  without waking everyone at once (a TASK offer is never passed on this way: its task was
  counted, and chaining on it would race the other offered waiters into empty claims);
- only the oldest waiter of a line keeps a fallback timer: one look at the backlog per queue
  and process every `poll_fallback_seconds` covers a NOTIFY lost with a dropped connection,
  whatever the number of idle polls;
- offers that find no waiter free to take them are kept by the line (`owed`) and given to
  the next polls that join it, so a task committed while every waiter was busy claiming is
  not left for the fallback look;
- an arriving poll looks at the backlog only when nobody waits in its line already: a line
  with waiters has no ready task that is not offered to one of them or owed to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

TASK = "task"  # one counted new task
DRAIN = "drain"  # the backlog may hold more than one: pass on while it does


class Waiter:
    """One waiting poll. `offered` is an offer (TASK or DRAIN) not yet taken up by a claim of
    this waiter."""

    __slots__ = ("_event", "line", "offered")

    def __init__(self, line: Line) -> None:
        self.line = line
        self.offered: str | None = None
        self._event = asyncio.Event()

    @property
    def is_oldest(self) -> bool:
        return next(iter(self.line.waiters), None) is self

    def wake(self) -> None:
        self._event.set()

    def take_offer(self) -> str | None:
        """The pending offer (TASK or DRAIN), consumed: the caller is about to claim."""
        offered, self.offered = self.offered, None
        return offered

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for an offer or a wake-up; True when woken before the timeout."""
        if not self._event.is_set():
            try:
                async with asyncio.timeout(seconds):
                    await self._event.wait()
            except TimeoutError:
                return False
        self._event.clear()
        return True


class Line:
    """The waiting polls of one task queue (and kind) in this process, oldest first."""

    __slots__ = ("key", "last_look", "owed_drain", "owed_tasks", "waiters")

    def __init__(self, key: str) -> None:
        self.key = key
        # An insertion-ordered set: oldest first, O(1) removal.
        self.waiters: dict[Waiter, None] = {}
        self.last_look = time.monotonic()
        # Offers no waiter was free to take: TASK offers counted, a DRAIN offer or none.
        self.owed_tasks = 0
        self.owed_drain = False

    def offer(self, count: int, kind: str = TASK) -> int:
        """Offer to up to `count` waiters that hold no offer yet, oldest first; the rest are
        owed to the next waiters to join. Returns how many were offered now."""
        offered = 0
        for waiter in self.waiters:
            if offered >= count:
                break
            if waiter.offered is None:
                waiter.offered = kind
                waiter.wake()
                offered += 1
        if offered < count:
            if kind == TASK:
                self.owed_tasks += count - offered
            else:
                self.owed_drain = True
        return offered

    def join(self, waiter: Waiter) -> None:
        """A new waiter takes its place at the end, and an owed offer if there is one."""
        self.waiters[waiter] = None
        if self.owed_tasks:
            self.owed_tasks -= 1
            waiter.offered = TASK
        elif self.owed_drain:
            self.owed_drain = False
            waiter.offered = DRAIN

    def look_due(self, fallback: float) -> bool:
        """Whether the queue's periodic look at the backlog is due now (and claim it if so)."""
        now = time.monotonic()
        if now - self.last_look < fallback:
            return False
        self.last_look = now
        return True


class Matcher:
    """The lines of every task queue with waiting polls in this process."""

    def __init__(self) -> None:
        self._lines: dict[str, Line] = {}

    @contextlib.asynccontextmanager
    async def waiting(self, key: str) -> AsyncIterator[Waiter]:
        """Join the queue's line for the duration of one poll. Leaving with an offer not taken
        up passes it to the next waiter: the task it stands for must not wait for the
        fallback look."""
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = Line(key)
        waiter = Waiter(line)
        line.join(waiter)
        try:
            yield waiter
        finally:
            was_oldest = waiter.is_oldest
            del line.waiters[waiter]
            if not line.waiters:
                del self._lines[key]
            else:
                if waiter.offered is not None:
                    line.offer(1, waiter.offered)
                if was_oldest:
                    # The next oldest now owns the fallback timer: let it re-arm.
                    next(iter(line.waiters)).wake()

    def has_waiters(self, key: str) -> bool:
        return key in self._lines

    def can_take(self, key: str, count: int) -> bool:
        """Whether `count` waiters of the queue hold no offer now: new tasks will find takers
        in this process, and other processes need not be told (app/engine/service.py)."""
        line = self._lines.get(key)
        if line is None:
            return False
        idle = 0
        for waiter in line.waiters:
            if waiter.offered is None:
                idle += 1
                if idle >= count:
                    return True
        return False

    def offer(self, key: str, count: int = 1, kind: str = TASK) -> int:
        """Offer `count` waiters of the queue a TASK (new tasks, counted) or a DRAIN (the
        backlog may hold several); returns how many got one."""
        line = self._lines.get(key)
        return line.offer(count, kind) if line is not None else 0

    def wake_all(self) -> None:
        """Wake every waiter (shutdown: they see `draining` and answer)."""
        for line in self._lines.values():
            for waiter in line.waiters:
                waiter.wake()

    def waiting_counts(self) -> dict[str, int]:
        """Polls waiting now, by task kind (for the pollers gauge)."""
        counts: dict[str, int] = {}
        for key, line in self._lines.items():
            kind = key.split("|", 3)[2]
            counts[kind] = counts.get(kind, 0) + len(line.waiters)
        return counts
