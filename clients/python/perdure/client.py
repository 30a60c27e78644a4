"""The client: start, signal, query, cancel, terminate, describe and list workflows over HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar, overload

from perdure import _codec as codec
from perdure import _update_client
from perdure._handles import (
    AsyncActivityHandle,
    ReturnType,
    SelfType,
    WorkflowHandle,
)
from perdure._http import Http, rpc_error, segment
from perdure._names import _handler_name, _run_hint, workflow_name
from perdure._search_attributes import TypeCache
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
    VersioningOverride,
    WorkflowExecutionStatus,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    arg_or_args,
    flow_fields,
    seconds,
)
from perdure.converter import DataConverter, encode_args, to_json
from perdure.deployments import WorkerDeploymentCalls
from perdure.description import WorkflowExecutionDescription
from perdure.exceptions import (
    AsyncActivityCancelledError,
    PerdureError,
    RPCError,
    WorkflowContinuedAsNewError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)
from perdure.history import WorkflowHistory  # noqa: F401 - Temporal's name in temporalio.client
from perdure.schedules import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleAsyncIterator,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleInfo,
    ScheduleIntervalSpec,
    ScheduleListDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from perdure.visibility import (
    WorkflowExecution,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
    listed,
)

__all__ = [
    "AsyncActivityCancelledError",
    "AsyncActivityHandle",
    "RPCError",
    "WorkflowContinuedAsNewError",
    "WorkflowFailureError",
    "WorkflowQueryFailedError",
    "Client",
    "HttpConnectProxyConfig",
    "KeepAliveConfig",
    "RetryConfig",
    "Schedule",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleAsyncIterator",
    "ScheduleBackfill",
    "ScheduleCalendarSpec",
    "ScheduleDescription",
    "ScheduleHandle",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListDescription",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
    "TLSConfig",
    "WorkflowExecutionAsyncIterator",
    "WorkflowExecutionDescription",
    "WorkflowExecutionStatus",
    "WorkflowHandle",
    "WorkflowHistoryEventAsyncIterator",
    "WorkflowHistoryEventFilterType",
    "WorkflowQueryRejectedError",
    "WithStartWorkflowOperation",
    "WorkflowUpdateFailedError",
    "WorkflowUpdateHandle",
    "WorkflowUpdateRPCTimeoutOrCancelledError",
    "WorkflowUpdateStage",
]


# What `WorkflowHandle.fetch_history_events` returns: the run's events as JSON objects.
WorkflowHistoryEventAsyncIterator = AsyncIterator[dict[str, Any]]


class WorkflowHistoryEventFilterType(StrEnum):
    """Which events `fetch_history_events` reads (Temporal's filter)."""

    ALL_EVENT = "ALL_EVENT"
    CLOSE_EVENT = "CLOSE_EVENT"


class WorkflowQueryRejectedError(PerdureError):
    """Temporal's rejection of a query by `reject_condition`; Perdure answers every query of
    a run (closed ones too), so it is never raised."""


@dataclass(frozen=True)
class TLSConfig:
    """Temporal's TLS settings: with Perdure, TLS is HTTPS, checked against the system's trust
    store (`Client.connect(tls=True)` or an `https://` address); the fields are accepted."""

    server_root_ca_cert: bytes | None = None
    domain: str | None = None
    client_cert: bytes | None = None
    client_private_key: bytes | None = None


@dataclass(frozen=True)
class RetryConfig:
    """Temporal's retry of RPCs (accepted): Perdure retries reads with its own back-off."""

    initial_interval_millis: int = 100
    randomization_factor: float = 0.2
    multiplier: float = 1.5
    max_interval_millis: int = 5000
    max_elapsed_time_millis: int = 10000
    max_retries: int = 10


@dataclass(frozen=True)
class KeepAliveConfig:
    """Temporal's gRPC keep-alive (accepted; HTTP connections are kept alive by the pool)."""

    interval_millis: int = 30000
    timeout_millis: int = 15000


@dataclass(frozen=True)
class HttpConnectProxyConfig:
    """Temporal's proxy setting (accepted; httpx honours HTTP(S)_PROXY from the environment)."""

    target_host: str = ""
    basic_auth: tuple[str, str] | None = None


DEFAULT_ADDRESS = "http://127.0.0.1:8233"
ParamType = TypeVar("ParamType")


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


class Client(WorkerDeploymentCalls):
    """A connection to a Perdure namespace. Make one with `await Client.connect(...)`."""

    def __init__(self, http: Http, identity: str) -> None:
        self.http = http
        self.identity = identity
        # Workers of this process by task queue: a start may hand them its first task (eager).
        self.local_workers: dict[str, list[Any]] = {}
        self.local_outcomes = LocalOutcomes()
        # Set by perdure.testing's time-skipping environment: held around `result()` waits.
        self.result_wait: Callable[[], AbstractAsyncContextManager[None]] | None = None
        self.data_converter = DataConverter.default
        # The namespace's search attribute types, to read attributes back as Temporal does.
        self.search_attribute_types = TypeCache()

    @property
    def namespace(self) -> str:
        """The namespace every call of this client goes to."""
        return self.http.namespace

    @classmethod
    async def connect(
        cls,
        target_host: str | None = None,
        *,
        namespace: str | None = None,
        api_key: str | None = None,
        data_converter: DataConverter | None = None,
        interceptors: Sequence[Any] = (),
        default_workflow_query_reject_condition: Any = None,
        tls: bool | Any = False,
        retry_config: Any = None,
        keep_alive_config: Any = None,
        rpc_metadata: Mapping[str, str] | None = None,
        identity: str | None = None,
        lazy: bool = False,
        runtime: Any = None,
        http_connect_proxy_config: Any = None,
        plugins: Sequence[Any] = (),
    ) -> Client:
        """Connect to a server (defaults: env PERDURE_ADDRESS, PERDURE_API_KEY,
        PERDURE_NAMESPACE, then http://127.0.0.1:8233 and namespace `default`);
        `rpc_metadata` are HTTP headers sent with every call.

        Unless `lazy`, the server is asked who the key belongs to (one `GET /api/v1/me`), so a
        wrong address raises `ConnectError` at once and a wrong key `RPCError` (401), as
        Temporal's connect checks the server. An address without a scheme takes `https://`
        with `tls` (True or a TLS config: the system's trust store), else `http://`.
        `data_converter`'s codec is applied to payloads (see perdure.converter); the other
        Temporal options are accepted for its code and listed in the README's table."""
        address = target_host or os.environ.get("PERDURE_ADDRESS") or DEFAULT_ADDRESS
        if "://" not in address:
            address = ("https://" if tls else "http://") + address
        key = api_key if api_key is not None else os.environ.get("PERDURE_API_KEY")
        ns = namespace or os.environ.get("PERDURE_NAMESPACE") or "default"
        identity = identity or f"{os.getpid()}@{os.uname().nodename}"
        client = cls(Http(address, key, ns, rpc_metadata), identity)
        client.data_converter = data_converter or DataConverter.default
        if not lazy:
            try:
                await client.http.check()
            except BaseException:
                await client.close()
                raise
        return client

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

    @overload
    async def start_workflow(
        self, workflow: Callable[[SelfType], Awaitable[ReturnType]], **options: Any
    ) -> WorkflowHandle[SelfType, ReturnType]: ...

    @overload
    async def start_workflow(
        self,
        workflow: Callable[[SelfType, ParamType], Awaitable[ReturnType]],
        arg: ParamType,
        **options: Any,
    ) -> WorkflowHandle[SelfType, ReturnType]: ...

    @overload
    async def start_workflow(
        self,
        workflow: Callable[..., Awaitable[ReturnType]],
        *,
        args: Sequence[Any],
        **options: Any,
    ) -> WorkflowHandle[SelfType, ReturnType]: ...

    @overload
    async def start_workflow(
        self, workflow: str, arg: Any = ..., **options: Any
    ) -> WorkflowHandle[Any, Any]: ...

    async def start_workflow(  # type: ignore[misc] # the overloads take **options
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
        cron_schedule: str = "",
        versioning_override: VersioningOverride | None = None,
    ) -> WorkflowHandle:
        """Start a workflow run and return its handle (WorkflowAlreadyStartedError if taken).

        `cron_schedule` (Temporal's cron workflows, e.g. `"0 * * * *"`, UTC or prefixed
        `CRON_TZ=<zone>`): every run, the first included, starts at the next cron time as a
        new run of the same id; a failed run does not stop the chain, cancel or terminate do.

        Temporal's options: with `retry_policy` a failed (or run-timed-out) run is retried as
        a new run of the same workflow id, and `result()` follows the retries; `start_signal`
        signals the workflow, starting it only when it is not running (signal-with-start).
        `request_eager_start` (on by default, unlike Temporal) hands the first workflow task
        straight to a `Worker` of this client that serves the workflow, when one has room.
        `request_id` is sent as the `Idempotency-Key`: a retried start returns the first run.
        `priority` orders the run's tasks (docs/flow-control.md, with `concurrency_keys`);
        `versioning_override` pins the run to a version or makes it auto-upgrade."""
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
                versioning_override=versioning_override,
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
        body["input"] = await codec.encode(self.data_converter.payload_codec, body["input"])
        if "memo" in body:
            body["memo"] = await codec.encode_memo(self.data_converter.payload_codec, body["memo"])
        if cron_schedule:
            body["cron_schedule"] = cron_schedule
        body.update(flow_fields(priority, concurrency_keys, versioning_override))
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

    @overload
    async def execute_workflow(
        self, workflow: Callable[[SelfType], Awaitable[ReturnType]], **options: Any
    ) -> ReturnType: ...

    @overload
    async def execute_workflow(
        self,
        workflow: Callable[[SelfType, ParamType], Awaitable[ReturnType]],
        arg: ParamType,
        **options: Any,
    ) -> ReturnType: ...

    @overload
    async def execute_workflow(
        self,
        workflow: Callable[..., Awaitable[ReturnType]],
        *,
        args: Sequence[Any],
        **options: Any,
    ) -> ReturnType: ...

    @overload
    async def execute_workflow(self, workflow: str, arg: Any = ..., **options: Any) -> Any: ...

    async def execute_workflow(self, workflow: Any, arg: Any = ARG_UNSET, **options: Any) -> Any:
        """Start a workflow and wait for its result (the options of `start_workflow`); typed
        by the run method's return type, as Temporal's overloads do."""
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
        workflow: Callable[[SelfType], Awaitable[ReturnType]]
        | Callable[[SelfType, Any], Awaitable[ReturnType]],
        workflow_id: str,
        *,
        run_id: str | None = None,
        first_execution_run_id: str | None = None,
    ) -> WorkflowHandle[SelfType, ReturnType]:
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
        versioning_override: VersioningOverride | None = None,
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
        payload_codec = self.data_converter.payload_codec
        body["input"] = await codec.encode(payload_codec, body["input"])
        body["signal_input"] = await codec.encode(payload_codec, body["signal_input"])
        if "memo" in body:
            body["memo"] = await codec.encode_memo(payload_codec, body["memo"])
        body.update(flow_fields(priority, concurrency_keys, versioning_override))
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

    def list_workflows(
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
        limit: int | None = None,
    ) -> WorkflowExecutionAsyncIterator:
        """Runs matching a list filter (Temporal's, e.g. `"WorkflowType = 'Pay' AND
        ExecutionStatus = 'Failed'"`) and the other filters, newest first unless the filter
        says ORDER BY: an async iterator over pages (at most `limit` runs), whose
        `map_histories()` fetches each run's history."""
        return WorkflowExecutionAsyncIterator(
            self,
            self._list_workflows(
                query,
                status=status,
                workflow_type=workflow_type,
                workflow_id_prefix=workflow_id_prefix,
                started_after=started_after,
                started_before=started_before,
                closed_after=closed_after,
                closed_before=closed_before,
                search_attributes=search_attributes,
                page_size=page_size,
            ),
            limit,
        )

    async def _list_workflows(
        self,
        query: str | None,
        *,
        status: str | None,
        workflow_type: str | None,
        workflow_id_prefix: str | None,
        started_after: datetime | None,
        started_before: datetime | None,
        closed_after: datetime | None,
        closed_before: datetime | None,
        search_attributes: dict[str, Any] | None,
        page_size: int,
    ) -> AsyncIterator[WorkflowExecution]:
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
                yield await listed(self, item)
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

    def list_schedules(self, *, page_size: int = 100) -> Any:
        """The namespace's schedules by id: an async iterator over pages, which may also be
        awaited first as Temporal's coroutine is (`async for s in await ...`)."""
        from perdure import schedules

        return schedules.list_schedules(self, page_size=page_size)
