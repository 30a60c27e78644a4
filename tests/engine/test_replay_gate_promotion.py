"""The replay gate on set-current and set-ramping (issue #21 §3): a version is promoted only
after a passing replay check of the last 24 hours, unless the request says
`ignore_replay_check`; the unversioned workers are never gated."""

from __future__ import annotations

from tests.conftest import Tenant
from tests.engine.test_replay_checks import open_runs
from tests.engine_helpers import assert_problem, uid
from tests.rawhttp import Raw
from tests.replay_helpers import answer, replay_poll, start_check
from tests.versioning_helpers import (
    describe_deployment,
    poll_as_version,
    set_current,
    set_ramping,
)

GATED = {"ignore_replay_check": False}


async def routing(tenant: Tenant, name: str) -> dict:
    return (await describe_deployment(tenant, name))["worker_deployment_info"]["routing_config"]


async def test_promotions_without_a_passing_check_are_refused_and_change_nothing(
    server, tenant: Tenant
):
    name = uid("dep")
    await poll_as_version(tenant, name, "v1")
    before = await describe_deployment(tenant, name)

    for refused in (
        await set_current(tenant, name, "v1", **GATED),
        await set_ramping(tenant, name, "v1", 10, **GATED),
    ):
        problem = assert_problem(refused, 409, "replay-check-required")
        assert problem["deployment_name"] == name and problem["build_id"] == "v1"
    assert await describe_deployment(tenant, name) == before

    # The request may skip the gate; the unversioned workers are never gated.
    assert (await set_ramping(tenant, name, "v1", 10)).status_code == 200
    assert (await set_current(tenant, name, "", **GATED)).status_code == 200


async def test_a_failed_check_names_the_runs_and_a_later_passing_one_opens_the_gate(
    server, tenant: Tenant
):
    raw = Raw(tenant, task_queue=uid("q"))
    runs = await open_runs(raw, 2)
    name = uid("dep")
    await poll_as_version(tenant, name, "v2", ((raw.q, "workflow"),))
    await start_check(tenant, name, "v2")
    for _ in range(2):
        task = await replay_poll(tenant, raw.q, name, "v2")
        assert task is not None
        failure = {"message": "diverged", "kind": "nondeterminism", "event_id": 5}
        await answer(tenant, task["replay_task"]["token"], "failed", failure=failure)

    before = await routing(tenant, name)
    refused = await set_current(tenant, name, "v2", **GATED)
    problem = assert_problem(refused, 409, "replay-check-failed")
    assert {(f["workflow_id"], f["run_id"], f["event_id"]) for f in problem["failures"]} == {
        (r["workflow_id"], r["run_id"], 5) for r in runs
    }
    assert await routing(tenant, name) == before

    check = await start_check(tenant, name, "v2")
    for _ in range(2):
        task = await replay_poll(tenant, raw.q, name, "v2")
        assert task is not None
        await answer(tenant, task["replay_task"]["token"])
    assert check["status"] == "running"
    ramped = await set_ramping(tenant, name, "v2", 25, **GATED)
    assert ramped.status_code == 200, ramped.text
    promoted = await set_current(tenant, name, "v2", **GATED)
    assert promoted.status_code == 200, promoted.text
    assert (await routing(tenant, name))["current_version"]["build_id"] == "v2"
