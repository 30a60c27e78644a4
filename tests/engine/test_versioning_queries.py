"""Worker Versioning routes queries as it routes the run's workflow tasks: a pinned run's
query goes only to its version's pollers, another run's on a deployment's queue only to the
version the routing sends its next workflow task to; unversioned pollers never take a pinned
run's query (Temporal's matching routes a query by the run's versioning)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from app.db.tables import query_tasks
from tests.versioning_helpers import VersionedRaw, set_routing

D = "shop"


async def ask(tenant, workflow_id: str) -> Any:
    return await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/query/status"), json={"timeout": 10}
    )


async def pending_query(server, workflow_id: str) -> str:
    """The id of the workflow's query once its caller has created it (read every 20 ms, 6 s
    at most): only then does a poll that finds nothing prove anything."""
    for _ in range(300):
        async with server.ctx.db.read() as conn:
            found = await conn.scalar(
                sa.select(query_tasks.c.id).where(
                    query_tasks.c.workflow_id == workflow_id, query_tasks.c.state == "pending"
                )
            )
        if found is not None:
            return str(found)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no query of {workflow_id} was created")


async def query_state(server, query_id: str) -> str:
    async with server.ctx.db.read() as conn:
        return str(
            await conn.scalar(sa.select(query_tasks.c.state).where(query_tasks.c.id == query_id))
        )


async def answer(tenant, task: dict[str, Any], value: Any) -> None:
    r = await tenant.client.post(
        tenant.ns("/workflow-tasks/respond-query"),
        json={"query_id": task["query"]["query_id"], "answer": value},
    )
    assert r.status_code == 200, r.text


async def run_on_a(server, tenant, workflow_id: str, behavior: str) -> tuple[VersionedRaw, ...]:
    """(A's worker, B's, an unversioned one) on queue q; the run's first workflow task done
    on A with `behavior`, then B made current."""
    a = VersionedRaw(tenant, D, "A")
    b = VersionedRaw(tenant, D, "B")
    plain = VersionedRaw(tenant, D, None)
    for worker in (a, b):
        assert await worker.poll("workflow") is None
        assert await worker.poll("activity") is None
    await set_routing(server, tenant, D, current="A")
    await a.start(workflow_id)
    first = await a.poll("workflow")
    assert first["workflow_id"] == workflow_id
    await a.complete_as(first, behavior)
    await set_routing(server, tenant, D, current="B")
    return a, b, plain


async def test_a_pinned_runs_query_is_answered_by_its_versions_poller_only(server, tenant):
    a, b, plain = await run_on_a(server, tenant, "pinned", "PINNED")

    caller = asyncio.create_task(ask(tenant, "pinned"))
    query_id = await pending_query(server, "pinned")
    assert await b.poll("workflow") is None
    assert await plain.poll("workflow") is None
    assert await query_state(server, query_id) == "pending"
    task = await a.poll("workflow")
    assert task["query"]["query_id"] == query_id
    await answer(tenant, task, "on A")

    answered = await caller
    assert answered.status_code == 200, answered.text
    assert answered.json()["answer"] == "on A"


async def test_an_auto_upgrade_runs_query_goes_where_its_next_workflow_task_goes(server, tenant):
    a, b, plain = await run_on_a(server, tenant, "moving", "AUTO_UPGRADE")

    caller = asyncio.create_task(ask(tenant, "moving"))
    query_id = await pending_query(server, "moving")
    assert await a.poll("workflow") is None
    assert await plain.poll("workflow") is None
    assert await query_state(server, query_id) == "pending"
    task = await b.poll("workflow")
    assert task["query"]["query_id"] == query_id
    await answer(tenant, task, "on B")

    assert (await caller).json()["answer"] == "on B"


async def test_unversioned_pollers_take_unpinned_queries_when_the_unversioned_are_current(
    server, tenant
):
    a, _, plain = await run_on_a(server, tenant, "rollback", "AUTO_UPGRADE")
    await set_routing(server, tenant, D, current="")
    pinned = VersionedRaw(tenant, D, "A")
    await pinned.start("stays")
    # A pinned override: the run's queries stay with A even with the unversioned current.
    r = await tenant.client.post(
        tenant.ns("/workflows/stays/update-options"),
        json={
            "workflow_execution_options": {
                "versioning_override": {
                    "pinned": {
                        "behavior": "PINNED",
                        "version": {"deployment_name": D, "build_id": "A"},
                    }
                }
            },
            "update_mask": "versioning_override",
        },
    )
    assert r.status_code == 200, r.text
    first = await a.poll("workflow")
    assert first["workflow_id"] == "stays"
    await a.complete_as(first, "PINNED")

    to_plain = asyncio.create_task(ask(tenant, "rollback"))
    to_a = asyncio.create_task(ask(tenant, "stays"))
    rollback_query = await pending_query(server, "rollback")
    stays_query = await pending_query(server, "stays")
    task = await plain.poll("workflow")
    assert task["query"]["query_id"] == rollback_query
    await answer(tenant, task, "unversioned")
    assert await plain.poll("workflow") is None
    assert await query_state(server, stays_query) == "pending"
    task = await a.poll("workflow")
    assert task["query"]["query_id"] == stays_query
    await answer(tenant, task, "on A")

    assert (await to_plain).json()["answer"] == "unversioned"
    assert (await to_a).json()["answer"] == "on A"
