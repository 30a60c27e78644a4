"""`Engine`: the one entry point to the engine for routers, loops and the definition decider.

Each public method is one transition: it runs in one write transaction (retried on a
PostgreSQL deadlock or serialization failure), schedules the workflow tasks it made
necessary, writes back, and after commit wakes the pollers and watchers it concerns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from app.context import ServerContext
from app.db.statements import NOTIFY
from app.db.tables import namespaces, tenants
from app.engine import (
    activities,
    activity_controls,
    decisions,
    idempotency,
    lifecycle,
    pause,
    queries,
    reads,
    workflow_tasks,
)
from app.engine.deadline_loop import DeadlineLoop
from app.engine.events import E
from app.engine.matching import dispatch, polls
from app.engine.matching.pollers import PollerRegistry
from app.engine.matching.wakeups import (
    CHANNEL,
    DRAIN_KEY,
    TIMERS_KEY,
    Wakeups,
    notify_payloads,
    run_key,
)
from app.engine.payloads import dump_payload
from app.engine.reads import RunWatcher
from app.engine.run_limits import MAX_HISTORY_BYTES, MAX_HISTORY_EVENTS
from app.engine.time_lock import TimeSkippingLock
from app.engine.tokens import TaskToken
from app.engine.transition import Run, Transition
from app.engine.versioning import drainage
from app.engine.versioning import runs as versioning_runs
from app.engine.versioning.polls import VersionRegistry
from app.engine.versioning.replay_tasks import ReplayBoard
from app.engine.waits import RunWaits
from app.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    NotFound,
    PerdureError,
    Unavailable,
)
from app.observability.logs import log_engine_events

log = logging.getLogger("perdure.engine")

T = TypeVar("T")
# Tells a long poll whether its HTTP caller has disconnected (checked before each claim).
CallerGone = Callable[[], Awaitable[bool]]
RETRYABLE_SQLSTATES = {"40P01", "40001", "23505"}
MAX_TRANSITION_ATTEMPTS = 5


@dataclass
class Rejected:
    """A transition that committed (e.g. the workflow task was failed) but must answer an
    error to its caller."""

    error: PerdureError


class Engine:
    def __init__(self, ctx: ServerContext, wakeups: Wakeups) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.clock = ctx.clock
        self.wakeups = wakeups
        self.is_postgres = not ctx.db.is_sqlite
        # Waiters look at the database again this often even without a wake-up.
        self.fallback = ctx.settings.poll_fallback_seconds
        self.waits = RunWaits(ctx.db, wakeups, self.fallback)
        self.watcher = RunWatcher(ctx.db, self.waits)
        self.pollers = PollerRegistry(ctx.db, ctx.clock)
        self.versions = VersionRegistry(self)
        # Time-skipping: Temporal's lock (held by test environments) and sleepers.
        self.time_lock = TimeSkippingLock(ctx.clock)
        self.deadline_loop = DeadlineLoop(self)
        # Which versions have a running replay check (app/engine/versioning/replay_tasks.py).
        self.replay_board = ReplayBoard()

    # -- the transition runner --------------------------------------------------------------

    async def transact(self, body: Callable[[Transition], Awaitable[T | Rejected]]) -> T:
        """Run `body` as one transition (one transaction, retried on conflicts), then the
        wake-ups, logs and metrics it asked for; a `Rejected` answer raises its error after
        the commit."""
        if self.ctx.tracer is None:
            return await self._transact(body)
        # The function the transition runs (a partial's own function): its span's name.
        named = body.func if isinstance(body, partial) else body
        name = getattr(named, "__qualname__", "transition").split(".<locals>")[0]
        with self.ctx.tracer.start_as_current_span(f"transition {name}"):
            return await self._transact(body)

    async def _transact(self, body: Callable[[Transition], Awaitable[T | Rejected]]) -> T:
        for attempt in range(1, MAX_TRANSITION_ATTEMPTS + 1):
            try:
                async with self.db.write() as conn:
                    tx = Transition(conn=conn, now=self.clock.now(), is_postgres=self.is_postgres)
                    result = await body(tx)
                    await self._finish(tx)
            except DBAPIError as exc:
                sqlstate = getattr(exc.orig, "sqlstate", None)
                if sqlstate in RETRYABLE_SQLSTATES and attempt < MAX_TRANSITION_ATTEMPTS:
                    self.ctx.metrics.transition_retries.labels(sqlstate).inc()
                    log.info("transition retried after %s (attempt %d)", sqlstate, attempt)
                    await asyncio.sleep(0.005 * attempt)
                    continue
                raise
            if tx.earliest_timer is not None and (
                self.deadline_loop.wakes_at is None
                or tx.earliest_timer < self.deadline_loop.wakes_at
            ):
                tx.wake_keys.add(TIMERS_KEY)
            self.wakeups.notify(tx.wake_keys, tx.task_counts)
            if tx.notes:
                log_engine_events(tx.notes)
            if tx.observations:
                await self.ctx.metrics.apply(tx.observations, self.namespace_label)
            if isinstance(result, Rejected):
                raise result.error
            return result
        raise AssertionError("unreachable")

    async def namespace_label(self, namespace_id: str) -> str | None:
        """'tenant/namespace' for metric labels (read once per namespace and process)."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(tenants.c.name, namespaces.c.name)
                    .join(tenants, tenants.c.id == namespaces.c.tenant_id)
                    .where(namespaces.c.id == namespace_id)
                )
            ).one_or_none()
        return f"{row[0]}/{row[1]}" if row is not None else None

    async def _finish(self, tx: Transition) -> None:
        await decisions.run_inline_deciders(tx)
        await self._queue_held_tasks(tx)
        await self._enforce_history_limits(tx)
        await tx.flush()
        if tx.pinned_runs_closed:
            await drainage.on_pinned_runs_closed(tx)
        if self.is_postgres and (tx.wake_keys or tx.earliest_timer is not None):
            # Other replicas' deadline loops cannot know their plans here: tell them always.
            keys = tx.wake_keys | ({TIMERS_KEY} if tx.earliest_timer is not None else set())
            # New tasks that this process's own waiting polls will take need no NOTIFY: other
            # processes' polls would only race them into empty claims. (Should the local
            # waiter leave before commit, the task waits in the backlog for the next arriving
            # poll, or at most poll_fallback_seconds for some process's fallback look.)
            keys -= {
                key
                for key, count in tx.task_counts.items()
                if self.wakeups.matcher.can_take(key, count)
            }
            for payload in notify_payloads(keys, self.wakeups.origin):
                await tx.conn.execute(NOTIFY, {"channel": CHANNEL, "payload": payload})

    async def _queue_held_tasks(self, tx: Transition) -> None:
        """Workflow tasks held back for an eager caller that it did not take go to their queues."""
        for run_id in sorted(tx.held_workflow_tasks):
            run = await tx.run(run_id)
            if run.is_open and run.wft_state == "scheduled":
                await workflow_tasks.queue(tx, run)
        tx.held_workflow_tasks.clear()

    async def _enforce_history_limits(self, tx: Transition) -> None:
        for run in list(tx.runs.values()):
            too_long = run.next_event_id - 1 >= MAX_HISTORY_EVENTS
            too_big = run.history_bytes >= MAX_HISTORY_BYTES
            if run.is_open and (too_long or too_big):
                what = f"{MAX_HISTORY_EVENTS} events" if too_long else f"{MAX_HISTORY_BYTES} bytes"
                await lifecycle.terminate(
                    tx,
                    run,
                    reason=f"history size limit exceeded ({what}); the run was terminated",
                    identity="perdure",
                )

    def begin_drain(self) -> None:
        """Shutdown began: waiting long polls, result waits and queries answer at once."""
        if not self.wakeups.draining:
            log.info("shutting down: answering waiting long polls, taking no new tasks")
            self.wakeups.begin_drain()

    # -- starting and driving runs ----------------------------------------------------------

    async def start_workflow(
        self, req: lifecycle.StartRequest, *, eager_identity: str | None = None
    ) -> tuple[Run, bool, dispatch.WorkflowTaskClaim | None]:
        """(run, created, first workflow task when eagerly requested and available)."""

        async def body(tx: Transition) -> tuple[Run, bool, dispatch.WorkflowTaskClaim | None]:
            tx.hold_workflow_tasks = eager_identity is not None
            run, created = await lifecycle.start(tx, req)
            claim = None
            # An eager caller is an unversioned worker: not on a deployment's queue.
            if (
                created
                and eager_identity
                and await versioning_runs.may_take_next_task(tx, run, None)
            ):
                claim = await dispatch.take_scheduled_workflow_task(tx, run, eager_identity)
            return run, created, claim

        return await self.transact(body)

    async def signal_with_start(
        self, req: lifecycle.StartRequest, signal_name: str, signal_input: str | None
    ) -> tuple[Run, bool]:
        """Signal the workflow's open run, or start one and signal it; (run, started). A
        retried request (same request id and request) gets the first answer's run."""
        key = req.request_key
        start_req = replace(req, request_key=None)

        async def body(tx: Transition) -> tuple[Run, bool]:
            if key is not None:
                earlier = await idempotency.recall(tx, req.namespace_id, key)
                if earlier is not None:
                    return await tx.run(earlier.run_id), False  # signaled the first time
            try:
                run = await tx.find_run(req.namespace_id, req.workflow_id)
            except NotFound:
                run = None
            created = False
            if run is not None and run.is_open:
                await lifecycle.signal_with_start_to_running(
                    tx, run, signal_name, signal_input, req.identity
                )
            else:
                run, created = await lifecycle.start(tx, start_req)
                await lifecycle.signal(tx, run, signal_name, signal_input, req.identity)
            if key is not None:
                await idempotency.remember(tx, req.namespace_id, key, "signal-with-start", run)
            return run, created

        return await self.transact(body)

    async def _on_run(
        self,
        operation: str,
        namespace_id: str,
        workflow_id: str,
        run_id: str | None,
        request_key: idempotency.RequestKey | None,
        change: Callable[[Transition, Run], Awaitable[None]],
    ) -> Run:
        """One request from outside to a run (signal, cancel, terminate), answered from the
        first time when it is a retry (its request id was seen with the same request)."""

        async def body(tx: Transition) -> Run:
            if request_key is not None:
                earlier = await idempotency.recall(tx, namespace_id, request_key)
                if earlier is not None:
                    return await tx.run(earlier.run_id)
            run = await tx.find_run(namespace_id, workflow_id, run_id)
            await change(tx, run)
            if request_key is not None:
                await idempotency.remember(tx, namespace_id, request_key, operation, run)
            return run

        return await self.transact(body)

    async def signal(
        self,
        namespace_id: str,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input_text: str | None,
        identity: str | None,
        request_key: idempotency.RequestKey | None = None,
    ) -> Run:
        return await self._on_run(
            "signal",
            namespace_id,
            workflow_id,
            run_id,
            request_key,
            lambda tx, run: lifecycle.signal(tx, run, name, input_text, identity),
        )

    async def request_cancel(
        self,
        namespace_id: str,
        workflow_id: str,
        run_id: str | None,
        reason: str | None,
        identity: str | None,
        request_key: idempotency.RequestKey | None = None,
    ) -> Run:
        return await self._on_run(
            "cancel",
            namespace_id,
            workflow_id,
            run_id,
            request_key,
            lambda tx, run: lifecycle.request_cancel(tx, run, reason=reason, identity=identity),
        )

    async def terminate(
        self,
        namespace_id: str,
        workflow_id: str,
        run_id: str | None,
        reason: str | None,
        details: Any,
        identity: str | None,
        request_key: idempotency.RequestKey | None = None,
    ) -> Run:
        return await self._on_run(
            "terminate",
            namespace_id,
            workflow_id,
            run_id,
            request_key,
            lambda tx, run: lifecycle.terminate(
                tx, run, reason=reason, identity=identity, details=details
            ),
        )

    # -- workflow tasks ---------------------------------------------------------------------

    async def poll_workflow_task(
        self,
        namespace_id: str,
        task_queue: str,
        identity: str,
        wait: float,
        caller_gone: CallerGone | None = None,
        poller: tuple[str, str] | None = None,
    ) -> dispatch.WorkflowTaskClaim | queries.QueryClaim | None:
        """Wait up to `wait` seconds for the queue's next query or workflow task and claim it
        (app/engine/matching/polls.py); `poller`: its deployment version, None unversioned."""
        return await polls.poll_workflow_task(
            self, namespace_id, task_queue, identity, wait, caller_gone, poller
        )

    async def _run_of_token(
        self, tx: Transition, namespace_id: str, token: TaskToken, task: str
    ) -> Run:
        """The run a token names, only if it lives in the caller's namespace. Tokens are not
        secrets: what they name is checked against the database every time."""
        try:
            run = await tx.run(token.run_id)
        except NotFound:
            run = None
        if run is None or run.namespace_id != namespace_id:
            raise NotFound(f"{task} task not found in this namespace", task=task)
        return run

    async def _started_workflow_task(
        self, tx: Transition, namespace_id: str, token: TaskToken
    ) -> Run:
        if token.namespace_id != namespace_id:
            raise NotFound("workflow task not found in this namespace", task="workflow")
        run = await self._run_of_token(tx, namespace_id, token, "workflow")
        if not run.is_open:
            raise NotFound(
                f"workflow task not found: the run is {run.status}",
                task="workflow",
                run_status=run.status,
            )
        # A speculative task's ids are those of the next one too: its nonce tells them apart.
        nonce = run.data.get("wft_speculative_nonce") if run.data.get("wft_speculative") else 0
        if not (
            run.wft_state == "started"
            and run.wft_scheduled_event_id == token.scheduled_event_id
            and run.wft_started_event_id == token.started_event_id
            and token.speculative == (nonce or 0)
        ):
            raise NotFound(
                "workflow task not found: it timed out, was completed, or the token is stale",
                task="workflow",
            )
        return run

    async def complete_workflow_task(
        self,
        namespace_id: str,
        token_text: str,
        raw_commands: list[dict[str, Any]],
        identity: str | None,
        *,
        return_new_task: bool = False,
        messages: list[dict[str, Any]] | None = None,
        force_new_task: bool = False,
        worker: tuple[str, str] | None = None,
        versioning_behavior: str | None = None,
    ) -> dict[str, Any]:
        """Complete a started workflow task with commands and protocol messages (updates'
        answers); optionally start and return the run's next task. `force_new_task`
        (Temporal's `force_create_new_workflow_task`) schedules another workflow task at once
        although nothing new happened: a worker running a local activity keeps its task
        alive so."""
        token = TaskToken.decode(token_text, kind="w")

        async def body(tx: Transition) -> dict[str, Any] | Rejected:
            tx.hold_workflow_tasks = return_new_task
            if any(c.get("command_type") == "SCHEDULE_ACTIVITY_TASK" for c in raw_commands):
                # Read in the same round trip as the run (commands.validate needs them).
                activities.read_pending_ids_with_next(tx, token.run_id)
            run = await self._started_workflow_task(tx, namespace_id, token)
            who = identity or run.wft_identity or "unknown"  # the poller's, unless told
            tx.caller_identity = who
            # Before the commands: the tasks they create follow the run's new routing.
            completed = await versioning_runs.on_workflow_task_completed(
                tx, run, worker, versioning_behavior
            )
            refused = await decisions.apply_decision(
                tx, run, raw_commands, who, messages, completed
            )
            if refused is not None:
                return Rejected(refused)
            if force_new_task and run.is_open:
                workflow_tasks.needs_decision(tx, run)
            answer: dict[str, Any] = {"workflow_task": None, "activity_tasks": []}
            answer["activity_tasks"] = [
                dispatch.activity_task(tx, owner, row).body
                for owner, row in tx.eager_activities
                if owner.is_open
            ]
            if return_new_task and run.is_open:
                await workflow_tasks.schedule_pending(tx)
                # A versioned run's next task goes only where its routing sends it.
                if await versioning_runs.may_take_next_task(tx, run, worker):
                    answer["workflow_task"] = await dispatch.take_scheduled_workflow_task(
                        tx, run, who
                    )
            return answer

        return await self.transact(body)

    async def fail_workflow_task(
        self,
        namespace_id: str,
        token_text: str,
        failure: dict[str, Any],
        cause: str,
        identity: str | None,
    ) -> None:
        token = TaskToken.decode(token_text, kind="w")

        async def body(tx: Transition) -> None:
            run = await self._started_workflow_task(tx, namespace_id, token)
            await workflow_tasks.fail_and_retry(
                tx,
                run,
                E.WORKFLOW_TASK_FAILED,
                {
                    "cause": cause,
                    "failure": failure,
                    "identity": identity or run.wft_identity or "unknown",
                },
            )

        await self.transact(body)

    # -- activity tasks ---------------------------------------------------------------------

    async def poll_activity_task(
        self,
        namespace_id: str,
        task_queue: str,
        identity: str,
        wait: float,
        caller_gone: CallerGone | None = None,
        poller: tuple[str, str] | None = None,
    ) -> dispatch.ActivityTaskClaim | None:
        claims = await self.poll_activity_tasks(
            namespace_id, task_queue, identity, wait, 1, caller_gone, poller
        )
        return claims[0] if claims else None

    async def poll_activity_tasks(
        self,
        namespace_id: str,
        task_queue: str,
        identity: str,
        wait: float,
        max_tasks: int,
        caller_gone: CallerGone | None = None,
        poller: tuple[str, str] | None = None,
    ) -> list[dispatch.ActivityTaskClaim]:
        """Wait up to `wait` seconds for a task, then take up to `max_tasks` that are ready
        (app/engine/matching/polls.py); `poller`: its deployment version, None unversioned."""
        return await polls.poll_activity_tasks(
            self, namespace_id, task_queue, identity, wait, max_tasks, caller_gone, poller
        )

    async def _started_activity(
        self,
        tx: Transition,
        namespace_id: str,
        token_text: str | None,
        by_id: tuple[str, str | None, str] | None,
    ) -> tuple[Run, sa.RowMapping]:
        """The activity a token (or workflow id + activity id) names, if that attempt is still
        the running one; otherwise NotFound and nothing changes."""
        if token_text is not None:
            token = TaskToken.decode(token_text, kind="a")
            if token.namespace_id != namespace_id:
                raise NotFound("activity task not found in this namespace", task="activity")
            # The activity is read in the same round trip as the run it follows.
            activities.read_with_next(tx, token.run_id, token.scheduled_event_id)
            run = await self._run_of_token(tx, namespace_id, token, "activity")
            activity = await activities.get(tx, run.id, token.scheduled_event_id)
            stale = activity is None or activity["attempt"] != token.attempt
        else:
            assert by_id is not None
            workflow_id, run_id, activity_id = by_id
            run = await tx.find_run(namespace_id, workflow_id, run_id)
            activity = await activities.find_by_activity_id(tx, run.id, activity_id)
            stale = activity is None
        if not run.is_open:
            raise NotFound(
                f"activity task not found: the run is {run.status}",
                task="activity",
                run_status=run.status,
            )
        if stale or activity is None or activity["state"] != "started":
            raise NotFound(
                "activity task not found: it completed, timed out, or the token names an earlier attempt",
                task="activity",
            )
        return run, activity

    async def heartbeat_activity(
        self,
        namespace_id: str,
        details: Any,
        *,
        token: str | None = None,
        by_id: tuple[str, str | None, str] | None = None,
    ) -> dict[str, bool]:
        """Record the heartbeat; answer Temporal's flags: `cancel_requested`,
        `activity_paused`, `activity_reset` (app/engine/activity_controls.py)."""
        details_text = dump_payload(details, field="details")

        async def body(tx: Transition) -> dict[str, bool]:
            _, activity = await self._started_activity(tx, namespace_id, token, by_id)
            await activities.heartbeat(tx, activity, details_text)
            return activity_controls.heartbeat_answer(activity)

        return await self.transact(body)

    async def complete_activity(
        self,
        namespace_id: str,
        result: Any,
        identity: str | None,
        *,
        token: str | None = None,
        by_id: tuple[str, str | None, str] | None = None,
        return_new_workflow_task: bool = False,
    ) -> dispatch.WorkflowTaskClaim | None:
        """Complete the attempt; optionally start and return the workflow task it caused."""
        result_text = dump_payload(result, field="result")

        async def body(tx: Transition) -> dispatch.WorkflowTaskClaim | None:
            tx.hold_workflow_tasks = return_new_workflow_task
            run, activity = await self._started_activity(tx, namespace_id, token, by_id)
            who = identity or activity["started_identity"] or "unknown"
            await activities.complete(tx, run, activity, result_text, who)
            if not return_new_workflow_task:
                return None
            await workflow_tasks.schedule_pending(tx)
            if not await versioning_runs.may_take_next_task(tx, run, None):
                return None  # a versioned run's task goes where its routing sends it
            return await dispatch.take_scheduled_workflow_task(tx, run, who)

        return await self.transact(body)

    async def complete_activities(
        self, namespace_id: str, completions: list[tuple[str, Any]], identity: str | None
    ) -> list[PerdureError | None]:
        """Complete many attempts (task token, result) in one transaction; per completion, None
        or the error that refused it (a stale token, a result too large). A refusal is found
        before anything of its completion is written, so it never costs the others theirs."""
        prepared: list[tuple[str, str | None] | PerdureError] = []
        for token, result in completions:
            try:
                prepared.append((token, dump_payload(result, field="result")))
            except PerdureError as err:
                prepared.append(err)

        async def body(tx: Transition) -> list[PerdureError | None]:
            outcomes: list[PerdureError | None] = []
            for item in prepared:
                if isinstance(item, PerdureError):
                    outcomes.append(item)
                    continue
                try:
                    run, activity = await self._started_activity(tx, namespace_id, item[0], None)
                except PerdureError as err:
                    outcomes.append(err)
                    continue
                await activities.complete(tx, run, activity, item[1], identity)
                outcomes.append(None)
            return outcomes

        try:
            return await self.transact(body)
        except PerdureError:
            # Something failed after writing had begun: none of the batch was kept, so each
            # completion gets its own transaction and its own answer.
            log.info("batch completion fell back to one transaction per task")
        outcomes: list[PerdureError | None] = []
        for token, result in completions:
            try:
                await self.complete_activity(namespace_id, result, identity, token=token)
            except PerdureError as err:
                outcomes.append(err)
            else:
                outcomes.append(None)
        return outcomes

    async def fail_activity(
        self,
        namespace_id: str,
        failure: dict[str, Any],
        identity: str | None,
        *,
        last_heartbeat_details: Any = None,
        token: str | None = None,
        by_id: tuple[str, str | None, str] | None = None,
    ) -> None:
        dump_payload(failure, field="failure")
        details_text = dump_payload(last_heartbeat_details, field="last_heartbeat_details")

        async def body(tx: Transition) -> None:
            run, activity = await self._started_activity(tx, namespace_id, token, by_id)
            await activities.fail(tx, run, activity, failure, identity, details_text)

        await self.transact(body)

    async def cancel_activity(
        self,
        namespace_id: str,
        details: Any,
        identity: str | None,
        *,
        token: str | None = None,
        by_id: tuple[str, str | None, str] | None = None,
    ) -> None:
        dump_payload(details, field="details")

        async def body(tx: Transition) -> None:
            run, activity = await self._started_activity(tx, namespace_id, token, by_id)
            if not activity["cancel_requested"] and (
                activity["paused"] or activity["reset_requested"]
            ):
                # Cancelled on its heartbeat's word (activity controls): no event, the
                # control decides the next attempt.
                failure = {"message": "the activity was paused or reset", "type": "Canceled"}
                await activities.hold_or_restart(
                    tx, run, activity, failure, dump_payload(details, field="details")
                )
                return
            if not activity["cancel_requested"]:
                raise FailedPrecondition(
                    "the activity was not asked to cancel; complete or fail it instead"
                )
            await activities.report_canceled(tx, run, activity, details, identity)

        await self.transact(body)

    # -- queries ------------------------------------------------------------------------------

    async def query_workflow(
        self,
        namespace_id: str,
        workflow_id: str,
        run_id: str | None,
        query_type: str,
        args_text: str | None,
        timeout: float,  # noqa: ASYNC109 - the caller's deadline, stored with the query
    ) -> dict[str, Any]:
        """Ask a worker of the run's task queue; wait up to `timeout` seconds for its answer.
        A run whose first workflow task has not completed is asked once it has (see
        `queries.ready_for_query`)."""
        deadline = time.monotonic() + timeout
        run_id = await self._await_queryable(namespace_id, workflow_id, run_id, deadline)
        query_id = await self.transact(
            lambda tx: queries.create(
                tx, namespace_id, workflow_id, run_id, query_type, args_text, timeout
            )
        )
        try:
            while True:
                async with self.wakeups.waiting(queries.query_key(query_id), DRAIN_KEY) as woken:
                    if self.wakeups.draining:
                        raise Unavailable(
                            "the server is shutting down; send the query again",
                            query_id=query_id,
                        )
                    async with self.db.read() as conn:
                        found = await queries.outcome(conn, query_id)
                    if found is not None:
                        return {"query_id": query_id, **found}
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise DeadlineExceeded(
                            f"no worker answered the query within {timeout:g} s; is a worker "
                            "polling the workflow's task queue?",
                            query_id=query_id,
                        )
                    try:
                        await asyncio.wait_for(woken.wait(), min(remaining, self.fallback))
                    except TimeoutError:
                        pass
        finally:
            await asyncio.shield(self.transact(lambda tx: queries.forget(tx, query_id)))

    async def _await_queryable(
        self, namespace_id: str, workflow_id: str, run_id: str | None, deadline: float
    ) -> str:
        """The run's id once a worker can answer a query on it; waits on the run's events."""
        async with self.db.read() as conn:
            row = await reads.find_run_row(conn, namespace_id, workflow_id, run_id)
        while True:
            async with self.wakeups.waiting(run_key(row["id"]), DRAIN_KEY) as woken:
                async with self.db.read() as conn:
                    row = await reads.find_run_row(conn, namespace_id, workflow_id, row["id"])
                pause.require_not_paused(row, "a query")
                remaining = deadline - time.monotonic()
                if queries.ready_for_query(row, self.clock.now(), remaining):
                    return str(row["id"])
                if self.wakeups.draining:
                    raise Unavailable("the server is shutting down; send the query again")
                if remaining <= 0:
                    raise DeadlineExceeded(
                        "the run's first workflow task did not complete within the query's "
                        "timeout; is a worker polling the workflow's task queue?",
                        run_id=row["id"],
                    )
                try:
                    await asyncio.wait_for(woken.wait(), min(remaining, self.fallback))
                except TimeoutError:
                    pass

    async def respond_query(
        self,
        namespace_id: str,
        query_id: str,
        answer: Any,
        error: dict[str, Any] | None,
    ) -> None:
        answer_text = dump_payload(answer, field="answer")
        await self.transact(
            lambda tx: queries.answer(tx, namespace_id, query_id, answer_text, error)
        )
