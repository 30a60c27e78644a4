"""Patching across deploys: a year-long run in the locked test clock survives new builds of
its own code (Temporal's `patched` / `deprecate_patch` rules)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from perdure import activity, workflow
from perdure.exceptions import NondeterminismError
from perdure.history import WorkflowHistory
from perdure.replayer import Replayer
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

QUEUE = "yearly"
MONTHS = 12
calls: dict[str, list[str]] = defaultdict(list)

# The repository's root: the replay command runs there, so the guide's module imports.
REPOSITORY = Path(__file__).resolve().parents[2]


@activity.defn
async def old_step() -> None:
    calls[activity.info().workflow_id].append("old")


@activity.defn
async def new_step() -> None:
    calls[activity.info().workflow_id].append("new")


STEP = {"start_to_close_timeout": timedelta(seconds=10)}


@workflow.defn(name="Yearly")
class BuildA:
    @workflow.run
    async def run(self) -> int:
        for _ in range(MONTHS):
            await workflow.execute_activity(old_step, **STEP)
            await workflow.sleep(timedelta(days=30))
        return MONTHS


@workflow.defn(name="Yearly")
class BuildB:
    @workflow.run
    async def run(self) -> int:
        for _ in range(MONTHS):
            if workflow.patched("monthly-report"):
                await workflow.execute_activity(new_step, **STEP)
            else:
                await workflow.execute_activity(old_step, **STEP)
            await workflow.sleep(timedelta(days=30))
        return MONTHS


@workflow.defn(name="Yearly")
class BuildBDeprecated:
    @workflow.run
    async def run(self) -> int:
        for _ in range(MONTHS):
            workflow.deprecate_patch("monthly-report")
            await workflow.execute_activity(new_step, **STEP)
            await workflow.sleep(timedelta(days=30))
        return MONTHS


@workflow.defn(name="Yearly")
class BuildC:
    @workflow.run
    async def run(self) -> int:
        for _ in range(MONTHS):
            await workflow.execute_activity(new_step, **STEP)
            await workflow.sleep(timedelta(days=30))
        return MONTHS


ACTIVITIES = [old_step, new_step]


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping() as env:
        yield env


def worker(env: WorkflowEnvironment, build: type) -> Worker:
    return Worker(env.client, task_queue=QUEUE, workflows=[build], activities=ACTIVITIES)


async def started_on(env: WorkflowEnvironment, build: type, months: int = 2):
    """A run started on `build`, left open after `months` months of its year."""
    workflow_id = f"yearly-{uuid.uuid4().hex[:8]}"
    async with worker(env, build):
        handle = await env.client.start_workflow(build.run, id=workflow_id, task_queue=QUEUE)
        await env.sleep(timedelta(days=30 * months - 1))
    assert len(calls[workflow_id]) == months
    return handle


async def test_a_run_started_on_old_code_stays_on_the_old_branch_after_the_patch(env):
    handle = await started_on(env, BuildA)
    async with worker(env, BuildB):
        assert await handle.result() == MONTHS
    # Also the ten months (loop iterations) first executed by build B took the old branch.
    assert calls[handle.id] == ["old"] * MONTHS
    fresh = f"yearly-{uuid.uuid4().hex[:8]}"
    async with worker(env, BuildB):
        await env.client.execute_workflow(BuildB.run, id=fresh, task_queue=QUEUE)
    assert calls[fresh] == ["new"] * MONTHS

    patched = [
        w.id async for w in env.client.list_workflows("TemporalChangeVersion = 'monthly-report'")
    ]
    assert fresh in patched and handle.id not in patched
    # A run without the attribute matches neither `A = x` nor `NOT A = x` (Perdure's SQL
    # visibility keeps SQL's three-valued rule): the old-branch runs are those without it.
    unpatched = [
        w.id
        async for w in env.client.list_workflows(
            "WorkflowType = 'Yearly' AND TemporalChangeVersion IS NULL"
        )
    ]
    assert handle.id in unpatched and fresh not in unpatched


async def test_a_patched_run_finishes_on_the_deprecated_patch_and_then_without_it(env):
    on_b = await started_on(env, BuildB)
    async with worker(env, BuildBDeprecated):
        assert await on_b.result() == MONTHS
    assert calls[on_b.id] == ["new"] * MONTHS

    on_deprecated = await started_on(env, BuildBDeprecated)
    async with worker(env, BuildC):
        assert await on_deprecated.result() == MONTHS
    assert calls[on_deprecated.id] == ["new"] * MONTHS


async def test_removing_a_patch_that_is_not_deprecated_fails_replay_at_its_marker(env):
    on_b = await started_on(env, BuildB)
    history = await on_b.fetch_history()
    marker = next(e for e in history["events"] if e["event_type"] == "MARKER_RECORDED")
    assert marker["attributes"]["marker_name"] == "core_patch"
    assert marker["attributes"]["details"] == {"patch_id": "monthly-report", "deprecated": False}

    result = await Replayer(workflows=[BuildC]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert isinstance(result.replay_failure, NondeterminismError)
    assert result.replay_failure.event_id == marker["event_id"]
    assert "monthly-report" in str(result.replay_failure)
    # The deprecated build and build B itself still fit the history.
    await Replayer(workflows=[BuildBDeprecated]).replay_workflow(history)
    await Replayer(workflows=[BuildB]).replay_workflow(history)
    async with worker(env, BuildB):
        await on_b.result()


async def test_replay_workflows_collects_every_failure_by_run_id(env):
    on_a = await started_on(env, BuildA, months=1)
    on_b = await started_on(env, BuildB, months=1)
    histories = [await on_a.fetch_history(), await on_b.fetch_history()]
    results = await Replayer(workflows=[BuildC]).replay_workflows(
        histories, raise_on_replay_failure=False
    )
    # Build C takes the new step where build A's history recorded the old one, and has no
    # patch where build B's history recorded one.
    assert set(results.replay_failures) == {histories[0]["run_id"], histories[1]["run_id"]}
    results = await Replayer(workflows=[BuildB]).replay_workflows(
        histories, raise_on_replay_failure=False
    )
    assert results.replay_failures == {}
    with pytest.raises(NondeterminismError, match="not registered"):
        await Replayer(workflows=[]).replay_workflow(histories[0])
    async with worker(env, BuildB):
        await on_a.result()
        await on_b.result()


BUILD_B = [BuildB]
BUILD_C = [BuildC]


async def replay_cli(env: WorkflowEnvironment, query: str, workflows: str) -> tuple[int, str]:
    """`perdure replay` (perdure.replay_cli.main) in a process of its own, as CI runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "perdure.replay_cli",
        "--query",
        query,
        "--workflows",
        workflows,
        "--address",
        env.server.url,
        "--api-key",
        env.server.api_key,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=REPOSITORY,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_perdure_replay_exits_1_naming_the_run_and_event_where_a_build_diverges(env):
    on_b = await started_on(env, BuildB, months=1)
    query = f"WorkflowId = '{on_b.id}' AND ExecutionStatus = 'Running'"
    code, output = await replay_cli(env, query, "tests.sdk.test_sdk_patching:BUILD_C")
    assert code == 1, output
    marker = next(
        e["event_id"]
        for e in (await on_b.fetch_history())["events"]
        if e["event_type"] == "MARKER_RECORDED"
    )
    assert f"FAIL  {on_b.id}" in output and f"at event {marker}" in output
    code, output = await replay_cli(env, query, "tests.sdk.test_sdk_patching:BUILD_B")
    assert code == 0, output
    assert "1 replayed, 0 diverged" in output
    code, output = await replay_cli(env, query, "tests.sdk.test_sdk_patching")
    assert code == 2 and "module:ATTRIBUTE" in output
    async with worker(env, BuildB):
        await on_b.result()


async def test_a_fetched_history_is_a_workflow_history_that_survives_json(env, tmp_path):
    on_b = await started_on(env, BuildB, months=1)
    history = await on_b.fetch_history()
    assert isinstance(history, WorkflowHistory)
    assert history.workflow_id == on_b.id and history.run_id == history["run_id"]
    assert history.events[0]["event_type"] == "WORKFLOW_EXECUTION_STARTED"
    saved = tmp_path / "history.json"
    saved.write_text(history.to_json())
    loaded = WorkflowHistory.from_json(on_b.id, saved.read_text())
    assert loaded.events == history.events
    assert loaded.run_id == history.run_id  # from the first event, as Temporal reads it
    await Replayer(workflows=[BuildB]).replay_workflow(loaded)
    await Replayer(workflows=[BuildB]).replay_workflow(saved)
    async with worker(env, BuildB):
        await on_b.result()
