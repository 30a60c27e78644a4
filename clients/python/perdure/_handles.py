"""What a client holds on a workflow and on an activity left running: `WorkflowHandle`
(result, describe, signal, query, cancel, terminate, history) and `AsyncActivityHandle`
(re-exported by `perdure.client`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from perdure import _codec as codec
from perdure import _update_client
from perdure._http import segment
from perdure._names import _handler_name
from perdure._versioning import VersioningOverride
from perdure.common import ARG_UNSET, arg_or_args, seconds
from perdure.converter import encode_args, from_json, return_hint, to_json
from perdure.description import WorkflowExecutionDescription
from perdure.exceptions import (
    ApplicationError,
    AsyncActivityCancelledError,
    QueryTimeoutError,
    RPCError,
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    from_failure,
    to_failure,
)
from perdure.history import WorkflowHistory
from perdure.operator import OperatorControls

if TYPE_CHECKING:
    from perdure.client import Client


SelfType = TypeVar("SelfType")
ReturnType = TypeVar("ReturnType")


class WorkflowHandle(OperatorControls, Generic[SelfType, ReturnType]):
    """A workflow (and optionally one run of it) the client can wait on, signal, query…
    Typed as Temporal's: `WorkflowHandle[MyWorkflow, int]` gives `result() -> int`.

    Every call takes Temporal's `rpc_metadata` (extra HTTP headers) and `rpc_timeout`."""

    def __init__(
        self,
        client: Client,
        workflow_id: str,
        *,
        run_id: str | None = None,
        result_run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: Any = None,
    ) -> None:
        self.client = client
        self.id = workflow_id
        self.run_id = run_id
        # The run `result()` starts following from (Temporal's `result_run_id`).
        self.result_run_id = result_run_id or run_id
        self.first_execution_run_id = first_execution_run_id
        self.result_type = result_type
        self._path = f"/workflows/{segment(workflow_id)}"

    async def result(
        self,
        *,
        follow_runs: bool = True,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> ReturnType:
        """Wait for the workflow's outcome, checked against the result type (`TypeError` when
        it does not fit); `WorkflowFailureError` unless it completed. Without `follow_runs`
        only this run counts: `WorkflowContinuedAsNewError` if it continued as new."""
        if self.client.result_wait is None:
            return await self._result(follow_runs, rpc_metadata, rpc_timeout)
        # A time-skipping test environment releases its clock lock while the test waits.
        async with self.client.result_wait():
            return await self._result(follow_runs, rpc_metadata, rpc_timeout)

    async def _result(
        self,
        follow_runs: bool,
        rpc_metadata: Mapping[str, str] | None,
        rpc_timeout: timedelta | None,
    ) -> ReturnType:
        params: dict[str, Any] = {"wait": 30}
        start_run = (
            self.result_run_id
            if not follow_runs
            else self.first_execution_run_id or self.result_run_id
        )
        if start_run:
            params["run_id"] = start_run
        local = self.client.local_outcomes.watch(start_run)
        if local is not None:
            completed, result = await asyncio.shield(local)
            if completed:
                return from_json(await self._decode(result), self.result_type)
        while True:
            r = await self.client.http.call(
                "GET",
                f"{self._path}/result",
                params=params,
                long=True,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
            outcome = r.json()
            status = outcome["status"]
            if status == "RUNNING":
                continue
            if not follow_runs and start_run and outcome["run_id"] != start_run:
                # The server follows the chain; this run itself ended before the last one.
                outcome = await self._outcome_of(start_run)
                status = outcome["status"]
            if status == "COMPLETED":
                return from_json(await self._decode(outcome.get("result")), self.result_type)
            if status == "CONTINUED_AS_NEW":
                raise WorkflowContinuedAsNewError(outcome.get("continued_to_run_id"))
            failure = await codec.decode_failure(
                self.client.data_converter.payload_codec, outcome.get("failure")
            )
            raise WorkflowFailureError(cause=from_failure(failure), status=status)

    # Workflow Update (perdure/_update_client.py).
    start_update = _update_client.start_update
    execute_update = _update_client.execute_update
    get_update_handle = _update_client.get_update_handle
    get_update_handle_for = _update_client.get_update_handle_for

    async def _encode(self, value: Any) -> Any:
        return await codec.encode(self.client.data_converter.payload_codec, value)

    async def _decode(self, value: Any) -> Any:
        return await codec.decode(self.client.data_converter.payload_codec, value)

    async def _outcome_of(self, run_id: str) -> dict[str, Any]:
        return (await self.client.http.call("GET", f"{self._path}/runs/{segment(run_id)}")).json()

    async def describe(
        self,
        *,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowExecutionDescription:
        """The run's description with Temporal's typed fields (status, times, memo, search
        attributes, history length, parent, ...) and Perdure's pending work; the server's
        answer stays in `raw_description`."""
        path = self._path + (f"/runs/{segment(self.run_id)}" if self.run_id else "")
        answer = await self.client.http.call(
            "GET", path, rpc_metadata=rpc_metadata, rpc_timeout=rpc_timeout
        )
        raw = answer.json()
        view = None
        payload_codec = self.client.data_converter.payload_codec
        if payload_codec is not None:
            # Memo, failure and result as they were before the codec (Temporal's describe).
            view = dict(raw)
            await codec.decode_fields(payload_codec, view)
        types = await self.client.search_attribute_types.for_names(
            self.client.http, raw.get("search_attributes") or {}
        )
        return WorkflowExecutionDescription.from_raw(
            raw, self.client.namespace, types=types, view=view
        )

    async def signal(
        self,
        signal: Any,
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Send a signal (a `@workflow.signal` method or its name) with arguments."""
        await self.client.http.call(
            "POST",
            f"{self._path}/signal/{segment(_handler_name(signal))}",
            json={
                "input": await self._encode(encode_args(arg_or_args(arg, args))),
                "run_id": self.run_id,
                "identity": self.client.identity,
            },
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )

    async def query(
        self,
        query: Any,
        arg: Any = ARG_UNSET,
        *,
        args: Sequence[Any] = (),
        result_type: Any = None,
        timeout: timedelta | float = 10,  # noqa: ASYNC109 - how long the server waits
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Ask a worker to answer a `@workflow.query` from the workflow's current state.

        The answer is checked against `result_type` (else the handler's return hint):
        `TypeError` when it does not fit. `WorkflowQueryFailedError` when the handler raised,
        is unknown, or was given a wrong number of arguments; `QueryTimeoutError` when no
        worker answered within `timeout` seconds."""
        body = {
            "args": await self._encode(encode_args(arg_or_args(arg, args))),
            "run_id": self.run_id,
            "timeout": seconds(timeout),
        }
        try:
            r = await self.client.http.call(
                "POST",
                f"{self._path}/query/{segment(_handler_name(query))}",
                json=body,
                long=True,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
        except RPCError as err:
            if err.status == 504:
                raise QueryTimeoutError(str(err)) from err
            if err.type.endswith("/query-failed"):
                raise WorkflowQueryFailedError(str(err)) from err
            raise
        answer = r.json()
        if answer.get("error") is not None:
            raise WorkflowQueryFailedError(str(answer["error"].get("message", answer["error"])))
        hint = result_type or (return_hint(query) if callable(query) else None)
        return from_json(await self._decode(answer.get("answer")), hint)

    async def cancel(
        self,
        reason: str | None = None,
        *,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Ask the workflow to cancel; its code sees `asyncio.CancelledError` and decides."""
        await self.client.http.call(
            "POST",
            f"{self._path}/cancel",
            json={"run_id": self.run_id, "reason": reason, "identity": self.client.identity},
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )

    async def terminate(
        self,
        *args: Any,
        reason: str | None = None,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """End the workflow at once, without running its code; `args` are recorded as the
        termination's details (Temporal's signature)."""
        await self.client.http.call(
            "POST",
            f"{self._path}/terminate",
            json={
                "run_id": self.run_id,
                "reason": reason,
                "details": encode_args(args),
                "identity": self.client.identity,
            },
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )

    async def update_options(
        self,
        *,
        versioning_override: VersioningOverride | None,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> None:
        """Set the running run's versioning override, or remove it with None (Temporal's
        UpdateWorkflowExecutionOptions, the CLI's `temporal workflow update-options`;
        temporalio's handle has no such method). Its tasks follow the new override at once."""
        override = versioning_override.to_json() if versioning_override is not None else None
        await self.client.http.call(
            "POST",
            f"{self._path}/update-options",
            json={
                "run_id": self.run_id,
                "workflow_execution_options": {"versioning_override": override},
                "update_mask": "versioning_override",
                "identity": self.client.identity,
            },
            rpc_metadata=rpc_metadata,
            rpc_timeout=rpc_timeout,
        )

    async def fetch_history(self) -> WorkflowHistory:
        """The run's whole history (Temporal's `WorkflowHistory`, also the plain JSON
        `{"workflow_id", "run_id", "events"}`), what `Replayer` reads."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        if self.run_id:
            params["run_id"] = self.run_id
        run_id = self.run_id
        while True:
            r = await self.client.http.call("GET", f"{self._path}/history", params=params)
            page = r.json()
            run_id = page["run_id"]
            events.extend(page["events"])
            if not page.get("next_page_token"):
                return WorkflowHistory(self.id, events, run_id)
            params = {"run_id": run_id, "next_page_token": page["next_page_token"]}

    async def fetch_history_events(
        self,
        *,
        page_size: int | None = None,
        next_page_token: str | None = None,
        wait_new_event: bool = False,
        event_filter_type: str = "ALL_EVENT",
        skip_archival: bool = False,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The run's history events (JSON, as the server gives them), page by page.

        `wait_new_event` long-polls for events not written yet (the iterator ends when the
        run closes); `event_filter_type="CLOSE_EVENT"` gives only the closing event, as
        Temporal's `WorkflowHistoryEventFilterType`; there is no archival to skip."""
        params: dict[str, Any] = {
            "event_filter": "close" if str(event_filter_type).endswith("CLOSE_EVENT") else "all"
        }
        if self.run_id:
            params["run_id"] = self.run_id
        if page_size:
            params["page_size"] = page_size
        if wait_new_event:
            params["wait_new_event"] = "true"
        token = next_page_token
        while True:
            if token:
                params["next_page_token"] = token
            r = await self.client.http.call(
                "GET",
                f"{self._path}/history",
                params=params,
                long=wait_new_event,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
            )
            page = r.json()
            params["run_id"] = page["run_id"]  # later pages read the same run
            for event in page["events"]:
                yield event
            token = page.get("next_page_token")
            if not token:
                return


class AsyncActivityHandle:
    """An activity completed from outside its worker (the worker raised
    `activity.raise_complete_async()` or simply left it running), by task token or by
    workflow id and activity id. Temporal's `AsyncActivityHandle`."""

    def __init__(
        self,
        client: Client,
        task_token: str | None,
        workflow_id: str | None,
        run_id: str | None,
        activity_id: str | None,
    ) -> None:
        self.client = client
        self.task_token = task_token
        self._ref: dict[str, str | None]
        if task_token is not None:
            self._path, self._ref = "/activity-tasks", {"task_token": task_token}
        else:
            self._path = f"/workflows/{segment(workflow_id)}/activities/{segment(activity_id)}"
            self._ref = {"run_id": run_id}

    async def _send(self, verb: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.http.call(
            "POST", f"{self._path}/{verb}", json={**self._ref, **body}
        )

    async def heartbeat(self, *details: Any) -> None:
        """Record progress; `AsyncActivityCancelledError` once cancellation was requested."""
        answer = await self._send("heartbeat", {"details": encode_args(details)})
        if answer.json().get("cancel_requested"):
            raise AsyncActivityCancelledError()

    async def complete(self, result: Any = None) -> None:
        """Complete the activity with `result`."""
        await self._send("complete", {"result": to_json(result), "identity": self.client.identity})

    async def fail(self, error: Exception, *, last_heartbeat_details: Sequence[Any] = ()) -> None:
        """Fail this attempt with `error` (retried per the activity's retry policy unless it
        is a non-retryable `ApplicationError`)."""
        failure = to_failure(error)
        if not isinstance(error, ApplicationError):
            failure["type"] = type(error).__name__
        await self._send(
            "fail",
            {
                "failure": failure,
                "last_heartbeat_details": encode_args(last_heartbeat_details),
                "identity": self.client.identity,
            },
        )

    async def report_cancellation(self, *details: Any) -> None:
        """Report the activity canceled (after a cancellation request)."""
        await self._send(
            "canceled", {"details": encode_args(details), "identity": self.client.identity}
        )
