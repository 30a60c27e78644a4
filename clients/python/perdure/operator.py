"""Operator controls on a workflow handle: reset, pause and unpause the run, and pause,
unpause, reset or change the options of its pending activities.

Perdure additions: temporalio has no handle methods for these (Temporal offers them through
its CLI and the WorkflowService RPCs only). Mixed into `WorkflowHandle`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perdure.client import Client, WorkflowHandle


class ResetType(StrEnum):
    """Where a reset goes when no event id is given (Temporal's reset types)."""

    FIRST_WORKFLOW_TASK = "FirstWorkflowTask"
    LAST_WORKFLOW_TASK = "LastWorkflowTask"
    LAST_CONTINUED_AS_NEW = "LastContinuedAsNew"
    BUILD_ID = "BuildId"


class ResetReapplyExcludeType(StrEnum):
    SIGNAL = "SIGNAL"
    UPDATE = "UPDATE"


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


class OperatorControls:
    """The operator calls of a `WorkflowHandle` (REST: `POST …/workflows/{id}/reset`,
    `/pause`, `/unpause`, `/activities/pause|unpause|reset|update-options`)."""

    client: Client
    id: str
    run_id: str | None
    _path: str

    async def reset(
        self,
        *,
        reason: str,
        event_id: int | None = None,
        reset_type: ResetType | str | None = None,
        build_id: str | None = None,
        reapply_exclude_types: Sequence[ResetReapplyExcludeType | str] = (),
        request_id: str | None = None,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowHandle:
        """Reset the workflow to a workflow task of this handle's run (the latest run when
        the handle names none): an `event_id` of a WORKFLOW_TASK_COMPLETED/_FAILED/_TIMED_OUT/
        _STARTED event, or a `reset_type`. The open run is terminated with `reason`; answers
        a handle of the new run. `RPCError` (400) for a point that is not a workflow task."""
        r = await self.client.http.call(
            "POST",
            f"{self._path}/reset",
            json={
                "run_id": self.run_id,
                "reason": reason,
                "event_id": event_id,
                "reset_type": str(reset_type) if reset_type is not None else None,
                "build_id": build_id,
                "reset_reapply_exclude_types": [str(t) for t in reapply_exclude_types],
                "identity": self.client.identity,
                "request_id": request_id,
            },
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )
        answer = r.json()
        return self.client.get_workflow_handle(self.id, run_id=answer["run_id"])

    async def pause(self, reason: str | None = None, *, request_id: str | None = None) -> None:
        """Pause the run: events are recorded, no workflow task is dispatched until
        `unpause`; queries and updates are refused meanwhile (`RPCError` 409)."""
        await self._run_call("pause", reason, request_id)

    async def unpause(self, reason: str | None = None, *, request_id: str | None = None) -> None:
        """Unpause the run: what arrived while it was paused goes to the workflow at once."""
        await self._run_call("unpause", reason, request_id)

    async def _run_call(self, action: str, reason: str | None, request_id: str | None) -> None:
        await self.client.http.call(
            "POST",
            f"{self._path}/{action}",
            json={
                "run_id": self.run_id,
                "reason": reason,
                "identity": self.client.identity,
                "request_id": request_id,
            },
        )

    async def _activity_call(
        self,
        action: str,
        activity_id: str | None,
        activity_type: str | None,
        **fields: Any,
    ) -> list[dict[str, Any]]:
        r = await self.client.http.call(
            "POST",
            f"{self._path}/activities/{action}",
            json={
                "run_id": self.run_id,
                "activity_id": activity_id,
                "activity_type": activity_type,
                "match_all": activity_id is None and activity_type is None,
                "identity": self.client.identity,
                **fields,
            },
        )
        activities: list[dict[str, Any]] = r.json()["activities"]
        return activities

    async def pause_activity(
        self,
        activity_id: str | None = None,
        *,
        activity_type: str | None = None,
        reason: str | None = None,
    ) -> list[dict[str, Any]]:
        """Pause pending activities (one by id, all of a type, or every one when neither is
        given): no new attempt is dispatched; an attempt under way that heartbeats is
        cancelled at its next heartbeat (its code sees
        `activity.cancellation_details().paused`). Answers them as `describe` shows them."""
        return await self._activity_call("pause", activity_id, activity_type, reason=reason)

    async def unpause_activity(
        self,
        activity_id: str | None = None,
        *,
        activity_type: str | None = None,
        reset_attempts: bool = False,
        reset_heartbeat: bool = False,
    ) -> list[dict[str, Any]]:
        """Unpause: the next attempt is dispatched at once, keeping the attempt count."""
        return await self._activity_call(
            "unpause",
            activity_id,
            activity_type,
            reset_attempts=reset_attempts,
            reset_heartbeat=reset_heartbeat,
        )

    async def reset_activity(
        self,
        activity_id: str | None = None,
        *,
        activity_type: str | None = None,
        keep_paused: bool = False,
        clear_heartbeat_details: bool = False,
    ) -> list[dict[str, Any]]:
        """Back to attempt 1 (heartbeat details kept unless `clear_heartbeat_details`);
        unpaused unless `keep_paused`."""
        return await self._activity_call(
            "reset",
            activity_id,
            activity_type,
            keep_paused=keep_paused,
            clear_heartbeat_details=clear_heartbeat_details,
        )

    async def update_activity_options(
        self,
        activity_id: str | None = None,
        *,
        activity_type: str | None = None,
        schedule_to_close_timeout: timedelta | None = None,
        schedule_to_start_timeout: timedelta | None = None,
        start_to_close_timeout: timedelta | None = None,
        heartbeat_timeout: timedelta | None = None,
        retry_policy: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Change the timeouts or the retry policy (server JSON form, e.g.
        `{"maximum_attempts": 3}`) of pending activities; what is not given stays."""
        options = {
            "schedule_to_close_timeout": _seconds(schedule_to_close_timeout),
            "schedule_to_start_timeout": _seconds(schedule_to_start_timeout),
            "start_to_close_timeout": _seconds(start_to_close_timeout),
            "heartbeat_timeout": _seconds(heartbeat_timeout),
            "retry_policy": retry_policy,
        }
        return await self._activity_call(
            "update-options",
            activity_id,
            activity_type,
            activity_options={k: v for k, v in options.items() if v is not None},
        )
