"""Replay a saved history against workflow code to prove the code still fits it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perdure._runtime import WorkflowInstance
from perdure.workflow import definition

CLOSE_EVENTS = {
    "WORKFLOW_EXECUTION_COMPLETED",
    "WORKFLOW_EXECUTION_FAILED",
    "WORKFLOW_EXECUTION_CANCELED",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
}


class Replayer:
    """Replays histories (from `handle.fetch_history()` or a saved JSON file)."""

    def __init__(self, *, workflows: Sequence[type], namespace: str = "default") -> None:
        self.workflows = {definition(cls).name: definition(cls) for cls in workflows}
        self.namespace = namespace

    async def replay_workflow(self, history: dict[str, Any] | list[Any] | str | Path) -> None:
        """Re-run the code over the history; raise `NondeterminismError` on a mismatch."""
        history = _loaded(history)
        record = history if isinstance(history, dict) else {"events": history}
        events = record["events"]
        started = events[0]
        if started["event_type"] != "WORKFLOW_EXECUTION_STARTED":
            raise ValueError("a history starts with WORKFLOW_EXECUTION_STARTED")
        workflow_type = started["attributes"]["workflow_type"]
        defn = self.workflows.get(workflow_type)
        if defn is None:
            raise ValueError(
                f"workflow type '{workflow_type}' is not among the replayer's workflows"
            )
        instance = WorkflowInstance(
            defn,
            namespace=self.namespace,
            workflow_id=str(record.get("workflow_id", "replay")),
            run_id=str(record.get("run_id", "replay")),
        )
        instance.feed(events, final_started_event_id=None)
        if events[-1]["event_type"] in CLOSE_EVENTS:
            instance.finish_replay()


def _loaded(history: dict[str, Any] | list[Any] | str | Path) -> dict[str, Any] | list[Any]:
    """A history given as data, JSON text, or the path of a JSON file."""
    if isinstance(history, Path):
        return json.loads(history.read_text())
    if isinstance(history, str):
        text = history.lstrip()
        return json.loads(history if text.startswith(("{", "[")) else Path(history).read_text())
    return history
