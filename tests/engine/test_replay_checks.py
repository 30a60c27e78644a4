"""The replay gate over plain HTTP (issue #21 §3): checks sample the runs a version will run,
hand their histories to replay-capable pollers of that version, record the answers, hand
out again what times out, and decide whether the version may be promoted."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.db import tables
from app.engine.matching.wakeups import queue_key
from app.engine.versioning import replay_tasks, routing
from app.engine.versioning.replay_gate import require_passing_check
from app.engine.versioning.replay_tasks import MAX_ATTEMPTS, ReplayTimeoutLoop
from app.errors import ReplayCheckFailed, ReplayCheckRequired
from tests.conftest import Tenant
from tests.engine_helpers import assert_problem, uid
from tests.rawhttp import Raw, complete_workflow, schedule_activity
from tests.replay_helpers import (
    answer,
    get_check,
    register_version,
    replay_poll,
    start_check,
    version_path,
)


async def gate(server: Any, namespace_id: str, deployment: str, build: str) -> None:
    async with server.ctx.db.read() as conn:
        await require_passing_check(conn, namespace_id, deployment, build, server.ctx.clock.now())


async def open_runs(raw: Raw, count: int, workflow_type: str = "Flow") -> list[dict[str, Any]]:
    """`count` runs on the raw decider's queue, each past its first workflow task (an
    activity scheduled), so their histories have something to replay."""
    started = []
    for n in range(count):
        run = await raw.start(uid(f"run{n}"), workflow_type=workflow_type)
        task = await raw.next_workflow_task()
        await raw.complete(task, schedule_activity("a1", start_to_close_timeout=600))
        started.append({"workflow_id": task["workflow_id"], "run_id": run["run_id"]})
    return started


async def test_a_check_with_nothing_to_replay_passes_at_once_and_opens_the_gate(
    server, tenant: Tenant
):
    dep = uid("dep")
    ns = register_version(server.database_url, tenant, dep, "v1", task_queues=(uid("q"),))
    with pytest.raises(ReplayCheckRequired):
        await gate(server, ns, dep, "v1")

    check = await start_check(tenant, dep, "v1")

    assert check["status"] == "passed"
    assert check["progress"]["total"] == 0
    assert check["waiting_on"] is None
    assert check["finish_time"] is not None
    await gate(server, ns, dep, "v1")
    # The unversioned workers as target are never gated.
    await gate(server, ns, dep, "")


async def test_replay_tasks_go_only_to_replay_pollers_of_the_version_and_failures_close_the_gate(
    server, tenant: Tenant
):
    raw = Raw(tenant, task_queue=uid("q"))
    runs = await open_runs(raw, 2)
    dep = uid("dep")
    ns = register_version(server.database_url, tenant, dep, "v2", task_queues=(raw.q,))

    check = await start_check(tenant, dep, "v2")
    assert check["status"] == "running"
    assert check["progress"] == {
        "total": 2,
        "pending": 2,
        "running": 0,
        "passed": 0,
        "failed": 0,
        "skipped": 0,
    }
    assert "replay" in check["waiting_on"] and f"{dep}.v2" in check["waiting_on"]
    with pytest.raises(ReplayCheckRequired) as running:
        await gate(server, ns, dep, "v2")
    assert running.value.extra["running_check_id"] == check["check_id"]

    # Neither a plain poll, nor a replay poll of another version, nor a versioned poll
    # without `replay`, takes a replay task.
    assert await raw.poll_workflow_task(wait=0) is None
    assert await replay_poll(tenant, raw.q, dep, "other") is None
    assert await replay_poll(tenant, raw.q, dep, "v2", replay=False) is None

    tasks = [await replay_poll(tenant, raw.q, dep, "v2") for _ in range(2)]
    assert await replay_poll(tenant, raw.q, dep, "v2") is None  # both handed out
    by_run = {t["run_id"]: t for t in tasks if t is not None}
    assert set(by_run) == {r["run_id"] for r in runs}
    first = by_run[runs[0]["run_id"]]
    assert first["task_token"] == ""
    assert first["replay_task"]["last_event_id"] == 5
    assert [e["event_id"] for e in first["history"]["events"]] == [1, 2, 3, 4, 5]
    assert first["history"]["events"][0]["event_type"] == "WORKFLOW_EXECUTION_STARTED"
    progress = (await get_check(tenant, dep, "v2", check["check_id"]))["progress"]
    assert progress["running"] == 2 and progress["pending"] == 0

    await answer(tenant, first["replay_task"]["token"])
    second = by_run[runs[1]["run_id"]]
    failure = {"message": "emitted START_TIMER", "kind": "nondeterminism", "event_id": 5}
    await answer(tenant, second["replay_task"]["token"], "failed", failure=failure)
    # An answered token is spent.
    await answer(tenant, second["replay_task"]["token"], expect=404)

    done = await get_check(tenant, dep, "v2", check["check_id"])
    assert done["status"] == "failed"
    assert done["progress"]["passed"] == 1 and done["progress"]["failed"] == 1
    assert done["failures"] == [
        {
            "workflow_id": runs[1]["workflow_id"],
            "run_id": runs[1]["run_id"],
            "workflow_type": "Flow",
            "kind": "nondeterminism",
            "message": "emitted START_TIMER",
            "event_id": 5,
        }
    ]
    with pytest.raises(ReplayCheckFailed) as refused:
        await gate(server, ns, dep, "v2")
    problem = refused.value.to_problem()
    assert problem["status"] == 409
    assert problem["type"].endswith("/replay-check-failed")
    assert problem["failures"] == done["failures"]

    # A later passing check opens the gate again.
    again = await start_check(tenant, dep, "v2")
    for _ in range(2):
        task = await replay_poll(tenant, raw.q, dep, "v2")
        assert task is not None
        await answer(tenant, task["replay_task"]["token"])
    assert (await get_check(tenant, dep, "v2", again["check_id"]))["status"] == "passed"
    await gate(server, ns, dep, "v2")

    listed = await tenant.client.get(version_path(tenant, dep, "v2", "/replay-checks"))
    assert [c["check_id"] for c in listed.json()["checks"]] == [
        again["check_id"],
        check["check_id"],
    ]


async def test_sampling_takes_open_runs_then_closed_runs_of_the_same_types_up_to_the_size(
    server, tenant: Tenant
):
    raw = Raw(tenant, task_queue=uid("q"))
    kind = uid("Type")
    runs = await open_runs(raw, 2, workflow_type=kind)
    closed = []
    for n in range(3):  # closed runs of the same type, on another queue
        other = Raw(tenant, task_queue=uid("q"))
        await other.start(uid(f"done{n}"), workflow_type=kind)
        task = await other.next_workflow_task()
        await other.complete(task, complete_workflow(n))
        closed.append(task["run_id"])
    elsewhere = Raw(tenant, task_queue=uid("q"))
    await open_runs(elsewhere, 1, workflow_type=kind)  # not on the version's queues
    dep = uid("dep")
    register_version(server.database_url, tenant, dep, "v1", task_queues=(raw.q,))

    check = await start_check(tenant, dep, "v1", sample_size=4)
    seen = []
    while (task := await replay_poll(tenant, raw.q, dep, "v1")) is not None:
        seen.append(task["run_id"])
        await answer(tenant, task["replay_task"]["token"])
        assert len(seen) <= 4
    # The open runs first, then the most recently closed runs of their type.
    assert set(seen[:2]) == {r["run_id"] for r in runs}
    assert seen[2:] == [closed[2], closed[1]]
    assert (await get_check(tenant, dep, "v1", check["check_id"]))["status"] == "passed"

    # A list filter narrows the sample.
    narrowed = await start_check(
        tenant, dep, "v1", query=f"WorkflowId = '{runs[0]['workflow_id']}'"
    )
    assert narrowed["progress"]["total"] == 1


async def test_an_unanswered_replay_task_is_handed_out_again_then_fails_timed_out(
    server, tenant: Tenant
):
    raw = Raw(tenant, task_queue=uid("q"))
    await open_runs(raw, 1)
    dep = uid("dep")
    ns = register_version(server.database_url, tenant, dep, "v1", task_queues=(raw.q,))
    check = await start_check(tenant, dep, "v1")
    loop = ReplayTimeoutLoop(server.app.state.engine)
    seconds = server.ctx.settings.replay_task_seconds

    tokens = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        task = await replay_poll(tenant, raw.q, dep, "v1")
        assert task is not None and task["attempt"] == attempt
        tokens.append(task["replay_task"]["token"])
        assert await replay_poll(tenant, raw.q, dep, "v1") is None  # not before its deadline
        server.ctx.clock.advance(timedelta(seconds=seconds + 1))
        await loop.tick()
    assert len(set(tokens)) == MAX_ATTEMPTS
    # An answer to a hand-out that timed out changes nothing.
    await answer(tenant, tokens[0], expect=404)

    done = await get_check(tenant, dep, "v1", check["check_id"])
    assert done["status"] == "failed"
    assert done["failures"][0]["kind"] == "timed-out"
    assert "timed out" in done["failures"][0]["message"]
    with pytest.raises(ReplayCheckFailed):
        await gate(server, ns, dep, "v1")


async def test_a_check_counts_for_24_hours(server, tenant: Tenant):
    dep = uid("dep")
    ns = register_version(server.database_url, tenant, dep, "v1")
    await start_check(tenant, dep, "v1")
    server.ctx.clock.advance(timedelta(hours=23))
    await gate(server, ns, dep, "v1")
    server.ctx.clock.advance(timedelta(hours=1, seconds=1))
    with pytest.raises(ReplayCheckRequired):
        await gate(server, ns, dep, "v1")


async def test_bad_checks_and_answers_are_refused_and_change_nothing(
    server, tenant: Tenant, other_tenant: Tenant
):
    dep = uid("dep")
    register_version(server.database_url, tenant, dep, "v1")
    for body in ({"sample_size": 0}, {"sample_size": 1001}, {"extra": 1}):
        r = await tenant.client.post(version_path(tenant, dep, "v1", "/replay-check"), json=body)
        assert_problem(r, 400)
    r = await tenant.client.post(
        version_path(tenant, dep, "v1", "/replay-check"), json={"query": "WorkflowId = = 'x'"}
    )
    assert_problem(r, 400)
    r = await tenant.client.post(version_path(tenant, dep, "nope", "/replay-check"), json={})
    assert_problem(r, 404)
    listed = await tenant.client.get(version_path(tenant, dep, "v1", "/replay-checks"))
    assert listed.json()["checks"] == []

    # Another tenant sees nothing of this version, its checks or its replay tasks.
    check = await start_check(tenant, dep, "v1")
    r = await other_tenant.client.post(
        version_path(other_tenant, dep, "v1", "/replay-check"), json={}
    )
    assert_problem(r, 404)
    r = await other_tenant.client.get(
        version_path(other_tenant, dep, "v1", f"/replay-checks/{check['check_id']}")
    )
    assert_problem(r, 404)
    await answer(other_tenant, "0" * 36, expect=404)
    for body in (
        {"outcome": "maybe"},
        {"outcome": "failed"},
        {"outcome": "passed", "failure": {"message": "x"}},
        {"outcome": "failed", "failure": {"message": "x", "kind": "other"}},
    ):
        r = await tenant.client.post(tenant.ns("/replay-tasks/x/complete"), json=body)
        assert_problem(r, 400)
    # A replay poll names the version whose checks it serves.
    queue = uid("q")
    for extra in (
        {},
        {
            "deployment_options": {
                "deployment_name": dep,
                "build_id": "v1",
                "worker_versioning_mode": "UNVERSIONED",
            }
        },
    ):
        r = await tenant.client.post(
            tenant.ns(f"/task-queues/{queue}/workflow-tasks/poll"),
            json={"wait": 0, "replay": True, **extra},
        )
        assert_problem(r, 400)
    # The refused requests changed nothing: the check is as it was.
    assert (await get_check(tenant, dep, "v1", check["check_id"]))["status"] == "passed"


async def test_idle_replay_polls_cost_no_statement_per_poll_without_a_check_of_their_version(
    server, tenant: Tenant, monkeypatch
):
    """Without a running check of its version, a replay-capable poll is the plain poll: the
    process reads which versions have a running check at most once per refresh interval,
    whatever the number of polls, and never tries to take a replay task."""
    board = server.app.state.engine.replay_board
    refreshes: list[float] = []
    takes: list[Any] = []
    real_refresh = board.refresh

    async def counted_refresh(conn: Any) -> None:
        refreshes.append(time.monotonic())
        await real_refresh(conn)

    async def counted_take(*args: Any, **kwargs: Any) -> None:
        takes.append(args)

    monkeypatch.setattr(board, "refresh", counted_refresh)
    monkeypatch.setattr(replay_tasks, "take", counted_take)
    queue, dep = uid("q"), uid("dep")
    began = time.monotonic()
    for _ in range(30):
        assert await replay_poll(tenant, queue, dep, "idle") is None
    elapsed = time.monotonic() - began

    assert takes == []
    assert len(refreshes) <= 1 + elapsed / replay_tasks.BOARD_REFRESH_SECONDS
    assert len(refreshes) < 30


async def test_a_new_check_wakes_the_replay_polls_already_waiting_on_its_version(
    server, tenant: Tenant
):
    raw = Raw(tenant, task_queue=uid("q"))
    runs = await open_runs(raw, 1)
    dep = uid("dep")
    ns = register_version(server.database_url, tenant, dep, "v1", task_queues=(raw.q,))
    line = queue_key(ns, "workflow", raw.q, routing.canonical(dep, "v1"))
    matcher = server.app.state.engine.wakeups.matcher
    waiting = asyncio.create_task(replay_poll(tenant, raw.q, dep, "v1", wait=30))
    for _ in range(500):  # until the poll waits in its version's line (5 s at most)
        if matcher.has_waiters(line):
            break
        await asyncio.sleep(0.01)
    assert matcher.has_waiters(line)

    await start_check(tenant, dep, "v1")

    # Taken at once, not when the 30-second poll would have ended.
    task = await asyncio.wait_for(waiting, timeout=10)
    assert task is not None and task["run_id"] == runs[0]["run_id"]
    await answer(tenant, task["replay_task"]["token"])


async def test_a_namespace_with_replay_checks_can_be_deleted_and_keeps_none(server, tenant: Tenant):
    made = await tenant.client.post("/api/v1/namespaces", json={"name": "short-lived"})
    assert made.status_code == 201, made.text
    other = Tenant(tenant.name, tenant.admin_key, "short-lived", tenant.client)
    raw = Raw(other, task_queue=uid("q"))
    (run,) = await open_runs(raw, 1)
    dep = uid("dep")
    ns = register_version(server.database_url, other, dep, "v1", task_queues=(raw.q,))
    check = await start_check(other, dep, "v1")
    assert check["progress"]["total"] == 1
    ended = await other.client.post(other.ns(f"/workflows/{run['workflow_id']}/terminate"), json={})
    assert ended.status_code < 300, ended.text

    gone = await tenant.client.delete("/api/v1/namespaces/short-lived")

    assert gone.status_code == 204, gone.text
    async with server.ctx.db.read() as conn:
        for table in (tables.replay_checks, tables.replay_check_items):
            left = await conn.scalar(
                sa.select(sa.func.count()).select_from(table).where(table.c.namespace_id == ns)
            )
            assert left == 0, table.name
