"""`workflow.start_local_activity` and its forms (Temporal's): the calls workflow code makes
to run an activity in its own worker, recorded by a marker (see perdure._local_activities)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from perdure._local_activities import DEFAULT_LOCAL_RETRY_THRESHOLD, LocalActivity
from perdure._names import _activity_name
from perdure._workflow_context import _Runtime
from perdure.common import ARG_UNSET, ActivityCancellationType, RetryPolicy, arg_or_args, seconds
from perdure.converter import encode_args, return_hint


def start_local_activity(
    activity: Any,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    result_type: Any = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> Any:
    """Run an activity in this worker, within the workflow task (no activity task on the
    server); returns a handle (an asyncio task of its result, `ActivityError` if it finally
    fails). `start_to_close_timeout` or `schedule_to_close_timeout` is required (ValueError).

    Attempts are retried by `retry_policy` (Temporal's default: unlimited, 1 s doubling to
    100 s) in the worker while the back-off is under `local_retry_threshold` (1 min), and after
    a durable timer beyond it. Local activities cannot be paused or reset."""
    if not start_to_close_timeout and not schedule_to_close_timeout:
        raise ValueError("set start_to_close_timeout or schedule_to_close_timeout")
    target = activity.__call__ if isinstance(activity, type) else activity
    hint = result_type or (return_hint(target) if callable(target) else None)
    inst = _Runtime.current()
    seq = inst._next_seq()
    threshold = seconds(local_retry_threshold)
    return inst.local.schedule(
        LocalActivity(
            activity_id=activity_id or str(seq),
            activity_type=_activity_name(activity),
            input=encode_args(arg_or_args(arg, args)),
            result_type=hint,
            start_to_close_timeout=seconds(start_to_close_timeout),
            schedule_to_close_timeout=seconds(schedule_to_close_timeout),
            retry_policy=retry_policy or RetryPolicy(),
            local_retry_threshold=DEFAULT_LOCAL_RETRY_THRESHOLD if threshold is None else threshold,
            future=inst.loop.create_future(),
            scheduled_time=inst.now,
        )
    )


async def execute_local_activity(activity: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """Run a local activity and wait for its result (see `start_local_activity`)."""
    return await start_local_activity(activity, arg, **options)


def start_local_activity_method(activity: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """`start_local_activity` of an `@activity.defn` method given as `Class.method`."""
    return start_local_activity(activity, arg, **options)


async def execute_local_activity_method(activity: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """`execute_local_activity` of an `@activity.defn` method given as `Class.method`."""
    return await start_local_activity(activity, arg, **options)


def start_local_activity_class(activity: type, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """`start_local_activity` of a class whose `__call__` is the activity."""
    return start_local_activity(activity, arg, **options)


async def execute_local_activity_class(activity: type, arg: Any = ARG_UNSET, **options: Any) -> Any:
    """`execute_local_activity` of a class whose `__call__` is the activity."""
    return await start_local_activity(activity, arg, **options)
