"""Workflow Update inside workflow code (Temporal's names): `@workflow.update` and its
validator, `set_update_handler`, `set_dynamic_update_handler`, `current_update_info`,
`HandlerUnfinishedPolicy`, `all_handlers_finished`, and the part of the runtime that receives
update requests from workflow tasks and answers them with protocol messages.

Delivery follows the server's protocol (docs/messages.md): a request arrives as a message
with a workflow task; the validator runs (first delivery only, never on replay); a rejection
is a message and leaves no event; an acceptance and the handler's response are messages each
placed by a PROTOCOL_MESSAGE command. On replay, the requests come back from the
WORKFLOW_EXECUTION_UPDATE_ACCEPTED events and are handled again at the same point.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perdure._operations import Command, _task_failure
from perdure._workflow_context import _Runtime
from perdure.converter import ArgumentCountError, decode_args, to_json
from perdure.exceptions import to_failure

if TYPE_CHECKING:
    from perdure._runtime import WorkflowInstance

log = logging.getLogger("perdure.worker")

UPDATE_TYPE = "type.googleapis.com/temporal.api.update.v1."
ACCEPTED_EVENT = "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"


class HandlerUnfinishedPolicy(enum.Enum):
    """What to do when the workflow finishes while this handler still runs (Temporal's)."""

    WARN_AND_ABANDON = 1
    ABANDON = 2


@dataclass(frozen=True)
class UpdateInfo:
    """The update the current handler (or validator) is running for."""

    id: str
    name: str


@dataclass
class UpdateHandler:
    """An update handler: its function, optional validator, and unfinished policy."""

    name: str | None  # None: the dynamic handler (receives the name first)
    fn: Callable[..., Any]
    validator: Callable[..., Any] | None = None
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON
    bound: bool = False  # set_update_handler's callables take no `self`


_current_update: contextvars.ContextVar[UpdateInfo | None] = contextvars.ContextVar(
    "perdure_update", default=None
)


# -- decorators -----------------------------------------------------------------------------


def update(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    dynamic: bool = False,
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON,
) -> Any:
    """Mark a method (sync or async) that handles an update of its name (or `name`); its
    return value is the update's result, a `FailureError` it raises the update's failure.
    `@<method>.validator` marks a sync method with the same arguments that raises to reject
    the update before it is accepted (it must not change the workflow's state). `dynamic`:
    handles updates of any name without a handler of their own (it receives the name, then
    the arguments as a sequence)."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__perdure_update__ = True  # type: ignore[attr-defined]  # a marker set on the decorated function or class
        f.__perdure_handler_name__ = None if dynamic else (name or f.__name__)  # type: ignore[attr-defined]  # a marker set on the decorated function or class
        f.__perdure_unfinished_policy__ = unfinished_policy  # type: ignore[attr-defined]  # a marker set on the decorated function or class
        f.__perdure_validator__ = None  # type: ignore[attr-defined]  # a marker set on the decorated function or class

        def validator(v: Callable[..., Any]) -> Callable[..., Any]:
            f.__perdure_validator__ = v  # type: ignore[attr-defined]  # a marker set on the decorated function or class
            return v

        f.validator = validator  # type: ignore[attr-defined]  # a marker set on the decorated function or class
        return f

    return wrap(fn) if fn is not None else wrap


def collect_handlers(cls: type) -> dict[str | None, UpdateHandler]:
    """The `@workflow.update` methods of a workflow class, by update name (None: dynamic)."""
    found: dict[str | None, UpdateHandler] = {}
    for klass in reversed(cls.__mro__):
        for attr in vars(klass).values():
            if getattr(attr, "__perdure_update__", False):
                found[attr.__perdure_handler_name__] = UpdateHandler(
                    attr.__perdure_handler_name__,
                    attr,
                    attr.__perdure_validator__,
                    attr.__perdure_unfinished_policy__,
                )
    return found


def _runtime() -> UpdateRuntime:
    return _Runtime.current().updates


def set_update_handler(
    name: str | None,
    handler: Callable[..., Any] | None,
    *,
    validator: Callable[..., Any] | None = None,
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON,
) -> None:
    """Handle updates of `name` with `handler` from now on (None removes it); the handler and
    validator are plain callables (no `self`). Requests that arrived before any handler was
    set wait for one, as in Temporal, until the current workflow task ends."""
    updates = _runtime()
    if handler is None:
        updates.handlers.pop(name, None)
        return
    updates.handlers[name] = UpdateHandler(name, handler, validator, unfinished_policy, bound=True)
    updates.handler_set()


def set_dynamic_update_handler(
    handler: Callable[..., Any] | None,
    *,
    validator: Callable[..., Any] | None = None,
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON,
) -> None:
    """Handle updates that have no handler of their own: `handler(name, args)`."""
    set_update_handler(None, handler, validator=validator, unfinished_policy=unfinished_policy)


def current_update_info() -> UpdateInfo | None:
    """The update whose handler or validator is running (None outside one)."""
    return _current_update.get()


def all_handlers_finished() -> bool:
    """True when no update or signal handler is running: wait on it before returning
    (`await workflow.wait_condition(workflow.all_handlers_finished)`) so that no caller is
    left without an answer."""
    instance = _Runtime.current()
    return instance.updates.running == 0 and instance.signal_handlers_running == 0


# -- the runtime side ----------------------------------------------------------------------


@dataclass
class _Running:
    info: UpdateInfo
    policy: HandlerUnfinishedPolicy


class UpdateRuntime:
    """One run's updates: requests to deliver in the coming activation, handlers running, and
    the protocol messages to send with the workflow task's completion."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self.handlers: dict[str | None, UpdateHandler] = dict(
            getattr(instance.definition, "updates", None) or {}
        )
        # Requests of replayed activations (from ACCEPTED events), and of the task at hand.
        self.incoming: list[tuple[dict[str, Any], bool]] = []  # (request message, validate)
        self.requested: list[tuple[dict[str, Any], bool]] = []
        self.outgoing: list[dict[str, Any]] = []
        self.in_progress: dict[str, _Running] = {}
        # Requests without a handler yet: delivered when one is set, else rejected when the
        # activation ends.
        self.unhandled: list[tuple[dict[str, Any], bool]] = []

    @property
    def running(self) -> int:
        return len(self.in_progress)

    def receive(self, messages: Sequence[dict[str, Any]]) -> None:
        """The Request messages of the workflow task about to be answered (validated)."""
        for message in messages:
            body = message.get("body") or {}
            if str(body.get("@type", "")).endswith("Request"):
                self.requested.append((message, True))

    def replay_accepted(self, events: Sequence[dict[str, Any]], started_event_id: int) -> None:
        """Before replaying the activation of workflow task `started_event_id`: the updates it
        accepted (their ACCEPTED events follow it, before the next task starts), delivered
        again without validation."""
        for event in events:
            if event["event_type"] == "WORKFLOW_TASK_STARTED":
                break
            if event["event_type"] != ACCEPTED_EVENT:
                continue
            a = event.get("attributes") or {}
            if a.get("accepted_request_sequencing_event_id") != started_event_id - 1:
                continue
            request = a.get("accepted_request") or {}
            update_id = a.get("protocol_instance_id") or request.get("meta", {}).get("update_id")
            message = {
                "id": a.get("accepted_request_message_id") or f"{update_id}/request",
                "protocol_instance_id": update_id,
                "event_id": started_event_id - 1,
                "body": request,
            }
            self.incoming.append((message, False))

    def take_messages(self) -> list[dict[str, Any]]:
        """The messages to send with the completion (rejections and placed ones)."""
        messages, self.outgoing = self.outgoing, []
        return messages

    def deliver(self, *, replaying: bool) -> None:
        """Deliver this activation's requests: validate, accept or reject, start handlers.
        The task's own requests wait for its activation (the last, never a replayed one)."""
        incoming, self.incoming = self.incoming, []
        if not replaying:
            incoming, self.requested = incoming + self.requested, []
        for message, validate in incoming:
            self._deliver(message, validate=validate)

    def _deliver(self, message: dict[str, Any], *, validate: bool) -> None:
        body = message.get("body") or {}
        request_input = body.get("input") or {}
        name = request_input.get("name") or ""
        update_id = message["protocol_instance_id"]
        args = request_input.get("args") or []
        handler = self.handlers.get(name)
        dynamic = False
        if handler is None:
            handler = self.handlers.get(None)
            dynamic = handler is not None
        info = UpdateInfo(update_id, name)
        if handler is None:
            # The workflow may set a handler later in this activation (Temporal buffers it).
            self.unhandled.append((message, validate))
            return
        try:
            call_args: list[Any] = [name, args] if dynamic else decode_args(handler.fn, args)
        except (ArgumentCountError, TypeError) as err:
            self._reject(message, to_failure(err))
            return
        if validate and handler.validator is not None:
            token = _current_update.set(info)
            try:
                self._call(handler, handler.validator, call_args)
            except Exception as err:
                self._reject(message, to_failure(err))
                return
            finally:
                _current_update.reset(token)
        self._accept(message)
        self.in_progress[update_id] = _Running(info, handler.unfinished_policy)
        self.instance.loop.create_task(
            self._run(handler, call_args, info), name=f"update-{name}-{update_id}"
        )

    def handler_set(self) -> None:
        """A handler was set: the requests waiting for one try again."""
        waiting, self.unhandled = self.unhandled, []
        for message, validate in waiting:
            self._deliver(message, validate=validate)

    def reject_unhandled(self) -> None:
        """The activation ended: requests still without a handler are rejected."""
        waiting, self.unhandled = self.unhandled, []
        known = sorted(n for n in self.handlers if n is not None)
        for message, _ in waiting:
            name = ((message.get("body") or {}).get("input") or {}).get("name")
            # Temporal's Python SDK's words and error type.
            missing = RuntimeError(
                f"Update handler for '{name}' expected but not found, and there is no dynamic "
                f"handler. known updates: [{' '.join(known)}]"
            )
            self._reject(message, to_failure(missing))

    def _call(self, handler: UpdateHandler, fn: Callable[..., Any], args: list[Any]) -> Any:
        if handler.bound:
            return fn(*args)
        return fn(self.instance.obj, *args)

    async def _run(self, handler: UpdateHandler, args: list[Any], info: UpdateInfo) -> None:
        _current_update.set(info)  # this task's own context
        try:
            outcome = self._call(handler, handler.fn, args)
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
        except asyncio.CancelledError as err:
            if self.instance.closed:
                return
            self._respond(info.id, failure=to_failure(err))
        except BaseException as err:
            # As Temporal: a failure exception fails the update, anything else the task.
            if self.instance.is_failure_exception(err):
                self._respond(info.id, failure=to_failure(err))
            else:
                self.instance._task_failure = _task_failure(err)
        else:
            self._respond(info.id, success=to_json(outcome))
        finally:
            self.in_progress.pop(info.id, None)

    # -- messages ------------------------------------------------------------------------

    def _reject(self, message: dict[str, Any], failure: dict[str, Any]) -> None:
        if self.instance.replaying:
            return  # never on replay: only accepted updates come back from history
        update_id = message["protocol_instance_id"]
        self.outgoing.append(
            {
                "id": f"{update_id}/reject",
                "protocol_instance_id": update_id,
                "body": {
                    "@type": UPDATE_TYPE + "Rejection",
                    "rejected_request_message_id": message["id"],
                    "rejected_request_sequencing_event_id": message.get("event_id"),
                    "rejected_request": _request(message),
                    "failure": failure,
                },
            }
        )

    def _accept(self, message: dict[str, Any]) -> None:
        update_id = message["protocol_instance_id"]
        self._place(
            {
                "id": f"{update_id}/accept",
                "protocol_instance_id": update_id,
                "body": {
                    "@type": UPDATE_TYPE + "Acceptance",
                    "accepted_request_message_id": message["id"],
                    "accepted_request_sequencing_event_id": message.get("event_id"),
                    "accepted_request": _request(message),
                },
            }
        )

    def _respond(self, update_id: str, *, success: Any = None, failure: Any = None) -> None:
        outcome = {"failure": failure} if failure is not None else {"success": success}
        self._place(
            {
                "id": f"{update_id}/complete",
                "protocol_instance_id": update_id,
                "body": {
                    "@type": UPDATE_TYPE + "Response",
                    "meta": {"update_id": update_id},
                    "outcome": outcome,
                },
            }
        )

    def _place(self, message: dict[str, Any]) -> None:
        """The message goes with the completion, placed where its command stands."""
        if self.instance.closed:
            return  # the run's close command was emitted: nothing after it is heard
        self.instance._emit(Command("PROTOCOL_MESSAGE", {"message_id": message["id"]}))
        if not self.instance.replaying:  # a replayed one only matches its recorded event
            self.outgoing.append(message)

    def warn_unfinished(self, command_type: str) -> None:
        """The workflow is finishing with handlers still running: Temporal's warning, for
        those whose policy asks for it (never on replay)."""
        if self.instance.replaying or command_type == "CANCEL_WORKFLOW_EXECUTION":
            return
        left = [
            r.info
            for r in self.in_progress.values()
            if r.policy is HandlerUnfinishedPolicy.WARN_AND_ABANDON
        ]
        if not left:
            return
        listed = ", ".join(f"{{'name': '{u.name}', 'id': '{u.id}'}}" for u in left)
        log.warning(
            "[TMPRL1102] Workflow %s finished while update handlers are still running. This "
            "may have interrupted work that the update handler was doing, and the client "
            "that sent the update will receive a 'workflow execution already completed' "
            "error instead of the update result. You can wait for all update and signal "
            "handlers to complete by using `await workflow.wait_condition(lambda: "
            "workflow.all_handlers_finished())`. Alternatively, if both you and the clients "
            "sending the update are okay with interrupting running handlers when the workflow "
            "finishes, and causing clients to receive errors, then you can disable this "
            "warning via the update handler decorator: "
            "`@workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)`. "
            "The following updates were unfinished (and warnings were not disabled for their "
            "handler): [%s]",
            self.instance.workflow_id,
            listed,
        )


def _request(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (message.get("body") or {}).items() if k != "@type"}
