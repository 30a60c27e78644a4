"""What a workflow run knows about itself (Temporal's `workflow.Info`, `ParentInfo`,
`RootInfo`); re-exported by `perdure.workflow`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from perdure._workflow_context import _Runtime
from perdure.common import RetryPolicy


def _instance() -> _Runtime:
    return _Runtime.current()


@dataclass(frozen=True)
class ParentInfo:
    """The parent of a child workflow run."""

    namespace: str
    run_id: str
    workflow_id: str


@dataclass(frozen=True)
class RootInfo:
    """The root of a chain of child workflows."""

    run_id: str
    workflow_id: str


# Temporal's server suggests continue-as-new past 4 Ki events or 4 MiB of history
# (limit.historyCount.suggestContinueAsNew, limit.historySize.suggestContinueAsNew).
SUGGEST_CONTINUE_AS_NEW_EVENTS = 4 * 1024
SUGGEST_CONTINUE_AS_NEW_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Info:
    """What a workflow run knows about itself (Temporal's `workflow.Info`, plus Perdure's
    `parent_workflow_id` / `parent_run_id` beside `parent`)."""

    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    start_time: datetime
    first_execution_run_id: str
    continued_run_id: str | None
    parent_workflow_id: str | None
    parent_run_id: str | None
    execution_timeout: timedelta | None
    run_timeout: timedelta | None
    task_timeout: timedelta | None
    memo: Any
    search_attributes: dict[str, Any]
    parent: ParentInfo | None = None
    root: RootInfo | None = None
    cron_schedule: str | None = None
    retry_policy: RetryPolicy | None = None
    workflow_start_time: datetime | None = None
    original_execution_run_id: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)

    @property
    def raw_memo(self) -> dict[str, Any]:
        """The memo as its fields (plain JSON values)."""
        return dict(self.memo) if isinstance(self.memo, dict) else {}

    def get_current_history_length(self) -> int:
        """Events in this run's history as of the current workflow task."""
        return int(_instance().last_event_id)

    def get_current_history_size(self) -> int:
        """An estimate of this run's history size in bytes (its events as JSON)."""
        return int(_instance().history_bytes)

    def is_target_worker_deployment_version_changed(self) -> bool:
        """True when this run is pinned and its deployment now sends it to another version
        (the server's `target_worker_deployment_version_changed` on the current task): a
        long-lived pinned workflow may continue-as-new with
        `initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE`."""
        return bool(getattr(_instance(), "target_version_changed", False))

    def is_continue_as_new_suggested(self) -> bool:
        """True when the server suggests it on the current workflow task (e.g. 90 % of the
        updates a run may take), or once the history is long enough that a new run should take
        over (Temporal's server thresholds: 4 Ki events or 4 MiB)."""
        return (
            bool(getattr(_instance(), "continue_as_new_suggested", False))
            or self.get_current_history_length() >= SUGGEST_CONTINUE_AS_NEW_EVENTS
            or self.get_current_history_size() >= SUGGEST_CONTINUE_AS_NEW_BYTES
        )
