"""Task `Resource` URIs and what serves each.

- `perdure:activity:<task_queue>:<activity_type>` — an activity for HTTP polling workers.
- `arn:aws:states:<region>:<account>:activity:<name>` — a Step Functions activity: served on
  task queue `<name>` as activity type `<name>`.
- `perdure:callback.waitForTaskToken` (or any `arn:aws:states:::<service>:<action>.waitForTaskToken`,
  whose service call is not made) — wait until someone completes the task token placed where
  `$$.Task.Token` is referenced, through the activity-task API.
- `arn:aws:states:::http:invoke` — an HTTP request the server makes (Parameters ApiEndpoint,
  Method, Headers, QueryParameters, RequestBody).
- `arn:aws:states:::states:startExecution` (`.sync`, `.sync:2`) — a child run of a stored
  definition named by Parameters.StateMachineArn (`<name>`, `<name>:<version>`, or a Step
  Functions state machine ARN ending in `stateMachine:<name>[:<version>]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Internal task queues that no worker polls.
CALLBACK_QUEUE = "perdure:callbacks"
HTTP_QUEUE = "perdure:http"
CALLBACK_TYPE = "perdure.callback"
HTTP_TYPE = "perdure.http"

_ARN_ACTIVITY = re.compile(r"^arn:aws:states:[^:]*:[^:]*:activity:([^:]+)$")
_ARN_SERVICE_TOKEN = re.compile(r"^arn:aws:states:::[A-Za-z0-9-]+:[A-Za-z0-9]+\.waitForTaskToken$")
_STATE_MACHINE = re.compile(
    r"^(?:arn:aws:states:[^:]*:[^:]*:stateMachine:)?([A-Za-z0-9_.\-]+)(?::([A-Za-z0-9_\-]+))?$"
)


@dataclass(frozen=True)
class Activity:
    task_queue: str
    activity_type: str
    token: bool = False  # the task token is handed out; someone completes it


@dataclass(frozen=True)
class HttpInvoke:
    pass


@dataclass(frozen=True)
class ChildRun:
    wait: str | None  # None: fire and forget; 'sync' (Output as text) or 'sync2' (as JSON)


Target = Activity | HttpInvoke | ChildRun


def parse(resource: object) -> Target:
    """What a Resource names; ValueError when no form matches."""
    if not isinstance(resource, str):
        raise ValueError("Resource must be a string")
    if resource.startswith("perdure:activity:"):
        queue, _, activity_type = resource[len("perdure:activity:") :].partition(":")
        if queue and activity_type:
            return Activity(queue, activity_type)
        raise ValueError("write perdure:activity:<task_queue>:<activity_type>")
    m = _ARN_ACTIVITY.match(resource)
    if m:
        return Activity(m.group(1), m.group(1))
    if resource == "perdure:callback.waitForTaskToken" or _ARN_SERVICE_TOKEN.match(resource):
        return Activity(CALLBACK_QUEUE, CALLBACK_TYPE, token=True)
    if resource == "arn:aws:states:::http:invoke":
        return HttpInvoke()
    if resource == "arn:aws:states:::states:startExecution":
        return ChildRun(None)
    if resource == "arn:aws:states:::states:startExecution.sync":
        return ChildRun("sync")
    if resource == "arn:aws:states:::states:startExecution.sync:2":
        return ChildRun("sync2")
    raise ValueError(
        f"unsupported Resource '{resource}': use perdure:activity:<task_queue>:<activity_type>, "
        "arn:aws:states:<region>:<account>:activity:<name>, perdure:callback.waitForTaskToken, "
        "arn:aws:states:::http:invoke or arn:aws:states:::states:startExecution[.sync|.sync:2]"
    )


def state_machine(value: object) -> tuple[str, int | None, str | None]:
    """(definition name, version or None, alias or None) of a StateMachineArn parameter: a
    qualifier of digits is a version (`order:3`), any other an alias (`order:prod`)."""
    m = _STATE_MACHINE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"StateMachineArn {value!r} names no stored definition")
    qualifier = m.group(2)
    if qualifier is None:
        return m.group(1), None, None
    if qualifier.isdigit():
        return m.group(1), int(qualifier), None
    return m.group(1), None, qualifier
