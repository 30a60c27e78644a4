"""Request rates and concurrent long polls per namespace, with a cap for the whole tenant.

Three kinds of request, by the permission their route needs: `writes` (manage, operate:
starts, signals, cancels, definitions, webhooks), `worker` (work: polls, completions,
heartbeats) and `reads` (read, view). Each namespace has a token bucket per kind (its
namespace settings, or the server's defaults) and the tenant has one per kind over all its
namespaces; a request takes a token from both or is refused with 429 and `Retry-After`.
Long polls (worker polls, result and history waits, starts that wait for the result, event
streams) are also counted while they wait, up to a cap per namespace; event streams and
result or history waits (clients holding a connection to watch a run) count besides against
their own, smaller caps per namespace and per tenant, since each costs the process memory.

Buckets and counts live in each server process: with N replicas behind a balancer a
namespace gets at most N times its limits (and, balanced evenly, about its limits).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from app.api.tenant_limits.buckets import TokenBucket, retry_after
from app.auth.roles import Permission
from app.errors import InvalidArgument, RateLimited
from app.settings import Settings

KINDS = ("writes", "worker", "reads")
KIND_OF_PERMISSION = {
    Permission.MANAGE: "writes",
    Permission.OPERATE: "writes",
    Permission.WORK: "worker",
    Permission.READ: "reads",
    Permission.VIEW: "reads",
}
# Namespace settings that set limits, and the server default each falls back to.
RATE_SETTINGS = {
    "writes": "writes_per_second",
    "worker": "worker_requests_per_second",
    "reads": "reads_per_second",
}
LONG_POLL_SETTING = "max_long_polls"
BURST = 2.0  # a bucket holds two seconds' worth (DESIGN.md)
MAX_BUCKETS = 100_000  # namespaces and tenants a process keeps buckets for


@dataclass(frozen=True, slots=True)
class Limits:
    """What one namespace may do: requests a second per kind, and long polls at once."""

    rates: Mapping[str, float]
    long_polls: int


def server_limits(settings: Settings) -> Limits:
    return Limits(
        rates={
            "writes": settings.namespace_writes_per_second,
            "worker": settings.namespace_worker_requests_per_second,
            "reads": settings.namespace_reads_per_second,
        },
        long_polls=settings.namespace_max_long_polls,
    )


def tenant_caps(settings: Settings) -> Limits:
    """All namespaces of one tenant together: `tenant_limit_multiple` times the defaults."""
    defaults = server_limits(settings)
    multiple = settings.tenant_limit_multiple
    return Limits(
        rates={kind: rate * multiple for kind, rate in defaults.rates.items()},
        long_polls=int(defaults.long_polls * multiple),
    )


def namespace_rate(defaults: Limits, namespace_settings: Mapping[str, Any], kind: str) -> float:
    """A namespace's requests a second of `kind`: its own setting, else the server's default."""
    return float(namespace_settings.get(RATE_SETTINGS[kind]) or defaults.rates[kind])


def namespace_long_polls(defaults: Limits, namespace_settings: Mapping[str, Any]) -> int:
    return int(namespace_settings.get(LONG_POLL_SETTING) or defaults.long_polls)


def check_namespace_settings(settings: Settings, changes: Mapping[str, Any]) -> None:
    """A namespace's limits may not exceed its tenant's caps (400 naming the setting)."""
    caps = tenant_caps(settings)
    for kind, name in RATE_SETTINGS.items():
        value = changes.get(name)
        if value is not None and value > caps.rates[kind]:
            raise InvalidArgument(
                f"settings.{name} may be at most {caps.rates[kind]:g} (the tenant's cap)",
                field=f"settings.{name}",
            )
    value = changes.get(LONG_POLL_SETTING)
    if value is not None and value > caps.long_polls:
        raise InvalidArgument(
            f"settings.{LONG_POLL_SETTING} may be at most {caps.long_polls} (the tenant's cap)",
            field=f"settings.{LONG_POLL_SETTING}",
        )


class Limiter:
    """This process's buckets and long-poll counts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Read once: every request looks its limits up (a namespace's settings, then these).
        self.defaults = server_limits(settings)
        self.caps = tenant_caps(settings)
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._long_polls: dict[str, int] = {}

    def _bucket(self, owner: str, kind: str, rate: float, now: float) -> TokenBucket:
        bucket = self._buckets.get((owner, kind))
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()  # forgetting buckets only ever lets requests through
            bucket = self._buckets[(owner, kind)] = TokenBucket.full(rate, rate * BURST, now)
        elif bucket.rate != rate:  # the namespace's setting changed
            bucket.rate, bucket.burst = rate, rate * BURST
        return bucket

    def admit(
        self, tenant_id: str, namespace_id: str, kind: str, namespace_settings: Mapping[str, Any]
    ) -> None:
        """Take a token of `kind` for the namespace and its tenant, or raise RateLimited."""
        now = time.monotonic()
        rate = namespace_rate(self.defaults, namespace_settings, kind)
        own = self._bucket("ns:" + namespace_id, kind, rate, now)
        tenant = self._bucket("tenant:" + tenant_id, kind, self.caps.rates[kind], now)
        wait = max(own.wait_for_one(now), tenant.wait_for_one(now))
        if wait > 0:
            which = "namespace" if own.wait_for_one(now) > 0 else "tenant"
            raise RateLimited(
                f"too many {kind} requests for this {which}; retry after the time given",
                limit_kind=kind,
                limit_scope=which,
                retry_after=retry_after(wait),
            )
        own.take()
        tenant.take()

    def hold(
        self,
        tenant_id: str,
        namespace_id: str,
        namespace_settings: Mapping[str, Any],
        *,
        held_wait: bool = False,
    ) -> Callable[[], None]:
        """Count a long poll while it waits, and answer the function that stops counting it
        (call it once). Beyond the namespace's (or the tenant's) cap it is refused at once with
        429, never queued behind the others. A `held_wait` (an event stream, a result or
        history wait: a client holding a connection open to watch a run) also counts against
        PERDURE_NAMESPACE_MAX_HELD_WAITS and PERDURE_TENANT_MAX_HELD_WAITS."""
        cap = namespace_long_polls(self.defaults, namespace_settings)
        keys = ["ns:" + namespace_id, "tenant:" + tenant_id]
        if self._long_polls.get(keys[0], 0) >= cap:
            raise self._too_many_polls("namespace", cap)
        if self._long_polls.get(keys[1], 0) >= self.caps.long_polls:
            raise self._too_many_polls("tenant", self.caps.long_polls)
        if held_wait:
            keys += ["held-ns:" + namespace_id, "held-tenant:" + tenant_id]
            for key, which, held_cap in (
                (keys[2], "namespace", self.settings.namespace_max_held_waits),
                (keys[3], "tenant", self.settings.tenant_max_held_waits),
            ):
                if self._long_polls.get(key, 0) >= held_cap:
                    raise self._too_many_held(which, held_cap)
        for key in keys:
            self._long_polls[key] = self._long_polls.get(key, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            for key in keys:
                left = self._long_polls[key] - 1
                if left:
                    self._long_polls[key] = left
                else:
                    del self._long_polls[key]

        return release

    @asynccontextmanager
    async def long_poll(
        self,
        tenant_id: str,
        namespace_id: str,
        namespace_settings: Mapping[str, Any],
        *,
        held_wait: bool = False,
    ) -> AsyncIterator[None]:
        """`hold` for the block's length."""
        release = self.hold(tenant_id, namespace_id, namespace_settings, held_wait=held_wait)
        try:
            yield
        finally:
            release()

    def held_waits(self, namespace_id: str | None = None) -> int:
        """Event streams, result and history waits held open now in the namespace (in the
        whole process without one)."""
        if namespace_id is None:
            return sum(n for key, n in self._long_polls.items() if key.startswith("held-ns:"))
        return self._long_polls.get("held-ns:" + namespace_id, 0)

    def long_polls(self, namespace_id: str) -> int:
        return self._long_polls.get("ns:" + namespace_id, 0)

    @staticmethod
    def _too_many_polls(which: str, cap: int) -> RateLimited:
        return RateLimited(
            f"this {which} already has {cap} long polls waiting (its cap); retry shortly",
            limit_kind="long_polls",
            limit_scope=which,
            retry_after=1,
        )

    @staticmethod
    def _too_many_held(which: str, cap: int) -> RateLimited:
        return RateLimited(
            f"this {which} already holds {cap} event streams and result or history waits open "
            "(its cap); close some or retry after the time given",
            limit_kind="held_waits",
            limit_scope=which,
            retry_after=5,
        )
