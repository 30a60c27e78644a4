"""The Python SDK against the suite's server (SQLite or PostgreSQL): a client of a fresh
tenant, and small waits that read what a user could read."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from perdure import RPCError
from perdure.client import Client, WorkflowHandle

from tests.conftest import RunningServer, new_tenant


@contextlib.asynccontextmanager
async def sdk_client(
    server: RunningServer, *, search_attributes: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """A client of a new tenant's namespace on the suite's server, with these custom search
    attributes registered (name -> type), as Temporal requires before they are used."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=90) as http:
        tenant = await new_tenant(http)
        if search_attributes:
            registered = await tenant.client.post(
                tenant.ns("/search-attributes"), json={"search_attributes": search_attributes}
            )
            assert registered.status_code < 300, registered.text
        await tenant.client.aclose()
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    try:
        yield client
    finally:
        await client.close()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def history_until(
    handle: WorkflowHandle, found: Callable[[list[dict[str, Any]]], bool], *, tries: int = 300
) -> list[dict[str, Any]]:
    """The run's events once `found(events)` holds (read again every 20 ms, 6 s at most)."""
    for _ in range(tries):
        events = (await handle.fetch_history())["events"]
        if found(events):
            return events
        await asyncio.sleep(0.02)
    raise AssertionError(f"history never matched; last events: {[e['event_type'] for e in events]}")


async def described_until(
    handle: WorkflowHandle, found: Callable[[Any], bool], *, tries: int = 300
) -> Any:
    """The run's description once it exists and `found(description)` holds (read again every
    20 ms)."""
    described = None
    for _ in range(tries):
        try:
            described = await handle.describe()
        except RPCError as err:
            if err.status != 404:
                raise
        if described is not None and found(described):
            return described
        await asyncio.sleep(0.02)
    raise AssertionError(f"the description never matched: {described}")


async def query_until(
    handle: WorkflowHandle, query: Any, expected: Any, *, tries: int = 300
) -> None:
    """Ask `query` until it answers `expected`: a query sees the state as of the last completed
    workflow task, so a signal just sent may not show yet."""
    for _ in range(tries):
        answer = await handle.query(query)
        if answer == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"query answered {answer!r}, never {expected!r}")


def activity_started(described: Any) -> bool:
    return any(a.state == "STARTED" for a in described.pending_activities)


def has(event_type: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda events: any(e["event_type"] == event_type for e in events)


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_type"] for e in events]
