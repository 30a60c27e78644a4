"""The client: start, signal, query, cancel, terminate, describe and list workflows over HTTP."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from perdure.common import (
    RetryPolicy,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
    seconds,
)
from perdure.converter import encode_args, from_json, return_hint, to_json
from perdure.exceptions import (
    QueryTimeoutError,
    RPCError,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    from_failure,
)
from perdure.visibility import (
    WorkflowExecution,
    WorkflowExecutionCount,
    WorkflowExecutionCountAggregationGroup,
)

DEFAULT_ADDRESS = "http://127.0.0.1:8233"
# About a minute of back-off for a read while the server is unreachable.
READ_RETRIES = 16
POOLS = 8


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


class Http:
    """The JSON-over-HTTP layer shared by the client and the worker."""

    def __init__(self, address: str, api_key: str | None, namespace: str) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.address = address.rstrip("/")
        self.namespace = namespace
        # Several small pools, used in turn: httpcore scans (and polls the socket of) every
        # connection of a pool on each request, so one big pool costs O(connections) a call.
        # Long polls (results, worker polls, queries) have pools of their own.
        self._pools = [self._pool(address, headers) for _ in range(POOLS)]
        self._long_pools = [self._pool(address, headers) for _ in range(POOLS)]
        self._turn = 0

    @property
    def client(self) -> httpx.AsyncClient:
        """A connection pool for short calls (the next in turn)."""
        self._turn += 1
        return self._pools[self._turn % POOLS]

    @property
    def long_client(self) -> httpx.AsyncClient:
        """A connection pool for long polls (the next in turn)."""
        self._turn += 1
        return self._long_pools[self._turn % POOLS]

    @staticmethod
    def _pool(address: str, headers: dict[str, str]) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=address.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(90.0, connect=5.0),
            # Below uvicorn's 5 s keep-alive, so a reused connection is never one it is closing.
            limits=httpx.Limits(
                max_connections=500, max_keepalive_connections=500, keepalive_expiry=4.0
            ),
        )

    def ns(self, path: str) -> str:
        """The URL path of a route inside the namespace."""
        return f"/api/v1/namespaces/{self.namespace}{path}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        ok: Sequence[int] = (200, 201, 202, 204),
        long: bool = False,
    ) -> httpx.Response:
        """One call; RPCError unless the status is in `ok`. Reads are retried while the
        server is unreachable."""
        attempt = 0
        while True:
            try:
                pool = self.long_client if long else self.client
                response = await pool.request(method, self.ns(path), json=json, params=params)
                break
            except httpx.TransportError:
                # Reads are safe to repeat while the server restarts; writes are the caller's call.
                if method != "GET" or attempt >= READ_RETRIES:
                    raise
            await sleep_backoff(attempt)
            attempt += 1
        if response.status_code not in ok:
            raise rpc_error(response)
        return response

    async def aclose(self) -> None:
        """Close the connections."""
        for pool in self._pools + self._long_pools:
            await pool.aclose()


def rpc_error(response: httpx.Response) -> RPCError:
    """The typed error for a server problem answer."""
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text}
    if not isinstance(problem, dict):
        problem = {"detail": str(problem)}
    message = str(problem.get("detail") or problem.get("title") or response.reason_phrase)
    kind = str(problem.get("type", ""))
    if response.status_code == 409 and kind.endswith("/already-exists"):
        return WorkflowAlreadyStartedError(message, response.status_code, problem)
    return RPCError(message, response.status_code, problem)


@dataclass
class WorkflowExecutionDescription:
    """What `describe()` answers: the server's description, with the common fields typed."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: str
    start_time: str
    close_time: str | None
    raw: dict[str, Any]


class WorkflowHandle:
    """A workflow (and optionally one run of it) the client can wait on, signal, query…"""

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

    async def result(self, *, follow_runs: bool = True) -> Any:
        """Wait for the workflow's outcome; raise `WorkflowFailureError` unless it completed."""
        params: dict[str, Any] = {"wait": 30}
        if self.run_id and not follow_runs:
            params["run_id"] = self.run_id
        elif self.first_execution_run_id or self.run_id:
            params["run_id"] = self.first_execution_run_id or self.run_id
        while True:
            r = await self.client.http.call(
                "GET", f"/workflows/{self.id}/result", params=params, long=True
            )
            outcome = r.json()
            status = outcome["status"]
            if status == "RUNNING":
                continue
            if status == "COMPLETED":
                return from_json(outcome.get("result"), self.result_type)
            if status == "CONTINUED_AS_NEW" and not follow_runs:
                raise WorkflowFailureError(
                    cause=from_failure({"message": "continued as new"}), status=status
                )
            raise WorkflowFailureError(cause=from_failure(outcome.get("failure")), status=status)

    async def describe(self) -> WorkflowExecutionDescription:
        """The run's status, pending activities, timers and children."""
        path = f"/workflows/{self.id}" + (f"/runs/{self.run_id}" if self.run_id else "")
        d = (await self.client.http.call("GET", path)).json()
        return WorkflowExecutionDescription(
            workflow_id=d["workflow_id"],
            run_id=d["run_id"],
            workflow_type=d["workflow_type"],
            task_queue=d["task_queue"],
            status=d["status"],
            start_time=d["start_time"],
            close_time=d.get("close_time"),
            raw=d,
        )

    async def signal(self, signal: Any, arg: Any = None, *, args: Sequence[Any] = ()) -> None:
        """Send a signal (a `@workflow.signal` method or its name) with arguments."""
        name = _handler_name(signal)
        payload = encode_args(list(args) or ([] if arg is None else [arg]))
        await self.client.http.call(
            "POST",
            f"/workflows/{self.id}/signal/{name}",
            json={"input": payload, "run_id": self.run_id, "identity": self.client.identity},
        )

    async def query(
        self,
        query: Any,
        arg: Any = None,
        *,
        args: Sequence[Any] = (),
        timeout: timedelta | float = 10,  # noqa: ASYNC109 - Temporal's name
    ) -> Any:
        """Ask a worker to answer a `@workflow.query` from the workflow's current state."""
        name = _handler_name(query)
        payload = encode_args(list(args) or ([] if arg is None else [arg]))
        body = {"args": payload, "run_id": self.run_id, "timeout": seconds(timeout)}
        try:
            r = await self.client.http.call(
                "POST", f"/workflows/{self.id}/query/{name}", json=body, long=True
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
        hint = return_hint(query) if callable(query) else None
        return from_json(answer.get("answer"), hint)

    async def cancel(self, reason: str | None = None) -> None:
        """Ask the workflow to cancel; its code sees `asyncio.CancelledError` and decides."""
        await self.client.http.call(
            "POST",
            f"/workflows/{self.id}/cancel",
            json={"run_id": self.run_id, "reason": reason, "identity": self.client.identity},
        )

    async def terminate(self, reason: str | None = None, details: Any = None) -> None:
        """End the workflow at once, without running its code."""
        await self.client.http.call(
            "POST",
            f"/workflows/{self.id}/terminate",
            json={
                "run_id": self.run_id,
                "reason": reason,
                "details": to_json(details),
                "identity": self.client.identity,
            },
        )

    async def fetch_history(self) -> dict[str, Any]:
        """The run's whole history as `{"run_id", "events"}` (what `Replayer` reads)."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        if self.run_id:
            params["run_id"] = self.run_id
        run_id = self.run_id
        while True:
            r = await self.client.http.call("GET", f"/workflows/{self.id}/history", params=params)
            page = r.json()
            run_id = page["run_id"]
            events.extend(page["events"])
            if not page.get("next_page_token"):
                return {"workflow_id": self.id, "run_id": run_id, "events": events}
            params = {"run_id": run_id, "next_page_token": page["next_page_token"]}


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
    ) -> Client:
        """Connect to a server (defaults: env PERDURE_ADDRESS, PERDURE_API_KEY,
        PERDURE_NAMESPACE, then http://127.0.0.1:8233 and namespace `default`)."""
        address = target_host or os.environ.get("PERDURE_ADDRESS") or DEFAULT_ADDRESS
        if "://" not in address:
            address = "http://" + address
        key = api_key if api_key is not None else os.environ.get("PERDURE_API_KEY")
        ns = namespace or os.environ.get("PERDURE_NAMESPACE") or "default"
        identity = identity or f"{os.getpid()}@{os.uname().nodename}"
        return cls(Http(address, key, ns), identity)

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self.http.aclose()

    def _start_body(
        self,
        workflow: Any,
        arg: Any,
        args: Sequence[Any],
        task_queue: str,
        execution_timeout: timedelta | None,
        run_timeout: timedelta | None,
        task_timeout: timedelta | None,
        id_reuse_policy: WorkflowIDReusePolicy,
        id_conflict_policy: WorkflowIDConflictPolicy,
        memo: dict[str, Any] | None,
        search_attributes: dict[str, Any] | None,
        start_delay: timedelta | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "workflow_type": workflow_name(workflow),
            "task_queue": task_queue,
            "input": encode_args(list(args) or ([] if arg is None else [arg])),
            "id_reuse_policy": str(id_reuse_policy),
            "id_conflict_policy": str(id_conflict_policy),
            "identity": self.identity,
        }
        for name, value in (
            ("execution_timeout", execution_timeout),
            ("run_timeout", run_timeout),
            ("task_timeout", task_timeout),
            ("start_delay", start_delay),
        ):
            if value is not None:
                body[name] = seconds(value)
        if memo is not None:
            body["memo"] = to_json(memo)
        if search_attributes is not None:
            body["search_attributes"] = to_json(search_attributes)
        return body

    async def start_workflow(
        self,
        workflow: Any,
        arg: Any = None,
        *,
        id: str,  # noqa: A002 - Temporal's name
        task_queue: str,
        args: Sequence[Any] = (),
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.FAIL,
        retry_policy: RetryPolicy | None = None,
        memo: dict[str, Any] | None = None,
        search_attributes: dict[str, Any] | None = None,
        start_delay: timedelta | None = None,
        request_id: str | None = None,
    ) -> WorkflowHandle:
        """Start a workflow run and return its handle (WorkflowAlreadyStartedError if taken).

        With `retry_policy` a failed (or run-timed-out) run is retried as a new run of the same
        workflow id; the handle's `result()` follows the retries to the last one."""
        body = self._start_body(
            workflow,
            arg,
            args,
            task_queue,
            execution_timeout,
            run_timeout,
            task_timeout,
            id_reuse_policy,
            id_conflict_policy,
            memo,
            search_attributes,
            start_delay,
        )
        if retry_policy is not None:
            body["retry_policy"] = retry_policy.to_json()
        headers = {"Idempotency-Key": request_id} if request_id else None
        worker = self._eager_worker(task_queue, body["workflow_type"])
        if worker is not None:
            body["request_eager_execution"] = True
            body["identity"] = worker.identity
        response = await self.http.client.post(
            self.http.ns(f"/workflows/{id}"), json=body, headers=headers
        )
        if response.status_code not in (200, 201):
            raise rpc_error(response)
        started = response.json()
        if worker is not None and started.get("eager_workflow_task"):
            worker.take_eager_workflow_task(started["eager_workflow_task"])
        return WorkflowHandle(
            self,
            id,
            run_id=started["run_id"],
            first_execution_run_id=started["run_id"],
            result_type=_run_hint(workflow),
        )

    def _eager_worker(self, task_queue: str, workflow_type: str) -> Any:
        """A worker of this process that serves the workflow and has a free slot."""
        for worker in self.local_workers.get(task_queue, ()):
            if worker.can_take_workflow_task(workflow_type):
                return worker
        return None

    async def execute_workflow(self, workflow: Any, arg: Any = None, **options: Any) -> Any:
        """Start a workflow and wait for its result."""
        handle = await self.start_workflow(workflow, arg, **options)
        return await handle.result()

    def get_workflow_handle(
        self, workflow_id: str, *, run_id: str | None = None, result_type: Any = None
    ) -> WorkflowHandle:
        """A handle on an existing workflow (its latest run unless `run_id` is given)."""
        return WorkflowHandle(self, workflow_id, run_id=run_id, result_type=result_type)

    def get_workflow_handle_for(
        self, workflow: Any, workflow_id: str, *, run_id: str | None = None
    ) -> WorkflowHandle:
        """Like `get_workflow_handle`, typed by the workflow's run method."""
        return WorkflowHandle(self, workflow_id, run_id=run_id, result_type=_run_hint(workflow))

    async def signal_with_start(
        self,
        workflow: Any,
        arg: Any = None,
        *,
        id: str,  # noqa: A002
        task_queue: str,
        signal: Any,
        signal_args: Sequence[Any] = (),
        args: Sequence[Any] = (),
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        memo: dict[str, Any] | None = None,
        search_attributes: dict[str, Any] | None = None,
        start_delay: timedelta | None = None,
    ) -> WorkflowHandle:
        """Signal the workflow, starting it first when it is not running."""
        body = self._start_body(
            workflow,
            arg,
            args,
            task_queue,
            execution_timeout,
            run_timeout,
            task_timeout,
            id_reuse_policy,
            WorkflowIDConflictPolicy.FAIL,
            memo,
            search_attributes,
            start_delay,
        )
        body.pop("id_conflict_policy")
        body["signal_input"] = encode_args(list(signal_args))
        r = await self.http.call(
            "POST", f"/workflows/{id}/signal-with-start/{_handler_name(signal)}", json=body
        )
        return WorkflowHandle(self, id, run_id=r.json()["run_id"], result_type=_run_hint(workflow))

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


async def sleep_backoff(attempt: int) -> None:
    """Back-off between retries of a failed server call (0.1 s doubling up to 5 s)."""
    await asyncio.sleep(min(5.0, 0.1 * 2 ** min(attempt, 6)))
