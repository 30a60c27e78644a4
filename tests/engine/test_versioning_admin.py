"""Worker Versioning administration through REST (issue #21): a version's statuses through its
life, promotion checks and conflict tokens, ramping rules, deletion rules and the limit of 100
versions a deployment."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.engine.versioning import deletion
from app.engine.versioning.drainage import DrainageLoop
from tests.engine_helpers import uid
from tests.versioning_helpers import (
    age_version_polls,
    assert_problem,
    describe_deployment,
    describe_version,
    namespace_id,
    poll_as_version,
    repin,
    set_current,
    set_ramping,
    start_pinned,
    status_of,
)


async def _deployment_with(server, tenant, *build_ids) -> str:
    """A deployment (no "." in its name, Temporal's rule) whose versions' workers each polled
    a queue of its own once."""
    name = uid("dep")
    queue = uid("q")
    for build_id in build_ids:
        await poll_as_version(tenant, name, build_id, ((queue, "workflow"),))
    return name


async def _pinned_run(server, tenant, name: str, build_id: str) -> tuple[str, str]:
    """A run pinned to the version by its start's override: (workflow id, run id)."""
    return await start_pinned(tenant, name, build_id)


async def test_a_version_goes_inactive_current_draining_then_drained_when_its_last_pinned_run_closes(
    server, tenant
):
    name = await _deployment_with(server, tenant, "v1", "v2")
    assert await status_of(tenant, name, "v1") == "inactive"

    assert (await set_current(tenant, name, "v1")).status_code == 200
    assert await status_of(tenant, name, "v1") == "current"
    workflow_id, _ = await _pinned_run(server, tenant, name, "v1")
    other_workflow, _ = await _pinned_run(server, tenant, name, "v1")

    moved = await set_current(tenant, name, "v2")
    assert moved.status_code == 200, moved.text
    assert moved.json()["previous_version"] == {"deployment_name": name, "build_id": "v1"}
    v1 = await describe_version(tenant, name, "v1")
    info = v1["worker_deployment_version_info"]
    assert info["status"] == "draining"
    assert info["drainage_info"]["status"] == "draining"
    assert info["last_deactivation_time"] is not None
    assert info["current_since_time"] is None
    assert v1["open_runs"] == {"PINNED": 2, "AUTO_UPGRADE": 0}
    assert await status_of(tenant, name, "v2") == "current"

    stopped = await tenant.client.post(
        tenant.ns(f"/workflows/{workflow_id}/terminate"), json={"reason": "done"}
    )
    assert stopped.status_code in (200, 202), stopped.text
    assert await status_of(tenant, name, "v1") == "draining"  # another pinned run is open

    await tenant.client.post(
        tenant.ns(f"/workflows/{other_workflow}/terminate"), json={"reason": "done"}
    )
    drained = await describe_version(tenant, name, "v1")
    assert drained["worker_deployment_version_info"]["status"] == "drained"
    assert drained["worker_deployment_version_info"]["drainage_info"]["status"] == "drained"
    assert drained["open_runs"]["PINNED"] == 0


async def test_the_drainage_loop_recounts_a_draining_version_only_once_its_check_is_due(
    server, tenant
):
    name = await _deployment_with(server, tenant, "v1", "v2")
    await set_current(tenant, name, "v1")
    workflow_id, _ = await _pinned_run(server, tenant, name, "v1")
    await set_current(tenant, name, "v2")
    assert await status_of(tenant, name, "v1") == "draining"
    # The run moves to v2 without closing (a new override): no close tells v1.
    await repin(tenant, workflow_id, name, "v2")
    loop = DrainageLoop(server.app.state.engine)

    await loop.tick()
    assert await status_of(tenant, name, "v1") == "draining"  # checked less than 60 s ago

    server.ctx.clock.advance(timedelta(seconds=61))
    await loop.tick()
    drained = await describe_version(tenant, name, "v1")
    assert drained["worker_deployment_version_info"]["status"] == "drained"

    # A run pinned to the drained version again (an override) makes it draining again.
    await repin(tenant, workflow_id, name, "v1")
    server.ctx.clock.advance(timedelta(seconds=61))
    await loop.tick()
    assert await status_of(tenant, name, "v1") == "draining"


async def test_set_current_of_the_ramping_version_ends_the_ramp_and_each_change_bumps_the_revision(
    server, tenant
):
    name = await _deployment_with(server, tenant, "v1", "v2")
    await set_current(tenant, name, "v1")
    before = (await describe_deployment(tenant, name))["worker_deployment_info"]["routing_config"]

    ramped = await set_ramping(tenant, name, "v2", 12.5)
    assert ramped.status_code == 200, ramped.text
    assert ramped.json()["previous_version"] is None
    assert ramped.json()["previous_percentage"] == 0
    routing = (await describe_deployment(tenant, name))["worker_deployment_info"]["routing_config"]
    assert routing["ramping_version"] == {"deployment_name": name, "build_id": "v2"}
    assert routing["ramping_version_percentage"] == 12.5
    assert routing["revision_number"] == before["revision_number"] + 1
    assert await status_of(tenant, name, "v2") == "ramping"

    first = (await describe_version(tenant, name, "v2"))["worker_deployment_version_info"]
    current_routed = (await describe_version(tenant, name, "v1"))["worker_deployment_version_info"][
        "routing_changed_time"
    ]
    raised = await set_ramping(tenant, name, "v2", 50)
    assert raised.json()["previous_percentage"] == 12.5
    again = (await describe_version(tenant, name, "v2"))["worker_deployment_version_info"]
    ramping_since = again["ramping_since_time"]
    assert ramping_since == first["ramping_since_time"]  # a new percentage, the same ramp
    assert again["ramp_percentage"] == 50
    assert again["routing_changed_time"] > first["routing_changed_time"]
    v1 = (await describe_version(tenant, name, "v1"))["worker_deployment_version_info"]
    assert v1["routing_changed_time"] == current_routed  # a ramp change leaves the current

    promoted = await set_current(tenant, name, "v2")
    assert promoted.status_code == 200, promoted.text
    described = await describe_deployment(tenant, name)
    routing = described["worker_deployment_info"]["routing_config"]
    assert routing["current_version"]["build_id"] == "v2"
    assert routing["ramping_version"] is None
    assert routing["ramping_version_percentage"] == 0
    assert routing["revision_number"] == before["revision_number"] + 3
    assert described["conflict_token"] == promoted.json()["conflict_token"]
    v2 = (await describe_version(tenant, name, "v2"))["worker_deployment_version_info"]
    assert v2["status"] == "current" and v2["ramping_since_time"] is None
    assert v2["first_activation_time"] <= ramping_since
    assert await status_of(tenant, name, "v1") == "drained"  # no pinned run was open


async def test_a_ramp_replaced_by_another_version_drains_the_one_it_replaced(server, tenant):
    name = await _deployment_with(server, tenant, "v1", "v2", "v3")
    await set_current(tenant, name, "v1")
    await set_ramping(tenant, name, "v2", 40)
    workflow_id, _ = await _pinned_run(server, tenant, name, "v2")
    replaced = await set_ramping(tenant, name, "v3", 5)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["previous_version"] == {"deployment_name": name, "build_id": "v2"}
    assert replaced.json()["previous_percentage"] == 40
    v2 = (await describe_version(tenant, name, "v2"))["worker_deployment_version_info"]
    assert v2["status"] == "draining" and v2["ramping_since_time"] is None
    assert v2["last_deactivation_time"] is not None
    assert await status_of(tenant, name, "v3") == "ramping"
    await tenant.client.post(tenant.ns(f"/workflows/{workflow_id}/terminate"), json={})
    assert await status_of(tenant, name, "v2") == "drained"


async def test_ramping_the_current_version_is_refused_and_an_empty_build_id_ramps_unversioned(
    server, tenant
):
    name = await _deployment_with(server, tenant, "v1")
    # New deployments route to the unversioned workers: they cannot ramp too.
    assert_problem(await set_ramping(tenant, name, "", 10), 409, "failed-precondition")
    await set_current(tenant, name, "v1")
    refused = await set_ramping(tenant, name, "v1", 10)
    assert_problem(refused, 409, "failed-precondition")

    unversioned = await set_ramping(tenant, name, "", 25)
    assert unversioned.status_code == 200, unversioned.text
    routing = (await describe_deployment(tenant, name))["worker_deployment_info"]["routing_config"]
    assert routing["ramping_version"] == {"deployment_name": name, "build_id": ""}
    assert routing["ramping_version_percentage"] == 25

    ended = await set_ramping(tenant, name, "", 0)
    assert ended.json()["previous_version"] == {"deployment_name": name, "build_id": ""}
    routing = (await describe_deployment(tenant, name))["worker_deployment_info"]["routing_config"]
    assert routing["ramping_version"] is None


async def test_rolling_back_to_the_unversioned_workers_needs_no_version(server, tenant):
    name = await _deployment_with(server, tenant, "v1")
    await set_current(tenant, name, "v1")
    back = await set_current(tenant, name, "")
    assert back.status_code == 200, back.text
    assert back.json()["previous_version"] == {"deployment_name": name, "build_id": "v1"}
    routing = (await describe_deployment(tenant, name))["worker_deployment_info"]["routing_config"]
    assert routing["current_version"] == {"deployment_name": name, "build_id": ""}
    assert await status_of(tenant, name, "v1") == "drained"


async def test_a_stale_conflict_token_is_refused_and_changes_nothing(server, tenant):
    name = await _deployment_with(server, tenant, "v1", "v2")
    token = (await describe_deployment(tenant, name))["conflict_token"]

    first = await set_current(tenant, name, "v1", conflict_token=token)
    assert first.status_code == 200, first.text
    assert first.json()["conflict_token"] != token
    second = await set_current(tenant, name, "v2", conflict_token=token)
    assert_problem(second, 409, "conflict-token-mismatch")
    described = await describe_deployment(tenant, name)
    assert (
        described["worker_deployment_info"]["routing_config"]["current_version"]["build_id"] == "v1"
    )
    assert described["conflict_token"] == first.json()["conflict_token"]

    # Without a token nothing is compared (as Temporal's).
    assert (await set_current(tenant, name, "v2")).status_code == 200


async def test_two_writers_with_the_same_token_at_once_one_wins(server, tenant):
    name = await _deployment_with(server, tenant, "v1", "v2")
    token = (await describe_deployment(tenant, name))["conflict_token"]
    answers = await asyncio.gather(
        set_current(tenant, name, "v1", conflict_token=token, identity="deploy-a"),
        set_ramping(tenant, name, "v2", 30, conflict_token=token, identity="deploy-b"),
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert_problem(loser, 409, "conflict-token-mismatch")
    info = (await describe_deployment(tenant, name))["worker_deployment_info"]
    assert info["routing_config"]["revision_number"] == 1
    assert info["last_modifier_identity"] in ("deploy-a", "deploy-b")


async def test_a_version_without_recent_pollers_is_refused_unless_allowed(server, tenant):
    name = await _deployment_with(server, tenant, "v1")
    await age_version_polls(server, tenant, name, "v1", by=timedelta(minutes=6))
    refused = await set_current(tenant, name, "v1")
    assert_problem(refused, 409, "no-pollers")
    assert_problem(await set_ramping(tenant, name, "v1", 5), 409, "no-pollers")
    assert await status_of(tenant, name, "v1") == "inactive"

    allowed = await set_current(tenant, name, "v1", allow_no_pollers=True)
    assert allowed.status_code == 200, allowed.text
    assert await status_of(tenant, name, "v1") == "current"


async def test_a_version_missing_a_task_queue_of_the_current_one_is_refused_unless_ignored(
    server, tenant
):
    name = uid("dep")
    orders, billing = uid("orders"), uid("billing")
    both = ((orders, "workflow"), (orders, "activity"), (billing, "workflow"))
    await poll_as_version(tenant, name, "v1", both)
    await poll_as_version(tenant, name, "v2", both[:2])
    await set_current(tenant, name, "v1")

    refused = await set_current(tenant, name, "v2")
    problem = assert_problem(refused, 409, "missing-task-queues")
    assert problem["missing_task_queues"] == [{"name": billing, "type": "TASK_QUEUE_TYPE_WORKFLOW"}]
    assert_problem(await set_ramping(tenant, name, "v2", 10), 409, "missing-task-queues")
    assert await status_of(tenant, name, "v1") == "current"

    ramped = await set_ramping(tenant, name, "v2", 10, ignore_missing_task_queues=True)
    assert ramped.status_code == 200, ramped.text
    # Only a version's first ramp is checked: a new percentage is not.
    assert (await set_ramping(tenant, name, "v2", 20)).status_code == 200
    promoted = await set_current(tenant, name, "v2", ignore_missing_task_queues=True)
    assert promoted.status_code == 200, promoted.text


async def test_unknown_versions_and_deployments_are_404_and_bad_input_is_400_changing_nothing(
    server, tenant
):
    name = await _deployment_with(server, tenant, "v1")
    before = await describe_deployment(tenant, name)

    assert_problem(await set_current(tenant, name, "nope"), 404, "not-found")
    assert_problem(await set_ramping(tenant, name, "nope", 5), 404, "not-found")
    assert_problem(await set_current(tenant, uid("missing"), "v1"), 404, "not-found")
    assert_problem(await tenant.client.get(tenant.ns(f"/worker-deployments/{uid('missing')}")), 404)
    assert_problem(
        await tenant.client.get(tenant.ns(f"/worker-deployment-versions/{name}/nope")), 404
    )
    for percentage in (-1, 100.5, "half", None):
        bad = await set_ramping(tenant, name, "v1", percentage)  # type: ignore[arg-type]
        assert_problem(bad, 400, "invalid-argument")
    for body in (
        {"build_id": "v1", "surprise": True},
        {"build_id": "x" * 256},
        {"build_id": 7},
        {},
    ):
        bad = await tenant.client.post(
            tenant.ns(f"/worker-deployments/{name}/set-current-version"), json=body
        )
        assert_problem(bad, 400, "invalid-argument")
    bad_token = await tenant.client.get(
        tenant.ns("/worker-deployments"), params={"next_page_token": "not-ours"}
    )
    assert_problem(bad_token, 400, "invalid-argument")
    assert await describe_deployment(tenant, name) == before


async def test_deleting_a_version_needs_it_unrouted_unpolled_and_drained(server, tenant):
    name = await _deployment_with(server, tenant, "v1", "v2")
    path = tenant.ns(f"/worker-deployment-versions/{name}/v1")
    await set_current(tenant, name, "v1")
    problem = assert_problem(await tenant.client.delete(path), 409, "failed-precondition")
    assert "current" in problem["detail"]

    workflow_id, _ = await _pinned_run(server, tenant, name, "v1")
    await set_current(tenant, name, "v2")
    problem = assert_problem(await tenant.client.delete(path), 409, "failed-precondition")
    assert "pinned" in problem["detail"]
    assert await status_of(tenant, name, "v1") == "draining"
    still_polled = await tenant.client.delete(path, params={"skip_drainage": "true"})
    problem = assert_problem(still_polled, 409, "failed-precondition")
    assert "polled" in problem["detail"]

    await age_version_polls(server, tenant, name, "v1", by=timedelta(minutes=5, seconds=1))
    assert_problem(await tenant.client.delete(path), 409, "failed-precondition")
    forced = await tenant.client.delete(path, params={"skip_drainage": "true"})
    assert forced.status_code == 204, forced.text
    assert_problem(await tenant.client.get(path), 404)
    summaries = (await describe_deployment(tenant, name))["worker_deployment_info"][
        "version_summaries"
    ]
    assert [s["version"]["build_id"] for s in summaries] == ["v2"]
    # The run keeps its version: history is not rewritten.
    described = await tenant.client.get(tenant.ns(f"/workflows/{workflow_id}"))
    assert described.json()["versioning_info"]["deployment_version"]["build_id"] == "v1"


async def test_a_deployment_is_deleted_only_when_it_has_no_version_left(server, tenant):
    name = await _deployment_with(server, tenant, "v1")
    path = tenant.ns(f"/worker-deployments/{name}")
    assert_problem(await tenant.client.delete(path), 409, "failed-precondition")

    await age_version_polls(server, tenant, name, "v1", by=timedelta(minutes=10))
    gone = await tenant.client.delete(tenant.ns(f"/worker-deployment-versions/{name}/v1"))
    assert gone.status_code == 204, gone.text
    assert (await tenant.client.delete(path)).status_code == 204
    assert_problem(await tenant.client.get(path), 404)
    assert_problem(await tenant.client.delete(path), 404)


async def test_the_101st_version_takes_the_place_of_the_oldest_deletable_one(server, tenant):
    name, queue = uid("dep"), uid("q")
    polls = ((queue, "workflow"),)
    for i in range(100):
        await poll_as_version(tenant, name, f"b{i:03d}", polls)
    # Every one was polled just now: none may go, the new version's poll is refused.
    refused = await poll_as_version(tenant, name, "b100", polls, expect=(409,))
    problem = assert_problem(refused, 409, "too-many-versions")
    assert problem["max_versions"] == 100 and problem["build_id"] == "b100"
    summaries = (await describe_deployment(tenant, name))["worker_deployment_info"][
        "version_summaries"
    ]
    assert len(summaries) == 100

    await set_current(tenant, name, "b000")
    for build_id in ("b000", "b001", "b002", "b003"):
        await age_version_polls(server, tenant, name, build_id, by=timedelta(minutes=10))
    await _pinned_run(server, tenant, name, "b001")
    # b000 is current, b001 has an open pinned run: b002 is the oldest that may go.
    await poll_as_version(tenant, name, "b100", polls)
    summaries = (await describe_deployment(tenant, name))["worker_deployment_info"][
        "version_summaries"
    ]
    kept = [s["version"]["build_id"] for s in summaries]
    assert len(kept) == 100 and "b002" not in kept
    assert {"b000", "b001", "b003", "b100"} <= set(kept)


async def test_make_room_for_version_answers_whether_a_new_version_fits(server, tenant):
    name, queue = uid("dep"), uid("q")
    await poll_as_version(tenant, name, "b0", ((queue, "workflow"),))
    ns = await namespace_id(server, tenant)
    async with server.ctx.db.write() as conn:
        assert await deletion.make_room_for_version(conn, ns, name, server.ctx.clock.now())
    refused = deletion.too_many_versions(name, "b100")
    assert refused.status == 409 and refused.kind == "too-many-versions"


async def test_lists_are_paged_by_name(server, tenant):
    names = sorted([await _deployment_with(server, tenant, "v1") for _ in range(3)])
    first = await tenant.client.get(tenant.ns("/worker-deployments"), params={"page_size": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [d["name"] for d in page["worker_deployments"]] == names[:2]
    assert page["worker_deployments"][0]["routing_config"]["current_version"]["build_id"] == ""
    rest = await tenant.client.get(
        tenant.ns("/worker-deployments"),
        params={"page_size": 2, "next_page_token": page["next_page_token"]},
    )
    assert [d["name"] for d in rest.json()["worker_deployments"]] == names[2:]
    assert rest.json()["next_page_token"] is None


async def test_another_tenant_sees_nothing_and_changes_nothing(server, tenant, other_tenant):
    name = await _deployment_with(server, tenant, "v1")
    before = await describe_deployment(tenant, name)
    listed = await other_tenant.client.get(other_tenant.ns("/worker-deployments"))
    assert listed.json()["worker_deployments"] == []
    assert_problem(
        await other_tenant.client.get(other_tenant.ns(f"/worker-deployments/{name}")), 404
    )
    assert_problem(await set_current(other_tenant, name, "v1"), 404)
    assert_problem(
        await other_tenant.client.delete(other_tenant.ns(f"/worker-deployment-versions/{name}/v1")),
        404,
    )
    assert await describe_deployment(tenant, name) == before


@pytest.mark.parametrize("role", ["operator", "reader", "worker"])
async def test_every_change_needs_the_admin_role(server, http, tenant, role):
    from tests.conftest import keyed_client
    from tests.tenancy_helpers import create_key

    name = await _deployment_with(server, tenant, "v1")
    key = (await create_key(tenant.client, role))["key"]
    async with keyed_client(http, key) as client:
        weak = type(tenant)(tenant.name, key, tenant.namespace, client)
        described = await weak.client.get(weak.ns(f"/worker-deployments/{name}"))
        if role == "worker":  # no read permission: workers poll, they do not describe
            assert_problem(described, 403, "permission-denied")
        else:
            assert described.status_code == 200, described.text
        assert_problem(await set_current(weak, name, "v1"), 403)
        assert_problem(await set_ramping(weak, name, "v1", 5), 403)
        assert_problem(
            await weak.client.delete(weak.ns(f"/worker-deployment-versions/{name}/v1")), 403
        )
        assert_problem(await weak.client.delete(weak.ns(f"/worker-deployments/{name}")), 403)
    assert await status_of(tenant, name, "v1") == "inactive"


async def test_each_change_is_logged_with_who_made_it(server, tenant, caplog):
    import logging

    name = await _deployment_with(server, tenant, "v1")
    with caplog.at_level(logging.INFO, logger="perdure.engine"):
        await set_current(tenant, name, "v1", identity="release-bot")
        await set_ramping(tenant, name, "", 10, identity="release-bot")
        await set_current(tenant, name, "", identity="release-bot")
        refused = await set_current(tenant, name, "v1", conflict_token="stale")
        assert_problem(refused, 409, "conflict-token-mismatch")
        await age_version_polls(server, tenant, name, "v1", by=timedelta(minutes=6))
        await tenant.client.delete(tenant.ns(f"/worker-deployment-versions/{name}/v1"))
        await tenant.client.delete(tenant.ns(f"/worker-deployments/{name}"))
    lines = [r for r in caplog.records if getattr(r, "deployment_name", None) == name]
    assert [r.getMessage() for r in lines] == [
        "worker deployment current version set",
        "worker deployment ramping version set",
        "worker deployment current version set",
        "worker deployment version deleted",
        "worker deployment deleted",
    ]  # a refused change writes no line
    assert [r.identity for r in lines[:3]] == ["release-bot"] * 3
    assert lines[0].build_id == "v1" and lines[3].build_id == "v1"


async def test_on_a_time_skipping_server_the_drainage_loop_follows_the_dev_clock(database_url):
    from datetime import datetime

    from tests.engine.test_dev_clock import CLOCK, clock_server
    from tests.rawhttp import start_timer
    from tests.versioning_helpers import VersionedRaw

    async with clock_server(database_url) as (running, tenant):
        locked = await tenant.client.post(f"{CLOCK}/lock")  # no skipping while arranging
        assert locked.status_code == 200, locked.text
        name = await _deployment_with(running, tenant, "v1", "v2")
        await set_current(tenant, name, "v1")
        queue = uid("q")
        workflow_id, _ = await start_pinned(tenant, name, "v1", task_queue=queue)
        # Its first task done by a worker of v1, the run sleeps a day: nothing waits.
        worker = VersionedRaw(tenant, name, "v1", task_queue=queue)
        task = await worker.poll("workflow", wait=5)
        await worker.complete_as(task, "PINNED", start_timer("day", 86400))
        # v2 does not poll the run's queue, which v1 now does.
        moved = await set_current(tenant, name, "v2", ignore_missing_task_queues=True)
        assert moved.status_code == 200, moved.text
        assert await status_of(tenant, name, "v1") == "draining"
        await repin(tenant, workflow_id, name, "v2")

        now = datetime.fromisoformat((await tenant.client.get(CLOCK)).json()["time"])
        assert await status_of(tenant, name, "v1") == "draining"  # not due for 60 s
        slept = await tenant.client.post(f"{CLOCK}/unlock-with-sleep", json={"duration": 61})
        assert slept.status_code == 200, slept.text
        # The loop looks at the engine clock every poll_fallback_seconds (2 s) of real time.
        for _ in range(100):
            if await status_of(tenant, name, "v1") == "drained":
                break
            await asyncio.sleep(0.1)
        info = (await describe_version(tenant, name, "v1"))["worker_deployment_version_info"]
        assert info["status"] == "drained"
        checked = datetime.fromisoformat(info["drainage_info"]["last_checked_time"])
        assert checked >= now + timedelta(seconds=61)
