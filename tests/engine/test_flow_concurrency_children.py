"""Per-key concurrency limits on child workflows: a START_CHILD_WORKFLOW_EXECUTION command
may pass its own `concurrency_keys`, else the child inherits its parent's map (as activities
inherit their run's), and the child counts under `applies_to: "workflows"` limits by it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_helpers import assert_problem, of_type, uid
from tests.rawhttp import Raw


@pytest.fixture
def raw(tenant) -> Raw:
    return Raw(tenant, task_queue=uid("q"))


def _start_child(workflow_id: str, **attrs: Any) -> dict[str, Any]:
    return {
        "command_type": "START_CHILD_WORKFLOW_EXECUTION",
        "attributes": {"workflow_id": workflow_id, "workflow_type": "Child", **attrs},
    }


async def _one_per_customer(tenant: Any) -> str:
    name = uid("lim")
    r = await tenant.client.put(
        tenant.ns(f"/concurrency-limits/{name}"),
        json={"applies_to": "workflows", "key": "concurrency_keys.customer", "max_running": 1},
    )
    assert r.status_code == 201, r.text
    return name


async def _parent_starting(raw: Raw, child: str, **attrs: Any) -> list[dict[str, Any]]:
    """Start a parent for customer acme whose first workflow task starts `child`; the events
    of the parent's next workflow task."""
    parent = uid("parent")
    await raw.start(parent, concurrency_keys={"customer": "acme"})
    task = await raw.next_workflow_task()
    await raw.complete(task, _start_child(child, **attrs))
    history = await raw.c.get(raw.t.ns(f"/workflows/{parent}/history"))
    assert history.status_code == 200, history.text
    return list(history.json()["events"])


async def test_a_child_without_its_own_map_counts_by_its_parents(raw, tenant):
    await _one_per_customer(tenant)
    child = uid("child")
    events = await _parent_starting(raw, child)

    assert of_type(events, "CHILD_WORKFLOW_EXECUTION_STARTED")
    # The parent holds acme's only slot: the child, an acme run too, waits for it.
    assert await raw.poll_workflow_task(wait=0.3) is not None  # the parent's, after the start
    assert await raw.poll_workflow_task(wait=0.3) is None
    described = await raw.describe(child)
    assert described["status"] == "RUNNING"
    assert described["waiting_on"]["kind"] == "CONCURRENCY_LIMIT"
    assert described["waiting_on"]["message"] == (
        "The run waits for a concurrency slot: 1 of 1 running for customer=acme."
    )


async def test_a_childs_own_map_replaces_its_parents(raw, tenant):
    name = await _one_per_customer(tenant)
    child = uid("child")
    events = await _parent_starting(raw, child, concurrency_keys={"customer": "globex"})

    initiated = of_type(events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")[0]
    assert initiated["attributes"]["concurrency_keys"] == {"customer": "globex"}
    taken = {(await raw.next_workflow_task())["workflow_id"] for _ in range(2)}
    assert child in taken  # globex had a free slot: the child started at once
    assert (await raw.describe(child))["waiting_on"]["kind"] == "WORKFLOW_TASK_STARTED"
    limit = (await tenant.client.get(tenant.ns(f"/concurrency-limits/{name}"))).json()
    assert (limit["running"], limit["waiting"]) == (2, 0)


async def test_bad_concurrency_keys_on_a_child_are_a_400_and_start_nothing(raw):
    parent = uid("parent")
    await raw.start(parent)
    task = await raw.next_workflow_task()
    child = uid("child")

    r = await raw.c.post(
        raw.t.ns("/workflow-tasks/complete"),
        json={
            "task_token": task["task_token"],
            "commands": [_start_child(child, concurrency_keys={"customer": 7})],
        },
    )

    assert_problem(r, 400, "invalid-argument")
    assert "concurrency_keys.customer" in r.json()["detail"]
    gone = await raw.c.get(raw.t.ns(f"/workflows/{child}"))
    assert gone.status_code == 404


async def test_a_child_refused_by_cancel_newest_is_a_failed_start_the_parent_sees(raw, tenant):
    r = await tenant.client.put(
        tenant.ns(f"/concurrency-limits/{uid('lim')}"),
        json={
            "applies_to": "workflows",
            "key": "concurrency_keys.customer",
            "max_running": 1,
            "strategy": "CANCEL_NEWEST",
        },
    )
    assert r.status_code == 201, r.text
    child = uid("child")

    # The parent holds acme's only slot; the child inherits acme and is refused.
    events = await _parent_starting(raw, child)

    failed = of_type(events, "START_CHILD_WORKFLOW_EXECUTION_FAILED")
    assert [e["attributes"]["cause"] for e in failed] == ["CONCURRENCY_LIMIT_EXCEEDED"]
    assert failed[0]["attributes"]["message"] == (
        "1 of 1 running for customer=acme (CANCEL_NEWEST)"
    )
    assert not of_type(events, "CHILD_WORKFLOW_EXECUTION_STARTED")
    assert (await raw.c.get(raw.t.ns(f"/workflows/{child}"))).status_code == 404
