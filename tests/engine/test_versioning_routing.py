"""Worker Versioning routing over plain HTTP: which version's workers get which task (pinned
runs stay, new and auto-upgrade runs move, ramping by workflow-id hash), what runs inherit,
and overrides. The deployment's routing is written as set-current / set-ramping write it."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

from app.db.tables import worker_deployment_task_queues, worker_deployment_versions
from app.engine.versioning.routing import Routing, ramp_bucket
from tests.rawhttp import complete_workflow, schedule_activity, start_timer
from tests.versioning_helpers import VersionedRaw, namespace_id, set_routing

D = "shop"


def workers(tenant, queue: str = "q") -> tuple[VersionedRaw, VersionedRaw, VersionedRaw]:
    """(a worker of shop.A, one of shop.B, an unversioned one) on `queue`."""
    return (
        VersionedRaw(tenant, D, "A", queue),
        VersionedRaw(tenant, D, "B", queue),
        VersionedRaw(tenant, D, None, queue),
    )


async def register(*versioned: VersionedRaw) -> None:
    """A version exists once a worker of it polls (both task kinds, as an SDK worker does)."""
    for worker in versioned:
        assert await worker.poll("workflow") is None
        assert await worker.poll("activity") is None


def child(workflow_id: str, task_queue: str = "q") -> dict:
    return {
        "command_type": "START_CHILD_WORKFLOW_EXECUTION",
        "attributes": {
            "workflow_id": workflow_id,
            "workflow_type": "Flow",
            "task_queue": task_queue,
        },
    }


def continue_as_new(**attributes) -> dict:
    return {"command_type": "CONTINUE_AS_NEW_WORKFLOW_EXECUTION", "attributes": attributes}


async def started_attributes(raw: VersionedRaw, workflow_id: str, **params) -> dict:
    events = await raw.history(workflow_id, **params)
    return events[0]["attributes"]


# -- the ramp hash ----------------------------------------------------------------------------


def independent_bucket(workflow_id: str) -> float:
    """docs/deploying.md's formula, computed another way (hex digits, not bytes)."""
    return (int(hashlib.sha256(workflow_id.encode()).hexdigest()[:16], 16) % 10_000) / 100


def test_ramp_bucket_sends_exactly_the_documented_ids_and_raising_the_percentage_only_adds():
    ids = [f"order-{i}" for i in range(10_000)]
    at_30 = Routing("A", "B", 30.0)
    at_50 = Routing("A", "B", 50.0)
    to_b_30 = {i for i in ids if at_30.target(ramp_bucket(i)) == "B"}
    to_b_50 = {i for i in ids if at_50.target(ramp_bucket(i)) == "B"}
    assert to_b_30 == {i for i in ids if independent_bucket(i) < 30}
    assert to_b_50 == {i for i in ids if independent_bucket(i) < 50}
    assert to_b_30 <= to_b_50
    assert 2_800 < len(to_b_30) < 3_200 and 4_800 < len(to_b_50) < 5_200
    assert {at_30.target(ramp_bucket(i)) for i in ids} == {"A", "B"}
    assert all(0 <= ramp_bucket(i) < 100 for i in ids)


# -- polls record versions --------------------------------------------------------------------


async def test_a_versioned_poll_records_its_deployment_version_and_queue(server, tenant):
    a, _, _ = workers(tenant)
    await register(a)
    ns = await namespace_id(server, tenant)
    async with server.ctx.db.read() as conn:
        versions = (
            await conn.execute(
                sa.select(
                    worker_deployment_versions.c.deployment_name,
                    worker_deployment_versions.c.build_id,
                ).where(worker_deployment_versions.c.namespace_id == ns)
            )
        ).all()
        queues = (
            await conn.execute(
                sa.select(
                    worker_deployment_task_queues.c.task_queue, worker_deployment_task_queues.c.kind
                )
                .where(worker_deployment_task_queues.c.namespace_id == ns)
                .order_by(worker_deployment_task_queues.c.kind)
            )
        ).all()
    assert [tuple(v) for v in versions] == [(D, "A")]
    assert [tuple(q) for q in queues] == [("q", "activity"), ("q", "workflow")]


async def test_a_deployment_name_with_the_delimiter_is_refused(tenant):
    bad = VersionedRaw(tenant, "shop.eu", "A")
    r = await bad.c.post(
        tenant.ns("/task-queues/q/workflow-tasks/poll"),
        json={"wait": 0, "deployment_options": bad.version},
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_unversioned_workers_keep_a_new_deployments_queue_until_a_version_is_current(
    server, tenant
):
    a, _, plain = workers(tenant)
    await register(a)
    await plain.start("w1")
    assert await a.poll("workflow") is None  # current is '' : the unversioned workers
    task = await plain.next_workflow_task()
    assert task["workflow_id"] == "w1"


# -- pinned and auto-upgrade runs -------------------------------------------------------------


async def test_pinned_runs_stay_on_their_version_after_another_becomes_current(server, tenant):
    a, b, plain = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    await a.start("pinned")
    first = await a.poll("workflow")
    assert first["workflow_id"] == "pinned"
    await a.complete_as(first, "PINNED", schedule_activity("1"))
    await set_routing(server, tenant, D, current="B")

    assert await b.poll("activity") is None and await plain.poll("activity") is None
    activity = await a.poll("activity")
    assert activity["workflow_id"] == "pinned"
    await a.activity("complete", activity, result=1)
    assert await b.poll("workflow") is None
    second = await a.poll("workflow")
    assert second["target_worker_deployment_version_changed"] is True

    await a.start("new")
    assert await a.poll("workflow") is None
    assert (await b.poll("workflow"))["workflow_id"] == "new"
    info = (await a.describe("pinned"))["versioning_info"]
    assert info == {
        "behavior": "PINNED",
        "deployment_version": {"deployment_name": D, "build_id": "A"},
        "versioning_override": None,
    }
    completed = [
        e for e in await a.history("pinned") if e["event_type"] == "WORKFLOW_TASK_COMPLETED"
    ]
    assert completed[0]["attributes"]["versioning_behavior"] == "PINNED"
    assert completed[0]["attributes"]["worker_deployment_version"] == {
        "deployment_name": D,
        "build_id": "A",
    }


async def test_an_auto_upgrade_run_and_its_activities_move_to_the_new_current_version(
    server, tenant
):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    await a.start("moving")
    first = await a.poll("workflow")
    await a.complete_as(first, "AUTO_UPGRADE", schedule_activity("1"))
    await set_routing(server, tenant, D, current="B")

    assert await a.poll("activity") is None
    activity = await b.poll("activity")
    assert activity["workflow_id"] == "moving"
    await b.activity("complete", activity, result=1)
    assert await a.poll("workflow") is None
    second = await b.poll("workflow")
    assert "target_worker_deployment_version_changed" not in second
    await b.complete_as(second, "AUTO_UPGRADE", complete_workflow("done"))
    assert (await b.result("moving"))["result"] == "done"
    assert (await b.describe("moving"))["versioning_info"]["deployment_version"]["build_id"] == "B"


async def test_unversioned_runs_on_a_queue_that_joins_a_deployment_go_to_its_current_version(
    server, tenant
):
    a, _, plain = workers(tenant)
    await plain.start("before")
    await register(a)
    await set_routing(server, tenant, D, current="A")
    assert await plain.poll("workflow") is None
    assert (await a.poll("workflow"))["workflow_id"] == "before"


async def test_an_eager_next_task_is_handed_back_only_where_routing_sends_it(server, tenant):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    await a.start("eager")
    first = await a.poll("workflow")
    await a.complete_as(first, "AUTO_UPGRADE", start_timer("t", 0.01))
    await set_routing(server, tenant, D, current="B")
    task = await b.poll("workflow", wait=5)
    answer = await b.complete_as(
        task, "AUTO_UPGRADE", force_create_new_workflow_task=True, return_new_workflow_task=True
    )
    assert answer["workflow_task"] is not None  # B is current: B may keep it
    await set_routing(server, tenant, D, current="A")
    answer = await b.complete_as(
        answer["workflow_task"],
        "AUTO_UPGRADE",
        force_create_new_workflow_task=True,
        return_new_workflow_task=True,
    )
    assert answer["workflow_task"] is None
    assert (await a.poll("workflow"))["workflow_id"] == "eager"


# -- inheritance ------------------------------------------------------------------------------


async def test_a_child_of_a_pinned_run_keeps_its_version_only_on_a_queue_of_that_version(
    server, tenant
):
    a, b, plain = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    await a.start("parent")
    task = await a.poll("workflow")
    await a.complete_as(task, "PINNED", child("same-queue"), child("other-queue", "elsewhere"))
    await set_routing(server, tenant, D, current="B")

    same = await started_attributes(a, "same-queue")
    assert same["inherited_pinned_version"] == {"deployment_name": D, "build_id": "A"}
    assert await b.poll("workflow") is None
    kept = [t for t in [await a.poll("workflow"), await a.poll("workflow")] if t]
    assert "same-queue" in [t["workflow_id"] for t in kept]
    assert "inherited_pinned_version" not in await started_attributes(a, "other-queue")
    assert (await plain.poll("workflow", queue="elsewhere"))["workflow_id"] == "other-queue"


async def test_a_child_of_an_auto_upgrade_run_starts_auto_upgrade(server, tenant):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    await a.start("parent")
    await a.complete_as(await a.poll("workflow"), "AUTO_UPGRADE", child("kid"))
    attributes = await started_attributes(a, "kid")
    assert attributes["inherited_auto_upgrade_info"] == {
        "source_deployment_version": {"deployment_name": D, "build_id": "A"}
    }
    assert "inherited_pinned_version" not in attributes
    await set_routing(server, tenant, D, current="B")
    kid = [t for t in [await b.poll("workflow"), await b.poll("workflow")] if t]
    assert "kid" in [t["workflow_id"] for t in kid]
    assert (await b.describe("kid"))["versioning_info"]["behavior"] == "AUTO_UPGRADE"


async def test_continue_as_new_keeps_a_pinned_version_unless_asked_to_upgrade(server, tenant):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    await a.start("chain")
    await a.complete_as(await a.poll("workflow"), "PINNED", continue_as_new())
    await set_routing(server, tenant, D, current="B")
    assert (await started_attributes(a, "chain"))["inherited_pinned_version"]["build_id"] == "A"
    assert await b.poll("workflow") is None
    second = await a.poll("workflow")
    assert second["target_worker_deployment_version_changed"] is True
    await a.complete_as(
        second, "PINNED", continue_as_new(initial_versioning_behavior="AUTO_UPGRADE")
    )
    third = await started_attributes(a, "chain")
    assert "inherited_pinned_version" not in third
    assert third["inherited_auto_upgrade_info"]["source_deployment_version"]["build_id"] == "A"
    assert await a.poll("workflow") is None
    assert (await b.poll("workflow"))["workflow_id"] == "chain"


async def test_a_retry_inherits_only_what_the_retried_run_inherited(server, tenant):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    retry = {"initial_interval": 0.01, "maximum_attempts": 3}
    fail = {"command_type": "FAIL_WORKFLOW_EXECUTION", "attributes": {"failure": {"message": "x"}}}
    # A run that inherited nothing, pinned by its worker: its retry starts uninherited.
    await a.start("plain-retry", retry_policy=retry)
    await a.complete_as(await a.poll("workflow"), "PINNED", fail)
    attributes = await started_attributes(a, "plain-retry")
    assert attributes["attempt"] == 2
    assert "inherited_pinned_version" not in attributes
    # A child that inherited A: its retry inherits A too.
    await a.start("parent")
    await a.complete_as(
        await a.poll("workflow"),
        "PINNED",
        {**child("kid"), "attributes": {**child("kid")["attributes"], "retry_policy": retry}},
    )
    await set_routing(server, tenant, D, current="B")
    for _ in range(3):
        task = await a.poll("workflow", wait=2)
        if task and task["workflow_id"] == "kid":
            await a.complete_as(task, "PINNED", fail)
            break
    attributes = await started_attributes(a, "kid")
    assert attributes["attempt"] == 2
    assert attributes["inherited_pinned_version"] == {"deployment_name": D, "build_id": "A"}


# -- overrides --------------------------------------------------------------------------------


async def test_a_pinned_override_sends_a_new_run_to_a_version_that_is_not_current(server, tenant):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    override = {
        "pinned": {"behavior": "PINNED", "version": {"deployment_name": D, "build_id": "B"}}
    }
    await a.start("test-traffic", versioning_override=override)
    assert await a.poll("workflow") is None
    task = await b.poll("workflow")
    assert task["workflow_id"] == "test-traffic"
    # The worker declares AUTO_UPGRADE; the override wins.
    await b.complete_as(task, "AUTO_UPGRADE", schedule_activity("1"))
    assert await a.poll("activity") is None
    assert (await b.poll("activity"))["workflow_id"] == "test-traffic"
    info = (await b.describe("test-traffic"))["versioning_info"]
    assert info["behavior"] == "PINNED" and info["versioning_override"] == override
    assert (await started_attributes(a, "test-traffic"))["versioning_override"] == override


async def test_signal_with_start_takes_an_override_too(server, tenant):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    override = {
        "pinned": {"behavior": "PINNED", "version": {"deployment_name": D, "build_id": "B"}}
    }
    r = await a.c.post(
        tenant.ns("/workflows/signalled/signal-with-start/go"),
        json={"workflow_type": "Flow", "task_queue": "q", "versioning_override": override},
    )
    assert r.status_code == 201, r.text
    assert await a.poll("workflow") is None
    assert (await b.poll("workflow"))["workflow_id"] == "signalled"


async def test_update_options_moves_a_running_run_and_removing_the_override_restores_it(
    server, tenant
):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A")
    await a.start("moved")
    await a.complete_as(await a.poll("workflow"), "PINNED", schedule_activity("1"))
    to_b = {"pinned": {"behavior": "PINNED", "version": {"deployment_name": D, "build_id": "B"}}}
    r = await a.c.post(
        tenant.ns("/workflows/moved/update-options"),
        json={
            "workflow_execution_options": {"versioning_override": to_b},
            "update_mask": "versioning_override",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"workflow_execution_options": {"versioning_override": to_b}}
    assert await a.poll("activity") is None  # the queued activity follows the override
    activity = await b.poll("activity")
    assert activity["workflow_id"] == "moved"

    r = await a.c.post(
        tenant.ns("/workflows/moved/update-options"),
        json={"workflow_execution_options": {"versioning_override": None}},
    )
    assert r.status_code == 200, r.text
    info = (await a.describe("moved"))["versioning_info"]
    assert info["behavior"] == "PINNED" and info["deployment_version"]["build_id"] == "A"
    await b.activity("complete", activity, result=1)
    assert await b.poll("workflow") is None
    assert (await a.poll("workflow"))["workflow_id"] == "moved"


async def test_a_bad_override_is_refused_and_changes_nothing(server, tenant):
    a, _, _ = workers(tenant)
    await a.start("kept")
    bad = [
        {"pinned": {"behavior": "PINNED", "version": {"deployment_name": "x.y", "build_id": "B"}}},
        {"pinned": {"behavior": "PINNED"}},
        {"auto_upgrade": False},
        {"auto_upgrade": True, "pinned": {"version": {"deployment_name": D, "build_id": "B"}}},
    ]
    for override in bad:
        r = await a.c.post(
            tenant.ns("/workflows/kept/update-options"),
            json={"workflow_execution_options": {"versioning_override": override}},
        )
        assert r.status_code == 400, (override, r.text)
        r = await a.c.post(
            tenant.ns("/workflows/other"),
            json={"workflow_type": "Flow", "task_queue": "q", "versioning_override": override},
        )
        assert r.status_code == 400, (override, r.text)
    assert (await a.describe("kept"))["versioning_info"] is None
    assert (await a.c.get(tenant.ns("/workflows/other"))).status_code == 404


async def test_update_options_of_another_tenants_run_is_not_found(tenant, other_tenant):
    await VersionedRaw(tenant, D, None).start("mine")
    r = await other_tenant.client.post(
        other_tenant.ns("/workflows/mine/update-options"),
        json={"workflow_execution_options": {"versioning_override": {"auto_upgrade": True}}},
    )
    assert r.status_code == 404


# -- ramping ----------------------------------------------------------------------------------


async def test_fifty_real_starts_ramp_exactly_as_the_hash_says(server, tenant):
    a, b, _ = workers(tenant)
    await register(a, b)
    await set_routing(server, tenant, D, current="A", ramping="B", percentage=30.0)
    ids = [f"ramp-{i}" for i in range(50)]
    for workflow_id in ids:
        await a.start(workflow_id)
    got: dict[str, set[str]] = {"A": set(), "B": set()}
    for name, worker in (("A", a), ("B", b)):
        while (task := await worker.poll("workflow")) is not None:
            got[name].add(task["workflow_id"])
    expected_b = {i for i in ids if independent_bucket(i) < 30}
    assert got["B"] == expected_b
    assert got["A"] == set(ids) - expected_b
    assert expected_b and expected_b != set(ids)


async def test_the_unversioned_workers_can_ramp_as_a_rollback_target(server, tenant):
    a, _, plain = workers(tenant)
    await register(a)
    await set_routing(server, tenant, D, current="A", ramping="", percentage=100.0)
    await a.start("back")
    assert await a.poll("workflow") is None
    assert (await plain.poll("workflow"))["workflow_id"] == "back"
    assert json.dumps((await plain.describe("back"))["versioning_info"]) == "null"


# -- the unversioned path ---------------------------------------------------------------------


class NoStatements:
    """A connection that refuses every statement: what a claim may not need."""

    async def execute(self, *args, **kwargs):
        raise AssertionError("a statement was run")

    async def scalar(self, *args, **kwargs):
        raise AssertionError("a statement was run")


async def test_an_unversioned_queue_costs_its_claims_no_statement(server, tenant):
    from app.engine.versioning import routing

    raw = VersionedRaw(tenant, D, None)
    await raw.start("plain")
    assert (await raw.poll("workflow"))["workflow_id"] == "plain"  # reads the cache once
    ns = await namespace_id(server, tenant)
    # Within QUEUES_CACHE_SECONDS of that claim, every claim and every new task of the
    # namespace's unversioned queues is routed from memory.
    for kind in ("workflow", "activity"):
        assert await routing.route_for(NoStatements(), ns, kind, "q", None) is None
        target = routing.TaskTarget(NoStatements(), ns, kind, "q", None, 12.5)
        assert await target.line() is None
        assert await target.route() is None
    unversioned_run = {"versioning_behavior": None, "namespace_id": ns, "task_queue": "q"}
    for kind in ("workflow", "activity"):
        assert (
            await routing.pinned_version_for_task(NoStatements(), unversioned_run, kind, "q")
            is None
        )
