"""Workflows as code: the decorators and the calls workflow code makes.

Workflow code runs on a deterministic event loop of its own (see `perdure._runtime`); every
call here either reads replay-safe state (`now`, `random`, `info`) or emits a command that a
later history event resolves. Use only these (and plain asyncio on them) inside workflows.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from perdure import _updates
from perdure._updates import (
    HandlerUnfinishedPolicy,
    UpdateInfo,
    all_handlers_finished,
    current_update_info,
    set_dynamic_update_handler,
    set_update_handler,
    update,
)
from perdure.common import (
    ARG_UNSET,
    ActivityCancellationType,
    ChildWorkflowCancellationType,
    ParentClosePolicy,
    Priority,
    RetryPolicy,
    WorkflowIDReusePolicy,
    arg_or_args,
    flow_fields,
    seconds,
)
from perdure.exceptions import ContinueAsNewError

__all__ = [
    "ActivityCancellationType",
    "ChildWorkflowCancellationType",
    "HandlerUnfinishedPolicy",
    "ParentClosePolicy",
    "UpdateInfo",
    "all_handlers_finished",
    "current_update_info",
    "set_dynamic_update_handler",
    "set_update_handler",
    "update",
]

T = TypeVar("T")


@dataclass
class WorkflowDefinition:
    """A `@workflow.defn` class: its type name, run method, signal and query handlers, and the
    exception types that fail the workflow (besides Temporal's, see `failure_exception_types`)."""

    name: str
    cls: type
    run_fn: Callable[..., Any]
    signals: dict[str, Callable[..., Any]] = field(default_factory=dict)
    queries: dict[str, Callable[..., Any]] = field(default_factory=dict)
    failure_exception_types: tuple[type[BaseException], ...] = ()
    # Update handlers by name, None for the dynamic one (perdure/_updates.py).
    updates: dict[str | None, Any] = field(default_factory=dict)


def defn(
    cls: type | None = None,
    *,
    name: str | None = None,
    failure_exception_types: Sequence[type[BaseException]] = (),
) -> Any:
    """Mark a class as a workflow; exactly one method must be `@workflow.run`.

    An exception that escapes the workflow fails the workflow when it is a `FailureError`
    (`ApplicationError`, `ActivityError`, `ChildWorkflowError`, `CancelledError`, ...), an
    `asyncio.TimeoutError`, or an instance of `failure_exception_types` (or of the worker's
    `workflow_failure_exception_types`); any other exception (a bug such as `KeyError`) fails
    only the workflow task, which is retried, so the run stays open until fixed code is
    deployed (Temporal's rule)."""

    def wrap(c: type) -> type:
        run_fn = None
        signals: dict[str, Callable[..., Any]] = {}
        queries: dict[str, Callable[..., Any]] = {}
        for klass in reversed(c.__mro__):
            for attr in vars(klass).values():
                if getattr(attr, "__perdure_run__", False):
                    run_fn = attr
                if getattr(attr, "__perdure_signal__", False):
                    signals[attr.__perdure_handler_name__] = attr
                if getattr(attr, "__perdure_query__", False):
                    queries[attr.__perdure_handler_name__] = attr
        if run_fn is None:
            raise TypeError(f"workflow {c.__name__} has no @workflow.run method")
        definition = WorkflowDefinition(
            name or c.__name__, c, run_fn, signals, queries, tuple(failure_exception_types)
        )
        definition.updates = _updates.collect_handlers(c)
        c.__perdure_workflow__ = definition  # type: ignore[attr-defined]
        c.__perdure_run_fn__ = run_fn  # type: ignore[attr-defined]
        run_fn.__perdure_run_of__ = c
        return c

    return wrap(cls) if cls is not None else wrap


def run(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Mark the async method that is the workflow's body."""
    fn.__perdure_run__ = True  # type: ignore[attr-defined]
    return fn


def signal(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Mark a method (sync or async) that handles a signal of its name (or `name`)."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__perdure_signal__ = True  # type: ignore[attr-defined]
        f.__perdure_handler_name__ = name or f.__name__  # type: ignore[attr-defined]
        return f

    return wrap(fn) if fn is not None else wrap


def query(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Mark a sync method that answers a query from the workflow's state (it must not change it)."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__perdure_query__ = True  # type: ignore[attr-defined]
        f.__perdure_handler_name__ = name or f.__name__  # type: ignore[attr-defined]
        return f

    return wrap(fn) if fn is not None else wrap


def definition(cls: Any) -> WorkflowDefinition:
    """The definition of a `@workflow.defn` class."""
    found = getattr(cls, "__perdure_workflow__", None)
    if found is None:
        raise TypeError(f"{cls!r} is not a @workflow.defn class")
    return found


@dataclass(frozen=True)
class Info:
    """What a workflow run knows about itself."""

    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    start_time: datetime
    first_execution_run_id: str
    continued_run_id: str | None
    parent_workflow_id: str | None
    parent_run_id: str | None
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    memo: Any
    search_attributes: dict[str, Any]

    def is_continue_as_new_suggested(self) -> bool:
        """True when the server suggests continuing as new (the run has taken 90 % of the
        2,000 updates a run may; set on the current workflow task)."""
        return bool(getattr(_instance(), "continue_as_new_suggested", False))


def _instance() -> Any:
    from perdure._runtime import current_instance

    return current_instance()


def info() -> Info:
    """This run's info."""
    return _instance().info


def now() -> datetime:
    """The workflow's time: when the current workflow task started (same on every replay)."""
    return _instance().now


def time() -> float:
    """`now()` as a POSIX timestamp."""
    return _instance().now.timestamp()


def random() -> _random.Random:
    """A random generator seeded by the run: deterministic across replays."""
    return _instance().random


def uuid4() -> uuid.UUID:
    """A UUID drawn from `random()` (deterministic across replays)."""
    return uuid.UUID(int=_instance().random.getrandbits(128), version=4)


def in_workflow() -> bool:
    """True inside workflow code."""
    from perdure._runtime import current_instance_or_none

    return current_instance_or_none() is not None


class _Unsafe:
    @staticmethod
    def is_replaying() -> bool:
        """True while the workflow re-runs past history (side effects must be skipped)."""
        return bool(_instance().replaying)


unsafe = _Unsafe()


class _ReplaySafeLogger(logging.LoggerAdapter):
    """`workflow.logger`: silent during replay; adds the workflow ids to each record."""

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        from perdure._runtime import current_instance_or_none

        inst = current_instance_or_none()
        if inst is not None and inst.replaying:
            return False
        return self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        from perdure._runtime import current_instance_or_none

        inst = current_instance_or_none()
        if inst is not None:
            msg = f"{msg} ({{'workflow_id': '{inst.info.workflow_id}', 'run_id': '{inst.info.run_id}'}})"
        return msg, kwargs


logger = _ReplaySafeLogger(logging.getLogger("perdure.workflow"), {})


async def sleep(duration: timedelta | float) -> None:
    """A durable sleep (a server timer): survives restarts, may last months."""
    await asyncio.sleep(seconds(duration) or 0)


async def wait_condition(
    fn: Callable[[], bool],
    *,
    timeout: timedelta | float | None = None,  # noqa: ASYNC109 - Temporal's name
) -> None:
    """Wait until `fn()` is true (checked whenever workflow state may have changed).
    With `timeout`, raise `asyncio.TimeoutError` when it passes first (a durable timer)."""
    future = _instance().wait_condition(fn)
    if timeout is None:
        await future
        return
    await asyncio.wait_for(future, seconds(timeout))


def _activity_name(activity: Any) -> str:
    if isinstance(activity, str):
        return activity
    defn_ = getattr(activity, "__perdure_activity__", None)
    if defn_ is None:
        raise TypeError(f"{activity!r} is not an @activity.defn function or a name")
    return defn_.name


def start_activity(
    activity: Any,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    result_type: Any = None,
    priority: Priority | None = None,
    concurrency_keys: Mapping[str, str] | None = None,
) -> Any:
    """Schedule an activity; the returned handle is an asyncio task of its result.

    `priority` fields left unset are inherited from the workflow's run; so is the run's
    `concurrency_keys` map unless the activity passes its own.

    `handle.cancel()` (or cancelling the task that awaits it) cancels the activity as
    `cancellation_type` says; awaiting it then raises `ActivityError` caused by
    `CancelledError`. The result is checked against `result_type` (else the activity's return
    hint): a value of another type fails the workflow task with `TypeError`."""
    from perdure.converter import return_hint

    hint = result_type or (return_hint(activity) if callable(activity) else None)
    return _instance().schedule_activity(
        _activity_name(activity),
        arg_or_args(arg, args),
        task_queue=task_queue,
        timeouts={
            "schedule_to_close_timeout": seconds(schedule_to_close_timeout),
            "schedule_to_start_timeout": seconds(schedule_to_start_timeout),
            "start_to_close_timeout": seconds(start_to_close_timeout),
            "heartbeat_timeout": seconds(heartbeat_timeout),
        },
        retry_policy=retry_policy,
        cancellation_type=ActivityCancellationType(cancellation_type),
        activity_id=activity_id,
        result_type=hint,
        flow=flow_fields(priority, concurrency_keys),
    )


async def execute_activity(activity: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """Run an activity and wait for its result (ActivityError if it finally fails)."""
    return await start_activity(activity, arg, **options)


def _workflow_type(workflow: Any) -> tuple[str, Any]:
    from perdure.client import _run_hint, workflow_name

    return workflow_name(workflow), _run_hint(workflow)


async def start_child_workflow(
    workflow: Any,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,  # noqa: A002
    task_queue: str | None = None,
    result_type: Any = None,
    cancellation_type: ChildWorkflowCancellationType = (
        ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED
    ),
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    execution_timeout: timedelta | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    retry_policy: RetryPolicy | None = None,
    memo: dict[str, Any] | None = None,
    search_attributes: dict[str, Any] | None = None,
    priority: Priority | None = None,
) -> Any:
    """Start a child workflow; returns its handle (an asyncio task of its result) once started.

    `retry_policy` retries the child as new runs of its id when a run fails or times out.
    Cancelling the handle cancels the child as `cancellation_type` says (Temporal's default:
    wait until the child has closed); awaiting it then raises `ChildWorkflowError` caused by
    `CancelledError`."""
    name, hint = _workflow_type(workflow)
    hint = result_type or hint
    inst = _instance()
    return await inst.start_child(
        name,
        arg_or_args(arg, args),
        workflow_id=id or f"{inst.info.workflow_id}-child-{uuid4()}",
        attributes={
            "task_queue": task_queue,
            "workflow_execution_timeout": seconds(execution_timeout),
            "workflow_run_timeout": seconds(run_timeout),
            "workflow_task_timeout": seconds(task_timeout),
            "workflow_id_reuse_policy": str(id_reuse_policy),
            "parent_close_policy": str(parent_close_policy),
            "retry_policy": retry_policy.to_json() if retry_policy is not None else None,
            "memo": memo,
            "search_attributes": search_attributes,
            **flow_fields(priority, None),
        },
        cancellation_type=ChildWorkflowCancellationType(cancellation_type),
        result_type=hint,
    )


async def execute_child_workflow(workflow: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """Start a child workflow and wait for its result (ChildWorkflowError if it fails)."""
    handle = await start_child_workflow(workflow, arg, **options)
    return await handle


def continue_as_new(
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    workflow: Any = None,
    task_queue: str | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    backoff_start_interval: timedelta | None = None,
    memo: dict[str, Any] | None = None,
    search_attributes: dict[str, Any] | None = None,
) -> Any:
    """End this run and start a fresh one of the same workflow id with new input (never
    returns); `backoff_start_interval` delays the new run's first workflow task."""
    from perdure.converter import encode_args, to_json

    attributes: dict[str, Any] = {"input": encode_args(arg_or_args(arg, args))}
    if workflow is not None:
        attributes["workflow_type"] = _workflow_type(workflow)[0]
    if task_queue:
        attributes["task_queue"] = task_queue
    if run_timeout:
        attributes["workflow_run_timeout"] = seconds(run_timeout)
    if task_timeout:
        attributes["workflow_task_timeout"] = seconds(task_timeout)
    if backoff_start_interval:
        attributes["backoff_start_interval"] = seconds(backoff_start_interval)
    if memo is not None:
        attributes["memo"] = to_json(memo)
    if search_attributes is not None:
        attributes["search_attributes"] = to_json(search_attributes)
    raise ContinueAsNewError(
        {"command_type": "CONTINUE_AS_NEW_WORKFLOW_EXECUTION", "attributes": attributes}
    )


def upsert_search_attributes(attributes: dict[str, Any]) -> None:
    """Set search attributes of this run (visible to list filters)."""
    _instance().add_command(
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", {"search_attributes": attributes}, None
    )


class ExternalWorkflowHandle:
    """Another workflow this one can signal or ask to cancel."""

    def __init__(self, workflow_id: str, run_id: str | None = None) -> None:
        self.id = workflow_id
        self.run_id = run_id

    async def signal(self, signal: Any, arg: Any = ARG_UNSET, *, args: Sequence[Any] = ()) -> None:
        """Signal it (raises ApplicationError when it is not running)."""
        from perdure.client import _handler_name

        await _instance().signal_external(
            self.id, self.run_id, _handler_name(signal), arg_or_args(arg, args)
        )

    async def cancel(self) -> None:
        """Ask it to cancel."""
        await _instance().cancel_external(self.id, self.run_id)


def get_external_workflow_handle(
    workflow_id: str, *, run_id: str | None = None
) -> ExternalWorkflowHandle:
    """A handle to signal or cancel another workflow from this one."""
    return ExternalWorkflowHandle(workflow_id, run_id)
