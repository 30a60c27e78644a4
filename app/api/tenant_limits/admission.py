"""Requests at work per tenant: the event loop shared fairly between tenants.

A server process serves every tenant on one event loop, which runs whatever is ready in turn,
request by request: a tenant with 64 requests in flight would get 64 turns for another's one,
whatever the database gate does. So each tenant has at most `tenant_requests_at_work` API
requests past this gate at once; the others wait in the tenant's own queue, costing nothing
but memory, and a request finding `tenant_max_requests_in_flight` of its tenant's here already
is answered 429 at once, before routing, authentication or its body are looked at. A request
stands aside while it waits on something else (long polls, result waits, queries) and queues
again after.

The tenant is known from the API key: learned when a key first authenticates (its hash →
its tenant, in memory). Keys not seen yet share one queue; requests outside /api/ (the
console, health, metrics) do not pass the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import PROBLEM_MEDIA_TYPE
from app.auth.keys import hash_api_key
from app.db.fairness import work_share
from app.errors import RateLimited

UNKNOWN = ""  # the share of keys this process has not seen authenticate
MAX_KNOWN_KEYS = 100_000  # keys whose tenant a process remembers
# A tenant shares the server while another tenant was let in this recently (seconds).
ACTIVE_SECONDS = 1.0
MAX_SEEN = 10_000


@dataclass(slots=True)
class _Queue:
    """One tenant's requests: at work, and waiting for a turn (oldest first)."""

    at_work: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


@dataclass(slots=True)
class Turn:
    """One request's place at the gate (shared with the tasks its response runs in)."""

    share: str
    at_work: bool = True


_turn: ContextVar[Turn | None] = ContextVar("perdure_admission_turn", default=None)


class TenantGate:
    """At most `at_work` requests of a tenant at work at once while it is alone, `shared` while
    other tenants are active too; the rest queued in arrival order; `in_flight` (at work +
    queued) beyond which a tenant's requests are refused."""

    def __init__(self, at_work: int, in_flight: int, shared: int = 1) -> None:
        if not 1 <= shared <= at_work <= in_flight:
            raise ValueError("a gate needs 1 <= shared <= at_work <= in_flight")
        self.at_work = at_work
        # Each request at work gets an equal part of the event loop: while tenants share the
        # server, a busy tenant's part stays near another's rather than `at_work` times it.
        self.shared = shared
        self.in_flight = in_flight
        self._queues: dict[str, _Queue] = {}
        self._tenant_of_key: dict[str, str] = {}
        # share -> when it last had a request let in; the most recent last.
        self._seen: OrderedDict[str, float] = OrderedDict()

    def share_of(self, token: str) -> str:
        return self._tenant_of_key.get(hash_api_key(token), UNKNOWN) if token else UNKNOWN

    def learn(self, token: str, tenant_id: str) -> None:
        if len(self._tenant_of_key) >= MAX_KNOWN_KEYS:
            self._tenant_of_key.clear()  # forgetting only costs a request in the shared queue
        self._tenant_of_key[hash_api_key(token)] = tenant_id

    def requests(self, share: str) -> tuple[int, int]:
        """(at work, waiting) for a share, as the gate counts them now."""
        queue = self._queues.get(share)
        return (queue.at_work, len(queue.waiting)) if queue else (0, 0)

    def is_full(self, share: str) -> bool:
        queue = self._queues.get(share)
        return queue is not None and queue.at_work + len(queue.waiting) >= self.in_flight

    def cap(self, share: str) -> int:
        """Requests the share may have at work now: all its turns while no other share was
        let in for ACTIVE_SECONDS, else the shared number."""
        horizon = time.monotonic() - ACTIVE_SECONDS
        for other, seen in reversed(self._seen.items()):
            if seen < horizon:
                break
            if other != share:
                return self.shared
        return self.at_work

    def _let_in(self, share: str, queue: _Queue) -> None:
        queue.at_work += 1
        self._seen[share] = time.monotonic()
        self._seen.move_to_end(share)
        if len(self._seen) > MAX_SEEN:
            self._seen.popitem(last=False)

    async def enter(self, share: str) -> None:
        queue = self._queues.get(share)
        if queue is None:
            queue = self._queues[share] = _Queue()
        if not queue.waiting and queue.at_work < self.cap(share):
            self._let_in(share, queue)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.waiting.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave(share)  # given a turn just as it was cancelled: pass it on
            else:
                # A client that hung up: its place may already be gone (a hand-over popped
                # the cancelled future and skipped it), so it is removed only if still there.
                with contextlib.suppress(ValueError):
                    queue.waiting.remove(waiter)
                if self._queues.get(share) is queue:
                    self._forget_if_idle(share, queue)
            raise

    def leave(self, share: str) -> None:
        """End a request's turn: the tenant's oldest waiting requests are let in, on the
        event loop's next round. Not at once: on SQLite a request often runs from start to
        answer without waiting on anything, so its turn would end before the next of its
        tenant's requests began, and a tenant could run one request after another within a
        single round while another tenant's request waits for the round to end."""
        asyncio.get_running_loop().call_soon(self._hand_over, share)

    def _hand_over(self, share: str) -> None:
        queue = self._queues[share]
        queue.at_work -= 1
        cap = self.cap(share)
        while queue.waiting and queue.at_work < cap:
            waiter = queue.waiting.popleft()
            if not waiter.done():
                self._let_in(share, queue)
                waiter.set_result(None)
        self._forget_if_idle(share, queue)

    def _forget_if_idle(self, share: str, queue: _Queue) -> None:
        if not queue.at_work and not queue.waiting:
            del self._queues[share]

    def step_out(self) -> None:
        """Give up the current request's turn for the rest of it (an event stream): the
        tenant's next request is let in, and this one never queues again."""
        turn = _turn.get()
        if turn is not None and turn.at_work:
            turn.at_work = False
            self.leave(turn.share)

    @asynccontextmanager
    async def standing_aside(self) -> AsyncIterator[None]:
        """Around a wait inside a request (a long poll, a query): the request's turn goes to
        the next of its tenant's requests meanwhile, and it queues for a turn again after."""
        turn = _turn.get()
        if turn is None or not turn.at_work:
            yield
            return
        turn.at_work = False
        self.leave(turn.share)
        yield
        # Not on errors: answering one is cheap, and a cancelled request must not wait here.
        await self.enter(turn.share)
        turn.at_work = True


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class AdmissionMiddleware:
    """Pure ASGI: every /api/ request takes a turn of its tenant's (see the module)."""

    def __init__(self, app: ASGIApp, gate: TenantGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        share = self.gate.share_of(token)
        if self.gate.is_full(share):
            await self._refuse(scope, send)
            return
        await self.gate.enter(share)
        turn = Turn(share)
        _turn.set(turn)
        work_share.set(share)
        try:
            await self.app(scope, receive, send)
        finally:
            if turn.at_work:
                self.gate.leave(share)
            # Authentication names the caller's tenant (app/api/deps.py): learn the key's.
            tenant = work_share.get()
            if tenant != share and tenant:
                self.gate.learn(token, tenant)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = RateLimited(
            f"this tenant already has {self.gate.in_flight} requests in flight on this "
            "server (its cap); retry after the time given",
            limit_kind="requests_in_flight",
            limit_scope="tenant",
            retry_after=1,
        )
        body = orjson.dumps(error.to_problem(instance=scope["path"]))
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", b"1"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
