"""The deterministic runtime of one workflow run: its own asyncio event loop, driven step by
step by history events, and the commands its code emits.

Replay: history is cut at each WORKFLOW_TASK_STARTED. The events before it are the inputs of
an activation (resolve futures, deliver signals, start or cancel the run); the loop then runs
until no task can move, and the commands emitted must equal, in order, the command events
recorded after that task's WORKFLOW_TASK_COMPLETED. A difference is non-determinism.

`WorkflowInstance` implements `_Runtime` (perdure/_workflow_context.py), all that workflow
code sees of it; its loop is perdure/_workflow_loop.py, and how an activation's input events
reach workflow code perdure/_history_inputs.py.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import hashlib
import json
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from perdure._handlers import Handlers
from perdure._history_inputs import apply_input
from perdure._local_activities import LocalActivities
from perdure._local_activities import is_marker as is_local_marker
from perdure._operations import (
    COMMAND_EVENTS,
    IDENTITY_FIELDS,
    MAY_LEAVE_NO_EVENT,
    ActivityHandle,
    ChildWorkflowHandle,
    Command,
    WorkflowTaskFailure,
    _activity_cancelled,
    _child_failed,
    _task_failure,
)
from perdure._patches import (
    CHANGE_VERSION,
    MAX_CHANGE_VERSION_BYTES,
    Patches,
    is_change_version_upsert,
    marker_patch,
    patch_marker,
    same_patch,
)
from perdure._search_attributes import untyped
from perdure._updates import UpdateRuntime
from perdure._workflow_context import _Runtime
from perdure._workflow_context import current_runtime as _current
from perdure._workflow_info import Info, ParentInfo
from perdure._workflow_loop import DurableTimer, WorkflowLoop
from perdure.common import (
    ActivityCancellationType,
    ChildWorkflowCancellationType,
    RetryPolicy,
)
from perdure.converter import decode_args, encode_args, to_json, to_raw_values
from perdure.exceptions import (
    CancelledError,
    ContinueAsNewError,
    FailureError,
    NondeterminismError,
    is_cancelled_exception,
    to_failure,
)
from perdure.workflow import WorkflowDefinition

log = logging.getLogger("perdure.worker")


class WorkflowInstance(_Runtime):
    """One run's workflow object, its loop, its commands and what resolves them."""

    loop: WorkflowLoop

    def __init__(
        self,
        definition: WorkflowDefinition,
        *,
        namespace: str,
        workflow_id: str,
        run_id: str,
        eager_activity_types: Callable[[str, str | None], bool] | None = None,
        failure_exception_types: Sequence[type[BaseException]] = (),
    ) -> None:
        self.definition = definition
        self.failure_exception_types = (
            *definition.failure_exception_types,
            *failure_exception_types,
        )
        self.namespace = namespace
        self.workflow_id = workflow_id
        self.run_id = run_id
        # Only what workflow code may use is implemented (no I/O, no subprocesses, no sockets):
        # the rest of AbstractEventLoop is left abstract on purpose.
        self.loop = WorkflowLoop(self)  # type: ignore[abstract]
        self.obj: Any = None
        self.main_task: asyncio.Task[Any] | None = None
        self.seq = 0
        self.now = datetime.fromtimestamp(0).astimezone()
        self.random = random.Random(int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8]))
        self.replaying = True
        self.info: Info = None  # type: ignore[assignment]  # set from the first event, before any code reads it
        self.unmatched: collections.deque[Command] = collections.deque()
        self.by_event: dict[int, Command] = {}
        self.conditions: list[tuple[Callable[[], bool], asyncio.Future[Any]]] = []
        self.inputs: list[dict[str, Any]] = []
        self.new_commands: list[Command] = []
        self.closed = False
        self.cancel_requested = False
        self.last_event_id = 0
        self.last_started_event_id = 0
        self.pending_events: list[dict[str, Any]] = []
        self.eager_activity_types = eager_activity_types
        self.patches = Patches()
        # What a signal handler raised: a failure exception fails the workflow, anything
        # else fails this workflow task.
        self._handler_failure: BaseException | None = None
        self._task_failure: WorkflowTaskFailure | None = None
        self.handlers = Handlers(self)
        self.local = LocalActivities(self)
        self.read_only = False  # while a query runs
        self.history_bytes = 0
        self.current_details = ""
        self.cancel_reason: str | None = None
        self.search_attribute_types: dict[str, str] = {}  # name -> type name, set by the worker
        self.target_version_changed = False  # the current task's (Worker Versioning)
        self.updates = UpdateRuntime(self)
        self.continue_as_new_suggested = False
        self.signal_handlers_running = 0

    # -- feeding history --------------------------------------------------------------------

    def feed(
        self, events: list[dict[str, Any]], *, final_started_event_id: int | None
    ) -> list[Command]:
        """Apply history events (after those already applied). Returns the commands of the
        activation at `final_started_event_id` (the workflow task being answered), if any."""
        events = self.pending_events + [e for e in events if e["event_id"] > self.last_event_id]
        self.pending_events = []
        self.history_bytes += sum(len(json.dumps(e, default=str)) for e in events)
        produced: list[Command] = []
        for index, event in enumerate(events):
            kind = event["event_type"]
            if kind == "WORKFLOW_TASK_STARTED":
                if event["event_id"] == final_started_event_id:
                    produced = self._activate(event, replaying=False)
                    self.last_started_event_id = event["event_id"]
                    self.last_event_id = event["event_id"]
                    return produced
                if index + 1 >= len(events):
                    # Its outcome is not known yet (a query of a run whose task is running).
                    self.pending_events = events[index:]
                    return produced
                following = events[index + 1]["event_type"]
                if following == "WORKFLOW_TASK_COMPLETED":
                    self.patches.notify(events[index + 1 :])
                    self.updates.replay_accepted(events[index + 2 :], event["event_id"])
                    self._activate(event, replaying=True)
                    self.last_started_event_id = event["event_id"]
            elif is_local_marker(event):
                # A local activity's outcome: it settles the activity, never a command.
                self.local.apply((event.get("attributes") or {}).get("details") or {})
            elif kind in COMMAND_EVENTS:
                self._match(event)
            elif kind not in (
                "WORKFLOW_TASK_SCHEDULED",
                "WORKFLOW_TASK_COMPLETED",
                "WORKFLOW_TASK_FAILED",
                "WORKFLOW_TASK_TIMED_OUT",
            ):
                self.inputs.append(event)
            self.last_event_id = event["event_id"]
        return produced

    def activate_for_query(self, event_time: str) -> None:
        """A query that arrived before the run's first workflow task completed: run that first
        activation (its commands are never sent) so the query sees the started workflow."""
        if self.obj is None and self.inputs:
            self._activate({"event_id": 0, "event_time": event_time}, replaying=True)

    def finish_replay(self) -> None:
        """End of a closed history: every emitted command must have been recorded."""
        self._check_all_matched(None)

    def _check_all_matched(self, at: dict[str, Any] | None) -> None:
        while self.unmatched and (
            self.unmatched[0].command_type in MAY_LEAVE_NO_EVENT or self.unmatched[0].optional
        ):
            self.unmatched.popleft()
        if self.unmatched:
            extra = self.unmatched[0]
            where = f"before event {at['event_id']}" if at else "at the end of history"
            raise NondeterminismError(
                f"non-determinism: the workflow emitted {extra.describe()} but history has no "
                f"matching event ({where})",
                event_id=at["event_id"] if at else None,
            )

    def _match(self, event: dict[str, Any]) -> None:
        expected_type = COMMAND_EVENTS[event["event_type"]]
        attrs = event.get("attributes") or {}
        patch = marker_patch(event)
        if patch is not None:
            self.patches.recorded.add(patch[0])
        while self.unmatched:
            command = self.unmatched[0]
            if (
                command.command_type == expected_type
                and all(
                    command.attributes.get(k) == attrs.get(k)
                    for k in IDENTITY_FIELDS.get(expected_type, ())
                )
                and same_patch(command, patch)
            ):
                self.unmatched.popleft()
                command.event_id = event["event_id"]
                self.by_event[event["event_id"]] = command
                return
            if command.command_type in MAY_LEAVE_NO_EVENT or command.optional:
                self.unmatched.popleft()
                continue
            break
        if (patch is not None and patch[1]) or (
            expected_type == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" and is_change_version_upsert(attrs)
        ):
            # Temporal's rule: code with a deprecated patch removed replays its marker (and
            # the change-version upsert that came with it) as if absent.
            return
        keys = IDENTITY_FIELDS.get(expected_type, ())
        recorded = f"{expected_type}({', '.join(f'{k}={attrs.get(k)!r}' for k in keys)})"
        got = self.unmatched[0].describe() if self.unmatched else "nothing"
        if patch is not None:
            recorded = f"the patch marker of '{patch[0]}'"
        raise NondeterminismError(
            f"non-determinism at event {event['event_id']} ({event['event_type']}): history "
            f"recorded {recorded} but the workflow code emitted {got}",
            event_id=event["event_id"],
        )

    # -- an activation ----------------------------------------------------------------------

    def _activate(self, started: dict[str, Any], *, replaying: bool) -> list[Command]:
        self._check_all_matched(started)
        self.replaying = replaying
        self.now = _parse_time(started["event_time"])
        attributes = started.get("attributes") or {}
        self.continue_as_new_suggested = bool(attributes.get("suggest_continue_as_new"))
        inputs, self.inputs = self.inputs, []
        self.new_commands = []
        previous = asyncio._get_running_loop()
        asyncio._set_running_loop(self.loop)
        token = _current.set(self)
        try:
            start_main = False
            for event in inputs:
                if event["event_type"] == "WORKFLOW_EXECUTION_STARTED":
                    self._on_started(event)
                    start_main = True
                else:
                    apply_input(self, event)
            self.updates.deliver(replaying=replaying)
            if start_main:
                self._start_main()
            self._run_until_blocked()
            self.updates.reject_unhandled()
        finally:
            _current.reset(token)
            asyncio._set_running_loop(previous)
        return list(self.new_commands)

    def step(self, action: Callable[[], Any]) -> None:
        """Do `action` on the run's loop, then let workflow code go as far as it can (a local
        activity settled in the middle of a workflow task)."""
        previous = asyncio._get_running_loop()
        asyncio._set_running_loop(self.loop)
        token = _current.set(self)
        try:
            action()
            self._run_until_blocked()
        finally:
            _current.reset(token)
            asyncio._set_running_loop(previous)

    def _run_until_blocked(self) -> None:
        while not self.closed:
            self.loop.run_ready()
            if self._task_failure is not None:
                raise self._task_failure
            if self._handler_failure is not None:
                self._close()
                return
            progressed = False
            for fn, future in list(self.conditions):
                if future.done():
                    self.conditions.remove((fn, future))
                    continue
                if fn():
                    future.set_result(True)
                    self.conditions.remove((fn, future))
                    progressed = True
            if not progressed and not self.loop._ready:
                break
        if self.main_task is not None and self.main_task.done() and not self.closed:
            self._close()

    def _on_started(self, event: dict[str, Any]) -> None:
        a = event["attributes"]

        def delta(v: Any) -> timedelta | None:
            return timedelta(seconds=v) if v else None

        self.info = Info(
            namespace=self.namespace,
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            workflow_type=a.get("workflow_type") or self.definition.name,
            task_queue=a.get("task_queue", ""),
            attempt=int(a.get("attempt") or 1),
            start_time=_parse_time(event["event_time"]),
            first_execution_run_id=a.get("first_execution_run_id") or self.run_id,
            continued_run_id=a.get("continued_execution_run_id"),
            parent_workflow_id=a.get("parent_workflow_id"),
            parent_run_id=a.get("parent_run_id"),
            execution_timeout=delta(a.get("workflow_execution_timeout")),
            run_timeout=delta(a.get("workflow_run_timeout")),
            task_timeout=delta(a.get("workflow_task_timeout")),
            memo=a.get("memo"),
            search_attributes=untyped(a.get("search_attributes"), self.search_attribute_types),
            parent=ParentInfo(self.namespace, a.get("parent_run_id") or "", a["parent_workflow_id"])
            if a.get("parent_workflow_id")
            else None,
            cron_schedule=a.get("cron_schedule"),
            retry_policy=RetryPolicy.from_json(a.get("retry_policy")),
            workflow_start_time=_parse_time(event["event_time"]),
            original_execution_run_id=a.get("original_execution_run_id") or self.run_id,
        )
        self._start_input = a.get("input")
        cls = self.definition.cls
        # `@workflow.init`: the constructor takes the run's arguments (checked as run's are).
        init = getattr(cls, "__init__", None)
        self.obj = cls(*self._run_args(init)) if init and self.definition.init_takes_args else cls()
        self.handlers.bind(self.obj)

    def _run_args(self, fn: Callable[..., Any]) -> list[Any]:
        if self.definition.dynamic:
            return [to_raw_values(self._start_input)]
        try:
            return decode_args(fn, self._start_input)
        except TypeError as err:
            raise WorkflowTaskFailure(
                f"the workflow's input does not fit {self.definition.cls.__name__}."
                f"{fn.__name__}: {err}",
                "WORKFLOW_WORKER_UNHANDLED_FAILURE",
                err,
            ) from err

    def _start_main(self) -> None:
        run_fn = self.definition.run_fn
        args = self._run_args(run_fn)
        self.main_task = self.loop.create_task(run_fn(self.obj, *args), name="workflow-run")

    def is_failure_exception(self, err: BaseException) -> bool:
        """Whether `err`, escaping workflow code, fails the workflow (else only the task):
        Temporal's failure errors, timeouts, and the types the workflow or worker names."""
        return isinstance(err, FailureError | builtins.TimeoutError) or isinstance(
            err, self.failure_exception_types
        )

    def _close(self) -> None:
        """The run's code has ended (or a signal handler failed it): emit the close command,
        or raise `WorkflowTaskFailure` when the error is a bug rather than a failure."""
        assert self.main_task is not None
        error = self._handler_failure
        if error is None:
            try:
                result = self.main_task.result()
            except ContinueAsNewError as can:
                self._emit_close(Command(can.command["command_type"], can.command["attributes"]))
                return
            except BaseException as err:
                error = err
            else:
                self._emit_close(
                    Command("COMPLETE_WORKFLOW_EXECUTION", {"result": to_json(result)})
                )
                return
        if isinstance(error, asyncio.CancelledError):
            error = CancelledError(str(error) or "workflow cancelled")
        if self.cancel_requested and is_cancelled_exception(error):
            self._emit_close(Command("CANCEL_WORKFLOW_EXECUTION", {"details": None}))
        elif self.is_failure_exception(error):
            self._emit_close(Command("FAIL_WORKFLOW_EXECUTION", {"failure": to_failure(error)}))
        else:
            raise _task_failure(error)

    def _emit_close(self, command: Command) -> None:
        self.updates.warn_unfinished(command.command_type)
        self._emit(command)
        self.closed = True
        if not self.replaying and command.command_type != "CANCEL_WORKFLOW_EXECUTION":
            self.handlers.warn_at_close()

    # -- commands ---------------------------------------------------------------------------

    def _emit(self, command: Command) -> Command:
        if self.closed:
            return command  # code still running after the close command is not heard
        self.unmatched.append(command)
        self.new_commands.append(command)
        return command

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def add_command(self, command_type: str, attributes: dict[str, Any], future: Any) -> Command:
        return self._emit(Command(command_type, attributes, future=future))

    def patch(self, patch_id: str, *, deprecated: bool) -> bool:
        """`workflow.patched` / `deprecate_patch` (rules in perdure/_patches.py)."""
        use_patch, record = self.patches.decide(patch_id, replaying=self.replaying)
        if record:
            self.add_command("RECORD_MARKER", patch_marker(patch_id, deprecated), None)
            upsert = self.patches.change_version()
            if upsert is not None:
                self._emit(Command("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", upsert, optional=True))
            elif not self.replaying:
                log.warning(
                    "%s not upserted for patch '%s': the value would pass %d bytes",
                    CHANGE_VERSION,
                    patch_id,
                    MAX_CHANGE_VERSION_BYTES,
                )
        return use_patch

    def _withdraw(self, command: Command) -> bool:
        """Drop a command emitted in this activation and not sent yet (scheduled and cancelled
        before the workflow task completed): no command, no event, on every replay alike."""
        if command in self.new_commands and command.event_id is None:
            self.new_commands.remove(command)
            self.unmatched.remove(command)
            command.done = True
            return True
        return False

    def schedule_activity(
        self,
        activity_type: str,
        args: list[Any],
        *,
        task_queue: str | None,
        timeouts: dict[str, float | None],
        retry_policy: RetryPolicy | None,
        cancellation_type: ActivityCancellationType,
        activity_id: str | None,
        result_type: Any,
        flow: dict[str, Any] | None = None,
    ) -> ActivityHandle:
        if not timeouts.get("start_to_close_timeout") and not timeouts.get(
            "schedule_to_close_timeout"
        ):
            raise ValueError("set start_to_close_timeout or schedule_to_close_timeout")
        seq = self._next_seq()
        attributes: dict[str, Any] = {
            "activity_id": activity_id or str(seq),
            "activity_type": activity_type,
            "input": encode_args(args),
            **{k: v for k, v in timeouts.items() if v is not None},
        }
        if task_queue:
            attributes["task_queue"] = task_queue
        if retry_policy is not None:
            attributes["retry_policy"] = retry_policy.to_json()
        if flow:
            attributes.update(flow)  # priority, concurrency_keys
        if self.eager_activity_types is not None and self.eager_activity_types(
            activity_type, task_queue
        ):
            attributes["request_eager_execution"] = True
        command = self._emit(
            Command(
                "SCHEDULE_ACTIVITY_TASK",
                attributes,
                future=self.loop.create_future(),
                result_type=result_type,
                cancellation_type=cancellation_type,
            )
        )
        command.handle = ActivityHandle(self, command)
        return command.handle

    def cancel_activity(self, command: Command) -> None:
        """Cancel a scheduled activity as its cancellation type says (see
        `ActivityCancellationType`); a schedule not sent yet is withdrawn."""
        if command.done:
            return
        kind = command.cancellation_type
        if not self._withdraw(command):
            if kind != ActivityCancellationType.ABANDON:
                self._emit(
                    Command(
                        "REQUEST_CANCEL_ACTIVITY_TASK",
                        {"activity_id": command.attributes["activity_id"]},
                    )
                )
            if kind == ActivityCancellationType.WAIT_CANCELLATION_COMPLETED:
                return  # the history's ACTIVITY_TASK_CANCELED (or other end) settles it
        command.done = True
        command.future.set_exception(
            _activity_cancelled(command, CancelledError("activity canceled"))
        )

    def start_timer(self, delay: float, callback: Any, args: Any, context: Any) -> DurableTimer:
        seq = self._next_seq()
        timer = DurableTimer(self.loop.time() + delay, callback, args, self.loop, context)
        command = self._emit(
            Command(
                "START_TIMER", {"timer_id": str(seq), "start_to_fire_timeout": delay}, timer=timer
            )
        )
        timer.command = command
        return timer

    def cancel_timer(self, timer: DurableTimer) -> None:
        command = timer.command
        assert command is not None
        if command.done or self._withdraw(command):
            return
        command.done = True
        self._emit(Command("CANCEL_TIMER", {"timer_id": command.attributes["timer_id"]}))

    def wait_condition(self, fn: Callable[[], bool]) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        self.conditions.append((fn, future))
        return future

    async def start_child(
        self,
        workflow_type: str,
        args: list[Any],
        *,
        workflow_id: str,
        attributes: dict[str, Any],
        cancellation_type: ChildWorkflowCancellationType,
        result_type: Any,
    ) -> ChildWorkflowHandle:
        self._next_seq()
        attrs = {
            "workflow_id": workflow_id,
            "workflow_type": workflow_type,
            "input": encode_args(args),
            **{k: to_json(v) for k, v in attributes.items() if v is not None},
        }
        start_future = self.loop.create_future()
        command = self._emit(
            Command(
                "START_CHILD_WORKFLOW_EXECUTION",
                attrs,
                future=self.loop.create_future(),
                start_future=start_future,
                result_type=result_type,
                cancellation_type=cancellation_type,
            )
        )
        command.handle = ChildWorkflowHandle(self, command, workflow_id)
        return await start_future

    def cancel_child(self, command: Command) -> None:
        """Cancel a started child as its cancellation type says (see
        `ChildWorkflowCancellationType`)."""
        if command.done:
            return
        kind = command.cancellation_type
        if kind != ChildWorkflowCancellationType.ABANDON:
            waits_for_request = kind == ChildWorkflowCancellationType.WAIT_CANCELLATION_REQUESTED
            request = self.add_command(
                "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION",
                {"workflow_id": command.attributes["workflow_id"], "child_workflow_only": True},
                self.loop.create_future() if waits_for_request else None,
            )
            if waits_for_request:
                # Settled once the child has the request; a failed request means the child
                # has closed, and its close event settles the handle instead.
                def settle(done: asyncio.Future[Any], command: Command = command) -> None:
                    if done.exception() is None:
                        self._child_cancelled(command)

                request.future.add_done_callback(settle)
                return
            if kind == ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED:
                return  # the child's close event settles it
        self._child_cancelled(command)

    def _child_cancelled(self, command: Command) -> None:
        if not command.done:
            command.done = True
            command.future.set_exception(
                _child_failed(command, CancelledError("child workflow canceled"))
            )

    async def signal_external(
        self, workflow_id: str, run_id: str | None, signal_name: str, args: list[Any]
    ) -> None:
        self._next_seq()
        future = self.loop.create_future()
        attrs: dict[str, Any] = {
            "workflow_id": workflow_id,
            "signal_name": signal_name,
            "input": encode_args(args),
        }
        if run_id:
            attrs["run_id"] = run_id
        self._emit(Command("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION", attrs, future=future))
        await future

    async def cancel_external(self, workflow_id: str, run_id: str | None) -> None:
        self._next_seq()
        future = self.loop.create_future()
        attrs: dict[str, Any] = {"workflow_id": workflow_id}
        if run_id:
            attrs["run_id"] = run_id
        self._emit(Command("REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION", attrs, future=future))
        await future

    # -- queries ----------------------------------------------------------------------------

    def query(self, name: str, payload: Any) -> Any:
        """Answer a query from the current state (handlers must not emit commands)."""
        call = self.handlers.query_call(name, payload)
        previous = asyncio._get_running_loop()
        asyncio._set_running_loop(self.loop)
        token = _current.set(self)
        self.read_only = True
        try:
            return to_json(call())
        finally:
            self.read_only = False
            _current.reset(token)
            asyncio._set_running_loop(previous)


def _parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
