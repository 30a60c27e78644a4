"""One run's signal and query handlers: those its class declares, those set while it runs
(`workflow.set_signal_handler`, dynamic ones), the signals that arrived before a handler
existed (buffered, as Temporal does, not dropped), and the handlers still running."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perdure._operations import _task_failure
from perdure._updates import HandlerUnfinishedPolicy
from perdure._workflow_handlers import UnfinishedSignalHandlersWarning
from perdure.converter import ArgumentCountError, decode_args, to_raw_values

if TYPE_CHECKING:
    from perdure._runtime import WorkflowInstance

log = logging.getLogger("perdure.worker")

# Temporal's warning text (TMPRL1102), so that searches for it find this case too.
UNFINISHED_SIGNALS = (
    "[TMPRL1102] Workflow finished while signal handlers are still running. This may have "
    "interrupted work that the signal handler was doing. You can wait for all update and "
    "signal handlers to complete by using `await workflow.wait_condition(lambda: "
    "workflow.all_handlers_finished())`. Alternatively, if both you and the clients sending "
    "the signal are okay with interrupting running handlers when the workflow finishes, then "
    "you can disable this warning via the signal handler decorator: "
    "`@workflow.signal(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)`. "
    "The following signals were unfinished (and warnings were not disabled for their "
    "handler): "
)


@dataclass(frozen=True)
class Handler:
    """A callable handler; a dynamic one (name None) takes `(name, Sequence[RawValue])`."""

    fn: Callable[..., Any]
    dynamic: bool
    unfinished_policy: HandlerUnfinishedPolicy = HandlerUnfinishedPolicy.WARN_AND_ABANDON


class Handlers:
    """The handler tables of one run (bound to its workflow object once it exists)."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self.signals: dict[str | None, Handler] = {}
        self.queries: dict[str | None, Handler] = {}
        self.bound = False
        # Signals without a handler, by name, in arrival order: Temporal keeps them until a
        # handler is set (`set_signal_handler`, `set_dynamic_signal_handler`).
        self.buffered: dict[str, list[Any]] = {}
        # Signal handlers running now: name and unfinished policy, by task.
        self.running: dict[asyncio.Task[Any], tuple[str, HandlerUnfinishedPolicy]] = {}

    def bind(self, obj: Any) -> None:
        """Bind the class's handlers to the run's object."""
        definition = self.instance.definition
        for name, fn in definition.signals.items():
            policy = getattr(fn, "__perdure_unfinished_policy__", None)
            self.signals[name] = Handler(
                types.MethodType(fn, obj),
                name is None,
                policy or HandlerUnfinishedPolicy.WARN_AND_ABANDON,
            )
        for name, fn in definition.queries.items():
            self.queries[name] = Handler(types.MethodType(fn, obj), name is None)
        self.bound = True

    # -- signals ----------------------------------------------------------------------------

    def signal_handler(self, name: str | None) -> Callable[..., Any] | None:
        found = self.signals.get(name)
        return found.fn if found else None

    def set_signal(self, name: str | None, fn: Callable[..., Any] | None) -> None:
        """Set (or remove, with None) a handler; deliver the buffered signals it now takes."""
        if fn is None:
            self.signals.pop(name, None)
            return
        self.signals[name] = Handler(fn, name is None)
        if name is not None:
            waiting = [(name, payload) for payload in self.buffered.pop(name, [])]
        else:
            waiting = [(n, p) for n, payloads in self.buffered.items() for p in payloads]
            self.buffered.clear()
        for signal_name, payload in waiting:
            self._run_signal(self.signals[name], signal_name, payload)

    def deliver_signal(self, name: str, payload: Any) -> None:
        """Run the handler of `name` (else the dynamic one), or buffer the signal."""
        handler = self.signals.get(name) or self.signals.get(None)
        if handler is None:
            self.buffered.setdefault(name, []).append(payload)
            return
        self._run_signal(handler, name, payload)

    def _run_signal(self, handler: Handler, name: str, payload: Any) -> None:
        inst = self.instance
        if handler.dynamic:
            args: list[Any] = [name, to_raw_values(payload)]
        else:
            try:
                args = decode_args(handler.fn, payload)
            except ArgumentCountError as err:
                # Temporal calls the handler with the arguments as sent: the call fails the task.
                inst._task_failure = _task_failure(err)
                return
            except TypeError as err:
                log.warning(
                    "workflow %s: signal '%s' dropped, its input does not fit: %s",
                    inst.workflow_id,
                    name,
                    err,
                )
                return

        async def run_handler() -> None:
            try:
                outcome = handler.fn(*args)
                if asyncio.iscoroutine(outcome):
                    await outcome
            except asyncio.CancelledError:
                raise
            except BaseException as err:
                # As Temporal: a failure exception fails the workflow, anything else the task.
                if inst.is_failure_exception(err):
                    inst._handler_failure = err
                else:
                    inst._task_failure = _task_failure(err)

        task = inst.loop.create_task(run_handler(), name=f"signal-{name}")
        self.running[task] = (name, handler.unfinished_policy)
        # workflow.all_handlers_finished (perdure/_updates.py) counts them with the updates.
        inst.signal_handlers_running = len(self.running)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.running.pop(task, None)
        self.instance.signal_handlers_running = len(self.running)

    def warn_at_close(self) -> None:
        """At the run's end (first execution only): Temporal's warning about signal handlers
        still running, and a warning naming signals that never found a handler."""
        unfinished = collections.Counter(
            name
            for name, policy in self.running.values()
            if policy == HandlerUnfinishedPolicy.WARN_AND_ABANDON
        )
        if unfinished:
            listed = [{"name": n, "count": c} for n, c in unfinished.most_common()]
            warnings.warn(
                UnfinishedSignalHandlersWarning(UNFINISHED_SIGNALS + json.dumps(listed)),
                stacklevel=1,
            )
        if self.buffered:
            counts = {name: len(payloads) for name, payloads in self.buffered.items()}
            log.warning(
                "workflow %s finished with signals no handler took (buffered, then dropped): %s",
                self.instance.workflow_id,
                counts,
            )

    # -- queries ----------------------------------------------------------------------------

    def query_handler(self, name: str | None) -> Callable[..., Any] | None:
        found = self.queries.get(name)
        return found.fn if found else None

    def set_query(self, name: str | None, fn: Callable[..., Any] | None) -> None:
        if fn is None:
            self.queries.pop(name, None)
        else:
            self.queries[name] = Handler(fn, name is None)

    def query_call(self, name: str, payload: Any) -> Callable[[], Any]:
        """The call that answers query `name` (KeyError when nothing handles it)."""
        definition = self.instance.definition
        table: dict[str | None, Any] = self.queries if self.bound else dict(definition.queries)
        handler = table.get(name) or table.get(None)
        if handler is None:
            known = ", ".join(sorted(n for n in table if n is not None)) or "none"
            raise KeyError(f"workflow {definition.name} has no query '{name}' (known: {known})")
        if not self.bound:
            raise RuntimeError("the workflow has not started yet")
        if handler.dynamic:
            raw = to_raw_values(payload)
            return lambda: handler.fn(name, raw)
        args = decode_args(handler.fn, payload)
        return lambda: handler.fn(*args)
