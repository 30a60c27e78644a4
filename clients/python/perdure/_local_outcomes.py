"""What `Client.result()` can learn without the server: the outcomes of runs this process's
own workers decide."""

from __future__ import annotations

import asyncio
from typing import Any


class LocalOutcomes:
    """Outcomes of runs that this process's workers decide, so that `result()` need not ask
    the server (one long poll fewer per workflow). A run is followed from its eager first task
    for as long as each next task comes back to this process; once it may go elsewhere, or
    closes other than completed, `result()` asks the server as usual."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[tuple[bool, Any]]] = {}

    def follow(self, run_id: str) -> None:
        self._waiting[run_id] = asyncio.get_running_loop().create_future()

    def watch(self, run_id: str | None) -> asyncio.Future[tuple[bool, Any]] | None:
        return self._waiting.get(run_id) if run_id else None

    def completed(self, run_id: str, result: Any) -> None:
        self._settle(run_id, (True, result))

    def left(self, run_id: str) -> None:
        self._settle(run_id, (False, None))

    def leave_all(self) -> None:
        for run_id in list(self._waiting):
            self.left(run_id)

    def _settle(self, run_id: str, outcome: tuple[bool, Any]) -> None:
        waiter = self._waiting.pop(run_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)
