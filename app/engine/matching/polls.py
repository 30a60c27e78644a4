"""Long polls on task queues: a poll joins its queue's line (app/engine/matching/lines.py), claims
when offered a task or when its look at the backlog finds one, and otherwise waits.

A claim is a transition of its own (app/engine/matching/dispatch.py): the task is started only when
that claim commits. Every look and claim is counted in `perdure_poll_looks_total` by outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from app.db.connection import Connection
from app.engine import queries
from app.engine.matching import dispatch, queue_rates
from app.engine.matching.lines import DRAIN, TASK
from app.engine.matching.wakeups import queue_key
from app.engine.transition import Transition
from app.engine.versioning import routing

if TYPE_CHECKING:
    from app.engine.service import CallerGone, Engine

# claim(tx, offer) -> what was taken, None, or dispatch.CONTENDED; offer is TASK or DRAIN.
Claim = Callable[[Transition, str], Awaitable[Any]]
# look(conn) -> whether the backlog holds something to claim (a read).
Look = Callable[[Connection], Awaitable[bool]]


async def poll_workflow_task(
    engine: Engine,
    namespace_id: str,
    task_queue: str,
    identity: str,
    wait: float,
    caller_gone: CallerGone | None = None,
    poller: tuple[str, str] | None = None,
) -> dispatch.WorkflowTaskClaim | queries.QueryClaim | None:
    """Wait up to `wait` seconds (a float) for the queue's next query or workflow task and
    claim it; None when nothing came. `poller`: the poller's deployment version (deployment
    name, build id), None when unversioned."""
    await engine.pollers.seen(namespace_id, task_queue, "workflow", identity, wait)
    if poller is not None:
        await engine.versions.seen(namespace_id, poller, task_queue, "workflow")

    # Whether the look just made found no query: the claim that follows it need not look.
    looked_without_query = False

    async def look(conn: Connection) -> bool:
        nonlocal looked_without_query
        # A deployment's queue: only the queries and tasks routed to this poller, so that
        # it does not spin on what it may not take (an unversioned queue: no statement).
        route = await routing.route_for(conn, namespace_id, "workflow", task_queue, poller)
        query, task = await queries.pending_and_backlog(
            conn, namespace_id, task_queue, engine.clock.now(), route
        )
        looked_without_query = task and not query
        return query or task

    async def claim(tx: Transition, offer: str) -> Any:
        # Queries go first: their callers are waiting, and they take no workflow task. A poll
        # offered a counted new task (TASK), or whose look has just found no query, skips
        # the claim of queries: a new query makes an offer of its own (DRAIN), which is kept
        # for the next poll if nobody is free.
        nonlocal looked_without_query
        skip_queries, looked_without_query = looked_without_query, False
        if offer != TASK and not skip_queries:
            query = await queries.claim(tx, namespace_id, task_queue, identity, poller)
            if query is not None:
                tx.more_ready = True  # not known; the next waiter's look settles it
                return query
        return await dispatch.claim_workflow_task(tx, namespace_id, task_queue, identity, poller)

    found: dispatch.WorkflowTaskClaim | queries.QueryClaim | None = await _poll(
        engine, namespace_id, "workflow", task_queue, claim, look, wait, caller_gone, poller
    )
    return found


async def poll_activity_tasks(
    engine: Engine,
    namespace_id: str,
    task_queue: str,
    identity: str,
    wait: float,
    max_tasks: int,
    caller_gone: CallerGone | None = None,
    poller: tuple[str, str] | None = None,
) -> list[dispatch.ActivityTaskClaim]:
    """Wait up to `wait` seconds for an activity task, then take up to `max_tasks` that are
    ready; [] when nothing came. `poller`: as for poll_workflow_task."""
    await engine.pollers.seen(namespace_id, task_queue, "activity", identity, wait)
    if poller is not None:
        await engine.versions.seen(namespace_id, poller, task_queue, "activity")

    async def look(conn: Connection) -> bool:
        route = await routing.route_for(conn, namespace_id, "activity", task_queue, poller)
        return await dispatch.has_backlog(conn, namespace_id, "activity", task_queue, route)

    async def claim(tx: Transition, offer: str) -> Any:
        claims = await dispatch.claim_activity_tasks(
            tx, namespace_id, task_queue, identity, max_tasks, poller
        )
        return claims if claims != [] else None

    found = await _poll(
        engine, namespace_id, "activity", task_queue, claim, look, wait, caller_gone, poller
    )
    return found or []


async def _poll(
    engine: Engine,
    namespace_id: str,
    kind: str,
    task_queue: str,
    claim: Claim,
    look: Look,
    wait: float,
    caller_gone: CallerGone | None,
    poller: tuple[str, str] | None = None,
) -> Any:
    """One long poll: join the queue's line (its version's line for a versioned poller),
    claim when offered a task (or when a look at the backlog finds one), else wait up to
    `wait` seconds. Returns the claim, or None on timeout, hang-up or shutdown."""
    key = queue_key(namespace_id, kind, task_queue, routing.canonical(*poller) if poller else None)
    matcher = engine.wakeups.matcher
    deadline = time.monotonic() + wait

    async def counted(outcome: str) -> None:
        await engine.ctx.metrics.apply(
            [("poll_looks", (namespace_id, kind, outcome), 1)], engine.namespace_label
        )

    async with matcher.waiting(key) as waiter:
        # Arriving: a line with others in it has no task that is not offered to one of them
        # or owed to the next, so only the first in line looks at the backlog.
        should_look = waiter.is_oldest
        while True:
            # Shutting down: take no new task, answer empty as on timeout.
            if engine.wakeups.draining:
                return None
            offer = waiter.take_offer()
            if offer is None and should_look:
                async with engine.db.read() as conn:
                    if await look(conn):
                        offer = DRAIN  # found in the backlog: there may be more
                if offer is None:
                    await counted("empty_look")
            if offer is not None:
                # A task handed to a poller that hung up would be lost until its timeout;
                # leaving with the offer passes it on.
                if caller_gone is not None and await caller_gone():
                    waiter.offered = offer
                    return None
                found, more = await engine.transact(partial(_claimed, claim=claim, offer=offer))
                throttled = isinstance(found, queue_rates.Throttled)
                if isinstance(found, queue_rates.Throttled):
                    # Tasks are there but the queue's rate limits allow none now. The oldest
                    # waiter keeps the offer and tries again when the limiter allows; the
                    # others wait as idle polls do, so a throttled queue costs one claim per
                    # limiter interval and process, whatever the number of polls.
                    await counted("throttled")
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    if waiter.is_oldest:
                        waiter.offered = offer
                        await waiter.wait(min(remaining, found.seconds))
                        waiter.offered = waiter.offered or offer
                        continue
                    found = None
                if found is dispatch.CONTENDED:
                    # A ready task's run is busy in another transition: look again soon.
                    await counted("contended")
                    await asyncio.sleep(0.01)
                    waiter.offered = offer
                    continue
                if found is not None:
                    await counted("claimed")
                    if offer == DRAIN and more:
                        matcher.offer(key, 1, DRAIN)
                    return found
                if not throttled:
                    await counted("empty_claim")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # Only the oldest waiter keeps the queue's fallback look (once per interval).
            oldest = waiter.is_oldest
            woken = await waiter.wait(min(remaining, engine.fallback) if oldest else remaining)
            should_look = not woken and oldest and waiter.line.look_due(engine.fallback)


async def _claimed(tx: Transition, claim: Claim, offer: str) -> tuple[Any, bool]:
    """(what `claim` took, whether the backlog holds more ready tasks)."""
    found = await claim(tx, offer)
    taken = found is not None and found is not dispatch.CONTENDED
    return found, tx.more_ready and taken and not isinstance(found, queue_rates.Throttled)
