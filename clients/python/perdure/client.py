"""The client: start, signal, query, cancel, terminate, describe and list workflows over HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from perdure import _update_client
from perdure._http import Http, rpc_error, segment
from perdure._update_client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from perdure.common import (
    ARG_UNSET,
    Priority,
    RetryPolicy,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    arg_or_args,
    flow_fields,
    seconds,
)
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
from perdure.visibility import (
    WorkflowExecution,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
)

__all__ = [
    "AsyncActivityHandle",
    "Client",
    "WithStartWorkflowOperation",
    "WorkflowExecutionDescription",
    "WorkflowHandle",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateRPCTimeoutOrCancelledError",
    "WorkflowUpdateStage",
]

DEFAULT_ADDRESS = "http://127.0.0.1:8233"


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


class LocalOutcomes:
    """Outcomes of runs that this process's workers decide, so that `result()` need not ask
    the server (one long poll fewer per workflow). A run is followed from its eager first task
    for as long as each next task comes back to this process; once it may go elsewhere, or
    closes other than completed, `result()` asks the server as usual."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[tuple[bool, Any]]] = {}

    def follow(self, run_id: str) -> None:
        self._waiting[run_id] = asyncio.get_running_loop().create_future()

    def watch(self, run_id: str | None) -> asyncio.Future[tuple[bool, Any]] | None:
        return self._waiting.get(run_id) if run_id else None

    def completed(self, run_id: str, result: Any) -> None:
        self._settle(run_id, (True, result))

    def left(self, run_id: str) -> None:
        self._settle(run_id, (False, None))

    def leave_all(self) -> None:
        for run_id in list(self._waiting):
            self.left(run_id)

    def _settle(self, run_id: str, outcome: tuple[bool, Any]) -> None:
        waiter = self._waiting.pop(run_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)


class WorkflowHandle:
    """A workflow (and optionally one run of it) the client can wait on, signal, query…

    Every call takes Temporal's `rpc_metadata` (extra HTTP headers) and `rpc_timeout`."""

    def __init__(
        self,
        client: Client,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: Any = None,
    ) -> None:
        self.client = client
        self.id = workflow_id
        self.run_id = run_id
        self.first_execution_run_id = first_execution_run_id
        self.result_type = result_type
        self._path = f"/workflows/{segment(workflow_id)}"

    async def result(
        self,
        *,
        follow_runs: bool = True,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Wait for the workflow's outcome, checked against the result type (`TypeError` when
        it does not fit); `WorkflowFailureError` unless it completed. Without `follow_runs`
        only this run counts: `WorkflowContinuedAsNewError` if it continued as new."""
        params: dict[str, Any] = {"wait": 30}
        start_run = self.run_id if not follow_runs else self.first_execution_run_id or self.run_id
        if start_run:
            params["run_id"] = start_run
        local = self.client.local_outcomes.watch(start_run)
        if local is not None:
            completed, result = await asyncio.shield(local)
            if completed:
                return from_json(result, self.result_type)
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
                return from_json(outcome.get("result"), self.result_type)
            if status == "CONTINUED_AS_NEW":
                raise WorkflowContinuedAsNewError(outcome.get("continued_to_run_id"))
            raise WorkflowFailureError(cause=from_failure(outcome.get("failure")), status=status)

    # Workflow Update (perdure/_update_client.py).
    start_update = _update_client.start_update
    execute_update = _update_client.execute_update
    get_update_handle = _update_client.get_update_handle
    get_update_handle_for = _update_client.get_update_handle_for

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
        return WorkflowExecutionDescription.from_raw(answer.json(), self.client.namespace)

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
                "input": encode_args(arg_or_args(arg, args)),
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
            "args": encode_args(arg_or_args(arg, args)),
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
        return from_json(answer.get("answer"), hint)

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

    async def fetch_history(self) -> dict[str, Any]:
        """The run's whole history as `{"run_id", "events"}` (what `Replayer` reads)."""
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
                return {"workflow_id": self.id, "run_id": run_id, "events": events}
            params = {"run_id": run_id, "next_page_token": page["next_page_token"]}


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


def _handler_name(handler: Any) -> str:
    if isinstance(handler, str):
        return handler
    name = getattr(handler, "__perdure_handler_name__", None)
    if name is None:
        raise TypeError(f"{handler!r} is not a @workflow.signal/@workflow.query method")
    return name


class Client:
    """A connection to a Perdure namespace. Make one with `await Client.connect(...)`."""

    def __init__(self, http: Http, identity: str) -> None:
        self.http = http
        self.identity = identity
        # Workers of this process by task queue: a start may hand them its first task (eager).
        self.local_workers: dict[str, list[Any]] = {}
        self.local_outcomes = LocalOutcomes()

    @property
    def namespace(self) -> str:
        """The namespace every call of this client goes to."""
        return self.http.namespace

    @classmethod
    async def connect(
        cls,
        target_host: str | None = None,
        *,
        api_key: str | None = None,
        namespace: str | None = None,
        identity: str | None = None,
        rpc_metadata: Mapping[str, str] | None = None,
    ) -> Client:
        """Connect to a server (defaults: env PERDURE_ADDRESS, PERDURE_API_KEY,
        PERDURE_NAMESPACE, then http://127.0.0.1:8233 and namespace `default`);
        `rpc_metadata` are HTTP headers sent with every call."""
        address = target_host or os.environ.get("PERDURE_ADDRESS") or DEFAULT_ADDRESS
        if "://" not in address:
            address = "http://" + address
        key = api_key if api_key is not None else os.environ.get("PERDURE_API_KEY")
        ns = namespace or os.environ.get("PERDURE_NAMESPACE") or "default"
        identity = identity or f"{os.getpid()}@{os.uname().nodename}"
        return cls(Http(address, key, ns, rpc_metadata), identity)

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self.http.aclose()

    def _start_body(
        self,
        workflow: Any,
        args: list[Any],
        task_queue: str,
        timeouts: dict[str, timedelta | None],
        id_reuse_policy: WorkflowIDReusePolicy,
        retry_policy: RetryPolicy | None,
        memo: Mapping[str, Any] | None,
        search_attributes: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "workflow_type": workflow_name(workflow),
            "task_queue": task_queue,
            "input": encode_args(args),
            "id_reuse_policy": str(id_reuse_policy),
            "identity": self.identity,
        }
        for name, value in timeouts.items():
            if value is not None:
                body[name] = seconds(value)
        if retry_policy is not None:
            body["retry_policy"] = retry_policy.to_json()
        if memo is not None:
            body["memo"] = to_json(memo)
        if search_attributes is not None:
            body["search_attributes"] = to_json(search_attributes)
        return body

    async def start_workflow(
        self,
        workflow: Any,
        arg: Any = ARG_UNSET,
        *,
        id: str,  # noqa: A002 - Temporal's name
        task_queue: str,
        args: Sequence[Any] = (),
        result_type: Any = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.FAIL,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        search_attributes: Mapping[str, Any] | None = None,
        start_delay: timedelta | None = None,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
        request_eager_start: bool = True,
        request_id: str | None = None,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
        priority: Priority | None = None,
        concurrency_keys: Mapping[str, str] | None = None,
    ) -> WorkflowHandle:
        """Start a workflow run and return its handle (WorkflowAlreadyStartedError if taken).

        Temporal's options: with `retry_policy` a failed (or run-timed-out) run is retried as
        a new run of the same workflow id, and `result()` follows the retries; `start_signal`
        signals the workflow, starting it only when it is not running (signal-with-start).
        `request_eager_start` (on by default, unlike Temporal) hands the first workflow task
        straight to a `Worker` of this client that serves the workflow, when one has room.
        `request_id` is sent as the `Idempotency-Key`: a retried start returns the first run.
        `priority` (Temporal's) orders the run's tasks in their queues, and its activities and
        children inherit it; `concurrency_keys` are the values per-key concurrency limits
        count by (see docs/flow-control.md)."""
        if start_signal is not None:
            return await self.signal_with_start(
                workflow,
                arg,
                id=id,
                task_queue=task_queue,
                signal=start_signal,
                signal_args=start_signal_args,
                args=args,
                result_type=result_type,
                execution_timeout=execution_timeout,
                run_timeout=run_timeout,
                task_timeout=task_timeout,
                id_reuse_policy=id_reuse_policy,
                retry_policy=retry_policy,
                memo=memo,
                search_attributes=search_attributes,
                start_delay=start_delay,
                request_id=request_id,
                rpc_metadata=rpc_metadata,
                rpc_timeout=rpc_timeout,
                priority=priority,
                concurrency_keys=concurrency_keys,
            )
        body = self._start_body(
            workflow,
            arg_or_args(arg, args),
            task_queue,
            {
                "execution_timeout": execution_timeout,
                "run_timeout": run_timeout,
                "task_timeout": task_timeout,
                "start_delay": start_delay,
            },
            id_reuse_policy,
            retry_policy,
            memo,
            search_attributes,
        )
        body["id_conflict_policy"] = str(id_conflict_policy)
        body.update(flow_fields(priority, concurrency_keys))
        headers = dict(rpc_metadata or {})
        if request_id:
            headers["Idempotency-Key"] = request_id
        worker = (
            self._eager_worker(task_queue, body["workflow_type"]) if request_eager_start else None
        )
        if worker is not None:
            body["request_eager_execution"] = True
            body["identity"] = worker.identity
        response = await self.http.send(
            "POST", f"/workflows/{segment(id)}", json=body, headers=headers, timeout=rpc_timeout
        )
        if response.status_code not in (200, 201):
            raise rpc_error(response)
        started = response.json()
        if worker is not None and started.get("eager_workflow_task"):
            self.local_outcomes.follow(started["run_id"])
            worker.take_eager_workflow_task(started["eager_workflow_task"])
        return WorkflowHandle(
            self,
            id,
            run_id=started["run_id"],
            first_execution_run_id=started["run_id"],
            result_type=result_type or _run_hint(workflow),
        )

    def _eager_worker(self, task_queue: str, workflow_type: str) -> Any:
        """A worker of this process that serves the workflow and has a free slot."""
        for worker in self.local_workers.get(task_queue, ()):
            if worker.can_take_workflow_task(workflow_type):
                return worker
        return None

    async def execute_workflow(self, workflow: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
        """Start a workflow and wait for its result (the options of `start_workflow`)."""
        handle = await self.start_workflow(workflow, arg, **options)
        return await handle.result(
            rpc_metadata=options.get("rpc_metadata"), rpc_timeout=options.get("rpc_timeout")
        )

    def get_workflow_handle(
        self,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
        result_type: Any = None,
    ) -> WorkflowHandle:
        """A handle on an existing workflow (its latest run unless `run_id` is given)."""
        return WorkflowHandle(
            self,
            workflow_id,
            run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=result_type,
        )

    def get_workflow_handle_for(
        self,
        workflow: Any,
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> WorkflowHandle:
        """Like `get_workflow_handle`, typed by the workflow's run method."""
        return WorkflowHandle(
            self,
            workflow_id,
            run_id=run_id,
            first_execution_run_id=first_execution_run_id,
            result_type=_run_hint(workflow),
        )

    def get_async_activity_handle(
        self,
        *,
        task_token: str | None = None,
        workflow_id: str | None = None,
        run_id: str | None = None,
        activity_id: str | None = None,
    ) -> AsyncActivityHandle:
        """A handle to complete, fail, heartbeat or report cancelled an activity that its
        worker left running (by task token, or by workflow id and activity id)."""
        if task_token is None and (workflow_id is None or activity_id is None):
            raise ValueError("give task_token, or workflow_id and activity_id")
        return AsyncActivityHandle(self, task_token, workflow_id, run_id, activity_id)

    async def signal_with_start(
        self,
        workflow: Any,
        arg: Any = ARG_UNSET,
        *,
        id: str,  # noqa: A002
        task_queue: str,
        signal: Any,
        signal_args: Sequence[Any] = (),
        args: Sequence[Any] = (),
        result_type: Any = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        search_attributes: Mapping[str, Any] | None = None,
        start_delay: timedelta | None = None,
        request_id: str | None = None,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
        priority: Priority | None = None,
        concurrency_keys: Mapping[str, str] | None = None,
    ) -> WorkflowHandle:
        """Signal the workflow, starting it first when it is not running (what Temporal's
        `start_workflow(start_signal=...)` does; that spelling works here too)."""
        body = self._start_body(
            workflow,
            arg_or_args(arg, args),
            task_queue,
            {
                "execution_timeout": execution_timeout,
                "run_timeout": run_timeout,
                "task_timeout": task_timeout,
                "start_delay": start_delay,
            },
            id_reuse_policy,
            retry_policy,
            memo,
            search_attributes,
        )
        body["signal_input"] = encode_args(list(signal_args))
        body.update(flow_fields(priority, concurrency_keys))
        metadata = dict(rpc_metadata or {})
        if request_id:
            metadata["Idempotency-Key"] = request_id
        r = await self.http.call(
            "POST",
            f"/workflows/{segment(id)}/signal-with-start/{segment(_handler_name(signal))}",
            json=body,
            rpc_metadata=metadata,
            rpc_timeout=rpc_timeout,
        )
        return WorkflowHandle(
            self, id, run_id=r.json()["run_id"], result_type=result_type or _run_hint(workflow)
        )

    # Update-with-start (perdure/_update_client.py).
    start_update_with_start_workflow = _update_client.start_update_with_start_workflow
    execute_update_with_start_workflow = _update_client.execute_update_with_start_workflow

    @staticmethod
    def _filters(
        status: str | None,
        workflow_type: str | None,
        workflow_id_prefix: str | None,
        started_after: datetime | None,
        started_before: datetime | None,
        closed_after: datetime | None,
        closed_before: datetime | None,
        search_attributes: dict[str, Any] | None,
    ) -> list[tuple[str, str]]:
        import json

        params: list[tuple[str, str]] = []
        for name, value in (
            ("status", status),
            ("workflow_type", workflow_type),
            ("workflow_id_prefix", workflow_id_prefix),
        ):
            if value is not None:
                params.append((name, str(value)))
        for name, moment in (
            ("started_after", started_after),
            ("started_before", started_before),
            ("closed_after", closed_after),
            ("closed_before", closed_before),
        ):
            if moment is not None:
                params.append((name, moment.isoformat()))
        for name, value in (search_attributes or {}).items():
            params.append(("search_attribute", f"{name}={json.dumps(value)}"))
        return params

    async def list_workflows(
        self,
        query: str | None = None,
        *,
        status: str | None = None,
        workflow_type: str | None = None,
        workflow_id_prefix: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        closed_after: datetime | None = None,
        closed_before: datetime | None = None,
        search_attributes: dict[str, Any] | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[WorkflowExecution]:
        """Runs matching a list filter (Temporal's, e.g. `"WorkflowType = 'Pay' AND
        ExecutionStatus = 'Failed'"`) and the other filters, newest first unless the filter
        says ORDER BY: an async iterator over pages."""
        params = self._filters(
            status,
            workflow_type,
            workflow_id_prefix,
            started_after,
            started_before,
            closed_after,
            closed_before,
            search_attributes,
        )
        if query:
            params.append(("query", query))
        token: str | None = None
        while True:
            page_params = [*params, ("page_size", str(page_size))]
            if token:
                page_params.append(("next_page_token", token))
            page = (await self.http.call("GET", "/workflows", params=page_params)).json()
            for item in page["workflows"]:
                yield WorkflowExecution(item)
            token = page.get("next_page_token")
            if not token:
                return

    async def count_workflows(
        self,
        query: str | None = None,
        *,
        status: str | None = None,
        workflow_type: str | None = None,
        workflow_id_prefix: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        closed_after: datetime | None = None,
        closed_before: datetime | None = None,
        search_attributes: dict[str, Any] | None = None,
    ) -> WorkflowExecutionCount:
        """How many runs match the list filter and the other filters: a number, with `groups`
        for `GROUP BY ExecutionStatus` (Temporal's WorkflowExecutionCount)."""
        params = self._filters(
            status,
            workflow_type,
            workflow_id_prefix,
            started_after,
            started_before,
            closed_after,
            closed_before,
            search_attributes,
        )
        if query:
            params.append(("query", query))
        answer = (await self.http.call("GET", "/workflow-count", params=params)).json()
        groups = [
            WorkflowExecutionCountAggregationGroup(count=g["count"], group_values=g["group_values"])
            for g in answer.get("groups", [])
        ]
        return WorkflowExecutionCount(answer["count"], groups)

    # -- schedules (perdure.schedules) ------------------------------------------------------

    async def create_schedule(self, id: str, schedule: Any, **options: Any) -> Any:  # noqa: A002
        """Create a schedule (`perdure.schedules.Schedule`); returns its `ScheduleHandle`.
        Options: trigger_immediately, backfill, memo, search_attributes."""
        from perdure import schedules

        return await schedules.create_schedule(self, id, schedule, **options)

    def get_schedule_handle(self, id: str) -> Any:  # noqa: A002
        """A handle on an existing schedule."""
        from perdure.schedules import ScheduleHandle

        return ScheduleHandle(self, id)

    def list_schedules(self, *, page_size: int = 100) -> AsyncIterator[Any]:
        """The namespace's schedules by id (an async iterator over pages)."""
        from perdure import schedules

        return schedules.list_schedules(self, page_size=page_size)
