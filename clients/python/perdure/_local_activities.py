"""Local activities (Temporal's): run by the worker that runs the workflow task, inside that
task, with no activity task on the server. Each outcome is recorded by a `RECORD_MARKER`
command named `core_local_activity` (Temporal's marker name) whose details are

    {"activity_id": "3", "activity_type": "charge", "attempt": 1,
     "original_schedule_time": "<ISO 8601>", "complete_time": "<ISO 8601>",
     "result": <JSON>}                      # completed
     "failure": {...}, "retry_state": "..."  # failed for good
     "failure": {...}, "backoff": 90.0      # failed; retried after a durable timer

On replay the marker resolves the activity instead of running it again. Attempts are retried
in the worker (back-off by the retry policy) while the next back-off is under
`local_retry_threshold` (1 min by default); a longer back-off is recorded and waited out by a
server timer, after which the next attempt runs in a later workflow task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from perdure.common import RetryPolicy
from perdure.converter import to_json
from perdure.exceptions import ActivityError, CancelledError, from_failure

if TYPE_CHECKING:
    from perdure._runtime import WorkflowInstance

MARKER = "core_local_activity"
DEFAULT_LOCAL_RETRY_THRESHOLD = 60.0


@dataclass
class LocalActivity:
    """One scheduled local activity of a run and where it stands."""

    activity_id: str
    activity_type: str
    input: Any
    result_type: Any
    start_to_close_timeout: float | None
    schedule_to_close_timeout: float | None
    retry_policy: RetryPolicy
    local_retry_threshold: float
    future: asyncio.Future[Any]
    scheduled_time: datetime
    attempt: int = 1
    waiting: bool = False  # a recorded back-off timer runs
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. why retries stopped

    def backoff_after(self, attempt: int) -> float | None:
        """Seconds before the attempt after `attempt`, or None when none may follow."""
        policy = self.retry_policy
        if policy.maximum_attempts and attempt >= policy.maximum_attempts:
            return None
        initial = policy.initial_interval.total_seconds()
        delay = initial * policy.backoff_coefficient ** (attempt - 1)
        maximum = (
            policy.maximum_interval.total_seconds() if policy.maximum_interval else 100 * initial
        )
        return min(delay, maximum)


class LocalActivities:
    """The local activities of one run: scheduled by workflow code, run by the worker,
    settled by their markers."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self.by_id: dict[str, LocalActivity] = {}

    def schedule(self, activity: LocalActivity) -> asyncio.Task[Any]:
        self.by_id[activity.activity_id] = activity

        async def outcome() -> Any:
            try:
                return await asyncio.shield(activity.future)
            except asyncio.CancelledError:
                if activity.future.done():
                    raise
                self.cancel(activity)  # Temporal: ActivityError caused by CancelledError
                return await activity.future

        return self.instance.loop.create_task(
            outcome(), name=f"local activity {activity.activity_id}"
        )

    def to_run(self) -> list[LocalActivity]:
        """Scheduled and neither settled nor waiting out a recorded back-off."""
        return [a for a in self.by_id.values() if not a.done and not a.waiting]

    def record(
        self,
        activity: LocalActivity,
        *,
        result: Any = None,
        failure: BaseException | None = None,
        backoff: float | None = None,
    ) -> None:
        """The worker's outcome of an attempt: emit its marker, then apply it as replay would."""
        from perdure._operations import Command
        from perdure.exceptions import to_failure

        details: dict[str, Any] = {
            "activity_id": activity.activity_id,
            "activity_type": activity.activity_type,
            "attempt": activity.attempt,
            "original_schedule_time": activity.scheduled_time.isoformat(),
            "complete_time": datetime.now(UTC).isoformat(),
        }
        if failure is None:
            details["result"] = to_json(result)
        else:
            details["failure"] = to_failure(failure)
            if backoff is not None:
                details["backoff"] = backoff
            else:
                details["retry_state"] = activity.extra.get("retry_state")
        command = Command("RECORD_MARKER", {"marker_name": MARKER, "details": details})
        # Sent, but never matched on replay: the marker event settles the activity instead.
        self.instance.new_commands.append(command)
        self.apply(details)

    def apply(self, details: dict[str, Any]) -> None:
        """Settle (or start the back-off of) the activity a marker names, then let the
        workflow code run on."""
        activity = self.by_id.get(str(details.get("activity_id")))
        if activity is None or activity.done:
            return
        inst = self.instance
        if "backoff" in details:
            activity.waiting = True
            activity.attempt = int(details.get("attempt") or activity.attempt)

            def next_attempt() -> None:
                activity.waiting = False
                activity.attempt += 1

            inst.step(lambda: inst.loop.call_later(float(details["backoff"]), next_attempt))
            return
        activity.done = True
        if "failure" in details:
            error: BaseException = ActivityError(
                "local activity failed",
                activity_type=activity.activity_type,
                activity_id=activity.activity_id,
                retry_state=details.get("retry_state") or "MAXIMUM_ATTEMPTS_REACHED",
                cause=from_failure(details["failure"]),
            )
            inst.step(lambda: activity.future.set_exception(error))
        else:
            inst.step(lambda: activity.future.set_result(_result(activity, details)))

    def cancel(self, activity: LocalActivity) -> None:
        """Workflow code cancelled it before it settled: it is not run (again)."""
        if activity.done:
            return
        activity.done = True
        activity.future.set_exception(
            ActivityError(
                "local activity canceled",
                activity_type=activity.activity_type,
                activity_id=activity.activity_id,
                retry_state="CANCEL_REQUESTED",
                cause=CancelledError("local activity canceled"),
            )
        )


def _result(activity: LocalActivity, details: dict[str, Any]) -> Any:
    """The recorded result as the activity's result type says; another type fails the
    workflow task (as an activity's result does)."""
    from perdure._operations import WorkflowTaskFailure
    from perdure.converter import from_json

    try:
        return from_json(details.get("result"), activity.result_type)
    except TypeError as err:
        raise WorkflowTaskFailure(
            f"the result of local activity {activity.activity_type} ({activity.activity_id}) "
            f"does not fit its result type: {err}",
            "WORKFLOW_WORKER_UNHANDLED_FAILURE",
            err,
        ) from err


def is_marker(event: dict[str, Any]) -> bool:
    """Whether a history event is a local activity's marker."""
    return (
        event["event_type"] == "MARKER_RECORDED"
        and (event.get("attributes") or {}).get("marker_name") == MARKER
    )


async def run_attempts(
    activity: LocalActivity,
    call: Callable[[LocalActivity], Any],
) -> tuple[Any, BaseException | None, float | None]:
    """Run attempts in the worker until one succeeds, the policy stops, or the next back-off
    reaches the local retry threshold: (result, failure, back-off to record)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        timeout = activity.start_to_close_timeout
        if activity.schedule_to_close_timeout:
            left = activity.schedule_to_close_timeout - (loop.time() - began)
            timeout = min(timeout, left) if timeout else left
        try:
            return await asyncio.wait_for(call(activity), timeout), None, None
        except asyncio.CancelledError:
            raise
        except BaseException as err:
            failure: BaseException = err
            if isinstance(err, asyncio.TimeoutError):
                from perdure.exceptions import TimeoutError as ActivityTimeout

                failure = ActivityTimeout("local activity timed out", type="START_TO_CLOSE")
        non_retryable = _non_retryable(failure, activity)
        backoff = None if non_retryable else activity.backoff_after(activity.attempt)
        if backoff is None:
            activity.extra["retry_state"] = (
                "NON_RETRYABLE_FAILURE" if non_retryable else "MAXIMUM_ATTEMPTS_REACHED"
            )
            return None, failure, None
        if backoff >= activity.local_retry_threshold:
            return None, failure, backoff
        if activity.schedule_to_close_timeout and (
            loop.time() - began + backoff >= activity.schedule_to_close_timeout
        ):
            activity.extra["retry_state"] = "TIMEOUT"
            return None, failure, None
        await asyncio.sleep(backoff)
        activity.attempt += 1


def _non_retryable(err: BaseException, activity: LocalActivity) -> bool:
    from perdure.exceptions import ApplicationError

    if isinstance(err, ApplicationError):
        if err.non_retryable:
            return True
        kind = err.type or "ApplicationError"
    else:
        kind = type(err).__name__
    return kind in activity.retry_policy.non_retryable_error_types


async def execute(
    worker: Any, instance: WorkflowInstance, task: dict[str, Any]
) -> dict[str, Any] | None:
    """Run the run's local activities in this worker until none is left to run, completing
    the workflow task with a forced new one (Temporal's workflow task heartbeat) whenever 80 %
    of its timeout passes first. Returns the task to answer (another one after a heartbeat),
    or None when the server gave no task back."""
    loop = asyncio.get_running_loop()
    task_timeout = (
        instance.info.task_timeout.total_seconds() if instance.info.task_timeout else 10.0
    )
    budget = 0.8 * task_timeout
    began = loop.time()
    running: dict[str, asyncio.Task[Any]] = {}
    while True:
        for activity in instance.local.to_run():
            if activity.activity_id not in running:
                running[activity.activity_id] = asyncio.create_task(
                    run_attempts(activity, lambda a: _call(worker, instance, a))
                )
        if not running:
            return task
        done, _ = await asyncio.wait(
            running.values(),
            timeout=max(0.0, began + budget - loop.time()),
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not done:
            following = await _heartbeat(worker, instance, task)
            if following is None:
                for pending in running.values():
                    pending.cancel()
                return None
            task, began = following, loop.time()
            continue
        for activity_id, finished in list(running.items()):
            if finished in done:
                del running[activity_id]
                result, failure, backoff = finished.result()
                instance.local.record(
                    instance.local.by_id[activity_id],
                    result=result,
                    failure=failure,
                    backoff=backoff,
                )


async def _heartbeat(
    worker: Any, instance: WorkflowInstance, task: dict[str, Any]
) -> dict[str, Any] | None:
    from perdure import _codec

    for command in instance.new_commands:
        await _codec.encode_fields(worker.codec, command.attributes)
    response = await worker._post(
        "/workflow-tasks/complete",
        {
            "task_token": task["task_token"],
            "commands": [c.body() for c in instance.new_commands],
            "identity": worker.identity,
            "return_new_workflow_task": True,
            "force_create_new_workflow_task": True,
            "partial_history": True,
        },
    )
    if response is None or response.status_code != 200:
        return None
    following: dict[str, Any] | None = response.json().get("workflow_task")
    if following is None:
        return None
    events = await worker._full_history(following, known_up_to=instance.last_event_id)
    await worker._decode_events(events)
    instance.feed(events, final_started_event_id=following["started_event_id"])
    return following


async def _call(worker: Any, instance: WorkflowInstance, activity: LocalActivity) -> Any:
    """One attempt of a local activity, as an activity task would run it (is_local=True)."""
    import contextvars

    from perdure import activity as activity_mod
    from perdure.converter import decode_args, to_raw_values

    definition = worker._activity_definition(activity.activity_type)
    if definition is None:
        raise ActivityNotRegistered(
            f"activity type '{activity.activity_type}' is not registered on this worker"
        )
    info = activity_mod.Info(
        activity_id=activity.activity_id,
        activity_type=activity.activity_type,
        attempt=activity.attempt,
        task_queue=instance.info.task_queue,
        task_token="",
        workflow_id=instance.workflow_id,
        workflow_run_id=instance.run_id,
        workflow_type=instance.info.workflow_type,
        heartbeat_details=[],
        heartbeat_timeout=None,
        start_to_close_timeout=_delta(activity.start_to_close_timeout),
        schedule_to_close_timeout=_delta(activity.schedule_to_close_timeout),
        scheduled_time=activity.scheduled_time,
        started_time=datetime.now(UTC),
        current_attempt_scheduled_time=datetime.now(UTC),
        namespace=instance.namespace,
        workflow_namespace=instance.namespace,
        is_local=True,
    )
    ctx = activity_mod.ActivityContext(
        info,
        lambda _details: None,  # a local activity's heartbeats go nowhere (Temporal's too)
        not definition.is_async,
        client=worker.client,
        worker_shutdown=worker.shutdown_event,
    )
    args = (
        [to_raw_values(activity.input)]
        if definition.dynamic
        else decode_args(definition.fn, activity.input)
    )
    token = activity_mod._current.set(ctx)
    try:
        if definition.is_async:
            return await definition.fn(*args)
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            worker.executor, lambda: context.run(definition.fn, *args)
        )
    finally:
        activity_mod._current.reset(token)


class ActivityNotRegistered(Exception):
    """The worker has no function for a local activity's type."""


def _delta(value: float | None) -> Any:
    from datetime import timedelta

    return None if value is None else timedelta(seconds=value)
