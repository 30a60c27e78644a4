"""Commands a decider answers a workflow task with: validated as a whole, then applied in order.

An invalid set changes nothing but the workflow task itself, which is failed with the cause.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from app.allowed_characters import check_name, check_text
from app.db.tables import timers, workflow_runs
from app.engine import (
    activities,
    concurrency,
    concurrency_slots,
    cron,
    lifecycle,
    priority,
    search_attributes,
    workflow_tasks,
)
from app.engine.events import E, RunStatus
from app.engine.payloads import dump_payload
from app.engine.priority import PriorityBody
from app.engine.retry import RetryPolicy
from app.engine.run_limits import (
    MAX_COUNTER,
    MAX_DURATION,
    MAX_ID_LENGTH,
    MAX_PENDING_ACTIVITIES,
    MAX_PENDING_CHILDREN,
)
from app.engine.transition import Run, Transition
from app.engine.versioning import runs as versioning_runs
from app.errors import AlreadyExists, InvalidArgument, NotFound

TIMER_USER = "user_timer"
# At most this many activities are handed back with one workflow task completion (Temporal's).
MAX_EAGER_ACTIVITIES = 3

# Ids and names follow app/allowed_characters.py; durations are bounded like every duration a caller gives
# (a timer of 1e308 s would overflow the clock).
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(check_name)]
RunId = Annotated[str, Field(max_length=64), AfterValidator(check_name)]
Text = Annotated[str, AfterValidator(check_text)]
Seconds = Annotated[float, Field(gt=0, le=MAX_DURATION)]


class _Attrs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleActivity(_Attrs):
    activity_id: Id
    activity_type: Id
    task_queue: Id | None = None
    input: Any = None
    schedule_to_close_timeout: Seconds | None = None
    schedule_to_start_timeout: Seconds | None = None
    start_to_close_timeout: Seconds | None = None
    heartbeat_timeout: Seconds | None = None
    retry_policy: dict[str, Any] | None = None
    request_eager_execution: bool = False
    priority: PriorityBody | None = None
    concurrency_keys: dict[str, Any] | None = None


class RequestCancelActivity(_Attrs):
    scheduled_event_id: Annotated[int, Field(ge=1, le=MAX_COUNTER)] | None = None
    activity_id: Id | None = None


class StartTimer(_Attrs):
    timer_id: Id
    start_to_fire_timeout: Seconds


class CancelTimer(_Attrs):
    timer_id: Id


class CompleteWorkflow(_Attrs):
    result: Any = None


class Failure(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: Text | None = ""  # null: none given (an ASL Fail state without Cause)
    type: Id | None = None
    non_retryable: bool = False
    details: Any = None


class FailWorkflow(_Attrs):
    failure: Failure


class CancelWorkflow(_Attrs):
    details: Any = None


class ContinueAsNew(_Attrs):
    workflow_type: Id | None = None
    task_queue: Id | None = None
    input: Any = None
    workflow_run_timeout: Seconds | None = None
    workflow_task_timeout: Seconds | None = None
    backoff_start_interval: Seconds | None = None
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = None
    # Worker Versioning: AUTO_UPGRADE starts the new run on its deployment's current (or
    # ramping) version instead of the pinned one (Temporal's ContinueAsNewVersioningBehavior).
    initial_versioning_behavior: Literal["AUTO_UPGRADE", "UNSPECIFIED"] | None = None


class StartChild(_Attrs):
    workflow_id: Id
    workflow_type: Id
    task_queue: Id | None = None
    input: Any = None
    workflow_execution_timeout: Seconds | None = None
    workflow_run_timeout: Seconds | None = None
    workflow_task_timeout: Seconds | None = None
    parent_close_policy: Literal["TERMINATE", "ABANDON", "REQUEST_CANCEL"] = "TERMINATE"
    retry_policy: dict[str, Any] | None = None
    workflow_id_reuse_policy: Literal[
        "ALLOW_DUPLICATE", "ALLOW_DUPLICATE_FAILED_ONLY", "REJECT_DUPLICATE"
    ] = "ALLOW_DUPLICATE"
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = None
    priority: PriorityBody | None = None
    # None or {}: the parent's map (Perdure's per-key concurrency limits; Temporal has none).
    concurrency_keys: dict[str, Any] | None = None
    cron_schedule: str | None = None


class SignalExternal(_Attrs):
    workflow_id: Id
    run_id: RunId | None = None
    signal_name: Id
    input: Any = None
    child_workflow_only: bool = False


class RequestCancelExternal(_Attrs):
    workflow_id: Id
    run_id: RunId | None = None
    child_workflow_only: bool = False
    reason: Text | None = None


class RecordMarker(_Attrs):
    marker_name: Id
    details: Any = None


class UpsertSearchAttributes(_Attrs):
    search_attributes: dict[str, Any]


class ProtocolMessage(_Attrs):
    """Places one of the completion's protocol messages (an update's Acceptance or Response)
    among the commands: its event is written where this command stands (Temporal's
    ProtocolMessageCommandAttributes). Applied by app/engine/decisions.py."""

    message_id: Annotated[str, Field(min_length=1, max_length=2 * MAX_ID_LENGTH)]


ATTRIBUTES: dict[str, type[_Attrs]] = {
    "SCHEDULE_ACTIVITY_TASK": ScheduleActivity,
    "REQUEST_CANCEL_ACTIVITY_TASK": RequestCancelActivity,
    "START_TIMER": StartTimer,
    "CANCEL_TIMER": CancelTimer,
    "COMPLETE_WORKFLOW_EXECUTION": CompleteWorkflow,
    "FAIL_WORKFLOW_EXECUTION": FailWorkflow,
    "CANCEL_WORKFLOW_EXECUTION": CancelWorkflow,
    "CONTINUE_AS_NEW_WORKFLOW_EXECUTION": ContinueAsNew,
    "START_CHILD_WORKFLOW_EXECUTION": StartChild,
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION": SignalExternal,
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION": RequestCancelExternal,
    "RECORD_MARKER": RecordMarker,
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": UpsertSearchAttributes,
    "PROTOCOL_MESSAGE": ProtocolMessage,
}
CLOSE_COMMANDS = frozenset(
    {
        "COMPLETE_WORKFLOW_EXECUTION",
        "FAIL_WORKFLOW_EXECUTION",
        "CANCEL_WORKFLOW_EXECUTION",
        "CONTINUE_AS_NEW_WORKFLOW_EXECUTION",
    }
)


class Command(BaseModel):
    command_type: str
    attributes: _Attrs


# Temporal's workflow task failure causes for bad attributes of each command.
BAD_ATTRIBUTES_CAUSE = {
    "SCHEDULE_ACTIVITY_TASK": "BAD_SCHEDULE_ACTIVITY_ATTRIBUTES",
    "REQUEST_CANCEL_ACTIVITY_TASK": "BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES",
    "START_TIMER": "BAD_START_TIMER_ATTRIBUTES",
    "CANCEL_TIMER": "BAD_CANCEL_TIMER_ATTRIBUTES",
    "COMPLETE_WORKFLOW_EXECUTION": "BAD_COMPLETE_WORKFLOW_EXECUTION_ATTRIBUTES",
    "FAIL_WORKFLOW_EXECUTION": "BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES",
    "CANCEL_WORKFLOW_EXECUTION": "BAD_CANCEL_WORKFLOW_EXECUTION_ATTRIBUTES",
    "CONTINUE_AS_NEW_WORKFLOW_EXECUTION": "BAD_CONTINUE_AS_NEW_ATTRIBUTES",
    "START_CHILD_WORKFLOW_EXECUTION": "BAD_START_CHILD_EXECUTION_ATTRIBUTES",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION": "BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION": "BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES",
    "RECORD_MARKER": "BAD_RECORD_MARKER_ATTRIBUTES",
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": "BAD_SEARCH_ATTRIBUTES",
    "PROTOCOL_MESSAGE": "BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
}


def workflow_retry_policy(value: dict[str, Any] | None, *, field: str) -> str | None:
    """A workflow retry policy as stored on the run (validated), or None."""
    if not value:
        return None
    return dump_payload(RetryPolicy.from_json(value, field_name=field).to_json(), field=field)


async def _check_search_attributes(
    tx: Transition, run: Run, attributes: dict[str, Any] | None, where: str
) -> None:
    field = f"{where}.attributes.search_attributes"
    search_attributes.validate(attributes, field=field)
    await search_attributes.check(tx.conn, run.namespace_id, attributes or {}, field=field)


def _cause(command_type: str) -> str:
    return BAD_ATTRIBUTES_CAUSE.get(command_type, "BAD_COMMAND")


def parse(raw: list[dict[str, Any]]) -> list[Command]:
    """Shape checks: every command known and well formed, at most one close command, last."""
    commands: list[Command] = []
    for index, item in enumerate(raw):
        where = f"commands[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("command_type"), str):
            raise InvalidArgument(f"{where} needs a command_type", field=where, cause="BAD_COMMAND")
        kind = item["command_type"]
        model = ATTRIBUTES.get(kind)
        if model is None:
            raise InvalidArgument(
                f"{where}: unknown command_type '{kind}'", field=where, cause="UNKNOWN_COMMAND"
            )
        try:
            attrs = model.model_validate(item.get("attributes") or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InvalidArgument(
                f"{where} ({kind}): {loc}: {first['msg']}",
                field=f"{where}.attributes.{loc}",
                cause=_cause(kind),
            ) from None
        commands.append(Command(command_type=kind, attributes=attrs))
    closing = [i for i, c in enumerate(commands) if c.command_type in CLOSE_COMMANDS]
    if len(closing) > 1:
        raise InvalidArgument(
            "at most one command may close the workflow", field="commands", cause="BAD_COMMAND"
        )
    if closing and closing[0] != len(commands) - 1:
        raise InvalidArgument(
            "a command that closes the workflow must be the last command",
            field="commands",
            cause="BAD_COMMAND",
        )
    return commands


async def _pending_timer_ids(tx: Transition, run: Run) -> set[str]:
    return set(
        (
            await tx.conn.execute(
                sa.select(timers.c.label).where(
                    timers.c.run_id == run.id, timers.c.kind == TIMER_USER
                )
            )
        ).scalars()
    )


async def _pending_children(tx: Transition, run: Run) -> int:
    await tx.flush()
    return int(
        await tx.conn.scalar(
            sa.select(sa.func.count()).where(
                workflow_runs.c.parent_run_id == run.id,
                workflow_runs.c.status == RunStatus.RUNNING.value,
            )
        )
        or 0
    )


async def validate(tx: Transition, run: Run, commands: list[Command]) -> None:
    """State checks against the run: ids unique, required timeouts, payload sizes, limits."""
    starts_timers = any(isinstance(c.attributes, StartTimer) for c in commands)
    timer_ids = await _pending_timer_ids(tx, run) if starts_timers else set()
    new_activities = 0
    new_children = 0
    activity_ids: set[str] = set()  # pending ones and those scheduled by earlier commands
    pending: list[str] | None = None  # read once, at the first ScheduleActivity
    for index, command in enumerate(commands):
        where = f"commands[{index}]"
        a = command.attributes
        cause = _cause(command.command_type)
        try:
            for name in ("input", "result", "details"):
                if hasattr(a, name):
                    dump_payload(getattr(a, name), field=f"{where}.attributes.{name}")
            if isinstance(a, ScheduleActivity):
                if pending is None:
                    pending = await activities.pending_ids(tx, run.id)
                    activity_ids.update(pending)
                if a.activity_id in activity_ids:
                    raise InvalidArgument(
                        f"{where}: activity_id '{a.activity_id}' is already pending",
                        field=where,
                        cause="SCHEDULE_ACTIVITY_DUPLICATE_ID",
                    )
                activity_ids.add(a.activity_id)
                if not a.start_to_close_timeout and not a.schedule_to_close_timeout:
                    raise InvalidArgument(
                        f"{where}: set start_to_close_timeout or schedule_to_close_timeout",
                        field=where,
                        cause=cause,
                    )
                RetryPolicy.from_json(a.retry_policy, field_name=f"{where}.attributes.retry_policy")
                priority.parse(a.priority, field=f"{where}.attributes.priority")
                concurrency.check_concurrency_keys(
                    a.concurrency_keys, field=f"{where}.attributes.concurrency_keys"
                )
                new_activities += 1
            elif isinstance(a, StartTimer):
                if a.timer_id in timer_ids:
                    raise InvalidArgument(
                        f"{where}: timer_id '{a.timer_id}' is already in use",
                        field=where,
                        cause="START_TIMER_DUPLICATE_ID",
                    )
                timer_ids.add(a.timer_id)
            elif isinstance(a, RequestCancelActivity):
                if a.scheduled_event_id is None and a.activity_id is None:
                    raise InvalidArgument(
                        f"{where}: name the activity by scheduled_event_id or activity_id",
                        field=where,
                        cause=cause,
                    )
            elif isinstance(a, StartChild):
                new_children += 1
                workflow_retry_policy(a.retry_policy, field=f"{where}.attributes.retry_policy")
                priority.parse(a.priority, field=f"{where}.attributes.priority")
                concurrency.check_concurrency_keys(
                    a.concurrency_keys, field=f"{where}.attributes.concurrency_keys"
                )
                await _check_search_attributes(tx, run, a.search_attributes, where)
            elif isinstance(a, UpsertSearchAttributes | ContinueAsNew):
                await _check_search_attributes(tx, run, a.search_attributes, where)
        except InvalidArgument as err:
            # Whatever check refused it, the cause names the command (Temporal's names).
            err.extra.setdefault("cause", cause)
            raise
    if pending is not None and len(pending) + new_activities > MAX_PENDING_ACTIVITIES:
        raise InvalidArgument(
            f"a run may have at most {MAX_PENDING_ACTIVITIES} pending activities",
            field="commands",
            cause="PENDING_ACTIVITIES_LIMIT_EXCEEDED",
        )
    if new_children and await _pending_children(tx, run) + new_children > MAX_PENDING_CHILDREN:
        raise InvalidArgument(
            f"a run may have at most {MAX_PENDING_CHILDREN} pending child workflows",
            field="commands",
            cause="PENDING_CHILD_WORKFLOWS_LIMIT_EXCEEDED",
        )


# -- applying -----------------------------------------------------------------------------------


async def apply(tx: Transition, run: Run, command: Command, completed_id: int) -> None:
    handler = _HANDLERS[command.command_type]
    await handler(tx, run, command.attributes, completed_id)


async def _schedule_activity(
    tx: Transition, run: Run, a: ScheduleActivity, completed_id: int
) -> None:
    timeouts = activities.normalise_timeouts(
        schedule_to_close=a.schedule_to_close_timeout,
        schedule_to_start=a.schedule_to_start_timeout,
        start_to_close=a.start_to_close_timeout,
        heartbeat=a.heartbeat_timeout,
        run_timeout=run.run_timeout,
    )
    assert timeouts is not None  # validated
    policy = RetryPolicy.from_json(a.retry_policy)
    task_queue = a.task_queue or run.task_queue
    input_text = dump_payload(a.input, field="input")
    # Temporal: an activity inherits its run's priority, field by field, unless it sets one.
    activity_priority = priority.parse(a.priority).inherit(priority.of_row(run.data))
    scheduled_id = tx.append(
        run,
        E.ACTIVITY_TASK_SCHEDULED,
        {
            "activity_id": a.activity_id,
            "activity_type": a.activity_type,
            "task_queue": task_queue,
            "input": a.input,
            "schedule_to_close_timeout": timeouts.schedule_to_close,
            "schedule_to_start_timeout": timeouts.schedule_to_start,
            "start_to_close_timeout": timeouts.start_to_close,
            "heartbeat_timeout": timeouts.heartbeat,
            "retry_policy": policy.to_json(),
            "workflow_task_completed_event_id": completed_id,
            **({"priority": p} if (p := activity_priority.to_json()) else {}),
        },
    )
    eager = a.request_eager_execution and len(tx.eager_activities) < MAX_EAGER_ACTIVITIES
    if eager and await concurrency.limits(tx.conn, run.namespace_id, "activities"):
        eager = False  # under concurrency limits every attempt is admitted at dispatch
    row = await activities.schedule(
        tx,
        run,
        scheduled_event_id=scheduled_id,
        activity_id=a.activity_id,
        activity_type=a.activity_type,
        task_queue=task_queue,
        input_text=input_text,
        timeouts=timeouts,
        retry_policy=policy,
        eager_identity=tx.caller_identity if eager else None,
        priority=activity_priority,
        concurrency_keys=concurrency.check_concurrency_keys(a.concurrency_keys),
    )
    if eager:
        tx.eager_activities.append((run, row))


async def _request_cancel_activity(
    tx: Transition, run: Run, a: RequestCancelActivity, completed_id: int
) -> None:
    if a.scheduled_event_id is not None:
        activity = await activities.get(tx, run.id, a.scheduled_event_id)
    else:
        activity = await activities.find_by_activity_id(tx, run.id, a.activity_id or "")
    # Gone already: its outcome is on its way to the workflow in the events after this task.
    if activity is not None:
        await activities.request_cancel(tx, run, activity, completed_id)


async def _start_timer(tx: Transition, run: Run, a: StartTimer, completed_id: int) -> None:
    started_id = tx.append(
        run,
        E.TIMER_STARTED,
        {
            "timer_id": a.timer_id,
            "start_to_fire_timeout": a.start_to_fire_timeout,
            "workflow_task_completed_event_id": completed_id,
        },
    )
    await tx.add_timer_after(
        run, TIMER_USER, a.start_to_fire_timeout, ref=started_id, label=a.timer_id
    )


async def _cancel_timer(tx: Transition, run: Run, a: CancelTimer, completed_id: int) -> None:
    started_id = await tx.conn.scalar(
        sa.select(timers.c.ref).where(
            timers.c.run_id == run.id, timers.c.kind == TIMER_USER, timers.c.label == a.timer_id
        )
    )
    if started_id is None:
        return  # fired already; TIMER_FIRED follows this task
    await tx.conn.execute(
        sa.delete(timers).where(
            timers.c.run_id == run.id, timers.c.kind == TIMER_USER, timers.c.label == a.timer_id
        )
    )
    tx.append(
        run,
        E.TIMER_CANCELED,
        {
            "timer_id": a.timer_id,
            "started_event_id": started_id,
            "workflow_task_completed_event_id": completed_id,
        },
    )


async def _complete(tx: Transition, run: Run, a: CompleteWorkflow, completed_id: int) -> None:
    result_text = dump_payload(a.result, field="result")
    await lifecycle.close(
        tx,
        run,
        RunStatus.COMPLETED,
        E.WORKFLOW_EXECUTION_COMPLETED,
        {"result": a.result, "workflow_task_completed_event_id": completed_id},
        result_text=result_text,
    )


async def _fail(tx: Transition, run: Run, a: FailWorkflow, completed_id: int) -> None:
    failure = a.failure.model_dump()
    if await lifecycle.retry(
        tx,
        run,
        failure,
        E.WORKFLOW_EXECUTION_FAILED,
        {"workflow_task_completed_event_id": completed_id},
    ):
        return
    await lifecycle.close(
        tx,
        run,
        RunStatus.FAILED,
        E.WORKFLOW_EXECUTION_FAILED,
        {
            "failure": failure,
            "retry_state": "RETRY_STATE_RETRY_POLICY_NOT_SET",
            "workflow_task_completed_event_id": completed_id,
        },
        failure=failure,
    )


async def _cancel(tx: Transition, run: Run, a: CancelWorkflow, completed_id: int) -> None:
    await lifecycle.close(
        tx,
        run,
        RunStatus.CANCELED,
        E.WORKFLOW_EXECUTION_CANCELED,
        {"details": a.details, "workflow_task_completed_event_id": completed_id},
        failure={"message": "workflow canceled", "type": "CanceledError", "details": a.details},
    )


async def _continue_as_new(tx: Transition, run: Run, a: ContinueAsNew, completed_id: int) -> None:
    attributes: dict[str, Any] = {
        "workflow_type": a.workflow_type,
        "task_queue": a.task_queue,
        "input_text": dump_payload(a.input, field="input"),
        "run_timeout": a.workflow_run_timeout,
        "task_timeout": a.workflow_task_timeout,
        "backoff_start_interval": a.backoff_start_interval,
        "search_attributes": a.search_attributes,
        "initial_versioning_behavior": a.initial_versioning_behavior,
    }
    if a.memo is not None:
        attributes["memo_text"] = dump_payload(a.memo, field="memo")
    await lifecycle.continue_as_new(tx, run, attributes, completed_id)


async def _start_child(tx: Transition, run: Run, a: StartChild, completed_id: int) -> None:
    task_queue = a.task_queue or run.task_queue
    initiated_id = tx.append(
        run,
        E.START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        {
            **a.model_dump(exclude={"priority", "concurrency_keys"}),
            **({"priority": p} if (p := priority.parse(a.priority).to_json()) else {}),
            **({"concurrency_keys": a.concurrency_keys} if a.concurrency_keys else {}),
            "task_queue": task_queue,
            "workflow_task_completed_event_id": completed_id,
        },
    )
    req = lifecycle.StartRequest(
        namespace_id=run.namespace_id,
        workflow_id=a.workflow_id,
        workflow_type=a.workflow_type,
        task_queue=task_queue,
        input_text=dump_payload(a.input, field="input"),
        execution_timeout=a.workflow_execution_timeout,
        run_timeout=a.workflow_run_timeout,
        task_timeout=a.workflow_task_timeout or run.task_timeout,
        id_reuse_policy=a.workflow_id_reuse_policy,
        id_conflict_policy="FAIL",
        memo_text=dump_payload(a.memo, field="memo"),
        search_attributes=a.search_attributes or {},
        decider=run.decider,
        retry_policy_text=workflow_retry_policy(a.retry_policy, field="retry_policy"),
        priority=priority.parse(a.priority),
        # A child counts under per-key concurrency limits by its own map, else its parent's
        # (as activities inherit their run's), read once, at its start.
        concurrency_keys=concurrency.check_concurrency_keys(a.concurrency_keys)
        or run.concurrency_keys,
        cron_schedule=cron.check(a.cron_schedule, field="cron_schedule"),
    )
    req = lifecycle.with_parent(req, run, initiated_id, a.parent_close_policy)
    req.versioning = await versioning_runs.inherit(tx, run, task_queue, "child")
    try:
        child, _ = await lifecycle.start(tx, req)
    except AlreadyExists:
        tx.append(
            run,
            E.START_CHILD_WORKFLOW_EXECUTION_FAILED,
            {
                "workflow_id": a.workflow_id,
                "workflow_type": a.workflow_type,
                "cause": "WORKFLOW_ALREADY_EXISTS",
                "initiated_event_id": initiated_id,
            },
        )
    except concurrency_slots.ConcurrencyLimitReached as refused:
        # A CANCEL_NEWEST limit refused the child (its own or its inherited concurrency_keys):
        # the parent learns it as a failed start, as it would a taken id; nothing started.
        # The cause is Perdure's (Temporal has no per-key concurrency limits).
        tx.append(
            run,
            E.START_CHILD_WORKFLOW_EXECUTION_FAILED,
            {
                "workflow_id": a.workflow_id,
                "workflow_type": a.workflow_type,
                "cause": "CONCURRENCY_LIMIT_EXCEEDED",
                "message": refused.detail,
                "initiated_event_id": initiated_id,
            },
        )
    else:
        tx.append(
            run,
            E.CHILD_WORKFLOW_EXECUTION_STARTED,
            {
                "initiated_event_id": initiated_id,
                "workflow_execution": {"workflow_id": child.workflow_id, "run_id": child.id},
                "workflow_type": a.workflow_type,
            },
        )
    workflow_tasks.needs_decision(tx, run)


async def _external_target(
    tx: Transition, run: Run, workflow_id: str, run_id: str | None, child_only: bool
) -> Run | None:
    try:
        target = await tx.find_run(run.namespace_id, workflow_id, run_id)
    except NotFound:
        return None
    if not target.is_open or (child_only and target.parent_run_id != run.id):
        return None
    return target


async def _signal_external(tx: Transition, run: Run, a: SignalExternal, completed_id: int) -> None:
    initiated_id = tx.append(
        run,
        E.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        {**a.model_dump(), "workflow_task_completed_event_id": completed_id},
    )
    target = await _external_target(tx, run, a.workflow_id, a.run_id, a.child_workflow_only)
    execution = {"workflow_id": a.workflow_id, "run_id": a.run_id}
    if target is None:
        tx.append(
            run,
            E.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
            {
                "initiated_event_id": initiated_id,
                "workflow_execution": execution,
                "cause": "EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND",
            },
        )
    else:
        input_text = dump_payload(a.input, field="input")
        await lifecycle.signal(
            tx,
            target,
            a.signal_name,
            input_text,
            identity=None,
            external_initiated_event_id=initiated_id,
        )
        tx.append(
            run,
            E.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
            {
                "initiated_event_id": initiated_id,
                "workflow_execution": {"workflow_id": target.workflow_id, "run_id": target.id},
            },
        )
    workflow_tasks.needs_decision(tx, run)


async def _cancel_external(
    tx: Transition, run: Run, a: RequestCancelExternal, completed_id: int
) -> None:
    initiated_id = tx.append(
        run,
        E.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        {**a.model_dump(), "workflow_task_completed_event_id": completed_id},
    )
    target = await _external_target(tx, run, a.workflow_id, a.run_id, a.child_workflow_only)
    if target is None:
        tx.append(
            run,
            E.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
            {
                "initiated_event_id": initiated_id,
                "workflow_execution": {"workflow_id": a.workflow_id, "run_id": a.run_id},
                "cause": "EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND",
            },
        )
    else:
        await lifecycle.request_cancel(
            tx, target, reason=a.reason, identity=None, external_initiated_event_id=initiated_id
        )
        tx.append(
            run,
            E.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
            {
                "initiated_event_id": initiated_id,
                "workflow_execution": {"workflow_id": target.workflow_id, "run_id": target.id},
            },
        )
    workflow_tasks.needs_decision(tx, run)


async def _record_marker(tx: Transition, run: Run, a: RecordMarker, completed_id: int) -> None:
    tx.append(
        run,
        E.MARKER_RECORDED,
        {
            "marker_name": a.marker_name,
            "details": a.details,
            "workflow_task_completed_event_id": completed_id,
        },
    )


async def _upsert_search_attributes(
    tx: Transition, run: Run, a: UpsertSearchAttributes, completed_id: int
) -> None:
    tx.append(
        run,
        E.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        {
            "search_attributes": a.search_attributes,
            "workflow_task_completed_event_id": completed_id,
        },
    )
    await search_attributes.upsert(tx, run, a.search_attributes)


_HANDLERS: dict[str, Any] = {
    "SCHEDULE_ACTIVITY_TASK": _schedule_activity,
    "REQUEST_CANCEL_ACTIVITY_TASK": _request_cancel_activity,
    "START_TIMER": _start_timer,
    "CANCEL_TIMER": _cancel_timer,
    "COMPLETE_WORKFLOW_EXECUTION": _complete,
    "FAIL_WORKFLOW_EXECUTION": _fail,
    "CANCEL_WORKFLOW_EXECUTION": _cancel,
    "CONTINUE_AS_NEW_WORKFLOW_EXECUTION": _continue_as_new,
    "START_CHILD_WORKFLOW_EXECUTION": _start_child,
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION": _signal_external,
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION": _cancel_external,
    "RECORD_MARKER": _record_marker,
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": _upsert_search_attributes,
}
