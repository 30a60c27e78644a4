"""The ASL interpreter: from a run's history, the commands that move it on.

Its memory is the history: `asl.state_entered` / `asl.state_exited` / `asl.frame_ended`
markers say where each frame (the top level, each Parallel branch, each Map iteration) is and
with what value; activity, timer and their outcomes are found by ids the interpreter derives
from (frame, entry, attempt). Replaying the same history always yields the same commands.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.definitions import choice, intrinsics, paths, processing, resources, templates
from app.definitions.errors import StatesError, runtime
from app.engine.limits import MAX_DURATION
from app.engine.tokens import TaskToken

ENTERED = "asl.state_entered"
EXITED = "asl.state_exited"
FRAME_ENDED = "asl.frame_ended"
DEFAULT_TASK_TIMEOUT = 99999999
Segment = list[Any]  # [state, entry, attempt, index] of the Parallel/Map that owns a frame


@dataclass
class Frame:
    path: list[Segment]
    state: str
    input: Any
    entry: int
    entered_time: str
    ended: bool = False
    output: Any = None
    error: StatesError | None = None
    end_order: int = 0

    @property
    def key(self) -> str:
        return json.dumps(self.path)


@dataclass
class RunInfo:
    run_id: str
    workflow_id: str
    input: Any
    start_time: str
    definition_name: str
    definition_version: int
    namespace_id: str = ""
    # Event id the WORKFLOW_TASK_COMPLETED of this decision will get (task tokens are made from
    # the ids of the events that schedule their activities).
    completed_event_id: int = 0


@dataclass
class History:
    frames: dict[str, Frame] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)  # activity and timer ids in use
    outcomes: dict[str, tuple[bool, Any]] = field(default_factory=dict)
    open_activities: dict[str, int] = field(default_factory=dict)  # id → scheduled event id
    open_timers: set[str] = field(default_factory=set)  # started, not yet fired or canceled
    cancel_requested: set[int] = field(default_factory=set)
    run_cancel_requested: bool = False
    ended_count: int = 0
    children: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → started execution
    # Groups (one attempt of a Parallel or Map) where a frame failed: the rest are given up.
    failed_groups: set[str] = field(default_factory=set)


def group_key(path: list[Segment]) -> str:
    return json.dumps([path[:-1], path[-1][:3]])


def activity_id(frame: Frame, attempt: int) -> str:
    return "asl:" + json.dumps([frame.path, frame.entry, attempt])


def timer_id(frame: Frame, kind: str, attempt: int) -> str:
    return f"asl:{kind}:" + json.dumps([frame.path, frame.entry, attempt])


CHILD_META = "perdure.asl"
TOKEN_PLACEHOLDER = "\u0000asl-task-token:"


def _child_meta(cid: str, name: str, version: int | None, alias: str | None) -> dict[str, Any]:
    """The memo a child run's pin is read from: its definition, version, or alias."""
    meta: dict[str, Any] = {"id": cid, "name": name, "version": version}
    if alias is not None:
        meta["alias"] = alias
    return meta


def _child_error(event_type: str, attributes: dict[str, Any]) -> StatesError:
    failure = attributes.get("failure") or {}
    status = event_type.removeprefix("CHILD_WORKFLOW_EXECUTION_")
    cause = json.dumps(
        {"Status": status, "Error": failure.get("type"), "Cause": failure.get("message")}
    )
    if status == "TIMED_OUT":
        return StatesError("States.Timeout", cause)
    return StatesError("States.TaskFailed", cause)


def _activity_error(event_type: str, attributes: dict[str, Any]) -> StatesError:
    failure = attributes.get("failure") or {}
    if event_type == "ACTIVITY_TASK_TIMED_OUT":
        if failure.get("timeout_type") == "HEARTBEAT":
            return StatesError("States.HeartbeatTimeout", failure.get("message", ""))
        return StatesError("States.Timeout", failure.get("message", ""))
    if event_type == "ACTIVITY_TASK_CANCELED":
        return StatesError("States.TaskFailed", "the activity was canceled")
    return StatesError(failure.get("type") or "States.TaskFailed", failure.get("message") or None)


def replay(events: list[tuple[str, dict[str, Any]]]) -> History:
    """Where every frame is and what has come back, from the history in order."""
    h = History()
    scheduled_ids: dict[int, str] = {}
    event_id = 0
    for event_type, attributes in events:
        event_id += 1
        if event_type == "MARKER_RECORDED":
            name, d = attributes.get("marker_name"), attributes.get("details") or {}
            key = json.dumps(d.get("frame"))
            if name == ENTERED:
                h.frames[key] = Frame(d["frame"], d["state"], d["input"], d["entry"], d["time"])
            elif name == FRAME_ENDED:
                frame = h.frames[key]
                h.ended_count += 1
                frame.ended, frame.end_order = True, h.ended_count
                if "error" in d:
                    frame.error = StatesError(d["error"]["Error"], d["error"].get("Cause"))
                    if frame.path:
                        h.failed_groups.add(group_key(frame.path))
                else:
                    frame.output = d.get("output")
        elif event_type == "ACTIVITY_TASK_SCHEDULED":
            scheduled_ids[event_id] = attributes["activity_id"]
            h.started.add(attributes["activity_id"])
            h.open_activities[attributes["activity_id"]] = event_id
        elif event_type in (
            "ACTIVITY_TASK_COMPLETED",
            "ACTIVITY_TASK_FAILED",
            "ACTIVITY_TASK_TIMED_OUT",
            "ACTIVITY_TASK_CANCELED",
        ):
            aid = scheduled_ids.get(attributes.get("scheduled_event_id", -1))
            if aid is None:
                continue
            h.open_activities.pop(aid, None)
            if event_type == "ACTIVITY_TASK_COMPLETED":
                h.outcomes[aid] = (True, attributes.get("result"))
            else:
                h.outcomes[aid] = (False, _activity_error(event_type, attributes))
        elif event_type == "ACTIVITY_TASK_CANCEL_REQUESTED":
            h.cancel_requested.add(attributes.get("scheduled_event_id", -1))
        elif event_type == "TIMER_STARTED":
            h.started.add(attributes["timer_id"])
            h.open_timers.add(attributes["timer_id"])
        elif event_type == "TIMER_FIRED":
            h.outcomes[attributes["timer_id"]] = (True, None)
            h.open_timers.discard(attributes["timer_id"])
        elif event_type == "TIMER_CANCELED":
            h.open_timers.discard(attributes["timer_id"])
        elif event_type == "WORKFLOW_EXECUTION_CANCEL_REQUESTED":
            h.run_cancel_requested = True
        elif event_type == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
            cid = ((attributes.get("memo") or {}).get(CHILD_META) or {}).get("id")
            if cid:
                scheduled_ids[event_id] = cid
                h.started.add(cid)
        elif event_type.startswith("CHILD_WORKFLOW_EXECUTION_") or (
            event_type == "START_CHILD_WORKFLOW_EXECUTION_FAILED"
        ):
            cid = scheduled_ids.get(attributes.get("initiated_event_id", -1))
            if cid is None:
                continue
            if event_type == "CHILD_WORKFLOW_EXECUTION_STARTED":
                h.children[cid] = attributes.get("workflow_execution") or {}
            elif event_type == "CHILD_WORKFLOW_EXECUTION_COMPLETED":
                h.outcomes[cid] = (True, attributes.get("result"))
            elif event_type == "START_CHILD_WORKFLOW_EXECUTION_FAILED":
                refused = attributes.get("cause") == "CONCURRENCY_LIMIT_EXCEEDED"
                h.outcomes[cid] = (
                    False,
                    StatesError("ConcurrencyLimitExceeded", str(attributes.get("message")))
                    if refused
                    else StatesError(
                        "StepFunctions.ExecutionAlreadyExistsException",
                        f"workflow '{attributes.get('workflow_id')}' is already running",
                    ),
                )
            else:
                h.outcomes[cid] = (False, _child_error(event_type, attributes))
    return h


def _resolve(definition: dict[str, Any], path: list[Segment]) -> dict[str, Any]:
    """The (sub-)machine a frame runs."""
    machine = definition
    for state_name, _entry, _attempt, index in path:
        state = machine["States"][state_name]
        if state["Type"] == "Parallel":
            machine = state["Branches"][index]
        else:
            machine = state.get("ItemProcessor") or state["Iterator"]
    return machine


class Decider:
    def __init__(
        self, definition: dict[str, Any], info: RunInfo, history: History, now: datetime
    ) -> None:
        self.definition = definition
        self.info = info
        self.h = history
        self.now = now
        self.commands: list[dict[str, Any]] = []

    # -- commands -----------------------------------------------------------------------------

    def _marker(self, name: str, details: dict[str, Any]) -> None:
        self.commands.append(
            {
                "command_type": "RECORD_MARKER",
                "attributes": {"marker_name": name, "details": details},
            }
        )

    def _enter(self, path: list[Segment], state: str, value: Any, entry: int) -> Frame:
        time = self.now.isoformat().replace("+00:00", "Z")
        frame = Frame(path, state, value, entry, time)
        self.h.frames[frame.key] = frame
        self._marker(
            ENTERED, {"frame": path, "state": state, "input": value, "entry": entry, "time": time}
        )
        return frame

    def _end(self, frame: Frame, *, output: Any = None, error: StatesError | None = None) -> None:
        self.h.ended_count += 1
        frame.ended, frame.end_order = True, self.h.ended_count
        details: dict[str, Any] = {"frame": frame.path}
        if error is None:
            frame.output = details["output"] = output
        else:
            frame.error = error
            details["error"] = error.as_output()
            if frame.path:
                self.h.failed_groups.add(group_key(frame.path))
        self._marker(FRAME_ENDED, details)

    def _timer(self, frame: Frame, kind: str, attempt: int, seconds: float) -> bool:
        """True once the timer has fired (or was not needed)."""
        tid = timer_id(frame, kind, attempt)
        if tid in self.h.outcomes:
            return True
        if tid not in self.h.started:
            if seconds <= 0:
                return True
            self.h.started.add(tid)
            self.commands.append(
                {
                    "command_type": "START_TIMER",
                    "attributes": {"timer_id": tid, "start_to_fire_timeout": seconds},
                }
            )
        return False

    # -- the run --------------------------------------------------------------------------------

    def decide(self) -> list[dict[str, Any]]:
        if self.h.run_cancel_requested:
            return [{"command_type": "CANCEL_WORKFLOW_EXECUTION", "attributes": {}}]
        root_key = json.dumps([])
        if root_key not in self.h.frames:
            self._enter([], self.definition["StartAt"], self.info.input, 1)
        progressed = True
        while progressed:
            progressed = False
            for frame in list(self.h.frames.values()):
                if self._live(frame) and self._advance(frame):
                    progressed = True
        self._cancel_abandoned_activities()
        self._cancel_abandoned_timers()
        self.commands = [c for c in self.commands if not self._abandoned(c)]
        self._hand_out_tokens()
        root = self.h.frames[root_key]
        if root.ended and root.error is None:
            self.commands.append(
                {
                    "command_type": "COMPLETE_WORKFLOW_EXECUTION",
                    "attributes": {"result": root.output},
                }
            )
        elif root.ended:
            assert root.error is not None
            self.commands.append(
                {
                    "command_type": "FAIL_WORKFLOW_EXECUTION",
                    "attributes": {
                        "failure": {"message": root.error.cause, "type": root.error.error}
                    },
                }
            )
        return self.commands

    def _parent(self, frame: Frame) -> Frame | None:
        return self.h.frames.get(json.dumps(frame.path[:-1])) if frame.path else None

    def _siblings(self, parent: Frame, segment: Segment) -> list[Frame]:
        prefix = segment[:3]
        return [
            f
            for f in self.h.frames.values()
            if len(f.path) == len(parent.path) + 1
            and f.path[: len(parent.path)] == parent.path
            and f.path[-1][:3] == prefix
        ]

    def _live(self, frame: Frame) -> bool:
        if frame.ended:
            return False
        return self._group_live(frame)

    def _group_live(self, frame: Frame) -> bool:
        """A frame's group (its parent's attempt) is still what its parent waits for."""
        if not frame.path:
            return True
        parent = self._parent(frame)
        segment = frame.path[-1]
        if parent is None or not self._live(parent):
            return False
        if parent.state != segment[0] or parent.entry != segment[1]:
            return False
        return group_key(frame.path) not in self.h.failed_groups

    def _abandoned(self, command: dict[str, Any]) -> bool:
        """A task or timer asked for earlier in this decision by a frame that has since been
        given up (a sibling branch failed): not worth starting."""
        attributes = command["attributes"]
        if command["command_type"] == "SCHEDULE_ACTIVITY_TASK":
            path, entry, _ = json.loads(attributes["activity_id"][4:])
        elif command["command_type"] == "START_CHILD_WORKFLOW_EXECUTION":
            path, entry, _ = json.loads(attributes["memo"][CHILD_META]["id"][4:])
        elif command["command_type"] == "START_TIMER":
            path, entry, _ = json.loads(attributes["timer_id"].split(":", 2)[2])
        else:
            return False
        frame = self.h.frames.get(json.dumps(path))
        return frame is None or not self._live(frame) or frame.entry != entry

    def _hand_out_tokens(self) -> None:
        """Activities that hand out their task token go first in the decision, so the events
        that schedule them get known ids; the token replaces its placeholder in the input."""
        tokened = [c for c in self.commands if c.get("token")]
        others = [c for c in self.commands if not c.get("token")]
        for index, command in enumerate(tokened):
            del command["token"]
            attributes = command["attributes"]
            token = TaskToken(
                "a",
                self.info.namespace_id,
                self.info.run_id,
                self.info.completed_event_id + 1 + index,
                1,
            ).encode()
            placeholder = TOKEN_PLACEHOLDER + attributes["activity_id"]
            attributes["input"] = _replace_text(attributes["input"], placeholder, token)
        self.commands = tokened + others

    def _cancel_abandoned_activities(self) -> None:
        for aid, scheduled_event_id in sorted(self.h.open_activities.items()):
            if scheduled_event_id in self.h.cancel_requested:
                continue
            path, entry, attempt = json.loads(aid[4:])
            frame = self.h.frames.get(json.dumps(path))
            if frame is not None and self._live(frame) and frame.entry == entry:
                continue
            self.h.cancel_requested.add(scheduled_event_id)
            self.commands.append(
                {
                    "command_type": "REQUEST_CANCEL_ACTIVITY_TASK",
                    "attributes": {"scheduled_event_id": scheduled_event_id},
                }
            )

    def _cancel_abandoned_timers(self) -> None:
        """Waits and retry pauses of frames given up (a sibling branch failed) need not fire."""
        for tid in sorted(self.h.open_timers):
            path, entry, _attempt = json.loads(tid.split(":", 2)[2])
            frame = self.h.frames.get(json.dumps(path))
            if frame is not None and self._live(frame) and frame.entry == entry:
                continue
            self.h.open_timers.discard(tid)
            self.commands.append({"command_type": "CANCEL_TIMER", "attributes": {"timer_id": tid}})

    def context(self, frame: Frame, attempt: int = 1, extra: dict[str, Any] | None = None) -> Any:
        ctx: dict[str, Any] = {
            "Execution": {
                "Id": self.info.run_id,
                "Name": self.info.workflow_id,
                "Input": self.info.input,
                "StartTime": self.info.start_time,
            },
            "State": {
                "Name": frame.state,
                "EnteredTime": frame.entered_time,
                "RetryCount": attempt - 1,
            },
            "StateMachine": {
                "Id": f"{self.info.definition_name}:{self.info.definition_version}",
                "Name": self.info.definition_name,
            },
        }
        if frame.path:
            owner = frame.path[-1]
            parent = self._parent(frame)
            if parent is not None:
                owner_state = _resolve(self.definition, parent.path)["States"][owner[0]]
                if owner_state["Type"] == "Map":
                    items = self._map_items(parent, owner_state)
                    ctx["Map"] = {"Item": {"Index": owner[3], "Value": items[owner[3]]}}
        if extra:
            ctx.update(extra)
        return ctx

    # -- one frame ----------------------------------------------------------------------------

    def _advance(self, frame: Frame) -> bool:
        """Move the frame on as far as it can go now; True when it changed."""
        machine = _resolve(self.definition, frame.path)
        state = machine["States"][frame.state]
        try:
            return getattr(self, "_" + state["Type"].lower())(frame, state)
        except StatesError as err:
            self._fail_state(frame, state, err)
            return True

    def _next(self, frame: Frame, state: dict[str, Any], output: Any) -> None:
        self._marker(EXITED, {"frame": frame.path, "state": frame.state, "output": output})
        if state.get("End") or state["Type"] == "Succeed":
            self._end(frame, output=output)
            return
        entered = self._enter(frame.path, state["Next"], output, frame.entry + 1)
        frame.state, frame.input, frame.entry = entered.state, output, entered.entry
        frame.entered_time = entered.entered_time

    def _fail_state(self, frame: Frame, state: dict[str, Any], err: StatesError) -> None:
        catcher = processing.catcher_for(state, err)
        if catcher is None:
            self._marker(
                EXITED, {"frame": frame.path, "state": frame.state, "error": err.as_output()}
            )
            self._end(frame, error=err)
            return
        try:
            output = processing.caught_output(frame.input, catcher, err)
        except StatesError as unplaceable:  # the Catcher's ResultPath does not fit the input
            self._end(frame, error=unplaceable)
            return
        self._next(frame, {"Type": "Pass", "Next": catcher["Next"]}, output)

    def _finish(self, frame: Frame, state: dict[str, Any], result: Any, ctx: Any) -> bool:
        self._next(
            frame, state, processing.steps_after_result(state, frame.input, result, ctx)["output"]
        )
        return True

    def _retry_or_fail(
        self, frame: Frame, state: dict[str, Any], failures: list[StatesError], attempt: int
    ) -> bool | None:
        """None: go on with the next attempt; otherwise whether the frame changed."""
        delay = processing.retry_delay(
            state, failures, f"{self.info.run_id}{frame.key}{frame.entry}"
        )
        if delay is None:
            self._fail_state(frame, state, failures[-1])
            return True
        if not self._timer(frame, "retry", attempt, delay):
            return False
        return None

    def _pass(self, frame: Frame, state: dict[str, Any]) -> bool:
        ctx = self.context(frame)
        effective = processing.parameters(
            state, processing.input_path(state, frame.input, ctx), ctx
        )
        result = state["Result"] if "Result" in state else effective
        placed = processing.result_path(state, frame.input, result)
        self._next(frame, state, processing.output_path(state, placed, ctx))
        return True

    def _succeed(self, frame: Frame, state: dict[str, Any]) -> bool:
        ctx = self.context(frame)
        effective = processing.input_path(state, frame.input, ctx)
        self._next(frame, state, processing.output_path(state, effective, ctx))
        return True

    def _fail(self, frame: Frame, state: dict[str, Any]) -> bool:
        error, cause = fail_values(state, frame.input)
        err = StatesError(error, cause)
        self._marker(EXITED, {"frame": frame.path, "state": frame.state, "error": err.as_output()})
        self._end(frame, error=err)
        return True

    def _choice(self, frame: Frame, state: dict[str, Any]) -> bool:
        ctx = self.context(frame)
        effective = processing.input_path(state, frame.input, ctx)
        target = next_of_choice(state, effective, ctx)
        output = processing.output_path(state, effective, ctx)
        self._next(frame, {"Type": "Choice", "Next": target}, output)
        return True

    def _wait(self, frame: Frame, state: dict[str, Any]) -> bool:
        ctx = self.context(frame)
        effective = processing.input_path(state, frame.input, ctx)
        tid = timer_id(frame, "wait", 1)
        if tid not in self.h.started and tid not in self.h.outcomes:
            seconds = wait_seconds(
                state,
                effective,
                datetime.fromisoformat(frame.entered_time.replace("Z", "+00:00")),
                self.now,
            )
        else:
            seconds = 1.0
        if not self._timer(frame, "wait", 1, seconds):
            return False
        self._next(frame, state, processing.output_path(state, effective, ctx))
        return True

    def _task(self, frame: Frame, state: dict[str, Any]) -> bool:
        target = resources.parse(state["Resource"])
        failures: list[StatesError] = []
        attempt = 1
        while True:
            aid = activity_id(frame, attempt)
            extra = {"Task": {"Token": TOKEN_PLACEHOLDER + aid}}
            ctx = self.context(frame, attempt, extra)
            if aid not in self.h.started:
                task_input = processing.parameters(
                    state, processing.input_path(state, frame.input, ctx), ctx
                )
                self.h.started.add(aid)
                if isinstance(target, resources.ChildRun):
                    self.commands.append(self._start_child(target, aid, task_input))
                else:
                    self.commands.append(
                        self._schedule(state, target, aid, task_input, frame.input)
                    )
                return False
            if isinstance(target, resources.ChildRun) and target.wait is None:
                if aid in self.h.children:
                    self.h.outcomes.setdefault(aid, (True, self._execution(aid)))
            elif isinstance(target, resources.ChildRun) and self.h.outcomes.get(aid, (False,))[0]:
                self.h.outcomes[aid] = (
                    True,
                    self._sync_output(aid, target, task_input_of(self, frame, state, ctx)),
                )
            if aid not in self.h.outcomes:
                return False
            ok, value = self.h.outcomes[aid]
            if ok:
                return self._finish(frame, state, value, ctx)
            failures.append(value)
            decided = self._retry_or_fail(frame, state, failures, attempt)
            if decided is not None:
                return decided
            attempt += 1

    def _execution(self, cid: str) -> dict[str, Any]:
        started = self.h.children.get(cid) or {}
        return {
            "ExecutionArn": f"{started.get('workflow_id')}:{started.get('run_id')}",
            "StartDate": self.now.isoformat().replace("+00:00", "Z"),
        }

    def _sync_output(self, cid: str, target: resources.ChildRun, task_input: Any) -> Any:
        result = self.h.outcomes[cid][1]
        return {
            **self._execution(cid),
            "Input": json.dumps((task_input or {}).get("Input")),
            "Output": result if target.wait == "sync2" else json.dumps(result),
            "Status": "SUCCEEDED",
        }

    def _start_child(self, target: resources.ChildRun, cid: str, task_input: Any) -> dict[str, Any]:
        if not isinstance(task_input, dict):
            raise runtime("startExecution needs Parameters with StateMachineArn")
        try:
            name, version, alias = resources.state_machine(task_input.get("StateMachineArn"))
        except ValueError as exc:
            raise runtime(str(exc)) from None
        digest = hashlib.sha256(f"{self.info.run_id}{cid}".encode()).hexdigest()[:16]
        workflow_id = task_input.get("Name") or f"{self.info.workflow_id}-{name}-{digest}"
        return {
            "command_type": "START_CHILD_WORKFLOW_EXECUTION",
            "attributes": {
                "workflow_id": str(workflow_id),
                "workflow_type": name,
                "input": task_input.get("Input"),
                # A child that is waited for ends with its parent; one that is not, does not.
                "parent_close_policy": "TERMINATE" if target.wait else "ABANDON",
                "memo": {CHILD_META: _child_meta(cid, name, version, alias)},
            },
        }

    def _schedule(
        self,
        state: dict[str, Any],
        target: resources.Activity | resources.HttpInvoke,
        aid: str,
        task_input: Any,
        raw: Any,
    ) -> dict[str, Any]:
        timeout = state.get("TimeoutSeconds", DEFAULT_TASK_TIMEOUT)
        if "TimeoutSecondsPath" in state:
            timeout = _positive(paths.read(state["TimeoutSecondsPath"], raw), "TimeoutSecondsPath")
        heartbeat = state.get("HeartbeatSeconds")
        if "HeartbeatSecondsPath" in state:
            heartbeat = _positive(
                paths.read(state["HeartbeatSecondsPath"], raw), "HeartbeatSecondsPath"
            )
        if isinstance(target, resources.HttpInvoke):
            target = resources.Activity(resources.HTTP_QUEUE, resources.HTTP_TYPE)
        attributes: dict[str, Any] = {
            "activity_id": aid,
            "activity_type": target.activity_type,
            "task_queue": target.task_queue,
            "input": task_input,
            "schedule_to_close_timeout": timeout,
            # Retry is the state's own (ASL Retry), so the engine makes one attempt only.
            "retry_policy": {"maximum_attempts": 1},
        }
        if heartbeat:
            attributes["heartbeat_timeout"] = heartbeat
        command: dict[str, Any] = {
            "command_type": "SCHEDULE_ACTIVITY_TASK",
            "attributes": attributes,
        }
        if target.token:
            command["token"] = True
        return command

    # -- Parallel and Map ------------------------------------------------------------------------

    def _children(self, frame: Frame, attempt: int) -> list[Frame]:
        segment = [frame.state, frame.entry, attempt]
        found = [f for f in self._siblings(frame, [*segment, 0])]
        return sorted(found, key=lambda f: f.path[-1][3])

    def _branches(self, frame: Frame, state: dict[str, Any], count: int, inputs: Any) -> bool:
        """Run `count` child frames per attempt (Retry/Catch for the whole state); True when
        the frame changed. `inputs(index, ctx)` gives a child's input."""
        failures: list[StatesError] = []
        attempt = 1
        limit = int(state.get("MaxConcurrency", 0) or 0)
        while True:
            ctx = self.context(frame, attempt)
            children = self._children(frame, attempt)
            failed = sorted((c for c in children if c.error is not None), key=lambda c: c.end_order)
            if failed:
                failures.append(failed[0].error)  # type: ignore[arg-type]  # a failed branch always carries its error
                decided = self._retry_or_fail(frame, state, failures, attempt)
                if decided is not None:
                    return decided
                attempt += 1
                continue
            if len(children) == count and all(c.ended for c in children):
                return self._finish(frame, state, [c.output for c in children], ctx)
            running = sum(1 for c in children if not c.ended)
            changed = False
            for index in range(len(children), count):
                if limit and running >= limit:
                    break
                machine_path = [*frame.path, [frame.state, frame.entry, attempt, index]]
                machine = _resolve(self.definition, machine_path)
                self._enter(machine_path, machine["StartAt"], inputs(index, ctx), 1)
                running += 1
                changed = True
            return changed

    def _parallel(self, frame: Frame, state: dict[str, Any]) -> bool:
        def branch_input(index: int, ctx: Any) -> Any:
            return processing.parameters(state, processing.input_path(state, frame.input, ctx), ctx)

        return self._branches(frame, state, len(state["Branches"]), branch_input)

    def _map_items(self, frame: Frame, state: dict[str, Any]) -> list[Any]:
        ctx = self.context(frame)
        effective = processing.input_path(state, frame.input, ctx)
        items = paths.read(state.get("ItemsPath", "$"), effective, ctx)
        if not isinstance(items, list):
            raise runtime(f"ItemsPath '{state.get('ItemsPath', '$')}' does not select an array")
        return items

    def _map(self, frame: Frame, state: dict[str, Any]) -> bool:
        items = self._map_items(frame, state)
        selector = state.get("ItemSelector", state.get("Parameters"))

        def item_input(index: int, ctx: Any) -> Any:
            if selector is None:
                return items[index]
            item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": items[index]}}}
            effective = processing.input_path(state, frame.input, ctx)
            return templates.render(selector, effective, item_ctx)

        return self._branches(frame, state, len(items), item_input)


# -- shared with test-state ---------------------------------------------------------------------


def task_input_of(decider: Decider, frame: Frame, state: dict[str, Any], ctx: Any) -> Any:
    try:
        return processing.parameters(state, processing.input_path(state, frame.input, ctx), ctx)
    except StatesError:
        return None


def _replace_text(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace_text(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_text(v, old, new) for v in value]
    return value


def _positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise runtime(f"{what} must select a positive number")
    if value > MAX_DURATION:
        raise runtime(f"{what} must select at most {MAX_DURATION} seconds (ten years)")
    return float(value)


def fail_values(state: dict[str, Any], raw: Any) -> tuple[str | None, str | None]:
    """A Fail state's Error and Cause (ErrorPath/CausePath: a path or an intrinsic function);
    None for one the state does not give."""

    def value(field: str) -> str | None:
        path = state.get(f"{field}Path")
        if path is None:
            return state.get(field)
        found = (
            intrinsics.evaluate(path, raw, None)
            if path.startswith("States.")
            else paths.read(path, raw)
        )
        return None if found is None else str(found)

    return value("Error"), value("Cause")


def next_of_choice(state: dict[str, Any], effective: Any, ctx: Any) -> str:
    for rule in state.get("Choices", []):
        if choice.evaluate(rule, effective, ctx):
            return rule["Next"]
    if "Default" in state:
        return state["Default"]
    raise StatesError("States.NoChoiceMatched", "no Choice rule matched and there is no Default")


def wait_seconds(state: dict[str, Any], effective: Any, entered: datetime, now: datetime) -> float:
    if "Seconds" in state:
        return float(state["Seconds"])
    if "SecondsPath" in state:
        value = paths.read(state["SecondsPath"], effective)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise runtime("SecondsPath must select a non-negative number")
        if value > MAX_DURATION:
            raise runtime(f"SecondsPath must select at most {MAX_DURATION} seconds (ten years)")
        return float(value)
    text = (
        state["Timestamp"]
        if "Timestamp" in state
        else paths.read(state["TimestampPath"], effective)
    )
    when = choice.parse_timestamp(text)
    if when is None:
        raise runtime(f"'{text}' is not an RFC 3339 timestamp (0001-9999, in UTC)")
    seconds = (when - now).total_seconds()
    if seconds > MAX_DURATION:
        raise runtime(f"'{text}' lies more than ten years ahead (the longest wait)")
    return seconds
