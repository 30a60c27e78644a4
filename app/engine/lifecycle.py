"""Runs from start to close: id policies, signals, cancel and terminate requests, time-outs,
continue-as-new, and what closing a run means for its parent and children."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from app.db.connection import Row
from app.db.statements import (
    DELETE_RUN_BUFFER,
    DELETE_RUN_TASKS,
    DELETE_RUN_TIMERS,
    LATEST_RUN,
    OPEN_CHILDREN,
)
from app.engine import (
    activities,
    concurrency_slots,
    cron,
    idempotency,
    priority,
    search_attributes,
    updates,
    workflow_tasks,
)
from app.engine.events import E, RunStatus
from app.engine.matching.wakeups import run_closed_key
from app.engine.payloads import dump, load
from app.engine.priority import NO_PRIORITY, Priority
from app.engine.retry import RetryPolicy
from app.engine.run_limits import MAX_SIGNALS
from app.engine.transition import Run, Transition
from app.engine.versioning import runs as versioning_runs
from app.engine.versioning.runs import VersioningStart
from app.errors import AlreadyExists, FailedPrecondition, LimitExceeded, NotFound
from app.ids import new_id

# Told when the last run of a chain a schedule started closes (set by app.schedules): it
# records the outcome for the schedule in the closing transaction, without locking it.
ScheduledRunClosed = Callable[[Transition, Run, RunStatus], Awaitable[None]]
scheduled_run_closed: ScheduledRunClosed | None = None

TIMER_RUN_TIMEOUT = "run_timeout"
TIMER_EXECUTION_TIMEOUT = "execution_timeout"


@dataclass
class StartRequest:
    namespace_id: str
    workflow_id: str
    workflow_type: str
    task_queue: str
    input_text: str | None = None
    execution_timeout: float | None = None
    run_timeout: float | None = None
    task_timeout: float = 10.0
    id_reuse_policy: str = "ALLOW_DUPLICATE"
    id_conflict_policy: str = "FAIL"
    memo_text: str | None = None
    search_attributes: dict[str, Any] = field(default_factory=dict)
    start_delay: float | None = None
    request_id: str | None = None
    # The request id bound to this start's request (None: the start is not idempotent).
    request_key: idempotency.RequestKey | None = None
    identity: str | None = None
    decider: str = "queue"
    parent: Run | None = None
    parent_initiated_event_id: int | None = None
    parent_close_policy: str | None = None
    retry_policy_text: str | None = None  # JSON of a RetryPolicy; None: a failure is final
    attempt: int = 1
    schedule_key: str | None = None  # the schedule whose action starts this run
    # Temporal's Priority as asked; unset fields inherit the parent's (or continued run's).
    priority: Priority = NO_PRIORITY
    # JSON of the start's `concurrency_keys` map (app/engine/concurrency.py), or None.
    concurrency_keys: str | None = None
    cron_schedule: str | None = None  # Temporal's cron workflows (see app.engine.cron)
    # Worker Versioning: the start's override and what the run inherits (versioning/runs.py).
    versioning: VersioningStart = field(default_factory=VersioningStart)


# -- start ------------------------------------------------------------------------------------


async def _latest_run_id(tx: Transition, namespace_id: str, workflow_id: str) -> Row | None:
    await tx.flush()  # runs started earlier in this transaction must be seen
    result = await tx.conn.execute(
        LATEST_RUN, {"namespace_id": namespace_id, "workflow_id": workflow_id}
    )
    return result.one_or_none()


def _already_started(req: StartRequest, run_id: str, why: str) -> AlreadyExists:
    return AlreadyExists(
        f"workflow '{req.workflow_id}' {why}", workflow_id=req.workflow_id, run_id=run_id
    )


async def start(tx: Transition, req: StartRequest) -> tuple[Run, bool]:
    """Start a run under the id reuse and conflict policies; (run, True if it is new). A
    retried request (same request id and request) gets the run the first one reached."""
    if req.request_key is not None:
        earlier = await idempotency.recall(tx, req.namespace_id, req.request_key)
        if earlier is not None:
            return await tx.run(earlier.run_id), False
    run, created = await _start(tx, req)
    if req.request_key is not None:
        await idempotency.remember(tx, req.namespace_id, req.request_key, "start", run)
    return run, created


async def _start(tx: Transition, req: StartRequest) -> tuple[Run, bool]:
    latest = await _latest_run_id(tx, req.namespace_id, req.workflow_id)
    if latest is not None and latest.status == RunStatus.RUNNING:
        current = await tx.run(latest.id)
        if req.id_conflict_policy == "USE_EXISTING":
            return current, False
        if req.id_conflict_policy == "FAIL":
            raise _already_started(req, current.id, "is already running")
        await terminate(
            tx,
            current,
            reason="terminated by a start with id_conflict_policy TERMINATE_EXISTING",
            identity=req.identity,
        )
    elif latest is not None:
        if req.id_reuse_policy == "REJECT_DUPLICATE":
            raise _already_started(
                req, latest.id, "has run before and id_reuse_policy is REJECT_DUPLICATE"
            )
        if (
            req.id_reuse_policy == "ALLOW_DUPLICATE_FAILED_ONLY"
            and latest.status == RunStatus.COMPLETED
        ):
            raise _already_started(
                req,
                latest.id,
                "completed successfully and id_reuse_policy is ALLOW_DUPLICATE_FAILED_ONLY",
            )
    return await create_run(tx, req), True


async def create_run(
    tx: Transition,
    req: StartRequest,
    *,
    first_run_id: str | None = None,
    continued_from: Run | None = None,
    execution_deadline: datetime | None = None,
    inherited_parent: Run | None = None,
) -> Run:
    run_id = new_id()
    now = tx.now
    if execution_deadline is None and req.execution_timeout:
        execution_deadline = now + timedelta(seconds=req.execution_timeout)
    parent = req.parent
    lineage = parent or inherited_parent  # whose root this run shares
    delay = req.start_delay or 0.0
    if req.cron_schedule and continued_from is None:
        # Temporal: the first run of a cron workflow waits for the first cron time too.
        delay = cron.seconds_until_next(req.cron_schedule, now)
    data: dict[str, Any] = {
        "id": run_id,
        "namespace_id": req.namespace_id,
        "workflow_id": req.workflow_id,
        "workflow_type": req.workflow_type,
        "task_queue": req.task_queue,
        "status": RunStatus.RUNNING.value,
        "request_id": req.request_id,
        "input": req.input_text,
        "memo": req.memo_text,
        "search_attributes": None,
        "start_time": now,
        "execution_time": now + timedelta(seconds=delay),
        "close_time": None,
        "execution_timeout": req.execution_timeout,
        "run_timeout": req.run_timeout,
        "task_timeout": req.task_timeout,
        "execution_deadline": execution_deadline,
        "first_run_id": first_run_id or run_id,
        "continued_from_run_id": continued_from.id if continued_from else None,
        "continued_to_run_id": None,
        "parent_run_id": parent.id
        if parent
        else (inherited_parent.parent_run_id if inherited_parent else None),
        "parent_workflow_id": parent.workflow_id
        if parent
        else (inherited_parent.parent_workflow_id if inherited_parent else None),
        "parent_namespace_id": parent.namespace_id
        if parent
        else (inherited_parent.parent_namespace_id if inherited_parent else None),
        "parent_initiated_event_id": req.parent_initiated_event_id
        if parent
        else (inherited_parent.parent_initiated_event_id if inherited_parent else None),
        "parent_close_policy": req.parent_close_policy
        if parent
        else (inherited_parent.parent_close_policy if inherited_parent else None),
        "root_workflow_id": lineage.root_workflow_id if lineage else req.workflow_id,
        "children_started": 0,
        "result": None,
        "failure": None,
        "next_event_id": 1,
        "history_bytes": 0,
        "wft_state": "none",
        "wft_scheduled_event_id": None,
        "wft_started_event_id": None,
        "wft_attempt": 1,
        "wft_identity": None,
        "last_completed_started_event_id": 0,
        "buffered_events": 0,
        "cancel_requested": False,
        "signal_count": 0,
        "decider": req.decider,
        "retry_policy": req.retry_policy_text,
        "attempt": req.attempt,
        "cron_schedule": req.cron_schedule,
        "schedule_key": req.schedule_key
        or (continued_from.schedule_key if continued_from else None),
        "reset_run_id": None,
        "reset_from_run_id": None,
        "pause_info": None,
    }
    # Per-key concurrency limits on workflows: decided before the run exists, so that a
    # CANCEL_NEWEST refusal leaves nothing behind. A chain's next run (continue-as-new, a
    # retry) takes over its predecessor's slots instead: the chain holds them while open.
    admission = (
        None
        if continued_from is not None
        else await concurrency_slots.admit_run(
            tx,
            req.namespace_id,
            {
                "workflow_type": req.workflow_type,
                "task_queue": req.task_queue,
                "search_attributes": req.search_attributes,
                "concurrency_keys": load(req.concurrency_keys) or {},
            },
        )
    )
    data.update(req.versioning.columns())
    data["concurrency_keys"] = req.concurrency_keys
    data["concurrency_state"] = None
    own_priority = req.priority
    if lineage is not None:
        own_priority = own_priority.inherit(priority.of_row(lineage.data))
    if continued_from is not None:
        own_priority = own_priority.inherit(priority.of_row(continued_from.data))
    data.update(own_priority.columns())
    run = tx.add_new_run(data)
    if parent is not None:
        # The parent's row is locked by this transaction (it is completing a workflow task).
        parent.set(children_started=parent.children_started + 1)
    tx.observe("workflow_started", (run.namespace_id,))
    # Checked (and Temporal's lists of one unwrapped) before the event records them.
    await search_attributes.upsert(tx, run, req.search_attributes)
    tx.append(
        run,
        E.WORKFLOW_EXECUTION_STARTED,
        {
            "workflow_type": req.workflow_type,
            "task_queue": req.task_queue,
            "input": load(req.input_text),
            "workflow_execution_timeout": req.execution_timeout,
            "workflow_run_timeout": req.run_timeout,
            "workflow_task_timeout": req.task_timeout,
            "memo": load(req.memo_text),
            "search_attributes": req.search_attributes or None,
            "first_workflow_task_backoff": delay or None,
            "identity": req.identity,
            **({"priority": p} if (p := own_priority.to_json()) else {}),
            "parent_workflow_id": data["parent_workflow_id"],
            "parent_run_id": data["parent_run_id"],
            "parent_initiated_event_id": data["parent_initiated_event_id"],
            "continued_execution_run_id": data["continued_from_run_id"],
            "first_execution_run_id": data["first_run_id"],
            "original_execution_run_id": run_id,
            "attempt": req.attempt,
            "retry_policy": load(req.retry_policy_text),
            **({"cron_schedule": req.cron_schedule} if req.cron_schedule else {}),
            **req.versioning.started_attributes(),
        },
    )
    if continued_from is not None:
        await concurrency_slots.hand_over(tx, continued_from, run)
    await concurrency_slots.record_run(tx, run, admission)
    if admission is not None:
        for oldest_id in admission.cancel_run_ids:  # CANCEL_IN_PROGRESS
            oldest = await tx.run(oldest_id)
            if oldest.is_open and not oldest.cancel_requested:
                await request_cancel(
                    tx,
                    oldest,
                    reason="canceled by concurrency limit strategy CANCEL_IN_PROGRESS",
                    identity="perdure-concurrency-limit",
                )
    if delay:
        await tx.add_timer_after(run, workflow_tasks.TIMER_FIRST_TASK_BACKOFF, delay)
    else:
        await workflow_tasks.schedule(tx, run)
    if req.run_timeout:
        await tx.add_timer_after(run, TIMER_RUN_TIMEOUT, delay + req.run_timeout)
    if execution_deadline is not None:
        await tx.add_timer(run, TIMER_EXECUTION_TIMEOUT, execution_deadline)
    return run


# -- requests from outside ----------------------------------------------------------------------


def require_open(run: Run) -> None:
    if not run.is_open:
        raise FailedPrecondition(
            f"workflow '{run.workflow_id}' run '{run.id}' is {run.status}, not running",
            workflow_id=run.workflow_id,
            run_id=run.id,
            run_status=run.status,
        )


async def signal(
    tx: Transition,
    run: Run,
    name: str,
    input_text: str | None,
    identity: str | None,
    *,
    external_initiated_event_id: int | None = None,
) -> None:
    require_open(run)
    if run.signal_count >= MAX_SIGNALS:
        raise LimitExceeded(
            f"run '{run.id}' has received the maximum of {MAX_SIGNALS} signals", limit=MAX_SIGNALS
        )
    run.set(signal_count=run.signal_count + 1)
    await tx.record(
        run,
        E.WORKFLOW_EXECUTION_SIGNALED,
        {
            "signal_name": name,
            "input": load(input_text),
            "identity": identity,
            "external_initiated_event_id": external_initiated_event_id,
        },
    )
    workflow_tasks.needs_decision(tx, run)


async def signal_with_start_to_running(
    tx: Transition, run: Run, name: str, input_text: str | None, identity: str | None
) -> None:
    """Signal-with-start that found its run running: the signal, and, if the run still waits
    out its start delay, its first workflow task at once. Temporal ends a start delay this way
    on purpose (`SignalWithStartWorkflowExecutionRequest.workflow_start_delay`: "If the
    workflow gets another SignalWithStartWorkflow before the delay a workflow task will be
    dispatched immediately"); a workflow retry's or continue-as-new back-off is kept, as
    Temporal means to (temporalio/temporal#3805, #11810)."""
    await signal(tx, run, name, input_text, identity)
    if run.continued_from_run_id is None:  # a first run: its back-off is a start delay
        await workflow_tasks.end_first_task_backoff(tx, run, early=True)


async def request_cancel(
    tx: Transition,
    run: Run,
    *,
    reason: str | None,
    identity: str | None,
    external_initiated_event_id: int | None = None,
) -> None:
    require_open(run)
    if run.cancel_requested:
        return  # asked once is enough; the workflow has been told
    run.set(cancel_requested=True)
    await tx.record(
        run,
        E.WORKFLOW_EXECUTION_CANCEL_REQUESTED,
        {
            "cause": reason,
            "identity": identity,
            "external_initiated_event_id": external_initiated_event_id,
        },
    )
    workflow_tasks.needs_decision(tx, run)


async def terminate(
    tx: Transition,
    run: Run,
    *,
    reason: str | None,
    identity: str | None,
    details: Any = None,
    for_reset: bool = False,
) -> None:
    """Close the run at once. `for_reset`: a reset replaces it (app/engine/reset.py), so its
    parent is not told and its children are left to the reset's rules, not to their parent
    close policy."""
    require_open(run)
    if run.wft_state == "started":
        await tx.cancel_timers(run, workflow_tasks.TIMER_WFT_TIMEOUT)
    workflow_tasks.forget_speculative(run)
    run.set(wft_state="none")
    await tx.flush_buffered(run)
    await close(
        tx,
        run,
        RunStatus.TERMINATED,
        E.WORKFLOW_EXECUTION_TERMINATED,
        {"reason": reason, "details": details, "identity": identity},
        failure={"message": reason or "terminated", "type": "TerminatedError"},
        for_reset=for_reset,
    )


async def time_out(tx: Transition, run: Run, kind: str) -> None:
    workflow_tasks.forget_speculative(run)
    run.set(wft_state="none")
    await tx.flush_buffered(run)
    failure = {
        "message": f"workflow {kind.replace('_', ' ')} exceeded",
        "type": "TimeoutError",
        "timeout_type": kind.upper(),
    }
    if kind == "run_timeout" and await retry(
        tx, run, failure, E.WORKFLOW_EXECUTION_TIMED_OUT, {"timeout": kind}
    ):
        return
    await close(
        tx,
        run,
        RunStatus.TIMED_OUT,
        E.WORKFLOW_EXECUTION_TIMED_OUT,
        {"retry_state": "RETRY_STATE_TIMEOUT", "timeout": kind},
        failure=failure,
    )


# -- closing ------------------------------------------------------------------------------------


async def close(
    tx: Transition,
    run: Run,
    status: RunStatus,
    event_type: E,
    attributes: dict[str, Any],
    *,
    result_text: str | None = None,
    failure: dict[str, Any] | None = None,
    continued_to: Run | None = None,
    for_reset: bool = False,
) -> None:
    workflow_tasks.forget_speculative(run)
    if continued_to is None and run.cron_schedule and status in CRON_CONTINUES:
        continued_to = await _next_cron_run(tx, run, status)
        attributes = {**attributes, "new_execution_run_id": continued_to.id}
    tx.append(run, event_type, attributes)
    tx.observe("workflow_closed", (run.namespace_id, status.value))
    if status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
        tx.note(logging.WARNING, f"workflow run {status.value.lower()}", run)
    run.set(
        status=status.value,
        close_time=tx.now,
        result=result_text,
        failure=None if failure is None else dump(failure),
        wft_state="none",
        continued_to_run_id=continued_to.id if continued_to else None,
    )
    tx.wake_keys.add(run_closed_key(run.id))
    if run.data.get("versioning_behavior") == "PINNED" and run.data.get("deployment_name"):
        # Its version may be drained by this close (checked once the runs are written).
        tx.pinned_runs_closed.add((run.namespace_id, run.deployment_name, run.build_id))
    params = {"run_id": run.id}
    await tx.conn.execute(DELETE_RUN_TASKS, params)
    await tx.conn.execute(DELETE_RUN_TIMERS, params)
    if run.buffered_events:
        await tx.conn.execute(DELETE_RUN_BUFFER, params)
    await concurrency_slots.release_run(tx, run)
    await activities.forget_all(tx, run)
    await updates.on_run_closed(tx, run, continued_to)
    if for_reset:
        return  # the reset's new run goes on for its schedule, parent and children
    if run.schedule_key is not None and continued_to is None and scheduled_run_closed:
        await scheduled_run_closed(tx, run, status)
    if run.children_started:  # else it has no children: no need to look for them
        await _apply_parent_close_policy(tx, run)
    if continued_to is None and run.parent_run_id:
        await _report_to_parent(tx, run, status, attributes, result_text, failure)


async def _apply_parent_close_policy(tx: Transition, parent: Run) -> None:
    await tx.flush()  # a child started by this very workflow task must be seen
    children = (await tx.conn.execute(OPEN_CHILDREN, {"run_id": parent.id})).all()
    for child_id, policy in children:
        if policy == "ABANDON":
            continue
        child = await tx.run(child_id)
        if not child.is_open:
            continue
        if policy == "REQUEST_CANCEL":
            await request_cancel(
                tx,
                child,
                reason="parent closed (parent close policy REQUEST_CANCEL)",
                identity=None,
            )
        else:
            await terminate(
                tx, child, reason="parent closed (parent close policy TERMINATE)", identity=None
            )


CHILD_EVENTS = {
    RunStatus.COMPLETED: E.CHILD_WORKFLOW_EXECUTION_COMPLETED,
    RunStatus.FAILED: E.CHILD_WORKFLOW_EXECUTION_FAILED,
    RunStatus.CANCELED: E.CHILD_WORKFLOW_EXECUTION_CANCELED,
    RunStatus.TIMED_OUT: E.CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
    RunStatus.TERMINATED: E.CHILD_WORKFLOW_EXECUTION_TERMINATED,
}


async def _report_to_parent(
    tx: Transition,
    child: Run,
    status: RunStatus,
    attributes: dict[str, Any],
    result_text: str | None,
    failure: dict[str, Any] | None,
) -> None:
    try:
        parent = await tx.run(child.parent_run_id)
    except NotFound:
        return  # the parent closed long ago and has been deleted by retention
    if not parent.is_open:
        return
    await tx.record(
        parent,
        CHILD_EVENTS[status],
        {
            "initiated_event_id": child.parent_initiated_event_id,
            "workflow_execution": {"workflow_id": child.workflow_id, "run_id": child.id},
            "workflow_type": child.workflow_type,
            "result": load(result_text),
            "failure": failure,
            "details": attributes.get("details"),
        },
    )
    workflow_tasks.needs_decision(tx, parent)


# A cron workflow's chain goes on after a run completes, fails or times out (Temporal: a
# failure does not stop it); cancel and terminate end it.
CRON_CONTINUES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.TIMED_OUT)


async def _next_cron_run(tx: Transition, run: Run, status: RunStatus) -> Run:
    """Start the next run of a cron workflow, at the first cron time after now, with the
    first run's input (Temporal's rule)."""
    req = StartRequest(
        namespace_id=run.namespace_id,
        workflow_id=run.workflow_id,
        workflow_type=run.workflow_type,
        task_queue=run.task_queue,
        input_text=run.input,
        execution_timeout=run.execution_timeout,
        run_timeout=run.run_timeout,
        task_timeout=run.task_timeout,
        memo_text=run.memo,
        search_attributes=load(run.search_attributes) or {},
        start_delay=cron.seconds_until_next(run.cron_schedule, tx.now),
        decider=run.decider,
        retry_policy_text=run.retry_policy,
        cron_schedule=run.cron_schedule,
    )
    run.set(status=status.value)  # leave the "open" index before the next run takes the id
    await tx.flush()
    return await create_run(
        tx,
        req,
        first_run_id=run.first_run_id,
        continued_from=run,
        execution_deadline=run.execution_deadline,
        inherited_parent=run,
    )


async def continue_as_new(
    tx: Transition, run: Run, attributes: dict[str, Any], workflow_task_completed_event_id: int
) -> Run:
    """Close this run and start the next of its chain in one transaction."""
    req = StartRequest(
        namespace_id=run.namespace_id,
        workflow_id=run.workflow_id,
        workflow_type=attributes.get("workflow_type") or run.workflow_type,
        task_queue=attributes.get("task_queue") or run.task_queue,
        input_text=attributes.get("input_text"),
        execution_timeout=run.execution_timeout,
        run_timeout=attributes.get("run_timeout") or run.run_timeout,
        task_timeout=attributes.get("task_timeout") or run.task_timeout,
        memo_text=attributes.get("memo_text") if "memo_text" in attributes else run.memo,
        search_attributes=attributes.get("search_attributes")
        or (load(run.search_attributes) or {}),
        start_delay=attributes.get("backoff_start_interval"),
        decider=run.decider,
        retry_policy_text=run.retry_policy,
        concurrency_keys=run.concurrency_keys,
        cron_schedule=run.cron_schedule,
    )
    req.versioning = await versioning_runs.inherit(
        tx, run, req.task_queue, "continue_as_new", attributes.get("initial_versioning_behavior")
    )
    # The old run leaves the "open" index first so the new run can take the workflow id.
    run.set(status=RunStatus.CONTINUED_AS_NEW.value)
    await tx.flush()
    new_run = await create_run(
        tx,
        req,
        first_run_id=run.first_run_id,
        continued_from=run,
        execution_deadline=run.execution_deadline,
        inherited_parent=run,
    )
    await close(
        tx,
        run,
        RunStatus.CONTINUED_AS_NEW,
        E.WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        {
            "new_execution_run_id": new_run.id,
            "workflow_type": req.workflow_type,
            "task_queue": req.task_queue,
            "input": load(req.input_text),
            "workflow_run_timeout": req.run_timeout,
            "workflow_task_timeout": req.task_timeout,
            "workflow_task_completed_event_id": workflow_task_completed_event_id,
        },
        continued_to=new_run,
    )
    return new_run


async def retry(
    tx: Transition, run: Run, failure: dict[str, Any], event_type: E, attributes: dict[str, Any]
) -> bool:
    """Under the run's retry policy, close it (FAILED or TIMED_OUT, naming the next run) and
    start its next attempt after the back-off. False when no retry applies."""
    if run.retry_policy is None:
        return False
    policy = RetryPolicy.from_json(load(run.retry_policy))
    if not policy.is_retryable(failure.get("type"), bool(failure.get("non_retryable"))):
        return False
    if not policy.allows_another(run.attempt):
        return False
    backoff = policy.backoff(run.attempt)
    if (
        run.execution_deadline is not None
        and tx.now + timedelta(seconds=backoff) >= run.execution_deadline
    ):
        return False
    req = StartRequest(
        namespace_id=run.namespace_id,
        workflow_id=run.workflow_id,
        workflow_type=run.workflow_type,
        task_queue=run.task_queue,
        input_text=run.input,
        execution_timeout=run.execution_timeout,
        run_timeout=run.run_timeout,
        task_timeout=run.task_timeout,
        memo_text=run.memo,
        search_attributes=load(run.search_attributes) or {},
        start_delay=backoff,
        decider=run.decider,
        retry_policy_text=run.retry_policy,
        attempt=run.attempt + 1,
        concurrency_keys=run.concurrency_keys,
        cron_schedule=run.cron_schedule,
    )
    req.versioning = await versioning_runs.inherit(tx, run, req.task_queue, "retry")
    status = (
        RunStatus.TIMED_OUT if event_type == E.WORKFLOW_EXECUTION_TIMED_OUT else RunStatus.FAILED
    )
    run.set(status=status.value)  # leave the "open" index before the next attempt takes the id
    await tx.flush()
    new_run = await create_run(
        tx,
        req,
        first_run_id=run.first_run_id,
        continued_from=run,
        execution_deadline=run.execution_deadline,
        inherited_parent=run,
    )
    await close(
        tx,
        run,
        status,
        event_type,
        {
            **attributes,
            "failure": failure,
            "retry_state": "RETRY_STATE_IN_PROGRESS",
            "new_execution_run_id": new_run.id,
        },
        failure=failure,
        continued_to=new_run,
    )
    return True


def with_parent(
    req: StartRequest, parent: Run, initiated_event_id: int, policy: str
) -> StartRequest:
    return replace(
        req, parent=parent, parent_initiated_event_id=initiated_event_id, parent_close_policy=policy
    )
