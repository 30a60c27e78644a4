"""Completing a workflow task with a decider's commands — for workers over HTTP and for the
deciders that run inside the server (stored definitions) alike."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app.engine import commands, updates, workflow_tasks
from app.engine.events import E
from app.engine.transition import Run, Transition
from app.errors import FailedPrecondition, InvalidArgument, PayloadTooLarge, PerdureError

log = logging.getLogger("perdure.engine")

# An in-server decider reads the run's history through `tx` and answers with raw commands
# (`{"command_type": ..., "attributes": {...}}`), exactly what a worker would send.
InlineDecider = Callable[[Transition, Run], Awaitable[list[dict[str, Any]]]]
inline_deciders: dict[str, InlineDecider] = {}
# Optional: called in the same transaction once a decider's commands were applied, e.g. to start
# at once an activity whose task token the decision handed out.
InlineAfterApply = Callable[[Transition, Run], Awaitable[None]]
inline_after_apply: dict[str, InlineAfterApply] = {}
# A run whose decisions keep asking for more decisions in one transaction is cut off here.
MAX_INLINE_ROUNDS = 1000


async def apply_decision(
    tx: Transition,
    run: Run,
    raw_commands: list[dict[str, Any]],
    identity: str,
    messages: list[dict[str, Any]] | None = None,
    versioning: dict[str, Any] | None = None,
) -> PerdureError | None:
    """Complete the run's started workflow task with these commands and protocol messages
    (updates' answers, app/engine/updates.py), or fail it (returning the error to answer) when
    they are invalid or new events make a close premature. A speculative task that only
    rejected updates leaves no event (Temporal's rule). `versioning`: what the completed
    event records of a versioned worker (app/engine/versioning/runs.py)."""
    try:
        parsed = commands.parse(raw_commands)
        await commands.validate(tx, run, parsed)
        placed = [
            c.attributes.message_id
            for c in parsed
            if isinstance(c.attributes, commands.ProtocolMessage)
        ]
        answers = await updates.check_answers(tx, run, messages or [], placed)
    except (InvalidArgument, PayloadTooLarge) as err:
        await workflow_tasks.fail_and_retry(
            tx,
            run,
            E.WORKFLOW_TASK_FAILED,
            {
                "cause": err.extra.get("cause", "BAD_COMMAND"),
                "failure": {"message": err.detail},
                "identity": identity,
            },
        )
        return err
    closing = any(c.command_type in commands.CLOSE_COMMANDS for c in parsed)
    if closing and run.buffered_events:
        await workflow_tasks.fail_and_retry(
            tx,
            run,
            E.WORKFLOW_TASK_FAILED,
            {
                "cause": "UNHANDLED_COMMAND",
                "failure": {"message": "new events arrived during the workflow task"},
                "identity": identity,
            },
        )
        return FailedPrecondition(
            "new events arrived while this workflow task ran, so the workflow cannot close yet; "
            "a new workflow task was scheduled",
            cause="UNHANDLED_COMMAND",
        )
    started_event_id = run.wft_started_event_id
    await updates.apply_rejections(tx, run, answers)
    if not parsed and answers.only_rejections and run.data.get("wft_speculative"):
        await workflow_tasks.drop_speculative(tx, run)
        await updates.reject_unprocessed(tx, run, started_event_id)
        if await tx.flush_buffered(run):
            workflow_tasks.needs_decision(tx, run)
        tx.speculative_needed.add(run.id)
        return None
    tx.completing.add(run.id)
    completed_id = await workflow_tasks.close_started(
        tx, run, E.WORKFLOW_TASK_COMPLETED, {"identity": identity, **(versioning or {})}
    )
    run.set(wft_attempt=1, last_completed_started_event_id=started_event_id)
    for command in parsed:
        if isinstance(command.attributes, commands.ProtocolMessage):
            await updates.place(tx, run, answers, command.attributes.message_id, completed_id)
        else:
            await commands.apply(tx, run, command, completed_id)
    await updates.reject_unprocessed(tx, run, started_event_id)
    tx.completing.discard(run.id)
    if run.is_open and await tx.flush_buffered(run):
        workflow_tasks.needs_decision(tx, run)
    tx.speculative_needed.add(run.id)  # updates admitted while the task ran
    return None


async def run_inline_deciders(tx: Transition) -> None:
    """Decide, inside this transaction, every workflow task scheduled for an in-server decider
    (no task round trip). Their decisions may schedule more; those are decided too."""
    for _ in range(MAX_INLINE_ROUNDS):
        await workflow_tasks.schedule_pending(tx)
        if not tx.inline_decisions:
            return
        run = await tx.run(tx.inline_decisions.pop())
        if not run.is_open or run.wft_state != "scheduled":
            continue
        decider = inline_deciders.get(run.decider)
        identity = f"perdure:{run.decider}"
        await workflow_tasks.start(tx, run, identity, inline=True)
        if decider is None:
            await workflow_tasks.fail_and_retry(
                tx,
                run,
                E.WORKFLOW_TASK_FAILED,
                {
                    "cause": "UNKNOWN_DECIDER",
                    "failure": {"message": f"no decider '{run.decider}'"},
                    "identity": identity,
                },
            )
            continue
        await tx.flush()  # the decider reads the history, including what this transition added
        try:
            raw_commands = await decider(tx, run)
        except PerdureError as err:
            failure = {"message": err.detail, "type": err.kind}
        except Exception as exc:  # a decider bug must not lose the transition that woke it
            log.exception("in-server decider %s failed on run %s", run.decider, run.id)
            failure = {"message": f"{type(exc).__name__}: {exc}", "type": "DeciderError"}
        else:
            rejected = await apply_decision(tx, run, raw_commands, identity)
            after = inline_after_apply.get(run.decider)
            if rejected is None and after is not None:
                await after(tx, run)
            continue
        await workflow_tasks.fail_and_retry(
            tx,
            run,
            E.WORKFLOW_TASK_FAILED,
            {
                "cause": "WORKFLOW_WORKER_UNHANDLED_FAILURE",
                "failure": failure,
                "identity": identity,
            },
        )
    raise FailedPrecondition("in-server deciders did not settle within one transaction")
