"""The delivery loop: a server-side worker for every enabled webhook endpoint.

Each tick claims the tasks the endpoints serve (while they have room) and sends each one in
its own asyncio task. It sleeps on the engine's wake-ups for the endpoints' task queues, so a
delivery starts as soon as its task is queued; activity-type bindings are found by the
fallback poll until the loop has seen which queues they arrive on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from functools import partial
from typing import Any

from app.context import ServerContext
from app.db.outage import report_failure
from app.engine.matching import dispatch
from app.engine.matching.queue_rates import Throttled
from app.engine.matching.wakeups import Wakeups, queue_key
from app.engine.service import Engine
from app.webhooks import endpoints as service
from app.webhooks.claims import Claimed, claim_for_endpoint, next_task_query
from app.webhooks.delivery import deliver, target_policy

log = logging.getLogger("perdure.webhooks")

MAX_IN_FLIGHT = 64
# Wake the loop: a delivery ended (room for another), or an endpoint changed.
ROOM_KEY = "webhooks|room"
ENDPOINTS_KEY = "webhooks|endpoints"


class DeliveryLoop:
    def __init__(self, ctx: ServerContext, engine: Engine, wakeups: Wakeups) -> None:
        self.ctx = ctx
        self.engine = engine
        self.wakeups = wakeups
        self.in_flight: dict[str, int] = defaultdict(int)  # endpoint id -> deliveries
        self.deliveries: set[asyncio.Task[None]] = set()
        # Queues where tasks of activity-type bindings were seen: (namespace id, queue).
        self.type_queues: set[tuple[str, str]] = set()
        # The last tick found tasks whose runs were busy in another transaction.
        self.contended = False
        # Seconds until tasks the last tick's rate limits held back may go (None: none held).
        self.throttled_for: float | None = None

    @property
    def total_in_flight(self) -> int:
        return sum(self.in_flight.values())

    async def tick(self, endpoints: list[Any] | None = None) -> int:
        """Claim and start what the endpoints can take now; returns how many started."""
        if endpoints is None:
            endpoints = await self.load_endpoints()
        started = 0
        self.contended = False
        self.throttled_for = None
        for endpoint in await self.with_ready_tasks(endpoints):
            while (
                self.total_in_flight < MAX_IN_FLIGHT
                and self.in_flight.get(endpoint["id"], 0) < endpoint["max_concurrency"]
            ):
                claimed = await self.engine.transact(partial(claim_for_endpoint, endpoint=endpoint))
                if not isinstance(claimed, Claimed):
                    self.contended = self.contended or claimed is dispatch.CONTENDED
                    if isinstance(claimed, Throttled):
                        self.throttled_for = min(
                            claimed.seconds, self.throttled_for or claimed.seconds
                        )
                    break
                self._start(endpoint, claimed)
                started += 1
        return started

    async def with_ready_tasks(self, endpoints: list[Any]) -> list[Any]:
        """The endpoints that have room and a task waiting, found on a reader connection, so
        that a tick takes the write lock (SQLite) or a write transaction only to claim."""
        found = []
        async with self.ctx.db.read() as conn:
            for endpoint in endpoints:
                if self.in_flight.get(endpoint["id"], 0) >= endpoint["max_concurrency"]:
                    continue
                if (await conn.execute(next_task_query(endpoint, []))).first() is not None:
                    found.append(endpoint)
        return found

    async def load_endpoints(self) -> list[Any]:
        async with self.ctx.db.read() as conn:
            return await service.enabled_endpoints(conn)

    def _start(self, endpoint: Any, claimed: Claimed) -> None:
        self.in_flight[endpoint["id"]] += 1
        if endpoint["activity_types"]:
            self.type_queues.add((endpoint["namespace_id"], claimed.task_queue))
        task = asyncio.create_task(self._deliver(endpoint, claimed), name="perdure-webhook")
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)

    async def _deliver(self, endpoint: Any, claimed: Claimed) -> None:
        try:
            policy = target_policy(self.ctx, endpoint["namespace_settings"])
            await deliver(self.ctx, self.engine, endpoint, claimed, policy)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The attempt stays started: its start-to-close timeout retries it.
            report_failure(log, f"webhook delivery {claimed.delivery_id}", exc)
        finally:
            self.in_flight[endpoint["id"]] -= 1
            if not self.in_flight[endpoint["id"]]:
                del self.in_flight[endpoint["id"]]
            self.wakeups.notify([ROOM_KEY])

    def wake_keys(self, endpoints: list[Any]) -> set[str]:
        keys = {ROOM_KEY, ENDPOINTS_KEY}
        for endpoint in endpoints:
            for queue in endpoint["task_queues"]:
                keys.add(queue_key(endpoint["namespace_id"], "activity", queue))
        for namespace_id, queue in self.type_queues:
            keys.add(queue_key(namespace_id, "activity", queue))
        return keys

    async def run(self, stop: asyncio.Event) -> None:
        fallback = self.ctx.settings.poll_fallback_seconds
        try:
            while not stop.is_set():
                try:
                    endpoints = await self.load_endpoints()
                    async with self.wakeups.waiting(*self.wake_keys(endpoints)) as woken:
                        if await self.tick(endpoints):
                            continue
                        pause = 0.01 if self.contended else fallback
                        if self.throttled_for is not None:
                            # A rate limit's next slot: sooner than the fallback look.
                            pause = min(pause, self.throttled_for)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(woken.wait(), pause)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    report_failure(log, "webhook delivery tick", exc)
                    await asyncio.sleep(1.0)
        finally:
            # Deliveries cut short stay started; their start-to-close timeout retries them.
            for task in list(self.deliveries):
                task.cancel()
            for task in list(self.deliveries):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
