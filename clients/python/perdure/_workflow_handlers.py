"""Signal and query handlers set while a workflow runs (Temporal's `workflow.set_signal_handler`
and friends); re-exported by `perdure.workflow`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from perdure._workflow_context import _Runtime


class UnfinishedSignalHandlersWarning(RuntimeWarning):
    """The workflow finished while signal handlers (policy WARN_AND_ABANDON) were running."""


def _instance() -> _Runtime:
    return _Runtime.current()


def get_signal_handler(name: str) -> Callable[..., Any] | None:
    """The handler of signal `name` (a method bound to the workflow, or one set at run time)."""
    return _instance().handlers.signal_handler(name)


def set_signal_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Handle signal `name` with `handler` (its arguments as sent); None removes it. Signals of
    that name that arrived without a handler (buffered) are delivered to it at once, in order."""
    _instance().handlers.set_signal(name, handler)


def get_dynamic_signal_handler() -> Callable[..., Any] | None:
    """The handler of signals without a handler of their own."""
    return _instance().handlers.signal_handler(None)


def set_dynamic_signal_handler(handler: Callable[..., Any] | None) -> None:
    """Handle every signal without a handler of its own with `handler(name, args)` (args a
    `Sequence[RawValue]`); every buffered signal is delivered to it at once."""
    _instance().handlers.set_signal(None, handler)


def get_query_handler(name: str) -> Callable[..., Any] | None:
    """The handler of query `name`."""
    return _instance().handlers.query_handler(name)


def set_query_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Answer query `name` with `handler` (sync; its arguments as sent); None removes it."""
    _instance().handlers.set_query(name, handler)


def get_dynamic_query_handler() -> Callable[..., Any] | None:
    """The handler of queries without a handler of their own."""
    return _instance().handlers.query_handler(None)


def set_dynamic_query_handler(handler: Callable[..., Any] | None) -> None:
    """Answer every query without a handler of its own with `handler(name, args)`."""
    _instance().handlers.set_query(None, handler)
