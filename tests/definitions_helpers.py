"""Helpers for the stored-definition tests: store a definition, start a run of it, serve its
activities over raw HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Tenant


def task(queue: str, activity_type: str = "act", **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": f"perdure:activity:{queue}:{activity_type}", **fields}


async def store(tenant: Tenant, definition: dict[str, Any], name: str | None = None) -> str:
    name = name or f"sm-{uuid.uuid4().hex[:8]}"
    r = await tenant.client.put(tenant.ns(f"/definitions/{name}"), json=definition)
    assert r.status_code == 201, r.text
    return name


async def start(
    tenant: Tenant, name: str, input: Any = None, *, workflow_id: str | None = None, **ref: Any
) -> str:
    workflow_id = workflow_id or f"wf-{uuid.uuid4().hex[:8]}"
    r = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}"),
        json={"definition": {"name": name, **ref}, "input": input},
    )
    assert r.status_code == 201, r.text
    return workflow_id


async def run_definition(tenant: Tenant, definition: dict[str, Any], input: Any = None) -> str:
    return await start(tenant, await store(tenant, definition), input)


async def try_state(tenant: Tenant, state: dict[str, Any], input: Any, **body: Any) -> dict:
    r = await tenant.client.post(
        tenant.ns("/definitions/test-state"), json={"definition": state, "input": input, **body}
    )
    assert r.status_code == 200, r.text
    return r.json()
