"""Workflows as code: the decorators and the calls workflow code makes.

Workflow code runs on a deterministic event loop of its own (see `perdure._runtime`, which
implements `_Runtime` of perdure/_workflow_context.py, Temporal's shape); every
call here either reads replay-safe state (`now`, `random`, `info`) or emits a command that a
later history event resolves. Use only these (and plain asyncio on them) inside workflows.
"""

from __future__ import annotations

import asyncio
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

from perdure import _unsafe as unsafe
from perdure import _updates
from perdure._names import _activity_name, _handler_name, _run_hint, workflow_name
from perdure._operations import ActivityHandle, ChildWorkflowHandle
from perdure._unsafe import SandboxImportNotificationPolicy
from perdure._updates import (
    HandlerUnfinishedPolicy,
    UpdateInfo,
    all_handlers_finished,
    current_update_info,
    set_dynamic_update_handler,
    set_update_handler,
    update,
)
from perdure._versioning import ContinueAsNewVersioningBehavior, VersioningBehavior  # noqa: F401
from perdure._workflow_context import _Runtime
from perdure._workflow_handlers import UnfinishedSignalHandlersWarning  # noqa: F401 (Temporal's name)
from perdure._workflow_info import (
    SUGGEST_CONTINUE_AS_NEW_BYTES,
    SUGGEST_CONTINUE_AS_NEW_EVENTS,
    Info,
    ParentInfo,
    RootInfo,
)
from perdure._workflow_logging import LoggerAdapter, logger
from perdure._workflow_waits import as_completed, wait  # noqa: F401 (Temporal's names)
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
from perdure.exceptions import ContinueAsNewError, NondeterminismError

__all__ = [
    "SUGGEST_CONTINUE_AS_NEW_BYTES",
    "SUGGEST_CONTINUE_AS_NEW_EVENTS",
    "Info",
    "ParentInfo",
    "RootInfo",
    "ActivityCancellationType",
    "ActivityHandle",
    "ChildWorkflowHandle",
    "SandboxImportNotificationPolicy",
    "ChildWorkflowCancellationType",
    "LoggerAdapter",
    "NondeterminismError",
    "ParentClosePolicy",
    "logger",
    "unsafe",
    "HandlerUnfinishedPolicy",
    "UpdateInfo",
    "all_handlers_finished",
    "current_update_info",
    "set_dynamic_update_handler",
    "set_update_handler",
    "update",
]

T = TypeVar("T")
SelfType = TypeVar("SelfType")
ParamType = TypeVar("ParamType")
ClassType = TypeVar("ClassType", bound=type)
CallableType = TypeVar("CallableType", bound=Callable[..., Any])
AsyncCallableType = TypeVar("AsyncCallableType", bound=Callable[..., Awaitable[Any]])


@dataclass
class WorkflowDefinition:
    """A `@workflow.defn` class: its type name, run method, signal and query handlers (a
    dynamic one under the key None), and the exception types that fail the workflow (besides
    Temporal's, see `failure_exception_types`)."""

    name: str
    cls: type
    run_fn: Callable[..., Any]
    signals: dict[str | None, Callable[..., Any]] = field(default_factory=dict)
    queries: dict[str | None, Callable[..., Any]] = field(default_factory=dict)
    failure_exception_types: tuple[type[BaseException], ...] = ()
    # Update handlers by name, None for the dynamic one (perdure/_updates.py).
    updates: dict[str | None, Any] = field(default_factory=dict)
    dynamic: bool = False
    # `@workflow.init` on `__init__`: the constructor takes the run's arguments.
    init_takes_args: bool = False
    sandboxed: bool = True
    versioning_behavior: Any = None  # a VersioningBehavior (Worker Versioning)


@overload
def defn(cls: ClassType) -> ClassType: ...


@overload
def defn(
    *,
    name: str | None = None,
    sandboxed: bool = True,
    dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
    versioning_behavior: Any = None,
) -> Callable[[ClassType], ClassType]: ...


def defn(
    cls: type | None = None,
    *,
    name: str | None = None,
    sandboxed: bool = True,
    dynamic: bool = False,
    failure_exception_types: Sequence[type[BaseException]] = (),
    versioning_behavior: Any = None,
) -> Any:
    """Mark a class as a workflow; exactly one method must be `@workflow.run`.

    An exception that escapes the workflow fails the workflow when it is a `FailureError`
    (`ApplicationError`, `ActivityError`, `ChildWorkflowError`, `CancelledError`, ...), an
    `asyncio.TimeoutError`, or an instance of `failure_exception_types` (or of the worker's
    `workflow_failure_exception_types`); any other exception (a bug such as `KeyError`) fails
    only the workflow task, which is retried, so the run stays open until fixed code is
    deployed (Temporal's rule).

    `dynamic=True` makes it the worker's workflow for every type it has no class for: its run
    method takes one parameter, the arguments as `Sequence[RawValue]` (Temporal's dynamic
    workflows). `sandboxed` is accepted for Temporal's code: Perdure has no sandbox, workflow
    code always runs unsandboxed (determinism is the code's duty, as with `sandboxed=False`)."""
    if dynamic and name:
        raise ValueError("a dynamic workflow takes no name")

    def wrap(c: type) -> type:
        run_fn = None
        signals: dict[str | None, Callable[..., Any]] = {}
        queries: dict[str | None, Callable[..., Any]] = {}
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
            "" if dynamic else name or c.__name__,
            c,
            run_fn,
            signals,
            queries,
            tuple(failure_exception_types),
            dynamic=dynamic,
            init_takes_args=getattr(getattr(c, "__init__", None), "__perdure_init__", False),
            sandboxed=sandboxed,
            versioning_behavior=versioning_behavior,
        )
        definition.updates = _updates.collect_handlers(c)
        c.__perdure_workflow__ = definition  # type: ignore[attr-defined]  # a marker set on the decorated function or class
        c.__perdure_run_fn__ = run_fn  # type: ignore[attr-defined]  # a marker set on the decorated function or class
        run_fn.__perdure_run_of__ = c
        return c

    return wrap(cls) if cls is not None else wrap


def init(init_fn: CallableType) -> CallableType:
    """Mark `__init__` as taking the workflow's arguments (the same parameters as the run
    method), so that state is ready before signal handlers run (Temporal's `@workflow.init`)."""
    if init_fn.__name__ != "__init__":
        raise ValueError("@workflow.init goes on __init__")
    init_fn.__perdure_init__ = True  # type: ignore[attr-defined] # a marker on the function
    return init_fn


def run(fn: AsyncCallableType) -> AsyncCallableType:
    """Mark the async method that is the workflow's body (its type kept for the checker)."""
    fn.__perdure_run__ = True  # type: ignore[attr-defined]  # a marker set on the decorated function or class
    return fn


@overload
def signal(fn: CallableType) -> CallableType: ...


@overload
def signal(
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    unfinished_policy: HandlerUnfinishedPolicy = ...,
    description: str | None = None,
) -> Callable[[CallableType], CallableType]: ...


def signal(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON,
    description: str | None = None,
) -> Any:
    """Mark a method (sync or async) that handles a signal of its name (or `name`).

    `dynamic=True`: it handles every signal without a handler of its own, called with the
    signal's name and its arguments as `Sequence[RawValue]`. `unfinished_policy` says whether
    the workflow finishing while this handler still runs is warned about (Temporal's
    `UnfinishedSignalHandlersWarning`)."""
    if dynamic and name:
        raise ValueError("a dynamic signal handler takes no name")

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__perdure_signal__ = True  # type: ignore[attr-defined]  # a marker set on the decorated function or class
        f.__perdure_handler_name__ = None if dynamic else name or f.__name__  # type: ignore[attr-defined] # marker
        f.__perdure_unfinished_policy__ = unfinished_policy  # type: ignore[attr-defined] # marker
        return f

    return wrap(fn) if fn is not None else wrap


@overload
def query(fn: CallableType) -> CallableType: ...


@overload
def query(
    *, name: str | None = None, dynamic: bool | None = False, description: str | None = None
) -> Callable[[CallableType], CallableType]: ...


def query(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    dynamic: bool | None = False,
    description: str | None = None,
) -> Any:
    """Mark a sync method that answers a query from the workflow's state (it must not change
    it). `dynamic=True`: it answers every query without a handler of its own, called with the
    query's name and its arguments as `Sequence[RawValue]`."""
    if dynamic and name:
        raise ValueError("a dynamic query handler takes no name")

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__perdure_query__ = True  # type: ignore[attr-defined]  # a marker set on the decorated function or class
        f.__perdure_handler_name__ = None if dynamic else name or f.__name__  # type: ignore[attr-defined] # marker
        return f

    return wrap(fn) if fn is not None else wrap


def definition(cls: Any) -> WorkflowDefinition:
    """The definition of a `@workflow.defn` class."""
    found = getattr(cls, "__perdure_workflow__", None)
    if found is None:
        raise TypeError(f"{cls!r} is not a @workflow.defn class")
    return found


def _instance() -> _Runtime:
    return _Runtime.current()


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


class ReadOnlyContextError(Exception):
    """Workflow code tried to change the workflow where it may only read it (a query)."""


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7) from `now()` and `random()`: deterministic
    across replays."""
    inst = _instance()
    millis = int(inst.now.timestamp() * 1000) & ((1 << 48) - 1)
    bits = (millis << 80) | (0x7 << 76) | (inst.random.getrandbits(12) << 64)
    bits |= (0b10 << 62) | inst.random.getrandbits(62)
    return uuid.UUID(int=bits)


def uuid4() -> uuid.UUID:
    """A UUID drawn from `random()` (deterministic across replays)."""
    return uuid.UUID(int=_instance().random.getrandbits(128), version=4)


def in_workflow() -> bool:
    """True inside workflow code."""
    return _Runtime.maybe_current() is not None


def cancellation_reason() -> str | None:
    """The reason given with the cancel request of this run, if any."""
    return _instance().cancel_reason


def random_seed() -> int:
    """The seed of `random()` (derived from the run id, the same on every replay)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(_instance().run_id.encode()).digest()[:8])


def time_ns() -> int:
    """`now()` in nanoseconds since the epoch."""
    return int(_instance().now.timestamp() * 1_000_000_000)


def new_random() -> _random.Random:
    """A new deterministic random generator, seeded from `random()`."""
    return _random.Random(_instance().random.getrandbits(64))


def instance() -> Any:
    """The running workflow's object (the `@workflow.defn` class instance)."""
    found = _instance().obj
    if found is None:
        raise RuntimeError("the workflow object is not created yet")
    return found


def memo() -> dict[str, Any]:
    """The run's memo fields (plain JSON values)."""
    return info().raw_memo


_NO_DEFAULT: Any = object()


def memo_value(key: str, default: Any = _NO_DEFAULT, *, type_hint: Any = None) -> Any:
    """One memo field, read as `type_hint`; `default` when absent (else `KeyError`)."""
    from perdure.converter import from_json

    fields = memo()
    if key not in fields:
        if default is _NO_DEFAULT:
            raise KeyError(f"memo has no field '{key}'")
        return default
    return from_json(fields[key], type_hint)


def payload_converter() -> Any:
    """The payload converter workflow code may use (e.g. on a dynamic handler's RawValues)."""
    from perdure.converter import default

    return default().payload_converter


def is_failure_exception(err: BaseException) -> bool:
    """Whether `err` escaping the workflow would fail it (else only the workflow task)."""
    return bool(_instance().is_failure_exception(err))


def get_current_details() -> str:
    """The run's current details (set by `set_current_details`)."""
    return str(_instance().current_details)


def set_current_details(description: str) -> None:
    """Describe what the run is doing now (kept with the run's instance)."""
    _instance().current_details = description


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

    target = activity.__call__ if isinstance(activity, type) else activity
    hint = result_type or (return_hint(target) if callable(target) else None)
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


@overload
async def execute_activity(
    activity: Callable[..., Awaitable[T]], *, args: Sequence[Any], **options: Any
) -> T: ...


@overload
async def execute_activity(
    activity: Callable[..., T], *, args: Sequence[Any], **options: Any
) -> T: ...


@overload
async def execute_activity(activity: Callable[[], Awaitable[T]], **options: Any) -> T: ...


@overload
async def execute_activity(activity: Callable[[], T], **options: Any) -> T: ...


@overload
async def execute_activity(
    activity: Callable[[ParamType], Awaitable[T]], arg: ParamType, **options: Any
) -> T: ...


@overload
async def execute_activity(
    activity: Callable[[ParamType], T], arg: ParamType, **options: Any
) -> T: ...


@overload
async def execute_activity(activity: str, arg: Any = ..., **options: Any) -> Any: ...


async def execute_activity(activity: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """Run an activity and wait for its result (ActivityError if it finally fails); typed by
    the activity's return type, as Temporal's overloads do."""
    return await start_activity(activity, arg, **options)


def start_activity_method(activity: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """`start_activity` of an `@activity.defn` method given as `Class.method` (the worker
    registers it as `instance.method`)."""
    return start_activity(activity, arg, **options)


async def execute_activity_method(activity: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """`execute_activity` of an `@activity.defn` method given as `Class.method`."""
    return await start_activity(activity, arg, **options)


def start_activity_class(activity: type, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """`start_activity` of a class whose `__call__` is the activity."""
    return start_activity(activity, arg, **options)


async def execute_activity_class(activity: type, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """`execute_activity` of a class whose `__call__` is the activity."""
    return await start_activity(activity, arg, **options)


def _workflow_type(workflow: Any) -> tuple[str, Any]:
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
    concurrency_keys: Mapping[str, str] | None = None,
    cron_schedule: str = "",
) -> Any:
    """Start a child workflow; returns its handle (an asyncio task of its result) once started.
    `cron_schedule` makes it a cron workflow (see `Client.start_workflow`).

    `priority` fields left unset, and the `concurrency_keys` map unless one is passed, are
    inherited from this workflow's run.

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
            **flow_fields(priority, concurrency_keys),
            "cron_schedule": cron_schedule or None,
        },
        cancellation_type=ChildWorkflowCancellationType(cancellation_type),
        result_type=hint,
    )


@overload
async def execute_child_workflow(
    workflow: Callable[[SelfType], Awaitable[T]], **options: Any
) -> T: ...


@overload
async def execute_child_workflow(
    workflow: Callable[[SelfType, ParamType], Awaitable[T]], arg: ParamType, **options: Any
) -> T: ...


@overload
async def execute_child_workflow(
    workflow: Callable[..., Awaitable[T]], *, args: Sequence[Any], **options: Any
) -> T: ...


@overload
async def execute_child_workflow(workflow: str, arg: Any = ..., **options: Any) -> Any: ...


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
    initial_versioning_behavior: ContinueAsNewVersioningBehavior | None = None,
) -> Any:
    """End this run and start a fresh one of the same workflow id with new input (never
    returns); `backoff_start_interval` delays the new run's first workflow task;
    `initial_versioning_behavior=AUTO_UPGRADE` starts a pinned run's successor on its
    deployment's current version (upgrade on continue-as-new)."""
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
    if initial_versioning_behavior:
        attributes["initial_versioning_behavior"] = initial_versioning_behavior.name
    raise ContinueAsNewError(
        {"command_type": "CONTINUE_AS_NEW_WORKFLOW_EXECUTION", "attributes": attributes}
    )


def patched(patch_id: str) -> bool:
    """Whether this run takes the new branch of a change (Temporal's `workflow.patched`):
    True on first execution (recording a `core_patch` marker and upserting
    `TemporalChangeVersion`); while replaying, True only if the history recorded the marker
    here. The answer holds for the rest of the run."""
    return bool(_instance().patch(patch_id, deprecated=False))


def deprecate_patch(patch_id: str) -> None:
    """Mark a patch as deprecated (Temporal's `workflow.deprecate_patch`): every run still
    open went through the new branch, so the old one is gone; records a deprecated marker,
    and histories without it replay too. Remove the call once no run holds a non-deprecated
    marker."""
    _instance().patch(patch_id, deprecated=True)


def upsert_search_attributes(attributes: dict[str, Any]) -> None:
    """Set search attributes of this run (visible to list filters); `info().search_attributes`
    shows them at once, each value as a list (Temporal's untyped form)."""
    inst = _instance()
    inst.add_command("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", {"search_attributes": attributes}, None)
    inst.info.search_attributes.update(
        (name, list(value) if isinstance(value, list | tuple) else [value])
        for name, value in attributes.items()
    )


class ExternalWorkflowHandle:
    """Another workflow this one can signal or ask to cancel."""

    def __init__(self, workflow_id: str, run_id: str | None = None) -> None:
        self.id = workflow_id
        self.run_id = run_id

    async def signal(self, signal: Any, arg: Any = ARG_UNSET, *, args: Sequence[Any] = ()) -> None:
        """Signal it (raises ApplicationError when it is not running)."""
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


def get_external_workflow_handle_for(
    workflow: Any, workflow_id: str, *, run_id: str | None = None
) -> ExternalWorkflowHandle:
    """`get_external_workflow_handle`, typed by the workflow's class or run method (Temporal's
    form; the type is for the type checker only)."""
    return ExternalWorkflowHandle(workflow_id, run_id)


from perdure._workflow_handlers import (  # noqa: E402 - Temporal's names, kept apart
    get_dynamic_query_handler,
    get_dynamic_signal_handler,
    get_query_handler,
    get_signal_handler,
    set_dynamic_query_handler,
    set_dynamic_signal_handler,
    set_query_handler,
    set_signal_handler,
)
from perdure._workflow_local import (  # noqa: E402 - they read this module's helpers
    execute_local_activity,
    execute_local_activity_class,
    execute_local_activity_method,
    start_local_activity,
    start_local_activity_class,
    start_local_activity_method,
)

__all__ += [
    "get_dynamic_query_handler",
    "get_dynamic_signal_handler",
    "get_query_handler",
    "get_signal_handler",
    "set_dynamic_query_handler",
    "set_dynamic_signal_handler",
    "set_query_handler",
    "set_signal_handler",
    "execute_local_activity",
    "execute_local_activity_class",
    "execute_local_activity_method",
    "start_local_activity",
    "start_local_activity_class",
    "start_local_activity_method",
]
