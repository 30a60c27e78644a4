"""`workflow.wait` and `workflow.as_completed`: asyncio's made deterministic (the order of
results never depends on a set's order, so replays agree). Re-exported by `perdure.workflow`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from perdure.common import seconds


async def wait(
    fs: Iterable[Any],
    *,
    timeout: timedelta | float | None = None,  # noqa: ASYNC109 - Temporal's name
    return_when: str = asyncio.ALL_COMPLETED,
) -> tuple[list[Any], list[Any]]:
    """`asyncio.wait` made deterministic: the done and pending lists keep the order the
    futures were given in (a set's order would differ between replays). A `timeout` is a
    durable timer."""
    given = [asyncio.ensure_future(f) for f in fs]
    done, _ = await asyncio.wait(given, timeout=seconds(timeout), return_when=return_when)
    return [f for f in given if f in done], [f for f in given if f not in done]


def as_completed(
    fs: Iterable[Any],
    *,
    timeout: timedelta | float | None = None,  # noqa: ASYNC109 - Temporal's name
) -> Iterator[Awaitable[Any]]:
    """`asyncio.as_completed` made deterministic: awaitables that give each future's outcome
    in the order they finish (ties in the order given); `timeout` bounds them all."""
    given = [asyncio.ensure_future(f) for f in fs]
    finished: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()
    for future in given:
        future.add_done_callback(finished.put_nowait)
    limit = seconds(timeout)
    deadline = None if limit is None else asyncio.get_running_loop().time() + limit

    async def next_one() -> Any:
        if deadline is None:
            return await (await finished.get())
        left = deadline - asyncio.get_running_loop().time()
        return await (await asyncio.wait_for(finished.get(), max(left, 0)))

    for _ in given:
        yield next_one()
