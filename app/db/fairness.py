"""Fair shares of the database between tenants: a semaphore whose waiters queue per share.

When every slot (a SQLite writer, PostgreSQL connections) is taken, a freed slot goes to the
share that was served longest ago, and a share that was not waiting at all goes first (as
fair-queuing schedulers treat new flows). A tenant with 60 requests queued therefore gets one
slot per round like a tenant with one, and the one-request tenant waits for at most one
transaction instead of the whole queue. The API edge names the share (the tenant) in
`work_share`; background loops leave it unset and share one queue.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

# Whose work the current request is (the tenant id), set once at the API edge.
work_share: ContextVar[str] = ContextVar("perdure_work_share", default="")


class FairGate:
    """`capacity` slots handed out per share, round-robin. Re-entrant per task: a task that
    holds a slot and asks again (a read inside a write) does not queue behind itself."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a gate needs at least one slot")
        self.capacity = capacity
        self.in_use = 0
        # share -> its waiters; order: the share to serve next first.
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self._holders: dict[asyncio.Task[object] | None, int] = {}

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if self._holders.get(task):
            self._holders[task] += 1
            try:
                yield
            finally:
                self._holders[task] -= 1
            return
        await self._acquire(work_share.get())
        self._holders[task] = 1
        try:
            yield
        finally:
            del self._holders[task]
            self._release()

    @asynccontextmanager
    async def released(self) -> AsyncIterator[None]:
        """Inside `slot()`: give the slot to others for a while (a long wait), then queue
        for it again."""
        task = asyncio.current_task()
        depth = self._holders.pop(task, 0)
        if not depth:
            yield
            return
        self._release()
        try:
            yield
        finally:
            await asyncio.shield(self._acquire(work_share.get()))
            self._holders[task] = depth

    async def _acquire(self, share: str) -> None:
        if self.in_use < self.capacity and not self._waiting:
            self.in_use += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting.get(share)
        if queue is None:
            queue = self._waiting[share] = deque()
            self._waiting.move_to_end(share, last=False)  # a share that was idle goes first
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted just as it was cancelled: pass the slot on
            else:
                self._forget(share, waiter)
            raise

    def _forget(self, share: str, waiter: asyncio.Future[None]) -> None:
        queue = self._waiting.get(share)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiting[share]

    def _release(self) -> None:
        """Hand the slot straight to the next share's oldest waiter, or free it."""
        while self._waiting:
            share, queue = next(iter(self._waiting.items()))
            waiter = queue.popleft()
            if queue:
                self._waiting.move_to_end(share)
            else:
                del self._waiting[share]
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_use -= 1
