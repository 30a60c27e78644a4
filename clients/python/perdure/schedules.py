"""Schedules, in the shapes Temporal's Python SDK uses: `client.create_schedule(id, Schedule(
action=ScheduleActionStartWorkflow(...), spec=ScheduleSpec(...)))`, `get_schedule_handle(id)`
with describe/update/pause/unpause/trigger/backfill/delete, and `list_schedules()`."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from perdure._names import workflow_name
from perdure.common import Priority, RetryPolicy, flow_fields, seconds
from perdure.converter import encode_args, to_json
from perdure.exceptions import RPCError

if TYPE_CHECKING:
    from perdure.client import Client


class ScheduleAlreadyRunningError(RPCError):
    """A schedule with this id exists already."""


class ScheduleOverlapPolicy(StrEnum):
    """What happens when an action comes due while one started by the schedule still runs."""

    SKIP = "SKIP"
    BUFFER_ONE = "BUFFER_ONE"
    BUFFER_ALL = "BUFFER_ALL"
    CANCEL_OTHER = "CANCEL_OTHER"
    TERMINATE_OTHER = "TERMINATE_OTHER"
    ALLOW_ALL = "ALLOW_ALL"


@dataclass(frozen=True)
class ScheduleRange:
    """Inclusive range of values; `end` below `start` means `start` alone, step 0 means 1."""

    start: int
    end: int = 0
    step: int = 0

    def __post_init__(self) -> None:
        if self.end < self.start:
            object.__setattr__(self, "end", self.start)
        if self.step == 0:
            object.__setattr__(self, "step", 1)


def _ranges(values: Sequence[ScheduleRange]) -> list[dict[str, int]]:
    return [{"start": r.start, "end": r.end, "step": r.step} for r in values]


def _from_ranges(values: Any) -> tuple[ScheduleRange, ...]:
    return tuple(ScheduleRange(v["start"], v["end"], v["step"]) for v in values or [])


@dataclass
class ScheduleCalendarSpec:
    """Wall-clock times in the schedule's time zone (all fields must match)."""

    second: Sequence[ScheduleRange] = (ScheduleRange(0),)
    minute: Sequence[ScheduleRange] = (ScheduleRange(0),)
    hour: Sequence[ScheduleRange] = (ScheduleRange(0),)
    day_of_month: Sequence[ScheduleRange] = (ScheduleRange(1, 31),)
    month: Sequence[ScheduleRange] = (ScheduleRange(1, 12),)
    year: Sequence[ScheduleRange] = ()
    day_of_week: Sequence[ScheduleRange] = (ScheduleRange(0, 6),)
    comment: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            name: _ranges(getattr(self, name))
            for name in ("second", "minute", "hour", "day_of_month", "month", "day_of_week")
        }
        if self.year:
            body["year"] = _ranges(self.year)
        if self.comment:
            body["comment"] = self.comment
        return body

    @staticmethod
    def from_json(data: dict[str, Any]) -> ScheduleCalendarSpec:
        return ScheduleCalendarSpec(
            **{k: _from_ranges(data.get(k)) for k in _CALENDAR_FIELDS},
            comment=data.get("comment"),
        )


_CALENDAR_FIELDS = ("second", "minute", "hour", "day_of_month", "month", "year", "day_of_week")


@dataclass
class ScheduleIntervalSpec:
    """Times at epoch + n * every + offset."""

    every: timedelta
    offset: timedelta | None = None


@dataclass
class ScheduleSpec:
    """The times: calendars, intervals and cron expressions, minus `skip`."""

    calendars: Sequence[ScheduleCalendarSpec] = field(default_factory=list)
    intervals: Sequence[ScheduleIntervalSpec] = field(default_factory=list)
    cron_expressions: Sequence[str] = field(default_factory=list)
    skip: Sequence[ScheduleCalendarSpec] = field(default_factory=list)
    start_at: datetime | None = None
    end_at: datetime | None = None
    jitter: timedelta | None = None
    time_zone_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "calendars": [c.to_json() for c in self.calendars],
            "intervals": [
                {"every": seconds(i.every), "offset": seconds(i.offset) or 0}
                for i in self.intervals
            ],
            "cron_expressions": list(self.cron_expressions),
            "skip": [c.to_json() for c in self.skip],
            "start_at": _utc_iso(self.start_at) if self.start_at else None,
            "end_at": _utc_iso(self.end_at) if self.end_at else None,
            "jitter": seconds(self.jitter),
            "time_zone_name": self.time_zone_name,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> ScheduleSpec:
        return ScheduleSpec(
            calendars=[ScheduleCalendarSpec.from_json(c) for c in data["calendars"]],
            intervals=[
                ScheduleIntervalSpec(
                    timedelta(seconds=i["every"]), timedelta(seconds=i["offset"] or 0)
                )
                for i in data["intervals"]
            ],
            cron_expressions=list(data.get("cron_expressions") or []),
            skip=[ScheduleCalendarSpec.from_json(c) for c in data["skip"]],
            start_at=_time(data.get("start_at")),
            end_at=_time(data.get("end_at")),
            jitter=timedelta(seconds=data["jitter"]) if data.get("jitter") else None,
            time_zone_name=data.get("time_zone_name"),
        )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class ScheduleActionStartWorkflow:
    """Start a workflow (a `@workflow.defn` class, its run method or a type name) with the
    arguments and options of `Client.start_workflow`. Each run's id is `id` plus `-` and the
    nominal time; pass `definition=` (name) instead of a workflow to start a stored definition.
    `priority` and `concurrency_keys` apply to every run the schedule starts."""

    def __init__(
        self,
        workflow: Any = None,
        arg: Any = None,
        *,
        args: Sequence[Any] = (),
        id: str,  # noqa: A002 - Temporal's name
        task_queue: str | None = None,
        definition: str | None = None,
        definition_version: int | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: dict[str, Any] | None = None,
        search_attributes: dict[str, Any] | None = None,
        priority: Priority | None = None,
        concurrency_keys: Mapping[str, str] | None = None,
        raw_input: Any = None,
    ) -> None:
        self.workflow = workflow_name(workflow) if workflow is not None else None
        self.input = (
            raw_input
            if raw_input is not None
            else encode_args(list(args) or ([] if arg is None else [arg]))
        )
        self.id = id
        self.task_queue = task_queue
        self.definition = definition
        self.definition_version = definition_version
        self.execution_timeout = execution_timeout
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout
        self.retry_policy = retry_policy
        self.memo = memo
        self.search_attributes = search_attributes
        self.priority = priority
        self.concurrency_keys = dict(concurrency_keys) if concurrency_keys else None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"workflow_id": self.id, "input": self.input}
        if self.definition is not None:
            body["definition"] = {"name": self.definition, "version": self.definition_version}
        else:
            body["workflow_type"] = self.workflow
        if self.task_queue is not None:
            body["task_queue"] = self.task_queue
        for name in ("execution_timeout", "run_timeout", "task_timeout"):
            if getattr(self, name) is not None:
                body[name] = seconds(getattr(self, name))
        if self.retry_policy is not None:
            body["retry_policy"] = self.retry_policy.to_json()
        if self.memo is not None:
            body["memo"] = to_json(self.memo)
        if self.search_attributes is not None:
            body["search_attributes"] = to_json(self.search_attributes)
        body.update(flow_fields(self.priority, self.concurrency_keys))
        return {"start_workflow": body}

    @staticmethod
    def from_json(data: dict[str, Any]) -> ScheduleActionStartWorkflow:
        start = data["start_workflow"]
        definition = start.get("definition") or {}
        policy = start.get("retry_policy")
        return ScheduleActionStartWorkflow(
            start.get("workflow_type"),
            id=start["workflow_id"],
            task_queue=start.get("task_queue"),
            definition=definition.get("name"),
            definition_version=definition.get("version"),
            execution_timeout=_seconds(start.get("execution_timeout")),
            run_timeout=_seconds(start.get("run_timeout")),
            task_timeout=_seconds(start.get("task_timeout")),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=policy["initial_interval"]),
                backoff_coefficient=policy["backoff_coefficient"],
                maximum_interval=_seconds(policy.get("maximum_interval")),
                maximum_attempts=policy["maximum_attempts"],
                non_retryable_error_types=list(policy.get("non_retryable_error_types") or []),
            )
            if policy
            else None,
            memo=start.get("memo"),
            search_attributes=start.get("search_attributes"),
            priority=Priority(**start["priority"]) if start.get("priority") else None,
            concurrency_keys=start.get("concurrency_keys"),
            raw_input=start.get("input"),
        )


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


@dataclass
class SchedulePolicy:
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP
    catchup_window: timedelta = timedelta(days=365)
    pause_on_failure: bool = False


@dataclass
class ScheduleState:
    note: str | None = None
    paused: bool = False
    limited_actions: bool = False
    remaining_actions: int = 0


@dataclass
class Schedule:
    action: ScheduleActionStartWorkflow
    spec: ScheduleSpec
    policy: SchedulePolicy = field(default_factory=SchedulePolicy)
    state: ScheduleState = field(default_factory=ScheduleState)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.to_json(),
            "spec": self.spec.to_json(),
            "policy": {
                "overlap": str(self.policy.overlap),
                "catchup_window": seconds(self.policy.catchup_window),
                "pause_on_failure": self.policy.pause_on_failure,
            },
            "state": {
                "note": self.state.note,
                "paused": self.state.paused,
                "limited_actions": self.state.limited_actions,
                "remaining_actions": self.state.remaining_actions,
            },
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Schedule:
        policy, state = data["policy"], data["state"]
        return Schedule(
            action=ScheduleActionStartWorkflow.from_json(data["action"]),
            spec=ScheduleSpec.from_json(data["spec"]),
            policy=SchedulePolicy(
                ScheduleOverlapPolicy(policy["overlap"]),
                timedelta(seconds=policy["catchup_window"]),
                policy["pause_on_failure"],
            ),
            state=ScheduleState(**state),
        )


@dataclass
class ScheduleBackfill:
    """Take the spec's times in [start_at, end_at] as if they passed now."""

    start_at: datetime
    end_at: datetime
    overlap: ScheduleOverlapPolicy | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "start_at": _utc_iso(self.start_at),
            "end_at": _utc_iso(self.end_at),
            "overlap": str(self.overlap) if self.overlap else None,
        }


@dataclass
class ScheduleActionExecutionStartWorkflow:
    workflow_id: str
    first_execution_run_id: str


@dataclass
class ScheduleActionResult:
    scheduled_at: datetime
    started_at: datetime
    action: ScheduleActionExecutionStartWorkflow
    status: str


@dataclass
class ScheduleInfo:
    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running_actions: Sequence[ScheduleActionExecutionStartWorkflow]
    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]
    created_at: datetime
    last_updated_at: datetime | None

    @staticmethod
    def from_json(data: dict[str, Any]) -> ScheduleInfo:
        return ScheduleInfo(
            num_actions=data["num_actions"],
            num_actions_missed_catchup_window=data["num_actions_missed_catchup_window"],
            num_actions_skipped_overlap=data["num_actions_skipped_overlap"],
            running_actions=[
                ScheduleActionExecutionStartWorkflow(**r) for r in data["running_actions"]
            ],
            recent_actions=[
                ScheduleActionResult(
                    scheduled_at=_time(r["scheduled_at"]),  # type: ignore[arg-type]  # always present in an action
                    started_at=_time(r["started_at"]),  # type: ignore[arg-type]  # always present in an action
                    action=ScheduleActionExecutionStartWorkflow(
                        r["workflow_id"], r["first_execution_run_id"]
                    ),
                    status=r["status"],
                )
                for r in data["recent_actions"]
            ],
            next_action_times=[_time(t) for t in data["next_action_times"]],  # type: ignore[misc]  # never null in the list
            created_at=_time(data["created_at"]),  # type: ignore[arg-type]  # always present
            last_updated_at=_time(data.get("last_updated_at")),
        )


@dataclass
class ScheduleDescription:
    id: str
    schedule: Schedule
    info: ScheduleInfo
    memo: dict[str, Any] | None
    search_attributes: dict[str, Any]
    conflict_token: int
    raw: dict[str, Any]

    @staticmethod
    def from_json(data: dict[str, Any]) -> ScheduleDescription:
        return ScheduleDescription(
            id=data["schedule_id"],
            schedule=Schedule.from_json(data["schedule"]),
            info=ScheduleInfo.from_json(data["info"]),
            memo=data.get("memo"),
            search_attributes=data.get("search_attributes") or {},
            conflict_token=data["conflict_token"],
            raw=data,
        )


@dataclass
class ScheduleUpdateInput:
    description: ScheduleDescription


@dataclass
class ScheduleUpdate:
    schedule: Schedule
    search_attributes: dict[str, Any] | None = None


@dataclass
class ScheduleListDescription:
    id: str
    workflow_type: str | None
    spec: ScheduleSpec
    paused: bool
    note: str | None
    next_action_times: Sequence[datetime]
    raw: dict[str, Any]


MAX_UPDATE_ATTEMPTS = 5


class ScheduleHandle:
    """A schedule by id: describe, update, pause, unpause, trigger, backfill, delete."""

    def __init__(self, client: Client, id: str) -> None:  # noqa: A002
        self.client = client
        self.id = id

    async def describe(self) -> ScheduleDescription:
        r = await self.client.http.call("GET", f"/schedules/{self.id}")
        return ScheduleDescription.from_json(r.json())

    async def update(
        self,
        updater: Callable[
            [ScheduleUpdateInput], ScheduleUpdate | None | Awaitable[ScheduleUpdate | None]
        ],
    ) -> None:
        """Describe, let `updater` build the new schedule, and send it; retried when the
        schedule changed in between (the server's conflict token)."""
        for attempt in range(MAX_UPDATE_ATTEMPTS):
            description = await self.describe()
            update = updater(ScheduleUpdateInput(description))
            if inspect.isawaitable(update):
                update = await update
            if update is None:
                return
            body: dict[str, Any] = {
                "schedule": update.schedule.to_json(),
                "conflict_token": description.conflict_token,
            }
            if update.search_attributes is not None:
                body["search_attributes"] = to_json(update.search_attributes)
            try:
                await self.client.http.call("POST", f"/schedules/{self.id}/update", json=body)
                return
            except RPCError as err:
                if err.status != 409 or attempt == MAX_UPDATE_ATTEMPTS - 1:
                    raise

    async def pause(self, *, note: str | None = None) -> None:
        await self.client.http.call("POST", f"/schedules/{self.id}/pause", json={"note": note})

    async def unpause(self, *, note: str | None = None) -> None:
        await self.client.http.call("POST", f"/schedules/{self.id}/unpause", json={"note": note})

    async def trigger(self, *, overlap: ScheduleOverlapPolicy | None = None) -> None:
        await self.client.http.call(
            "POST",
            f"/schedules/{self.id}/trigger",
            json={"overlap": str(overlap) if overlap else None},
        )

    async def backfill(self, *backfill: ScheduleBackfill) -> None:
        if not backfill:
            raise ValueError("at least one backfill")
        await self.client.http.call(
            "POST",
            f"/schedules/{self.id}/backfill",
            json={"backfill": [b.to_json() for b in backfill]},
        )

    async def delete(self) -> None:
        await self.client.http.call("DELETE", f"/schedules/{self.id}")


async def create_schedule(
    client: Client,
    id: str,  # noqa: A002
    schedule: Schedule,
    *,
    trigger_immediately: bool = False,
    backfill: Sequence[ScheduleBackfill] = (),
    memo: dict[str, Any] | None = None,
    search_attributes: dict[str, Any] | None = None,
) -> ScheduleHandle:
    body = {
        "schedule": schedule.to_json(),
        "trigger_immediately": trigger_immediately,
        "backfill": [b.to_json() for b in backfill],
        "memo": to_json(memo) if memo is not None else None,
        "search_attributes": to_json(search_attributes) if search_attributes else None,
    }
    try:
        await client.http.call("POST", f"/schedules/{id}", json=body)
    except RPCError as err:
        if err.status == 409:
            raise ScheduleAlreadyRunningError(str(err), err.status, err.problem) from err
        raise
    return ScheduleHandle(client, id)


def _utc_iso(moment: datetime) -> str:
    """ISO 8601 of a moment; a naive datetime is read as UTC, as Temporal's SDK does."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


class ScheduleAsyncIterator:
    """The namespace's schedules, page by page: `async for s in client.list_schedules()` and
    Temporal's `async for s in await client.list_schedules()` both work."""

    def __init__(self, client: Client, page_size: int) -> None:
        self._items = _list_schedules(client, page_size=page_size)

    def __aiter__(self) -> ScheduleAsyncIterator:
        return self

    async def __anext__(self) -> ScheduleListDescription:
        return await self._items.__anext__()

    def __await__(self) -> Generator[Any, None, ScheduleAsyncIterator]:
        async def itself() -> ScheduleAsyncIterator:
            return self

        return itself().__await__()


def list_schedules(client: Client, *, page_size: int = 100) -> ScheduleAsyncIterator:
    """The namespace's schedules by id (see `ScheduleAsyncIterator`)."""
    return ScheduleAsyncIterator(client, page_size)


async def _list_schedules(
    client: Client, *, page_size: int = 100
) -> AsyncIterator[ScheduleListDescription]:
    token: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": page_size}
        if token:
            params["next_page_token"] = token
        page = (await client.http.call("GET", "/schedules", params=params)).json()
        for item in page["schedules"]:
            yield ScheduleListDescription(
                id=item["schedule_id"],
                workflow_type=item["workflow_type"],
                spec=ScheduleSpec.from_json(item["spec"]),
                paused=item["state"]["paused"],
                note=item["state"]["note"],
                next_action_times=[_time(t) for t in item["next_action_times"]],  # type: ignore[misc]  # never null in the list
                raw=item,
            )
        token = page.get("next_page_token")
        if not token:
            return
