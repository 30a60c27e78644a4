"""Task `Resource` URIs and what serves each.

- `perdure:activity:<task_queue>:<activity_type>` — an activity for HTTP polling workers.
- `arn:aws:states:<region>:<account>:activity:<name>` — a Step Functions activity: served on
  task queue `<name>` as activity type `<name>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARN_ACTIVITY = re.compile(r"^arn:aws:states:[^:]*:[^:]*:activity:([^:]+)$")


@dataclass(frozen=True)
class Activity:
    task_queue: str
    activity_type: str


def parse(resource: object) -> Activity:
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
    raise ValueError(
        f"unsupported Resource '{resource}': use perdure:activity:<task_queue>:<activity_type> "
        "or arn:aws:states:<region>:<account>:activity:<name>"
    )
