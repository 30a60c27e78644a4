"""The worker: polls a task queue over HTTP, runs workflow tasks on the deterministic runtime
and activities (async on the loop, sync in a thread pool), and answers queries.

It takes the eager paths the server offers: activities it serves are handed back with the
workflow task completion, and the workflow task an activity completion causes comes back
with that completion. Every server call is retried with back-off while the server is down.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import inspect
import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from perdure import _codec as codec
from perdure import _local_activities as local_activities
from perdure import _replay_tasks
from perdure import activity as activity_mod
from perdure._http import segment, sleep_backoff
from perdure._runtime import WorkflowInstance, WorkflowTaskFailure
from perdure._search_attributes import started_types
from perdure._versioning import UNVERSIONED, WorkerDeploymentConfig
from perdure._worker_options import (  # noqa: F401 (Temporal's names, re-exported)
    PollerBehavior,
    PollerBehaviorAutoscaling,
    PollerBehaviorSimpleMaximum,
    SandboxedWorkflowRunner,
    SandboxRestrictions,
    SharedStateManager,
    UnsandboxedWorkflowRunner,
    WorkflowRunner,
)
from perdure.client import Client
from perdure.common import seconds
from perdure.converter import decode_args, to_json, to_raw_values
from perdure.exceptions import (
    ApplicationError,
    ApplicationErrorCategory,
    NondeterminismError,
    to_failure,
)
from perdure.replayer import (  # noqa: F401 - Temporal's names in temporalio.worker
    Replayer,
    ReplayerConfig,
    WorkflowReplayResult,
    WorkflowReplayResults,
)
from perdure.workflow import WorkflowDefinition, definition

log = logging.getLogger("perdure.worker")
# Long polls end this often: a server's graceful shutdown waits for them.
POLL_WAIT = 10.0
RETRYABLE_STATUS = {500, 502, 503, 504}
# Activity tasks one poll may take at most (each needs a free activity slot).
ACTIVITY_POLL_BATCH = 10


class Worker:
    """Serve workflows and activities on one task queue. Use `async with Worker(...)` or
    `await worker.run()` (stopped by `await worker.shutdown()`)."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        workflows: Sequence[type] = (),
        activities: Sequence[Any] = (),
        max_concurrent_activities: int | None = None,
        max_concurrent_workflow_tasks: int | None = None,
        max_cached_workflows: int = 1000,
        max_concurrent_workflow_task_polls: int | None = None,
        max_concurrent_activity_task_polls: int | None = None,
        activity_executor: concurrent.futures.Executor | None = None,
        graceful_shutdown_timeout: timedelta | float = 30.0,
        identity: str | None = None,
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        disable_eager_activity_execution: bool = False,
        workflow_runner: WorkflowRunner | None = None,
        unsandboxed_workflow_runner: WorkflowRunner | None = None,
        shared_state_manager: SharedStateManager | None = None,
        max_concurrent_local_activities: int | None = None,
        debug_mode: bool = False,
        workflow_task_executor: concurrent.futures.ThreadPoolExecutor | None = None,
        workflow_task_poller_behavior: PollerBehavior | None = None,
        activity_task_poller_behavior: PollerBehavior | None = None,
        deployment_config: WorkerDeploymentConfig | None = None,
    ) -> None:
        """Temporal's worker options (poller counts, slots, cache, shutdown, failure types).

        Accepted for Temporal's code and without effect here: `workflow_runner` /
        `unsandboxed_workflow_runner` (no sandbox: workflows always run unsandboxed),
        `shared_state_manager` (a process pool's heartbeats go through the worker's loop
        anyway), `max_concurrent_local_activities` (local activities run as activities),
        `debug_mode` (no deadlock detector to switch off), `workflow_task_executor` (workflow
        tasks run on the worker's loop).

        Fast paths are on by default: the first task of a workflow this client starts, the
        activities a workflow task schedules here (unless `disable_eager_activity_execution`)
        and the workflow task an activity completion causes all come back in the answer of
        the call that made them; activity polls take up to 10 ready tasks at once; a run
        decided here answers `result()` without asking the server."""
        self.client = client
        self.http = client.http
        self.task_queue = task_queue
        self.identity = identity or f"{client.identity}-{task_queue}"
        self.workflows: dict[str, WorkflowDefinition] = {}
        for cls in workflows:
            d = definition(cls)
            self.workflows[d.name] = d
        self.dynamic_workflow = self.workflows.pop("", None)
        self.versioning = deployment_config or UNVERSIONED  # docs/deploying.md
        self.versioning.check(self.workflows.values())
        self.activities: dict[str, activity_mod.ActivityDefinition] = {}
        for given in activities:
            # An instance whose `__call__` is the activity runs as that bound method.
            fn = given if inspect.isroutine(given) else given.__call__
            d2 = activity_mod.definition(fn)
            if inspect.ismethod(fn):
                # `activities=[obj.method]`: call the method on its instance, as Temporal does.
                d2 = dataclasses.replace(d2, fn=fn)
            self.activities[d2.name] = d2
        self.dynamic_activity = self.activities.pop("", None)
        # Temporal's None: the default (100 slots, 4 polls per kind).
        max_concurrent_activities = max_concurrent_activities or 100
        max_concurrent_workflow_tasks = max_concurrent_workflow_tasks or 100
        max_concurrent_workflow_task_polls = max_concurrent_workflow_task_polls or 4
        max_concurrent_activity_task_polls = max_concurrent_activity_task_polls or 4
        # Temporal's poller behaviours: their maximum is the number of long polls kept open.
        if workflow_task_poller_behavior is not None:
            max_concurrent_workflow_task_polls = workflow_task_poller_behavior.maximum
        if activity_task_poller_behavior is not None:
            max_concurrent_activity_task_polls = activity_task_poller_behavior.maximum
        self.activity_slots = asyncio.Semaphore(max_concurrent_activities)
        self.workflow_slots = asyncio.Semaphore(max_concurrent_workflow_tasks)
        self.max_activities = max_concurrent_activities
        self.running_activities = 0
        self.cache: collections.OrderedDict[str, WorkflowInstance] = collections.OrderedDict()
        self.max_cached = max_cached_workflows
        self.workflow_polls = max_concurrent_workflow_task_polls if workflows else 0
        self.activity_polls = max_concurrent_activity_task_polls if activities else 0
        self.executor = activity_executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrent_activities, thread_name_prefix="perdure-activity"
        )
        self._own_executor = activity_executor is None
        self.graceful_shutdown_timeout = seconds(graceful_shutdown_timeout) or 0.0
        self.eager_activities = not disable_eager_activity_execution
        # The client's codec (Temporal's DataConverter.payload_codec), applied to payloads.
        self.codec = client.data_converter.payload_codec
        self.workflow_failure_exception_types = tuple(workflow_failure_exception_types)
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._run_task: asyncio.Task[None] | None = None
        if not (
            self.workflows or self.dynamic_workflow or self.activities or self.dynamic_activity
        ):
            raise ValueError("a worker needs at least one workflow or activity")
        # Set at shutdown; activities read it (`activity.is_worker_shutdown()`).
        self.shutdown_event = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Worker:
        # Known to the client before the block's first start, so that start hands this worker
        # its first workflow task (eager start) instead of racing the worker's first poll.
        self._join_client()
        self._run_task = asyncio.create_task(self.run())
        return self

    def _join_client(self) -> None:
        workers = self.client.local_workers.setdefault(self.task_queue, [])
        if self not in workers:
            workers.append(self)

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()

    async def run(self) -> None:
        """Poll until `shutdown()`; then finish in-flight tasks (up to the graceful timeout)."""
        self._join_client()
        pollers = [
            asyncio.create_task(self._poll_loop("workflow")) for _ in range(self.workflow_polls)
        ] + [asyncio.create_task(self._poll_loop("activity")) for _ in range(self.activity_polls)]
        try:
            await self._stopping.wait()
        finally:
            self.client.local_workers[self.task_queue].remove(self)
            self.client.local_outcomes.leave_all()
            for p in pollers:
                p.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self.graceful_shutdown_timeout)
            for t in list(self._in_flight):
                t.cancel()
            if self._own_executor:
                self.executor.shutdown(wait=False, cancel_futures=True)

    async def shutdown(self) -> None:
        """Stop polling, let in-flight tasks finish, and return when the worker has stopped."""
        self._stopping.set()
        self.shutdown_event.set()
        if self._run_task is not None:
            await self._run_task

    def can_take_workflow_task(self, workflow_type: str) -> bool:
        """Whether a start in this process may hand this worker its first task (eager)."""
        return (
            not self._stopping.is_set()
            and self.serves_workflow(workflow_type)
            and not self.workflow_slots.locked()
        )

    def serves_workflow(self, workflow_type: str) -> bool:
        """Whether this worker runs workflows of this type (a dynamic workflow runs any)."""
        return workflow_type in self.workflows or self.dynamic_workflow is not None

    def _activity_definition(self, activity_type: str) -> activity_mod.ActivityDefinition | None:
        return self.activities.get(activity_type) or self.dynamic_activity

    def take_eager_workflow_task(self, task: dict[str, Any]) -> None:
        """Run a workflow task that a start in this process received for this worker."""
        self._spawn(self._eager_workflow_task(task))

    async def _eager_workflow_task(self, task: dict[str, Any]) -> None:
        await self.workflow_slots.acquire()
        await self._workflow_task(task, self.workflow_slots)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    # -- server calls -----------------------------------------------------------------------

    async def _post(
        self, path: str, body: dict[str, Any], *, give_up_on_stop: bool = False, long: bool = False
    ) -> httpx.Response | None:
        """POST with retries while the server is unreachable or failing; None when stopping."""
        attempt = 0
        while True:
            try:
                response = await self.http.send("POST", path, json=body, long=long)
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                log.warning("server answered %s to %s; retrying", response.status_code, path)
            except httpx.TransportError as exc:
                log.warning("server unreachable (%s) for %s; retrying", type(exc).__name__, path)
            if give_up_on_stop and self._stopping.is_set():
                return None
            await sleep_backoff(attempt)
            attempt += 1

    async def _poll_loop(self, kind: str) -> None:
        slots = self.workflow_slots if kind == "workflow" else self.activity_slots
        path = f"/task-queues/{segment(self.task_queue)}/{kind}-tasks/poll"
        if kind == "activity":
            path += "-batch"
        while not self._stopping.is_set():
            await slots.acquire()
            taken = 1
            try:
                body: dict[str, Any] = {
                    "identity": self.identity,
                    "wait": POLL_WAIT,
                    **self.versioning.options(),
                }
                if kind == "workflow":
                    # Cached runs need only what they have not seen; a miss reads the rest.
                    body["partial_history"] = True
                    body.update(_replay_tasks.poll_fields(self))
                else:
                    # One poll takes as many ready activity tasks as there are free slots.
                    while taken < ACTIVITY_POLL_BATCH and not slots.locked():
                        await slots.acquire()
                        taken += 1
                    body["max_tasks"] = taken
                response = await self._post(path, body, give_up_on_stop=True, long=True)
            except BaseException:
                for _ in range(taken):
                    slots.release()
                raise
            if response is None or response.status_code != 200:
                for _ in range(taken):
                    slots.release()
                if response is not None and response.status_code not in (204,):
                    log.error("poll failed: %s %s", response.status_code, response.text)
                    await asyncio.sleep(1.0)
                continue
            answer = response.json()
            if kind == "workflow":
                self._spawn(self._workflow_task(answer, slots))
                continue
            tasks = answer["tasks"]
            for _ in range(taken - len(tasks)):
                slots.release()
            for task in tasks:
                self.running_activities += 1
                self._spawn(self._activity_task(task, slots))

    # -- workflow tasks ---------------------------------------------------------------------

    async def _workflow_task(
        self, task: dict[str, Any] | None, slot: asyncio.Semaphore | None
    ) -> None:
        try:
            while task is not None:
                if task.get("query"):
                    await self._answer_query(task)
                    return
                if task.get("replay_task"):
                    await _replay_tasks.answer(self, task)
                    return
                task = await self._decide(task)
        except Exception:
            log.exception("workflow task handling failed")
        finally:
            if slot is not None:
                slot.release()

    async def _full_history(
        self, task: dict[str, Any], known_up_to: int = 0
    ) -> list[dict[str, Any]]:
        """The task's history from the first event the instance has not seen (`known_up_to`).
        A partial page that starts later than that is completed by reading the events before
        it; the task's page and its token follow (a speculative task's own events, when it
        carries updates, are not stored: only that page, or the last page of its token, shows
        them)."""
        events = list(task["history"]["events"])
        token = task["history"].get("next_page_token")
        after = task["history"].get("after_event_id", 0)
        if after > known_up_to:
            before: list[dict[str, Any]] = []
            prefix_token: str | None = None
            while not before or before[-1]["event_id"] < after:
                params = {"run_id": task["run_id"], "page_size": min(after, 1000)}
                if prefix_token:
                    params["next_page_token"] = prefix_token
                r = await self.http.call(
                    "GET", f"/workflows/{segment(task['workflow_id'])}/history", params=params
                )
                page = r.json()
                before.extend(page["events"])
                prefix_token = page.get("next_page_token")
                if not prefix_token:
                    break
            events = [e for e in before if e["event_id"] <= after] + events
        limit = task.get("started_event_id")
        while token:
            r = await self.http.call(
                "GET",
                f"/workflows/{segment(task['workflow_id'])}/history",
                params={"run_id": task["run_id"], "next_page_token": token},
            )
            page = r.json()
            events.extend(page["events"])
            token = page.get("next_page_token")
            if limit is not None and events and events[-1]["event_id"] >= limit:
                break
        if limit is not None:
            events = [e for e in events if e["event_id"] <= limit]
        return events

    def _eager_ok(self, activity_type: str, task_queue: str | None) -> bool:
        return (
            self.eager_activities
            and self._activity_definition(activity_type) is not None
            and (task_queue is None or task_queue == self.task_queue)
            and self.running_activities < self.max_activities
        )

    def _instance_for(self, task: dict[str, Any]) -> WorkflowInstance:
        """The cached instance when it has seen exactly the history before this task, else a
        fresh one that replays the whole history."""
        run_id = task["run_id"]
        cached = self.cache.get(run_id)
        if cached is not None and cached.last_started_event_id == task["previous_started_event_id"]:
            self.cache.move_to_end(run_id)
            return cached
        self.cache.pop(run_id, None)
        return self._new_instance(task)

    def _new_instance(self, task: dict[str, Any]) -> WorkflowInstance:
        defn = self.workflows.get(task["workflow_type"]) or self.dynamic_workflow
        if defn is None:
            raise WorkflowTaskFailure(
                f"workflow type '{task['workflow_type']}' is not registered on this worker "
                f"(known: {', '.join(sorted(self.workflows)) or 'none'})",
                "WORKFLOW_WORKER_UNHANDLED_FAILURE",
            )
        return WorkflowInstance(
            defn,
            namespace=self.http.namespace,
            workflow_id=task["workflow_id"],
            run_id=task["run_id"],
            eager_activity_types=self._eager_ok,
            failure_exception_types=self.workflow_failure_exception_types,
        )

    async def _decide(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """Answer one workflow task; return the next one when the server hands it back."""
        run_id = task["run_id"]
        try:
            instance = self._instance_for(task)
            instance.target_version_changed = bool(
                task.get("target_worker_deployment_version_changed")
            )
            instance.updates.receive(task.get("messages") or [])
            events = await self._full_history(task, known_up_to=instance.last_event_id)
            await self._decode_events(events)
            await started_types(instance, events, self.client)
            commands = instance.feed(events, final_started_event_id=task["started_event_id"])
            local_left = None
            if instance.local.to_run():
                # Local activities run here, inside this workflow task (it may be replaced by
                # the next one when it is heartbeated).
                following = await local_activities.execute(self, instance, task)
                if following is None:
                    local_left = task
                else:
                    task = following
                    commands = list(instance.new_commands)
        except (NondeterminismError, WorkflowTaskFailure) as err:
            self.cache.pop(run_id, None)
            self.client.local_outcomes.left(run_id)
            cause = (
                "NON_DETERMINISTIC_ERROR"
                if isinstance(err, NondeterminismError)
                else getattr(err, "cause", "WORKFLOW_WORKER_UNHANDLED_FAILURE")
            )
            original = getattr(err, "error", None) or err
            _log_workflow_task_failure(task, original)
            await self._post(
                "/workflow-tasks/fail",
                {
                    "task_token": task["task_token"],
                    "cause": cause,
                    "failure": {"message": str(err), "type": type(original).__name__},
                    "identity": self.identity,
                },
            )
            return None
        except Exception as err:  # a bug in workflow code before it could even run
            self.cache.pop(run_id, None)
            self.client.local_outcomes.left(run_id)
            _log_workflow_task_failure(task, err)
            await self._post(
                "/workflow-tasks/fail",
                {
                    "task_token": task["task_token"],
                    "failure": to_failure(err),
                    "identity": self.identity,
                },
            )
            return None
        if local_left is not None:
            self.cache.pop(run_id, None)  # the server gave no task back after a heartbeat
            self.client.local_outcomes.left(run_id)
            return None
        self._remember(instance)
        if self.codec is not None:
            for command in commands:
                await codec.encode_fields(self.codec, command.attributes)
        response = await self._post(
            "/workflow-tasks/complete",
            {
                "task_token": task["task_token"],
                "commands": [c.body() for c in commands],
                "messages": instance.updates.take_messages(),
                "identity": self.identity,
                "return_new_workflow_task": not instance.closed,
                "partial_history": True,
                **self.versioning.completion(instance.definition),
            },
        )
        assert response is not None
        outcomes = self.client.local_outcomes
        if response.status_code != 200:
            # Stale token, or the server refused the commands: replay afresh next time.
            self.cache.pop(run_id, None)
            outcomes.left(run_id)
            if response.status_code not in (404, 409):
                log.error(
                    "completing a workflow task failed: %s %s", response.status_code, response.text
                )
            return None
        answer = response.json()
        if instance.closed:
            self.cache.pop(run_id, None)
            close = commands[-1]
            if close.command_type == "COMPLETE_WORKFLOW_EXECUTION":
                outcomes.completed(run_id, close.attributes.get("result"))
            else:
                outcomes.left(run_id)
        elif not answer.get("workflow_task") and not answer.get("activity_tasks"):
            outcomes.left(run_id)  # its next task may go to any worker
        for activity_task in answer.get("activity_tasks") or []:
            self.running_activities += 1
            self._spawn(self._activity_task(activity_task, None))
        return answer.get("workflow_task")

    def _remember(self, instance: WorkflowInstance) -> None:
        self.cache[instance.run_id] = instance
        self.cache.move_to_end(instance.run_id)
        while len(self.cache) > self.max_cached:
            self.cache.popitem(last=False)

    async def _answer_query(self, task: dict[str, Any]) -> None:
        query = task["query"]
        body: dict[str, Any] = {"query_id": query["query_id"], "identity": self.identity}
        try:
            instance = self.cache.get(task["run_id"])
            if instance is None or instance.obj is None or instance.pending_events:
                # Replay afresh, beside the cache (the cached instance may be mid-task).
                instance = self._new_instance(task)
                events = await self._full_history(task)
                await self._decode_events(events)
                instance.feed(events, final_started_event_id=None)
                instance.activate_for_query(events[-1]["event_time"])
            args = await codec.decode(self.codec, query.get("args"))
            answer = instance.query(query["query_type"], args)
            body["answer"] = await codec.encode(self.codec, answer)
        except Exception as err:
            body["error"] = {"message": str(err), "type": type(err).__name__}
        await self._post("/workflow-tasks/respond-query", body)

    async def _decode_events(self, events: list[dict[str, Any]]) -> None:
        if self.codec is not None:
            for event in events:
                await codec.decode_fields(self.codec, event.get("attributes"))

    # -- activity tasks ---------------------------------------------------------------------

    async def _activity_task(self, task: dict[str, Any], slot: asyncio.Semaphore | None) -> None:
        try:
            await self._run_activity(task)
        except Exception:
            log.exception("activity task handling failed")
        finally:
            self.running_activities -= 1
            if slot is not None:
                slot.release()

    async def _run_activity(self, task: dict[str, Any]) -> None:
        token = task["task_token"]
        defn = self._activity_definition(task["activity_type"])
        if defn is None:
            await self._post(
                "/activity-tasks/fail",
                {
                    "task_token": token,
                    "failure": {
                        "message": f"activity type '{task['activity_type']}' is not registered on this worker",
                        "type": "NotFoundError",
                    },
                    "identity": self.identity,
                },
            )
            self.client.local_outcomes.left(task["run_id"])
            return
        loop = asyncio.get_running_loop()
        await codec.decode_fields(self.codec, task)
        heartbeats = _Heartbeats(self, task)
        details = task.get("heartbeat_details")
        info = activity_mod.Info(
            activity_id=task["activity_id"],
            activity_type=task["activity_type"],
            attempt=task["attempt"],
            task_queue=task["task_queue"],
            task_token=token,
            workflow_id=task["workflow_id"],
            workflow_run_id=task["run_id"],
            workflow_type=task["workflow_type"],
            heartbeat_details=details
            if isinstance(details, list)
            else ([] if details is None else [details]),
            heartbeat_timeout=_duration(task.get("heartbeat_timeout")),
            start_to_close_timeout=_duration(task.get("start_to_close_timeout")),
            schedule_to_close_timeout=_duration(task.get("schedule_to_close_timeout")),
            scheduled_time=_time(task.get("scheduled_time")),
            started_time=_time(task.get("started_time")),
            current_attempt_scheduled_time=_time(
                task.get("current_attempt_scheduled_time") or task.get("scheduled_time")
            ),
            namespace=self.http.namespace,
            workflow_namespace=self.http.namespace,
        )
        ctx = activity_mod.ActivityContext(
            info,
            lambda d: loop.call_soon_threadsafe(heartbeats.send, d),
            not defn.is_async,
            client=self.client,
            worker_shutdown=self.shutdown_event,
        )
        heartbeats.ctx = ctx
        token_var = activity_mod._current.set(ctx)
        try:
            # A wrong argument count or type fails the attempt, as calling the function would.
            if defn.dynamic:
                args = [to_raw_values(task.get("input"))]
            else:
                args = decode_args(defn.fn, task.get("input"))
        except TypeError as err:
            work: asyncio.Future[Any] = loop.create_future()
            work.set_exception(err)
        else:
            if defn.is_async:
                work = asyncio.ensure_future(defn.fn(*args))
            else:
                import contextvars

                if isinstance(self.executor, concurrent.futures.ProcessPoolExecutor):
                    # Another process: the function and its arguments are pickled (as with
                    # Temporal, a module-level function); it sees `activity.info()` there,
                    # and its heartbeats are not relayed.
                    work = loop.run_in_executor(
                        self.executor, activity_mod.run_in_process, defn.fn, info, args
                    )
                else:
                    context = contextvars.copy_context()
                    work = loop.run_in_executor(self.executor, lambda: context.run(defn.fn, *args))
        finally:
            activity_mod._current.reset(token_var)
        heartbeats.work = work
        outcome: dict[str, Any]
        path: str
        try:
            result = await work
            path = "/activity-tasks/complete"
            wants_next = self.serves_workflow(task["workflow_type"])
            outcome = {
                "result": await codec.encode(self.codec, to_json(result)),
                "return_new_workflow_task": wants_next,
                "partial_history": True,
            }
        except activity_mod.CompleteAsyncError:
            self.client.local_outcomes.left(task["run_id"])
            return  # completed later, from outside this worker
        except asyncio.CancelledError:
            if not ctx.cancelled.is_set():
                raise
            path, outcome = "/activity-tasks/canceled", {"details": to_json(ctx.last_heartbeat)}
        except BaseException as err:
            if ctx.cancelled.is_set():
                path, outcome = "/activity-tasks/canceled", {"details": to_json(ctx.last_heartbeat)}
            else:
                _log_activity_failure(ctx, err)
                path = "/activity-tasks/fail"
                failure = to_failure(err)
                if not isinstance(err, ApplicationError):
                    failure["type"] = type(err).__name__
                outcome = {
                    "failure": await codec.encode_failure(self.codec, failure),
                    "last_heartbeat_details": to_json(ctx.last_heartbeat),
                }
        finally:
            heartbeats.stop()
        response = await self._post(
            path, {"task_token": token, "identity": self.identity, **outcome}
        )
        if response is None or response.status_code != 200:
            self.client.local_outcomes.left(task["run_id"])
            if response is not None and response.status_code not in (404,):
                log.error(
                    "reporting an activity failed: %s %s", response.status_code, response.text
                )
            return
        next_task = response.json().get("workflow_task") if path.endswith("complete") else None
        if not next_task:
            self.client.local_outcomes.left(task["run_id"])
        else:
            await self.workflow_slots.acquire()
            self._spawn(self._workflow_task(next_task, self.workflow_slots))


def _duration(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _log_activity_failure(ctx: activity_mod.ActivityContext, err: BaseException) -> None:
    """Temporal's log of a failed attempt: WARNING with the traceback (DEBUG for a BENIGN
    ApplicationError), through `activity.logger` so the record carries the attempt's details,
    and `__temporal_error_identifier` for logging filters."""
    benign = isinstance(err, ApplicationError) and err.category == ApplicationErrorCategory.BENIGN
    token = activity_mod._current.set(ctx)
    try:
        activity_mod.logger.log(
            logging.DEBUG if benign else logging.WARNING,
            "Completing activity as failed",
            exc_info=err,
            extra={"__temporal_error_identifier": "ActivityFailure"},
        )
    finally:
        activity_mod._current.reset(token)


def _log_workflow_task_failure(task: dict[str, Any], err: BaseException) -> None:
    """Temporal's log of a failed workflow task (a bug or non-determinism in workflow code):
    WARNING with the traceback, the run's details as `temporal_workflow`, and
    `__temporal_error_identifier` = "WorkflowTaskFailure" (a filter may raise it to ERROR)."""
    log.warning(
        "Failed activation on workflow %s with ID %s and run ID %s",
        task["workflow_type"],
        task["workflow_id"],
        task["run_id"],
        exc_info=err,
        extra={
            "temporal_workflow": {
                "attempt": task.get("attempt"),
                "run_id": task["run_id"],
                "task_queue": task.get("task_queue"),
                "workflow_id": task["workflow_id"],
                "workflow_type": task["workflow_type"],
            },
            "__temporal_error_identifier": "WorkflowTaskFailure",
        },
    )


class _Heartbeats:
    """Sends an activity's heartbeats (coalesced, throttled) and relays cancellation."""

    def __init__(self, worker: Worker, task: dict[str, Any]) -> None:
        self.worker = worker
        self.token = task["task_token"]
        timeout = task.get("heartbeat_timeout")
        self.interval = min(timeout * 0.8, 30.0) if timeout else 30.0
        self.pending: Any = None
        self.has_pending = False
        self.sender: asyncio.Task[None] | None = None
        self.ctx: activity_mod.ActivityContext | None = None
        self.work: asyncio.Future[Any] | None = None
        self.stopped = False

    def send(self, details: Any) -> None:
        if self.stopped:
            return
        self.pending, self.has_pending = details, True
        if self.sender is None or self.sender.done():
            self.sender = asyncio.create_task(self._send_loop())

    async def _send_loop(self) -> None:
        while self.has_pending and not self.stopped:
            details, self.has_pending = self.pending, False
            try:
                r = await self.worker.http.send(
                    "POST",
                    "/activity-tasks/heartbeat",
                    json={
                        "task_token": self.token,
                        "details": await codec.encode(self.worker.codec, to_json(details)),
                    },
                )
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code == 200:
                answer = r.json()
                why = activity_mod.ActivityCancellationDetails(
                    cancel_requested=bool(answer.get("cancel_requested")),
                    paused=bool(answer.get("activity_paused")),
                    reset=bool(answer.get("activity_reset")),
                )
                if why.cancel_requested or why.paused or why.reset:
                    self._cancel(why)
                    return
            if r is not None and r.status_code == 404:
                # The attempt is over (timed out, or the run closed).
                self._cancel(activity_mod.ActivityCancellationDetails(not_found=True))
                return
            await asyncio.sleep(self.interval)

    def _cancel(self, why: activity_mod.ActivityCancellationDetails) -> None:
        assert self.ctx is not None
        self.ctx.cancellation = why
        self.ctx.cancelled.set()
        if self.work is not None and not self.ctx.is_sync:
            self.work.cancel()

    def stop(self) -> None:
        self.stopped = True
        if self.sender is not None and not self.sender.done():
            self.sender.cancel()
