"""Operator controls on a workflow handle: reset, pause and unpause the run.

Perdure additions: temporalio has no handle methods for these (Temporal offers them through
its CLI and the WorkflowService RPCs only). Mixed into `WorkflowHandle`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

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


class OperatorControls:
    """The operator calls of a `WorkflowHandle` (REST: `POST …/workflows/{id}/reset`,
    `/pause`, `/unpause`)."""

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
        from perdure.client import WorkflowHandle

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
        return WorkflowHandle(self.client, self.id, run_id=answer["run_id"])

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
