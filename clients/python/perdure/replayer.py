"""Replay saved histories against workflow code to prove the code still fits them
(Temporal's `Replayer`): no commands are sent and no activity runs."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypedDict

from perdure._runtime import WorkflowInstance
from perdure.exceptions import NondeterminismError
from perdure.history import WorkflowHistory, as_history
from perdure.workflow import definition

CLOSE_EVENTS = {
    "WORKFLOW_EXECUTION_COMPLETED",
    "WORKFLOW_EXECUTION_FAILED",
    "WORKFLOW_EXECUTION_CANCELED",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
}


@dataclass(frozen=True)
class WorkflowReplayResult:
    """One replay: the history given, and the failure if the code did not fit it
    (`NondeterminismError` with `event_id` where it diverged, or the type not registered)."""

    history: WorkflowHistory
    replay_failure: Exception | None


@dataclass(frozen=True)
class WorkflowReplayResults:
    """Replay failures of many histories, keyed by run id."""

    replay_failures: Mapping[str, Exception]


class ReplayerConfig(TypedDict, total=False):
    """The options `Replayer` was made with (Temporal's TypedDict)."""

    workflows: Sequence[type]
    namespace: str


class WorkflowNotRegisteredError(NondeterminismError):
    """The history's workflow type is not among the replayer's workflows."""


class Replayer:
    """Replays histories (from the server or saved as JSON) with the given workflow classes."""

    def __init__(
        self, *, workflows: Sequence[type], namespace: str = "default", **options: Any
    ) -> None:
        self.workflows = {definition(cls).name: definition(cls) for cls in workflows}
        self.namespace = namespace
        self._config = ReplayerConfig(workflows=list(workflows), namespace=namespace)

    def config(self) -> ReplayerConfig:
        """The options this replayer was made with (Temporal's `Replayer.config()`)."""
        return ReplayerConfig(**self._config)

    async def replay_workflow(
        self, history: Any, *, raise_on_replay_failure: bool = True
    ) -> WorkflowReplayResult:
        """Re-run the code over one history (a `WorkflowHistory`, the dict of
        `handle.fetch_history()`, JSON text or a JSON file's path); raise the failure
        (`NondeterminismError`) unless `raise_on_replay_failure` is False."""
        result = self._replay_one(history)
        if raise_on_replay_failure and result.replay_failure is not None:
            raise result.replay_failure
        return result

    async def replay_workflows(
        self,
        histories: AsyncIterable[Any] | Iterable[Any],
        *,
        raise_on_replay_failure: bool = True,
    ) -> WorkflowReplayResults:
        """Replay each history in turn (an async iterator, as Temporal takes, or a plain
        iterable); the first failure is raised unless `raise_on_replay_failure` is False."""
        failures: dict[str, Exception] = {}
        async with self.workflow_replay_iterator(histories) as results:
            async for result in results:
                if result.replay_failure is not None:
                    if raise_on_replay_failure:
                        raise result.replay_failure
                    failures[_run_id(result.history)] = result.replay_failure
        return WorkflowReplayResults(replay_failures=failures)

    @asynccontextmanager
    async def workflow_replay_iterator(
        self, histories: AsyncIterable[Any] | Iterable[Any]
    ) -> AsyncIterator[AsyncIterator[WorkflowReplayResult]]:
        """`async with replayer.workflow_replay_iterator(histories) as results: async for
        result in results: …`, one `WorkflowReplayResult` per history as it is replayed."""

        async def results() -> AsyncIterator[WorkflowReplayResult]:
            if isinstance(histories, AsyncIterable):
                async for history in histories:
                    yield self._replay_one(history)
            else:
                for history in histories:
                    yield self._replay_one(history)

        yield results()

    def _replay_one(self, given: Any) -> WorkflowReplayResult:
        history, run_id = as_history(given)
        try:
            self._replay(history, run_id)
        except Exception as failure:  # noqa: BLE001 - every failure is the replay's answer
            return WorkflowReplayResult(history=history, replay_failure=failure)
        return WorkflowReplayResult(history=history, replay_failure=None)

    def _replay(self, history: WorkflowHistory, run_id: str) -> None:
        events = [dict(e) for e in history.events]
        if not events or events[0]["event_type"] != "WORKFLOW_EXECUTION_STARTED":
            raise ValueError("a history starts with WORKFLOW_EXECUTION_STARTED")
        workflow_type = events[0]["attributes"]["workflow_type"]
        defn = self.workflows.get(workflow_type)
        if defn is None:
            raise WorkflowNotRegisteredError(
                f"workflow type '{workflow_type}' is not registered (not among the replayer's "
                "workflows)"
            )
        instance = WorkflowInstance(
            defn, namespace=self.namespace, workflow_id=history.workflow_id, run_id=run_id
        )
        instance.feed(events, final_started_event_id=None)
        if events[-1]["event_type"] in CLOSE_EVENTS:
            instance.finish_replay()


def _run_id(history: WorkflowHistory) -> str:
    try:
        return history.run_id or history.workflow_id
    except RuntimeError:
        return history.workflow_id
