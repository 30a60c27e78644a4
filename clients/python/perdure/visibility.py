"""What list and count answer, shaped like Temporal's `WorkflowExecution` and
`WorkflowExecutionCount` (temporalio.client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from perdure import _codec
from perdure._search_attributes import untyped

if TYPE_CHECKING:
    from perdure.client import Client


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class WorkflowExecution(dict):
    """One run of a list: the server's JSON (so `run["workflow_id"]` works) with Temporal's
    attribute names (`id`, `run_id`, `workflow_type`, `status`, `start_time`, …)."""

    @property
    def id(self) -> str:
        return str(self["workflow_id"])

    @property
    def run_id(self) -> str:
        return str(self["run_id"])

    @property
    def workflow_type(self) -> str:
        return str(self["workflow_type"])

    @property
    def task_queue(self) -> str:
        return str(self["task_queue"])

    @property
    def status(self) -> str:
        """RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED, CONTINUED_AS_NEW or TIMED_OUT."""
        return str(self["status"])

    @property
    def start_time(self) -> datetime:
        return _time(self["start_time"])  # type: ignore[return-value]  # the server always sends a start time

    @property
    def execution_time(self) -> datetime | None:
        return _time(self.get("execution_time"))

    @property
    def close_time(self) -> datetime | None:
        return _time(self.get("close_time"))

    @property
    def history_length(self) -> int:
        return int(self["history_length"])

    # The namespace's search attribute types, set by the client that listed this run.
    search_attribute_types: dict[str, str] = {}  # noqa: RUF012 - replaced per object, never mutated

    @property
    def search_attributes(self) -> dict[str, list[Any]]:
        """Temporal's untyped form: every value a list, Datetime values as datetimes (the
        server's JSON stays in `self["search_attributes"]`)."""
        return untyped(self.get("search_attributes"), self.search_attribute_types)

    @property
    def parent_id(self) -> str | None:
        return (self.get("parent") or {}).get("workflow_id")

    @property
    def parent_run_id(self) -> str | None:
        return (self.get("parent") or {}).get("run_id")

    def memo(self) -> dict[str, Any]:
        return dict(self.get("memo") or {})


@dataclass(frozen=True)
class WorkflowExecutionCountAggregationGroup:
    count: int
    group_values: list[Any]


class WorkflowExecutionCount(int):
    """How many runs matched (it is that number) and, for `GROUP BY ExecutionStatus`,
    `groups` with the count of each status (values as Temporal names them: 'Running', …)."""

    groups: list[WorkflowExecutionCountAggregationGroup]

    def __new__(cls, count: int, groups: list[WorkflowExecutionCountAggregationGroup]) -> Any:
        made = super().__new__(cls, count)
        made.groups = groups
        return made

    @property
    def count(self) -> int:
        return int(self)


async def listed(client: Any, item: dict[str, Any]) -> WorkflowExecution:
    """One run of a list as `client` reads it: its memo decoded by the client's codec (as
    Temporal's `WorkflowExecution.memo()` does), its search attributes typed."""
    run = WorkflowExecution(item)
    if "memo" in run:
        run["memo"] = await _codec.decode_memo(client.data_converter.payload_codec, run["memo"])
    names = item.get("search_attributes") or {}
    run.search_attribute_types = await client.search_attribute_types.for_names(client.http, names)
    return run


class WorkflowExecutionAsyncIterator:
    """`list_workflows`'s answer: the runs (Temporal's iterator, with `map_histories`)."""

    def __init__(
        self, client: Client, runs: AsyncIterator[WorkflowExecution], limit: int | None
    ) -> None:
        self._client = client
        self._runs = runs
        self._left = limit

    def __aiter__(self) -> WorkflowExecutionAsyncIterator:
        return self

    async def __anext__(self) -> WorkflowExecution:
        if self._left is not None:
            if self._left <= 0:
                raise StopAsyncIteration
            self._left -= 1
        return await self._runs.__anext__()

    async def map_histories(self, **options: Any) -> AsyncIterator[Any]:
        """Each listed run's history (what `WorkflowHandle.fetch_history()` gives)."""
        async for run in self:
            handle = self._client.get_workflow_handle(run.id, run_id=run.run_id)
            yield await handle.fetch_history(**options)
