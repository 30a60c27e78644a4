"""Worker Versioning with the SDK: two builds of the same workflows run side by side as
versions of one deployment; pinned runs stay, auto-upgrade runs move, a pinned run upgrades
on continue-as-new, overrides send a run to a version. The deployment's routing is written as
set-current writes it (tests/versioning_helpers.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from perdure import activity, workflow
from perdure.client import Client
from perdure.common import (
    AutoUpgradeVersioningOverride,
    PinnedVersioningOverride,
    VersioningBehavior,
    WorkerDeploymentVersion,
)
from perdure.worker import Worker, WorkerDeploymentConfig
from perdure.workflow import ContinueAsNewVersioningBehavior

from tests.conftest import new_tenant
from tests.sdk_helpers import described_until, new_id
from tests.versioning_helpers import set_routing

D = "shop"
QUEUE = "versioned"
STEP = {"start_to_close_timeout": timedelta(seconds=10)}


def builds(build: str) -> tuple[list[type], list[object]]:
    """The workflows and activity of one build: same types and commands, results naming the
    build that ran each step."""

    @activity.defn(name="step")
    async def step() -> str:
        return build

    @workflow.defn(name="Pinned", versioning_behavior=VersioningBehavior.PINNED)
    class Pinned:
        def __init__(self) -> None:
            self.go = False

        @workflow.signal
        def proceed(self) -> None:
            self.go = True

        @workflow.run
        async def run(self) -> str:
            await workflow.wait_condition(lambda: self.go)
            return f"{build}:{await workflow.execute_activity(step, **STEP)}"

    @workflow.defn(name="Mover")  # the worker's default: AUTO_UPGRADE
    class Mover(Pinned):
        pass

    @workflow.defn(name="Yearly", versioning_behavior=VersioningBehavior.PINNED)
    class Yearly(Pinned):
        @workflow.run
        async def run(self) -> str:
            await workflow.wait_condition(lambda: self.go)
            if workflow.info().is_target_worker_deployment_version_changed():
                workflow.continue_as_new(
                    initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE
                )
            return f"{build}:{await workflow.execute_activity(step, **STEP)}"

    return [Pinned, Mover, Yearly], [step]


def worker(client: Client, build: str) -> Worker:
    workflows, activities = builds(build)
    return Worker(
        client,
        task_queue=QUEUE,
        workflows=workflows,
        activities=activities,
        deployment_config=WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(D, build),
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
        ),
    )


@contextlib.asynccontextmanager
async def deployment(server) -> AsyncIterator[tuple[Client, object]]:
    """A client of a new tenant, and the tenant (its admin client sets the routing)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=90) as http:
        tenant = await new_tenant(http)
        client = await Client.connect(
            server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
        )
        try:
            yield client, tenant
        finally:
            await client.close()
            await tenant.client.aclose()


async def behaviour(handle, expected: str) -> None:
    """Wait until the run's first task completed on a versioned worker (what fixes it)."""
    await described_until(
        handle,
        lambda d: d.versioning_info is not None and d.versioning_info.behavior.name == expected,
    )


async def test_a_versioned_worker_refuses_a_workflow_type_that_declares_no_behaviour(server):
    @workflow.defn(name="Undeclared")
    class Undeclared:
        @workflow.run
        async def run(self) -> None:
            return None

    versioned = WorkerDeploymentConfig(WorkerDeploymentVersion(D, "A"), use_worker_versioning=True)
    unversioned = WorkerDeploymentConfig(
        WorkerDeploymentVersion(D, "A"),
        use_worker_versioning=False,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )
    async with deployment(server) as (client, _):
        with pytest.raises(ValueError, match="Undeclared must specify a versioning behavior"):
            Worker(client, task_queue=QUEUE, workflows=[Undeclared], deployment_config=versioned)
        with pytest.raises(ValueError, match="must be UNSPECIFIED"):
            Worker(client, task_queue=QUEUE, workflows=[Undeclared], deployment_config=unversioned)
        # A default covers the type; without versioning the worker is as it always was.
        Worker(
            client,
            task_queue=QUEUE,
            workflows=[Undeclared],
            deployment_config=WorkerDeploymentConfig(
                WorkerDeploymentVersion(D, "A"), True, VersioningBehavior.PINNED
            ),
        )
        Worker(client, task_queue=QUEUE, workflows=[Undeclared])


async def test_pinned_runs_stay_new_runs_move_and_auto_upgrade_runs_follow(server):
    async with deployment(server) as (client, tenant):
        async with worker(client, "A"):
            await set_routing(server, tenant, D, current="A")
            pinned = await client.start_workflow("Pinned", id=new_id("pinned"), task_queue=QUEUE)
            mover = await client.start_workflow("Mover", id=new_id("mover"), task_queue=QUEUE)
            await behaviour(pinned, "PINNED")
            await behaviour(mover, "AUTO_UPGRADE")
            async with worker(client, "B"):
                await set_routing(server, tenant, D, current="B")
                fresh = await client.start_workflow("Pinned", id=new_id("new"), task_queue=QUEUE)
                for handle in (pinned, mover, fresh):
                    await handle.signal("proceed")
                assert await pinned.result() == "A:A"
                assert await mover.result() == "B:B"
                assert await fresh.result() == "B:B"
        info = (await pinned.describe()).versioning_info
        assert info.behavior is VersioningBehavior.PINNED
        assert info.deployment_version == WorkerDeploymentVersion(D, "A")
        assert (await mover.describe()).versioning_info.deployment_version.build_id == "B"


async def test_a_pinned_run_upgrades_on_continue_as_new_when_its_target_changed(server):
    async with deployment(server) as (client, tenant):
        async with worker(client, "A"):
            await set_routing(server, tenant, D, current="A")
            handle = await client.start_workflow("Yearly", id=new_id("yearly"), task_queue=QUEUE)
            await behaviour(handle, "PINNED")
            async with worker(client, "B"):
                await set_routing(server, tenant, D, current="B")
                await handle.signal("proceed")
                # Build A saw the changed target and continued as new onto B, which waits.
                latest = client.get_workflow_handle(handle.id)
                await described_until(
                    latest,
                    lambda d: (
                        d.run_id != handle.run_id
                        and d.versioning_info is not None
                        and d.versioning_info.deployment_version is not None
                        and d.versioning_info.deployment_version.build_id == "B"
                    ),
                )
                await latest.signal("proceed")
                assert await latest.result() == "B:B"


async def test_overrides_send_a_run_to_a_version_and_update_options_changes_them(server):
    async with deployment(server) as (client, tenant):
        async with worker(client, "A"), worker(client, "B"):
            await set_routing(server, tenant, D, current="A")
            to_b = PinnedVersioningOverride(WorkerDeploymentVersion(D, "B"))
            tested = await client.start_workflow(
                "Mover", id=new_id("test-traffic"), task_queue=QUEUE, versioning_override=to_b
            )
            await behaviour(tested, "PINNED")
            assert (await tested.describe()).versioning_info.versioning_override == to_b
            await tested.signal("proceed")
            assert await tested.result() == "B:B"

            moved = await client.start_workflow("Pinned", id=new_id("moved"), task_queue=QUEUE)
            await behaviour(moved, "PINNED")
            await moved.update_options(versioning_override=None)  # nothing to remove: no change
            assert (await moved.describe()).versioning_info.versioning_override is None
            await moved.update_options(versioning_override=AutoUpgradeVersioningOverride())
            await set_routing(server, tenant, D, current="B")
            info = (await moved.describe()).versioning_info
            assert info.behavior is VersioningBehavior.AUTO_UPGRADE
            assert info.versioning_override == AutoUpgradeVersioningOverride()
            await moved.signal("proceed")
            assert await moved.result() == "B:B"


async def test_signal_with_start_carries_the_override(server):
    async with deployment(server) as (client, tenant):
        async with worker(client, "A"), worker(client, "B"):
            await set_routing(server, tenant, D, current="A")
            handle = await client.start_workflow(
                "Pinned",
                id=new_id("signalled"),
                task_queue=QUEUE,
                start_signal="proceed",
                versioning_override=PinnedVersioningOverride(WorkerDeploymentVersion(D, "B")),
            )
            assert await handle.result() == "B:B"
