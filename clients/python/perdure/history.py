"""A workflow's history as data: Temporal's `WorkflowHistory` (what `Replayer` replays)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class WorkflowHistory(dict[str, Any]):
    """A workflow id and the events of one of its runs (Temporal's `WorkflowHistory`), as
    `handle.fetch_history()` returns it. It is also the plain JSON object the server answers
    (`{"workflow_id", "run_id", "events"}`): `history["events"]` and `json.dumps(history)`
    work as they did. Events are Perdure's JSON events (`event_id`, `event_type`,
    `event_time`, `attributes`)."""

    def __init__(
        self, workflow_id: str, events: Sequence[Mapping[str, Any]], run_id: str | None = None
    ) -> None:
        super().__init__(workflow_id=workflow_id, events=list(events))
        if run_id:
            self["run_id"] = run_id

    @property
    def workflow_id(self) -> str:
        """The workflow's id."""
        return str(self["workflow_id"])

    @property
    def events(self) -> list[Mapping[str, Any]]:
        """The run's events, oldest first."""
        events: list[Mapping[str, Any]] = self["events"]
        return events

    @property
    def run_id(self) -> str:
        """The run's id: as fetched, else from the first event (Temporal's rule)."""
        if self.get("run_id"):
            return str(self["run_id"])
        if not self.events:
            raise RuntimeError("No events")
        first = self.events[0]
        if first.get("event_type") != "WORKFLOW_EXECUTION_STARTED":
            raise RuntimeError("First event is not workflow start")
        attributes = first.get("attributes") or {}
        return str(attributes.get("original_execution_run_id") or "")

    @staticmethod
    def from_json(workflow_id: str, history: str | Mapping[str, Any]) -> WorkflowHistory:
        """From JSON text or parsed JSON: `{"events": [...]}` as `GET …/history` and
        `to_json()` give it (or a bare list of events)."""
        parsed = json.loads(history) if isinstance(history, str) else history
        events = parsed if isinstance(parsed, list) else parsed["events"]
        return WorkflowHistory(workflow_id, list(events))

    def to_json(self) -> str:
        """`{"events": [...]}` as JSON text (without the workflow id, as Temporal's)."""
        return json.dumps(self.to_json_dict())

    def to_json_dict(self) -> dict[str, Any]:
        """`{"events": [...]}`."""
        return {"events": [dict(e) for e in self.events]}


def as_history(history: Any, run_id: str | None = None) -> tuple[WorkflowHistory, str]:
    """A `WorkflowHistory` and its run id from what a replay accepts: a `WorkflowHistory`,
    the dict of `handle.fetch_history()` (`workflow_id`, `run_id`, `events`), a list of
    events, JSON text, or the path of a JSON file."""
    if isinstance(history, WorkflowHistory):
        return history, run_id or _run_id_of(history)
    if isinstance(history, Path):
        history = json.loads(history.read_text())
    elif isinstance(history, str):
        text = history.lstrip()
        history = json.loads(history if text.startswith(("{", "[")) else Path(history).read_text())
    if isinstance(history, list):
        made = WorkflowHistory("replay", history)
        return made, run_id or _run_id_of(made)
    made = WorkflowHistory(
        history.get("workflow_id", "replay"), list(history["events"]), history.get("run_id")
    )
    return made, run_id or _run_id_of(made)


def _run_id_of(history: WorkflowHistory) -> str:
    try:
        return history.run_id or "replay"
    except RuntimeError:
        return "replay"
