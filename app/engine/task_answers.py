"""The answer to a workflow-task poll: the claimed task with its run and the first page of its
history (read after the claim's commit), as every poll and eager route hands it out."""

from __future__ import annotations

from typing import Any

from app.engine.matching import dispatch
from app.engine.payloads import load


async def workflow_task_body(
    db: Any, claim: dispatch.WorkflowTaskClaim, *, partial: bool = False
) -> dict[str, Any]:
    """The poll answer for a claimed workflow task: its run and the first page of history —
    from event 1, or with `partial` only the events after `previous_started_event_id` (a worker
    that still holds the run in memory needs no more; on a miss it reads the rest with GET
    .../history). Read after commit: events up to `started_event_id` never change."""
    from app.engine.reads import history_page
    from app.engine.run_limits import HISTORY_PAGE_SIZE
    from app.pagination import encode_token

    after = claim.previous_started_event_id if partial else 0
    known = claim.history
    if (
        known is not None
        and 0 < len(known) <= HISTORY_PAGE_SIZE
        and known[0]["event_id"] == 1
        and known[-1]["event_id"] == claim.started_event_id == len(known)
    ):
        # The claiming transaction wrote the whole history (a run it started): the page is
        # what a read would answer, read from memory.
        events = [
            {
                "event_id": e["event_id"],
                "event_type": e["event_type"],
                "event_time": e["event_time"],
                "attributes": load(e["attributes"]),
            }
            for e in known[after:]
        ]
    else:
        async with db.read() as conn:
            events = await history_page(
                conn,
                claim.run_id,
                after_event_id=after,
                up_to_event_id=claim.started_event_id - len(claim.speculative_events),
                page_size=HISTORY_PAGE_SIZE,
            )
    token = None
    # A speculative task's own two events are not written: shown after the written ones.
    written_up_to = claim.started_event_id - len(claim.speculative_events)
    if events and events[-1]["event_id"] < written_up_to:
        position = [events[-1]["event_id"]]
        if claim.speculative_events:  # the last page shows them (GET .../history)
            position += [claim.scheduled_event_id, claim.speculative_nonce]
        token = encode_token(position)
    else:
        events = [*events, *claim.speculative_events]
    body = {
        "task_token": claim.token,
        "workflow_id": claim.workflow_id,
        "run_id": claim.run_id,
        "workflow_type": claim.workflow_type,
        "task_queue": claim.task_queue,
        "attempt": claim.attempt,
        "scheduled_event_id": claim.scheduled_event_id,
        "started_event_id": claim.started_event_id,
        "previous_started_event_id": claim.previous_started_event_id,
        "history": {"events": events, "next_page_token": token, "after_event_id": after},
        "messages": claim.messages,
    }
    if claim.target_version_changed:  # Worker Versioning; absent for everyone else
        body["target_worker_deployment_version_changed"] = True
    return body
