"""Replay tasks in the worker (the server's replay gate, docs/deploying.md): a versioned
worker declares `"replay": true` in its workflow-task polls, and answers each replay task by
replaying its history with `Replayer` against its registered workflows — no command is sent,
no activity runs — as passed, or failed with the non-determinism and the event id where the
code diverged ("not-registered" for a type the worker does not serve)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from perdure._http import segment
from perdure.exceptions import NondeterminismError
from perdure.replayer import Replayer, WorkflowNotRegisteredError

if TYPE_CHECKING:
    from perdure.worker import Worker

log = logging.getLogger("perdure.worker")


def poll_fields(worker: Worker) -> dict[str, Any]:
    """What a versioned worker adds to its workflow-task poll body beside its
    `deployment_options`: `replay: true`; nothing for a worker without versioning."""
    return {"replay": True} if worker.versioning.use_worker_versioning else {}


async def answer(worker: Worker, task: dict[str, Any]) -> None:
    """Replay one replay task's history (its first page, then the rest read from the history
    route up to `last_event_id`) and post the outcome. A failure to read or answer is logged:
    the server hands the task out again after its deadline."""
    info = task["replay_task"]
    try:
        events = await _history(worker, task)
        await worker._decode_events(events)
        outcome = await _replay(worker, task, events)
    except Exception:
        log.exception(
            "replay task of %s %s could not be replayed", task["workflow_id"], task["run_id"]
        )
        return
    body = {**outcome, "identity": worker.identity}
    await worker._post(f"/replay-tasks/{segment(info['token'])}/complete", body)


async def _history(worker: Worker, task: dict[str, Any]) -> list[dict[str, Any]]:
    last = task["replay_task"]["last_event_id"]
    events = list(task["history"]["events"])
    token = task["history"].get("next_page_token")
    while token and (not events or events[-1]["event_id"] < last):
        response = await worker.http.call(
            "GET",
            f"/workflows/{segment(task['workflow_id'])}/history",
            params={"run_id": task["run_id"], "next_page_token": token},
        )
        page = response.json()
        events.extend(page["events"])
        token = page.get("next_page_token")
    return [e for e in events if e["event_id"] <= last]


async def _replay(
    worker: Worker, task: dict[str, Any], events: list[dict[str, Any]]
) -> dict[str, Any]:
    replayer = Replayer(workflows=[], namespace=worker.client.namespace)
    replayer.workflows = dict(worker.workflows)  # the definitions this worker registers
    if worker.dynamic_workflow is not None:  # serves every other type, as in its polls
        replayer.workflows.setdefault(task["workflow_type"], worker.dynamic_workflow)
    history = {"workflow_id": task["workflow_id"], "run_id": task["run_id"], "events": events}
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    if failure is None:
        return {"outcome": "passed"}
    if isinstance(failure, WorkflowNotRegisteredError):
        kind = "not-registered"
    elif isinstance(failure, NondeterminismError):
        kind = "nondeterminism"
    else:
        kind = "error"
    return {
        "outcome": "failed",
        "failure": {
            "message": str(failure)[:10_000],
            "kind": kind,
            "event_id": getattr(failure, "event_id", None),
        },
    }
