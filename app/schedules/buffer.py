"""Overlap policies: what to do with starts that come due while a scheduled run is still open.

A port of Temporal's `processBuffer` (service/worker/scheduler/buffer.go): ALLOW_ALL starts
always go; of the others at most one starts when nothing runs, and the rest are skipped,
buffered, or wait while the running one is canceled or terminated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class OverlapPolicy(StrEnum):
    SKIP = "SKIP"
    BUFFER_ONE = "BUFFER_ONE"
    BUFFER_ALL = "BUFFER_ALL"
    CANCEL_OTHER = "CANCEL_OTHER"
    TERMINATE_OTHER = "TERMINATE_OTHER"
    ALLOW_ALL = "ALLOW_ALL"


@dataclass(eq=False)
class Start:
    """A start that came due: from the spec, a trigger or a backfill."""

    origin: str  # 'spec', 'trigger' or 'backfill'
    nominal: datetime
    scheduled: datetime  # nominal + jitter
    overlap: OverlapPolicy | None = None  # None: the schedule's policy when it is worked
    row_id: int | None = None  # set once it waits in the stored buffer
    # What became of it (for the caller of a trigger): started, buffered, skipped or failed.
    outcome: str = "buffered"
    run: Any = None
    error: str | None = None

    @property
    def manual(self) -> bool:
        return self.origin != "spec"


@dataclass
class BufferResult:
    starts: list[Start] = field(default_factory=list)  # start now (ALLOW_ALL first)
    buffer: list[Start] = field(default_factory=list)  # keep waiting
    skipped: list[Start] = field(default_factory=list)
    cancel_running: bool = False
    terminate_running: bool = False


def process_buffer(
    buffer: list[Start], is_running: bool, resolve: Callable[[Start], OverlapPolicy]
) -> BufferResult:
    result = BufferResult()
    overlapping: list[Start] = []
    first: Start | None = None
    for start in buffer:
        policy = resolve(start)
        if policy == OverlapPolicy.ALLOW_ALL:
            overlapping.append(start)
            continue
        if not is_running and first is None:
            first = start
            continue
        if policy == OverlapPolicy.SKIP:
            result.skipped.append(start)
        elif policy == OverlapPolicy.BUFFER_ONE:
            if result.buffer:
                result.skipped.append(start)
            else:
                result.buffer.append(start)
        elif policy == OverlapPolicy.BUFFER_ALL:
            result.buffer.append(start)
        elif policy in (OverlapPolicy.CANCEL_OTHER, OverlapPolicy.TERMINATE_OTHER):
            if is_running:
                # It waits until the running one has closed.
                if policy == OverlapPolicy.CANCEL_OTHER:
                    result.cancel_running = True
                else:
                    result.terminate_running = True
                result.buffer.append(start)
            else:
                # Nothing runs yet: it replaces the one that was about to start.
                if first is not None:
                    result.skipped.append(first)
                first = start
    if result.cancel_running or result.terminate_running:
        # They would be canceled or terminated at once anyway (as in Temporal).
        result.buffer = overlapping + result.buffer
        overlapping = []
    result.starts = overlapping + ([first] if first is not None else [])
    return result
