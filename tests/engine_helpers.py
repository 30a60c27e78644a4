"""Small helpers for the engine behaviour tests: unique names, time, signals, problems.

Everything here speaks plain HTTP + JSON (through `tests.rawhttp.Raw`), as any client would.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import Tenant
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem

__all__ = ["assert_problem"]


def uid(prefix: str = "wf") -> str:
    """A name no other test uses (workflow ids, task queues)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def raw_on_fresh_queue(tenant: Tenant) -> Raw:
    """A raw decider/worker on a task queue of its own, so no other test sees its tasks."""
    return Raw(tenant, task_queue=uid("q"))


async def advance(server: Any, seconds: float) -> int:
    """Move the server's clock forward and fire every timer that became due."""
    server.ctx.clock.advance(timedelta(seconds=seconds))
    return await server.app.state.engine.deadline_loop.fire_due_timers()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_type"] for e in events]


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event_type"] == event_type]


async def signal(
    tenant: Tenant, workflow_id: str, name: str, payload: Any = None, **body: Any
) -> httpx.Response:
    return await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/signal/{name}"), json={"input": payload, **body}
    )


async def describe_run(tenant: Tenant, workflow_id: str, run_id: str) -> dict[str, Any]:
    r = await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}/runs/{run_id}"))
    assert r.status_code == 200, r.text
    return r.json()


async def run_history(tenant: Tenant, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    r = await tenant.client.get(
        tenant.ns(f"/workflows/{workflow_id}/history"), params={"run_id": run_id}
    )
    assert r.status_code == 200, r.text
    return r.json()["events"]


async def register_search_attributes(tenant: Tenant, **types: str) -> None:
    """Register custom search attributes in the tenant's namespace (Name="Keyword", ...)."""
    r = await tenant.client.post(tenant.ns("/search-attributes"), json={"search_attributes": types})
    assert r.status_code == 200, r.text


async def start_and_take_first_task(
    raw: Raw, workflow_id: str, **fields: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a run and poll its first workflow task: (start answer, task)."""
    started = await raw.start(workflow_id, **fields)
    task = await raw.next_workflow_task()
    assert task["workflow_id"] == workflow_id
    return started, task


async def run_to_completion(raw: Raw, workflow_id: str, result: Any = None, **fields: Any) -> str:
    """Start a run and complete it at its first workflow task; returns its run id."""
    from tests.rawhttp import complete_workflow

    started, task = await start_and_take_first_task(raw, workflow_id, **fields)
    await raw.complete(task, complete_workflow(result))
    return started["run_id"]


async def run_to_failure(raw: Raw, workflow_id: str, **fields: Any) -> str:
    started, task = await start_and_take_first_task(raw, workflow_id, **fields)
    await raw.complete(task, fail_workflow("it broke"))
    return started["run_id"]


async def run_to_termination(raw: Raw, workflow_id: str, **fields: Any) -> str:
    started = await raw.start(workflow_id, **fields)
    r = await raw.c.post(raw.t.ns(f"/workflows/{workflow_id}/terminate"), json={"reason": "stop"})
    assert r.status_code == 200, r.text
    return started["run_id"]


async def run_to_cancellation(raw: Raw, workflow_id: str, **fields: Any) -> str:
    """Start a run, ask it to cancel, and let its first workflow task accept."""
    started = await raw.start(workflow_id, **fields)
    r = await raw.c.post(raw.t.ns(f"/workflows/{workflow_id}/cancel"), json={"reason": "stop"})
    assert r.status_code == 202, r.text
    task = await raw.next_workflow_task()
    assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types(task["history"]["events"])
    await raw.complete(task, command("CANCEL_WORKFLOW_EXECUTION"))
    return started["run_id"]


def fail_workflow(message: str, error_type: str = "AppError") -> dict[str, Any]:
    return {
        "command_type": "FAIL_WORKFLOW_EXECUTION",
        "attributes": {"failure": {"message": message, "type": error_type}},
    }


def command(command_type: str, **attributes: Any) -> dict[str, Any]:
    return {"command_type": command_type, "attributes": attributes}
