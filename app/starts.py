"""How a run starts, one rule for every caller (the API's start routes, the console's "start
like this"): a run of a stored definition through its decider, pinned to the version asked
for; any other run through the engine, handing back its first workflow task when the starter
asks to take it at once (Temporal's eager workflow start)."""

from __future__ import annotations

from dataclasses import dataclass

from app.definitions import decider as definition_runs
from app.engine.lifecycle import StartRequest
from app.engine.matching.dispatch import WorkflowTaskClaim
from app.engine.service import Engine
from app.engine.transition import Run


@dataclass(frozen=True, slots=True)
class DefinitionChoice:
    """Which stored definition a run follows: its latest version, a `version`, or the version
    an `alias` draws."""

    name: str
    version: int | None = None
    alias: str | None = None


async def start_run(
    engine: Engine,
    request: StartRequest,
    definition: DefinitionChoice | None = None,
    *,
    eager_identity: str | None = None,
) -> tuple[Run, bool, WorkflowTaskClaim | None]:
    """(run, created: False for an idempotent retry or USE_EXISTING, the first workflow task
    when `eager_identity` asks for it and it is there). A definition's run is decided by the
    server, so nothing is handed back eagerly. Errors as `Engine.start_workflow`'s (409 when
    the id is taken, …) and, for a definition, 404 when it or its version is unknown."""
    if definition is not None:
        run, created = await definition_runs.start(
            engine, request, definition.name, definition.version, definition.alias
        )
        return run, created, None
    return await engine.start_workflow(request, eager_identity=eager_identity)
