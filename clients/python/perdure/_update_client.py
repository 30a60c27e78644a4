"""Workflow Update from a client (Temporal's names): `WorkflowHandle.execute_update`,
`start_update` → `WorkflowUpdateHandle`, `get_update_handle(_for)`, `WorkflowUpdateStage`,
`WorkflowUpdateFailedError`, `WorkflowUpdateRPCTimeoutOrCancelledError`, and update-with-start
(`WithStartWorkflowOperation`, `Client.start_update_with_start_workflow`,
`Client.execute_update_with_start_workflow`).

The server answers an update call when the stage asked for is reached or its wait (30 s)
ends; as Temporal's client does, the call is repeated with the same update id (the server
deduplicates it) until the stage is reached or `rpc_timeout` passes.
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

from perdure._http import segment
from perdure._names import _run_hint
from perdure.common import (
    ARG_UNSET,
    RetryPolicy,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    arg_or_args,
)
from perdure.converter import from_json, return_hint, to_json
from perdure.exceptions import PerdureError, from_failure

if TYPE_CHECKING:
    from perdure.client import Client, WorkflowHandle

# The server's longest wait for one call (seconds): it answers with the stage reached then.
SERVER_WAIT = 30.0
# A connection lost while an update call waits is retried this many times (same update id:
# the server never handles it twice).
TRANSPORT_RETRIES = 5


class WorkflowUpdateStage(enum.IntEnum):
    """How far an update has gone (Temporal's UpdateWorkflowExecutionLifecycleStage)."""

    ADMITTED = 1
    ACCEPTED = 2
    COMPLETED = 3


class WorkflowUpdateFailedError(PerdureError):
    """The update was rejected by its validator, or its handler failed; `cause` says why."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__("Workflow update failed")
        self._cause = cause

    @property
    def cause(self) -> BaseException:
        return self._cause


class WorkflowUpdateRPCTimeoutOrCancelledError(PerdureError):
    """The call's `rpc_timeout` passed (or it was cancelled) before the update reached the
    stage asked for; the update may still be handled."""

    def __init__(self) -> None:
        super().__init__("Timeout or cancellation waiting for update")


def _update_name(update: Any) -> str:
    if isinstance(update, str):
        return update
    name = getattr(update, "__perdure_handler_name__", None)
    if name is None or not getattr(update, "__perdure_update__", False):
        raise TypeError(f"{update!r} is not a @workflow.update method")
    return str(name)


def _result_hint(update: Any, result_type: Any) -> Any:
    if result_type is not None or isinstance(update, str):
        return result_type
    try:
        return return_hint(update)
    except Exception:
        return None


class WorkflowUpdateHandle:
    """An update sent to a workflow: its `id`, and `result()` once it completes."""

    def __init__(
        self,
        client: Client,
        id: str,  # noqa: A002 - Temporal's name
        name: str,
        workflow_id: str,
        *,
        workflow_run_id: str | None = None,
        result_type: Any = None,
        known_outcome: dict[str, Any] | None = None,
    ) -> None:
        self._client = client
        self._id = id
        self._name = name
        self._workflow_id = workflow_id
        self._workflow_run_id = workflow_run_id
        self._result_type = result_type
        self._known_outcome = known_outcome

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    @property
    def workflow_run_id(self) -> str | None:
        return self._workflow_run_id

    async def result(
        self,
        *,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """The update's result, waiting for it; WorkflowUpdateFailedError when it was
        rejected or failed; WorkflowUpdateRPCTimeoutOrCancelledError past `rpc_timeout`."""
        outcome = self._known_outcome
        deadline = _deadline(rpc_timeout)
        while outcome is None:
            params: dict[str, Any] = {"wait": _wait_left(deadline)}
            if self._workflow_run_id:
                params["run_id"] = self._workflow_run_id
            r = await _call(
                self._client,
                "GET",
                f"/workflows/{segment(self._workflow_id)}/updates/{segment(self._id)}",
                params=params,
                rpc_metadata=rpc_metadata,
            )
            answer = r.json()
            if answer["stage"] == "COMPLETED":
                outcome = answer["outcome"]
            elif deadline is not None and time.monotonic() >= deadline:
                raise WorkflowUpdateRPCTimeoutOrCancelledError()
        self._known_outcome = outcome
        if "failure" in outcome:
            raise WorkflowUpdateFailedError(from_failure(outcome["failure"]))
        return from_json(outcome.get("success"), self._result_type)


def _deadline(rpc_timeout: timedelta | None) -> float | None:
    return None if rpc_timeout is None else time.monotonic() + rpc_timeout.total_seconds()


def _wait_left(deadline: float | None) -> float:
    if deadline is None:
        return SERVER_WAIT
    return max(0.0, min(SERVER_WAIT, deadline - time.monotonic()))


async def _call(client: Client, method: str, path: str, **kw: Any) -> httpx.Response:
    """One update call (safe to repeat: the update id deduplicates), retried while the
    connection fails."""
    for attempt in range(TRANSPORT_RETRIES + 1):
        try:
            return await client.http.call(method, path, long=True, **kw)
        except httpx.TransportError:
            if attempt >= TRANSPORT_RETRIES:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _update_body(
    client: Client,
    args: list[Any],
    update_id: str,
    stage: WorkflowUpdateStage,
    deadline: float | None,
) -> dict[str, Any]:
    if stage == WorkflowUpdateStage.ADMITTED:
        raise ValueError("wait_for_stage ADMITTED is not supported (as in Temporal)")
    return {
        "args": [to_json(a) for a in args],
        "update_id": update_id,
        "wait_for_stage": stage.name,
        "wait": _wait_left(deadline),
        "identity": client.identity,
    }


async def _send_until(
    client: Client,
    path: str,
    body: dict[str, Any],
    stage: WorkflowUpdateStage,
    deadline: float | None,
    rpc_metadata: Mapping[str, str] | None,
    answer_of: Any = None,
) -> dict[str, Any]:
    """POST the update until the server says it reached `stage` (Temporal's client loops the
    same way on a long-poll expiry)."""
    while True:
        (body["update"] if answer_of else body)["wait"] = _wait_left(deadline)
        r = await _call(client, "POST", path, json=body, rpc_metadata=rpc_metadata)
        answer = r.json()
        update = answer_of(answer) if answer_of else answer
        if WorkflowUpdateStage[update["stage"]] >= stage:
            return answer
        if deadline is not None and time.monotonic() >= deadline:
            raise WorkflowUpdateRPCTimeoutOrCancelledError()


# -- WorkflowHandle methods ------------------------------------------------------------------


async def start_update(
    self: WorkflowHandle,
    update: Any,
    arg: Any = ARG_UNSET,
    *,
    wait_for_stage: WorkflowUpdateStage,
    args: Sequence[Any] = (),
    id: str | None = None,  # noqa: A002 - Temporal's name
    result_type: Any = None,
    rpc_metadata: Mapping[str, str] | None = None,
    rpc_timeout: timedelta | None = None,
) -> WorkflowUpdateHandle:
    """Send an update (a `@workflow.update` method or its name) and wait until it reaches
    `wait_for_stage` (ACCEPTED or COMPLETED); its handle gives the result (a validator's
    rejection is raised by `result()` as WorkflowUpdateFailedError)."""
    name = _update_name(update)
    update_id = id or str(uuid.uuid4())
    deadline = _deadline(rpc_timeout)
    body = _update_body(self.client, arg_or_args(arg, args), update_id, wait_for_stage, deadline)
    if self.run_id:
        body["run_id"] = self.run_id
    if self.first_execution_run_id:
        body["first_execution_run_id"] = self.first_execution_run_id
    answer = await _send_until(
        self.client,
        f"/workflows/{segment(self.id)}/update/{segment(name)}",
        body,
        wait_for_stage,
        deadline,
        rpc_metadata,
    )
    return _handle_of(self.client, answer, name, _result_hint(update, result_type))


def _handle_of(
    client: Client, answer: dict[str, Any], name: str, hint: Any
) -> WorkflowUpdateHandle:
    ref = answer["update_ref"]
    outcome = answer.get("outcome")  # a rejection too: `result()` raises it
    return WorkflowUpdateHandle(
        client,
        ref["update_id"],
        name,
        ref["workflow_execution"]["workflow_id"],
        workflow_run_id=ref["workflow_execution"]["run_id"],
        result_type=hint,
        known_outcome=outcome,
    )


async def execute_update(
    self: WorkflowHandle,
    update: Any,
    arg: Any = ARG_UNSET,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,  # noqa: A002 - Temporal's name
    result_type: Any = None,
    rpc_metadata: Mapping[str, str] | None = None,
    rpc_timeout: timedelta | None = None,
) -> Any:
    """Send an update and wait for its result (WorkflowUpdateFailedError if it was rejected
    or failed)."""
    handle = await start_update(
        self,
        update,
        arg,
        wait_for_stage=WorkflowUpdateStage.COMPLETED,
        args=args,
        id=id,
        result_type=result_type,
        rpc_metadata=rpc_metadata,
        rpc_timeout=rpc_timeout,
    )
    return await handle.result(rpc_metadata=rpc_metadata, rpc_timeout=rpc_timeout)


def get_update_handle(
    self: WorkflowHandle,
    id: str,  # noqa: A002 - Temporal's name
    *,
    workflow_run_id: str | None = None,
    result_type: Any = None,
) -> WorkflowUpdateHandle:
    """A handle on an update sent before (by its id)."""
    return WorkflowUpdateHandle(
        self.client,
        id,
        "",
        self.id,
        workflow_run_id=workflow_run_id or self.run_id,
        result_type=result_type,
    )


def get_update_handle_for(
    self: WorkflowHandle,
    update: Any,
    id: str,  # noqa: A002 - Temporal's name
    *,
    workflow_run_id: str | None = None,
) -> WorkflowUpdateHandle:
    """`get_update_handle` typed by the update method's return hint."""
    handle = get_update_handle(
        self, id, workflow_run_id=workflow_run_id, result_type=_result_hint(update, None)
    )
    handle._name = _update_name(update)
    return handle


# -- update-with-start -----------------------------------------------------------------------


class WithStartWorkflowOperation:
    """The start half of update-with-start (Temporal's): what `start_workflow` would take,
    `id_conflict_policy` required. After the call, `workflow_handle()` gives the run's handle."""

    def __init__(
        self,
        workflow: Any,
        arg: Any = ARG_UNSET,
        *,
        id: str,  # noqa: A002 - Temporal's name
        task_queue: str,
        id_conflict_policy: WorkflowIDConflictPolicy,
        args: Sequence[Any] = (),
        result_type: Any = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        search_attributes: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        if id_conflict_policy is None:
            raise ValueError("WithStartWorkflowOperation needs an id_conflict_policy")
        self.workflow = workflow
        self.args = arg_or_args(arg, args)
        self.id = id
        self.task_queue = task_queue
        self.id_conflict_policy = WorkflowIDConflictPolicy(id_conflict_policy)
        self.result_type = result_type
        self.timeouts = {
            "execution_timeout": execution_timeout,
            "run_timeout": run_timeout,
            "task_timeout": task_timeout,
        }
        self.id_reuse_policy = id_reuse_policy
        self.retry_policy = retry_policy
        self.memo = memo
        self.search_attributes = search_attributes
        self.request_id = request_id or str(uuid.uuid4())
        self._handle: asyncio.Future[WorkflowHandle] = asyncio.get_running_loop().create_future()

    async def workflow_handle(self) -> WorkflowHandle:
        """The handle of the run the operation started or found (once the call has run)."""
        return await self._handle


async def start_update_with_start_workflow(
    self: Client,
    update: Any,
    arg: Any = ARG_UNSET,
    *,
    start_workflow_operation: WithStartWorkflowOperation,
    wait_for_stage: WorkflowUpdateStage,
    args: Sequence[Any] = (),
    id: str | None = None,  # noqa: A002 - Temporal's name
    result_type: Any = None,
    rpc_metadata: Mapping[str, str] | None = None,
    rpc_timeout: timedelta | None = None,
) -> WorkflowUpdateHandle:
    """Start the workflow (or take its running run, as the operation's conflict policy says)
    and send it the update, in one request; wait until the update reaches `wait_for_stage`.
    Not atomic (Temporal's documented rule): a run this starts stays started even if the
    update is rejected. The same call again (same update id, same request id) answers the
    same."""
    op = start_workflow_operation
    name = _update_name(update)
    update_id = id or str(uuid.uuid4())
    deadline = _deadline(rpc_timeout)
    body = self._start_body(
        op.workflow,
        op.args,
        op.task_queue,
        op.timeouts,
        op.id_reuse_policy,
        op.retry_policy,
        op.memo,
        op.search_attributes,
    )
    body["id_conflict_policy"] = str(op.id_conflict_policy)
    body["request_id"] = op.request_id
    body["update"] = _update_body(self, arg_or_args(arg, args), update_id, wait_for_stage, deadline)
    try:
        answer = await _send_until(
            self,
            f"/workflows/{segment(op.id)}/update-with-start/{segment(name)}",
            body,
            wait_for_stage,
            deadline,
            rpc_metadata,
            answer_of=lambda a: a["update"],
        )
    except BaseException as err:
        if not op._handle.done():
            op._handle.set_exception(err)
        raise
    if not op._handle.done():
        op._handle.set_result(
            self.get_workflow_handle(
                op.id,
                run_id=answer["run_id"],
                result_type=op.result_type or _run_hint(op.workflow),
            )
        )
    return _handle_of(self, answer["update"], name, _result_hint(update, result_type))


async def execute_update_with_start_workflow(
    self: Client,
    update: Any,
    arg: Any = ARG_UNSET,
    *,
    start_workflow_operation: WithStartWorkflowOperation,
    args: Sequence[Any] = (),
    id: str | None = None,  # noqa: A002 - Temporal's name
    result_type: Any = None,
    rpc_metadata: Mapping[str, str] | None = None,
    rpc_timeout: timedelta | None = None,
) -> Any:
    """`start_update_with_start_workflow` waiting for the update's result."""
    handle = await start_update_with_start_workflow(
        self,
        update,
        arg,
        start_workflow_operation=start_workflow_operation,
        wait_for_stage=WorkflowUpdateStage.COMPLETED,
        args=args,
        id=id,
        result_type=result_type,
        rpc_metadata=rpc_metadata,
        rpc_timeout=rpc_timeout,
    )
    return await handle.result(rpc_metadata=rpc_metadata, rpc_timeout=rpc_timeout)
