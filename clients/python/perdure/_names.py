"""How workflows, activities and handlers are named on the wire: a `@workflow.defn` class or
its run method, an `@activity.defn` callable, a signal, query or update method, or a plain
string. Shared by the client and by workflow code, so neither imports the other."""

from __future__ import annotations

from typing import Any

from perdure.converter import return_hint


def workflow_name(workflow: Any) -> str:
    """The workflow type of a `@workflow.defn` class, its run method, or a plain string."""
    if isinstance(workflow, str):
        return workflow
    defn = getattr(workflow, "__perdure_workflow__", None)
    if defn is None:
        owner = getattr(workflow, "__perdure_run_of__", None)
        defn = getattr(owner, "__perdure_workflow__", None) if owner else None
    if defn is None:
        raise TypeError(f"{workflow!r} is not a @workflow.defn class or its run method")
    return defn.name


def _run_hint(workflow: Any) -> Any:
    if isinstance(workflow, str):
        return None
    run = getattr(workflow, "__perdure_run_fn__", None) or workflow
    return return_hint(run)


def _handler_name(handler: Any) -> str:
    if isinstance(handler, str):
        return handler
    name = getattr(handler, "__perdure_handler_name__", None)
    if name is None:
        raise TypeError(f"{handler!r} is not a @workflow.signal/@workflow.query method")
    return name


def _activity_name(activity: Any) -> str:
    if isinstance(activity, str):
        return activity
    defn_ = getattr(activity, "__perdure_activity__", None)
    if defn_ is None and isinstance(activity, type):
        # A class whose `__call__` is the activity (Temporal's `*_activity_class`).
        defn_ = getattr(activity.__call__, "__perdure_activity__", None)
    if defn_ is None:
        raise TypeError(f"{activity!r} is not an @activity.defn function or a name")
    if defn_.dynamic:
        raise TypeError("a dynamic activity is called by the name of the type it serves")
    return str(defn_.name)
