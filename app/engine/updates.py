"""Workflow Update (Temporal's): a request the workflow validates, handles and answers.

An update is a row of `workflow_updates`, admitted by a caller, carried to the worker as a
protocol message (`Request`) in a workflow task, and answered in that task's completion by
messages: `Rejection` (no event, the row only tells its waiting callers), or `Acceptance` and
later `Response`, each placed among the commands by a PROTOCOL_MESSAGE command, which writes
WORKFLOW_EXECUTION_UPDATE_ACCEPTED / _COMPLETED where it stands. Temporal's rules:
docs/architecture/workflow-update.md and message-protocol.md of temporalio/temporal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app.db.connection import Connection
from app.db.tables import namespaces, workflow_updates
from app.engine import retention
from app.engine.events import E
from app.engine.matching.wakeups import run_key
from app.engine.operator_view import require_not_paused
from app.engine.payloads import dump, load
from app.engine.run_limits import (
    MAX_UPDATE_BYTES_IN_FLIGHT,
    MAX_UPDATES_IN_FLIGHT,
    MAX_UPDATES_PER_RUN,
    UPDATE_BYTES_IN_FLIGHT_SETTING,
    UPDATES_IN_FLIGHT_SETTING,
    UPDATES_PER_RUN_SETTING,
)
from app.engine.transition import Run, Transition
from app.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    WorkflowClosed,
)

# Temporal's namespace defaults (app/engine/run_limits.py), used where a namespace sets none.
MAX_IN_FLIGHT = MAX_UPDATES_IN_FLIGHT
MAX_TOTAL = MAX_UPDATES_PER_RUN
MAX_IN_FLIGHT_BYTES = MAX_UPDATE_BYTES_IN_FLIGHT
# The namespace settings that change them (Temporal's dynamic config, per namespace:
# history.maxInFlightUpdates, history.maxTotalUpdates, history.maxInFlightUpdatePayloads).
IN_FLIGHT_SETTING = UPDATES_IN_FLIGHT_SETTING
TOTAL_SETTING = UPDATES_PER_RUN_SETTING
IN_FLIGHT_BYTES_SETTING = UPDATE_BYTES_IN_FLIGHT_SETTING
# How long a caller refused for too many updates in flight should wait (seconds).
IN_FLIGHT_RETRY_AFTER = 1

# Protocol message bodies, named by `@type` as in Temporal's JSON (the last dotted part is
# enough when a decider sends one).
TYPE_PREFIX = "type.googleapis.com/temporal.api.update.v1."
REQUEST = TYPE_PREFIX + "Request"
BODY_KINDS = ("Acceptance", "Rejection", "Response")

IN_FLIGHT = ("admitted", "sent", "accepted")
COUNTED = ("admitted", "sent", "accepted", "completed")
# Temporal's failures, word for word (service/history/workflow/update).
UNPROCESSED_FAILURE = {
    "message": "Workflow Update is rejected because it wasn't processed by worker. Probably, "
    "Workflow Update is not supported by the worker.",
    "source": "Server",
    "type": "UnprocessedUpdate",
    "non_retryable": True,
}
CLOSED_BEFORE_COMPLETED = {
    "message": "Workflow Update failed because the Workflow completed before the Update completed.",
    "source": "Server",
    "type": "AcceptedUpdateCompletedWorkflow",
    "non_retryable": True,
}

SELECT_UPDATE = sa.select(workflow_updates).where(
    workflow_updates.c.run_id == sa.bindparam("run_id"),
    workflow_updates.c.update_id == sa.bindparam("update_id"),
)


@dataclass
class Admission:
    """An update as its caller sent it."""

    update_id: str
    name: str
    args_text: str | None
    header_text: str | None
    identity: str | None


def stage_of(state: str) -> str:
    """The lifecycle stage (Temporal's UpdateWorkflowExecutionLifecycleStage, short names) a
    row's state has reached."""
    if state in ("completed", "rejected"):
        return "COMPLETED"
    if state == "accepted":
        return "ACCEPTED"
    return "ADMITTED"


def request_body(row: Any) -> dict[str, Any]:
    """Temporal's `update.v1.Request` of a row: meta and input."""
    return {
        "meta": {"update_id": row["update_id"], "identity": row["identity"]},
        "input": {"header": load(row["header"]), "name": row["name"], "args": load(row["args"])},
    }


async def find(conn: Connection, run_id: str, update_id: str) -> dict[str, Any] | None:
    row = (
        (await conn.execute(SELECT_UPDATE, {"run_id": run_id, "update_id": update_id}))
        .mappings()
        .one_or_none()
    )
    return dict(row) if row is not None else None


async def find_in_workflow(
    conn: Connection, namespace_id: str, workflow_id: str, run_id: str | None, update_id: str
) -> dict[str, Any]:
    """The update of that id in the workflow's runs (the newest with it, or in `run_id`), as a
    caller may poll it: a rejected or carried-on row is not one (Temporal answers NotFound for
    a rejected update id). NotFound otherwise."""
    query = (
        sa.select(workflow_updates)
        .where(
            workflow_updates.c.namespace_id == namespace_id,
            workflow_updates.c.workflow_id == workflow_id,
            workflow_updates.c.update_id == update_id,
            workflow_updates.c.state.not_in(("rejected", "moved")),
        )
        .order_by(workflow_updates.c.id.desc())
        .limit(1)
    )
    if run_id:
        query = query.where(workflow_updates.c.run_id == run_id)
    row = (await conn.execute(query)).mappings().one_or_none()
    if row is None:
        raise NotFound(
            f"update '{update_id}' of workflow '{workflow_id}' not found (a rejected update is "
            "not kept)",
            update_id=update_id,
        )
    return dict(row)


async def _counts(tx: Transition, run: Run) -> tuple[int, int, int]:
    """(updates in flight, updates counted against the run's total, bytes in flight)."""
    if not run.data.get("updates_total"):
        return 0, 0, 0
    rows = (
        await tx.conn.execute(
            sa.select(
                workflow_updates.c.state,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(workflow_updates.c.payload_bytes), 0),
            )
            .where(workflow_updates.c.run_id == run.id)
            .group_by(workflow_updates.c.state)
        )
    ).all()
    in_flight = sum(n for state, n, _ in rows if state in IN_FLIGHT)
    total = sum(n for state, n, _ in rows if state in COUNTED)
    size = sum(int(b) for state, _, b in rows if state in IN_FLIGHT)
    return in_flight, total, size


@dataclass(frozen=True, slots=True)
class UpdateLimits:
    """One namespace's update limits per run: updates in flight (admitted, sent or accepted,
    not yet completed), updates in total (rejections not counted), and bytes of in-flight
    update arguments and headers."""

    in_flight: int
    total: int
    in_flight_bytes: int


async def namespace_limits(conn: Connection, namespace_id: str) -> UpdateLimits:
    """The namespace's update limits: its settings (`max_in_flight_updates`,
    `max_total_updates`, `max_in_flight_update_payload_bytes`), else Temporal's defaults
    (10, 2,000, 20 MiB). Read from the row, not a cache, so that a change applies to the
    next update at once, on every replica."""
    settings = await conn.scalar(
        sa.select(namespaces.c.settings).where(namespaces.c.id == namespace_id)
    )
    settings = settings or {}
    return UpdateLimits(
        in_flight=int(settings.get(IN_FLIGHT_SETTING) or MAX_IN_FLIGHT),
        total=int(settings.get(TOTAL_SETTING) or MAX_TOTAL),
        in_flight_bytes=int(settings.get(IN_FLIGHT_BYTES_SETTING) or MAX_IN_FLIGHT_BYTES),
    )


async def admit(tx: Transition, run: Run, update: Admission) -> dict[str, Any]:
    """Admit the update to the run, or find it there (the same id within a run is the same
    update: Temporal deduplicates by update id per run, never across continue-as-new). A
    rejected id is admitted again. Raises WorkflowClosed (the run is closed and never had this
    update), RateLimited (the namespace's `max_in_flight_updates` in flight, default 10),
    FailedPrecondition (its `max_total_updates` in the run, default 2,000), PayloadTooLarge
    (its `max_in_flight_update_payload_bytes` in flight, default 20 MiB). Returns the row."""
    existing = await find(tx.conn, run.id, update.update_id)
    if existing is not None and existing["state"] not in ("rejected",):
        return existing
    if not run.is_open:
        raise WorkflowClosed(
            f"workflow '{run.workflow_id}' run '{run.id}' is {run.status}: it takes no updates",
            workflow_id=run.workflow_id,
            run_id=run.id,
            run_status=run.status,
        )
    if run.decider != "queue":
        raise FailedPrecondition(
            "runs of stored definitions have no update handlers; send a signal instead",
            run_id=run.id,
        )
    require_not_paused(run.data, "an update")  # Temporal's Workflow Pause
    limits = await namespace_limits(tx.conn, run.namespace_id)
    in_flight, total, size = await _counts(tx, run)
    if in_flight >= limits.in_flight:
        raise RateLimited(
            f"run '{run.id}' already has {limits.in_flight} updates in flight (the namespace's "
            f"{IN_FLIGHT_SETTING}, Temporal's history.maxInFlightUpdates); retry once some "
            "complete",
            limit_kind="updates_in_flight",
            retry_after=IN_FLIGHT_RETRY_AFTER,
        )
    if total >= limits.total:
        raise FailedPrecondition(
            f"run '{run.id}' has received the maximum of {limits.total} updates (the "
            f"namespace's {TOTAL_SETTING}, Temporal's history.maxTotalUpdates); continue the "
            "workflow as new",
            limit=limits.total,
        )
    payload_bytes = len(update.args_text or "") + len(update.header_text or "")
    if size + payload_bytes > limits.in_flight_bytes:
        raise PayloadTooLarge(
            f"the updates in flight on run '{run.id}' would pass {limits.in_flight_bytes} bytes "
            f"(the namespace's {IN_FLIGHT_BYTES_SETTING}, Temporal's "
            "history.maxInFlightUpdatePayloads)",
            limit=limits.in_flight_bytes,
        )
    values = {
        "name": update.name,
        "args": update.args_text,
        "header": update.header_text,
        "identity": update.identity,
        "state": "admitted",
        "payload_bytes": payload_bytes,
        "sent_started_event_id": None,
        "outcome": None,
        "created_at": tx.now,
    }
    if existing is not None:  # rejected before: delivered again, as Temporal does
        await tx.conn.execute(
            sa.update(workflow_updates)
            .where(workflow_updates.c.id == existing["id"])
            .values(**values)
        )
    else:
        await tx.conn.execute(
            sa.insert(workflow_updates).values(
                namespace_id=run.namespace_id,
                run_id=run.id,
                workflow_id=run.workflow_id,
                update_id=update.update_id,
                **values,
            )
        )
    run.set(
        updates_total=run.data.get("updates_total", 0) + 1,
        updates_admitted=run.data.get("updates_admitted", 0) + 1,
    )
    tx.speculative_needed.add(run.id)
    found = await find(tx.conn, run.id, update.update_id)
    assert found is not None
    return found


async def take_for_task(tx: Transition, run: Run, started_event_id: int) -> list[dict[str, Any]]:
    """The Request messages of the run's admitted updates, oldest first, now sent with the
    workflow task `started_event_id` (Temporal's message: sequenced after the event before the
    task's WORKFLOW_TASK_STARTED)."""
    if not run.data.get("updates_admitted"):
        return []
    rows = (
        (
            await tx.conn.execute(
                sa.select(workflow_updates)
                .where(workflow_updates.c.run_id == run.id, workflow_updates.c.state == "admitted")
                .order_by(workflow_updates.c.id)
            )
        )
        .mappings()
        .all()
    )
    await tx.conn.execute(
        sa.update(workflow_updates)
        .where(workflow_updates.c.run_id == run.id, workflow_updates.c.state == "admitted")
        .values(state="sent", sent_started_event_id=started_event_id)
    )
    run.set(updates_admitted=0)
    return [
        {
            "id": f"{row['update_id']}/request",
            "protocol_instance_id": row["update_id"],
            "event_id": started_event_id - 1,
            "body": {"@type": REQUEST, **request_body(row)},
        }
        for row in rows
    ]


async def return_sent(tx: Transition, run: Run) -> None:
    """The workflow task that carried updates failed or timed out: they go with the next one
    (the workflow has not answered them; Temporal resends them too)."""
    if not run.data.get("updates_total"):
        return
    moved = await tx.conn.execute(
        sa.update(workflow_updates)
        .where(workflow_updates.c.run_id == run.id, workflow_updates.c.state == "sent")
        .values(state="admitted", sent_started_event_id=None)
    )
    if moved.rowcount:
        run.set(updates_admitted=run.data.get("updates_admitted", 0) + moved.rowcount)


# -- a completion's messages ------------------------------------------------------------------


@dataclass
class Message:
    id: str
    update_id: str
    kind: str  # Acceptance, Rejection or Response
    body: dict[str, Any]


@dataclass
class Answers:
    """The protocol messages of one workflow task completion, checked against the run."""

    messages: dict[str, Message] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Message ids placed by PROTOCOL_MESSAGE commands.
    placed: set[str] = field(default_factory=set)

    @property
    def only_rejections(self) -> bool:
        return all(m.kind == "Rejection" for m in self.messages.values())


def _kind(body: Any, where: str) -> str:
    type_name = body.get("@type") if isinstance(body, dict) else None
    if not isinstance(type_name, str):
        raise InvalidArgument(f"{where}.body needs an '@type'", field=f"{where}.body")
    kind = type_name.rsplit(".", 1)[-1]
    if kind not in BODY_KINDS:
        raise InvalidArgument(
            f"{where}.body: '@type' must be an Acceptance, Rejection or Response, not "
            f"'{type_name}'",
            field=f"{where}.body",
        )
    return kind


async def check_answers(
    tx: Transition, run: Run, raw: list[dict[str, Any]], placed: list[str]
) -> Answers:
    """Parse and check a completion's messages and the ids its PROTOCOL_MESSAGE commands name:
    every message names an update of this run that can take it (an Acceptance or Rejection an
    update sent to the worker, a Response an update accepted before or in this completion),
    every placed id names an Acceptance or Response, and a Rejection is never placed
    (Temporal: a rejection writes nothing). InvalidArgument (the task fails) otherwise."""
    answers = Answers()
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise InvalidArgument(f"{where} must be an object", field=where)
        message_id, update_id = item.get("id"), item.get("protocol_instance_id")
        if not isinstance(message_id, str) or not message_id:
            raise InvalidArgument(f"{where} needs an 'id'", field=f"{where}.id")
        if not isinstance(update_id, str) or not update_id:
            raise InvalidArgument(
                f"{where} needs a 'protocol_instance_id' (the update id)",
                field=f"{where}.protocol_instance_id",
            )
        if message_id in answers.messages:
            raise InvalidArgument(f"{where}: message id '{message_id}' is used twice", field=where)
        kind = _kind(item.get("body"), where)
        answers.messages[message_id] = Message(message_id, update_id, kind, item["body"])
        if update_id not in answers.rows:
            row = await find(tx.conn, run.id, update_id)
            if row is None:
                raise InvalidArgument(f"{where}: the run has no update '{update_id}'", field=where)
            answers.rows[update_id] = row
    accepted_here: set[str] = set()
    for index, message_id in enumerate(placed):
        where = f"PROTOCOL_MESSAGE command {index}"
        message = answers.messages.get(message_id)
        if message is None:
            raise InvalidArgument(
                f"{where} names message '{message_id}', which the completion does not carry",
                field="commands",
                cause="BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
            )
        state = answers.rows[message.update_id]["state"]
        if message.kind == "Rejection":
            raise InvalidArgument(
                f"{where}: a Rejection is not placed by a command (it writes no event)",
                field="commands",
                cause="BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
            )
        if message.kind == "Acceptance" and state != "sent":
            raise InvalidArgument(
                f"{where}: update '{message.update_id}' is {state}, it cannot be accepted",
                field="commands",
                cause="BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
            )
        if message.kind == "Response" and not (
            state == "accepted" or message.update_id in accepted_here
        ):
            raise InvalidArgument(
                f"{where}: update '{message.update_id}' is {state}; it must be accepted before "
                "its Response",
                field="commands",
                cause="BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
            )
        if message.kind == "Acceptance":
            accepted_here.add(message.update_id)
        answers.placed.add(message_id)
    for message in answers.messages.values():
        if message.kind != "Rejection" and message.id not in answers.placed:
            raise InvalidArgument(
                f"message '{message.id}' ({message.kind}) is not placed by a PROTOCOL_MESSAGE "
                "command",
                field="messages",
                cause="BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
            )
        if message.kind == "Rejection" and answers.rows[message.update_id]["state"] != "sent":
            raise InvalidArgument(
                f"update '{message.update_id}' is {answers.rows[message.update_id]['state']}: "
                "it cannot be rejected",
                field="messages",
                cause="BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
            )
    return answers


async def place(
    tx: Transition, run: Run, answers: Answers, message_id: str, completed_id: int
) -> None:
    """Apply the Acceptance or Response a PROTOCOL_MESSAGE command places, writing its event
    where the command stands."""
    message = answers.messages[message_id]
    row = answers.rows[message.update_id]
    if message.kind == "Acceptance":
        event_id = tx.append(
            run,
            E.WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            {
                "protocol_instance_id": message.update_id,
                "accepted_request_message_id": f"{message.update_id}/request",
                "accepted_request_sequencing_event_id": (row["sent_started_event_id"] or 1) - 1,
                "accepted_request": request_body(row),
            },
        )
        row.update(state="accepted", accepted_event_id=event_id)
        await tx.conn.execute(
            sa.update(workflow_updates)
            .where(workflow_updates.c.id == row["id"])
            .values(state="accepted", accepted_event_id=event_id)
        )
        return
    outcome = _outcome(message.body, message.id)
    event_id = tx.append(
        run,
        E.WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        {
            "meta": {"update_id": message.update_id, "identity": row["identity"]},
            "accepted_event_id": row["accepted_event_id"],
            "outcome": outcome,
        },
    )
    row.update(state="completed", completed_event_id=event_id)
    await tx.conn.execute(
        sa.update(workflow_updates)
        .where(workflow_updates.c.id == row["id"])
        .values(state="completed", completed_event_id=event_id, outcome=dump(outcome))
    )


def _outcome(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    outcome = body.get("outcome")
    if not isinstance(outcome, dict) or ("success" in outcome) == ("failure" in outcome):
        raise InvalidArgument(
            f"message '{message_id}': a Response's 'outcome' has 'success' or 'failure'",
            field="messages",
        )
    if "failure" in outcome:
        return {"failure": _failure(outcome["failure"])}
    return {"success": outcome["success"]}


def _failure(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return {"message": str(value)}


async def apply_rejections(tx: Transition, run: Run, answers: Answers) -> None:
    """The completion's Rejections: no event; the row only tells its waiting callers. Applied
    before the commands, so that a command closing the run finds them answered."""
    for message in answers.messages.values():
        if message.kind == "Rejection":
            row = answers.rows[message.update_id]
            failure = _failure(message.body.get("failure") or {"message": "rejected"})
            await _reject(tx, run, row["id"], failure)
            row["state"] = "rejected"


async def reject_unprocessed(tx: Transition, run: Run, started_event_id: int) -> None:
    """The updates this task carried that the worker neither accepted nor rejected are
    rejected for it (Temporal's RejectUnprocessed); on a run the task closed they were
    already aborted or carried on (`on_run_closed`)."""
    if not run.is_open or not run.data.get("updates_total"):
        return
    unprocessed = await tx.conn.execute(
        sa.update(workflow_updates)
        .where(
            workflow_updates.c.run_id == run.id,
            workflow_updates.c.state == "sent",
            workflow_updates.c.sent_started_event_id == started_event_id,
        )
        .values(
            state="rejected",
            outcome=dump({"failure": UNPROCESSED_FAILURE}),
        )
    )
    if unprocessed.rowcount:
        run.set(updates_total=run.data.get("updates_total", 0) - unprocessed.rowcount)
        tx.wake_keys.add(run_key(run.id))


async def _reject(tx: Transition, run: Run, row_id: int, failure: dict[str, Any]) -> None:
    await tx.conn.execute(
        sa.update(workflow_updates)
        .where(workflow_updates.c.id == row_id)
        .values(state="rejected", outcome=dump({"failure": failure}))
    )
    run.set(updates_total=run.data.get("updates_total", 0) - 1)  # a rejection counts for nothing
    tx.wake_keys.add(run_key(run.id))  # its callers wait on the run's wake-up


# -- runs that close -----------------------------------------------------------------------


async def on_run_closed(tx: Transition, run: Run, continued_to: Run | None) -> None:
    """The run closed: updates it had not accepted move to the run it continued as (Temporal
    answers them ErrWorkflowClosing, which its frontend retries on the new run); on any other
    close they are aborted (their callers get 409 workflow-closed); accepted ones complete with
    Temporal's failure. No event is written (the run is closed)."""
    if not run.data.get("updates_total"):
        return
    if continued_to is not None:
        waiting = (
            (
                await tx.conn.execute(
                    sa.select(workflow_updates)
                    .where(
                        workflow_updates.c.run_id == run.id,
                        workflow_updates.c.state.in_(("admitted", "sent")),
                    )
                    .order_by(workflow_updates.c.id)
                )
            )
            .mappings()
            .all()
        )
        for row in waiting:
            await tx.conn.execute(
                sa.insert(workflow_updates).values(
                    {
                        **{k: v for k, v in row.items() if k != "id"},
                        "run_id": continued_to.id,
                        "state": "admitted",
                        "sent_started_event_id": None,
                        "created_at": tx.now,
                    }
                )
            )
        if waiting:
            await tx.conn.execute(
                sa.update(workflow_updates)
                .where(
                    workflow_updates.c.run_id == run.id,
                    workflow_updates.c.state.in_(("admitted", "sent")),
                )
                .values(state="moved", moved_to_run_id=continued_to.id)
            )
            continued_to.set(
                updates_total=continued_to.data.get("updates_total", 0) + len(waiting),
                updates_admitted=continued_to.data.get("updates_admitted", 0) + len(waiting),
            )
    await tx.conn.execute(
        sa.update(workflow_updates)
        .where(
            workflow_updates.c.run_id == run.id,
            workflow_updates.c.state.in_(("admitted", "sent")),
        )
        .values(state="aborted")
    )
    await tx.conn.execute(
        sa.update(workflow_updates)
        .where(workflow_updates.c.run_id == run.id, workflow_updates.c.state == "accepted")
        .values(state="completed", outcome=dump({"failure": CLOSED_BEFORE_COMPLETED}))
    )
    run.set(updates_admitted=0)


# -- what a waiting caller is told ---------------------------------------------------------


def answer(row: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Temporal's UpdateWorkflowExecutionResponse, plain JSON: the update's reference, the
    stage it reached and, once completed, its outcome. An aborted update raises WorkflowClosed
    (Temporal's workflowCompletedErr)."""
    if row["state"] == "aborted":
        raise WorkflowClosed(
            f"the run closed before update '{row['update_id']}' was accepted",
            update_id=row["update_id"],
            run_id=run_id,
        )
    stage = stage_of(row["state"])
    return {
        "update_ref": {
            "workflow_execution": {"workflow_id": row["workflow_id"], "run_id": run_id},
            "update_id": row["update_id"],
        },
        "stage": stage,
        "outcome": load(row["outcome"]) if stage == "COMPLETED" else None,
    }


async def _delete_run_rows(conn: Connection, run_ids: list[str]) -> None:
    await conn.execute(sa.delete(workflow_updates).where(workflow_updates.c.run_id.in_(run_ids)))


retention.run_cleanups.append(_delete_run_rows)
