"""The replay gate with the Python SDK (issue #21 §3): a versioned worker answers its
version's replay tasks by replaying histories with `Replayer`, and the gate names the runs an
incompatible build would break, with the event where each diverged — also the removal of a
patch that is not deprecated yet (the year-long patching scenario)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from perdure import RPCError, activity, workflow
from perdure.client import Client
from perdure.common import RawValue, VersioningBehavior, WorkerDeploymentVersion
from perdure.worker import Worker, WorkerDeploymentConfig

from tests.conftest import RunningServer, Tenant, new_tenant
from tests.engine_helpers import uid
from tests.sdk.test_sdk_patching import ACTIVITIES, BuildA, BuildB, BuildBDeprecated, BuildC
from tests.sdk_helpers import history_until
from tests.versioning_helpers import namespace_id, version_polled

STEP = {"start_to_close_timeout": timedelta(seconds=10)}
executed: list[str] = []


@activity.defn
async def pack() -> None:
    executed.append("pack")


@activity.defn
async def weigh() -> None:
    executed.append("weigh")


@workflow.defn(name="Shipping")
class ShippingV1:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(pack, **STEP)
        await workflow.sleep(timedelta(days=30))


@workflow.defn(name="Shipping")
class ShippingV2Compatible:
    """V1 with code after the point every open run has reached: replays V1's histories."""

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(pack, **STEP)
        await workflow.sleep(timedelta(days=30))
        await workflow.execute_activity(weigh, **STEP)


@workflow.defn(name="Shipping")
class ShippingV2Broken:
    """Weighs before packing: a V1 history recorded `pack` where this code schedules `weigh`."""

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(weigh, **STEP)
        await workflow.execute_activity(pack, **STEP)
        await workflow.sleep(timedelta(days=30))


@dataclass
class Namespace:
    server: RunningServer
    tenant: Tenant
    client: Client


@pytest.fixture
async def ns(server: RunningServer) -> AsyncIterator[Namespace]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=90) as http:
        tenant = await new_tenant(http)
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    try:
        yield Namespace(server, tenant, client)
    finally:
        await client.close()
        await tenant.client.aclose()


def versioned_worker(
    ns: Namespace, queue: str, build: type, deployment: str, build_id: str
) -> Worker:
    return Worker(
        ns.client,
        task_queue=queue,
        workflows=[build],
        activities=[pack, weigh, *ACTIVITIES],
        deployment_config=WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment, build_id),
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
        ),
    )


async def open_run(ns: Namespace, queue: str, build: type, *, timers: int = 1) -> Any:
    """A run of `build` left open at its first 30-day timer."""
    async with Worker(
        ns.client, task_queue=queue, workflows=[build], activities=[pack, weigh, *ACTIVITIES]
    ):
        handle = await ns.client.start_workflow(build.run, id=uid("run"), task_queue=queue)
        await history_until(
            handle, lambda events: sum(e["event_type"] == "TIMER_STARTED" for e in events) >= timers
        )
    return handle


async def finished_check(
    ns: Namespace, queue: str, build: type, deployment: str, build_id: str
) -> dict[str, Any]:
    """A replay check of the version, run to its end by a versioned worker of `build` (whose
    polls make the version exist)."""
    async with versioned_worker(ns, queue, build, deployment, build_id):
        await version_polled(
            ns.server, await namespace_id(ns.server, ns.tenant), deployment, build_id
        )
        check = await ns.client.start_replay_check(deployment, build_id)
        return await ns.client.wait_for_replay_check(
            deployment, build_id, check["check_id"], max_wait=30, interval=0.05
        )


async def promote(ns: Namespace, deployment: str, build_id: str) -> Any:
    """Make the version current through the gate (its pollers and queues are there)."""
    return await ns.client.set_worker_deployment_current_version(deployment, build_id)


async def test_the_gate_names_the_runs_and_events_an_incompatible_build_would_break(ns):
    queue, dep = uid("q"), uid("shipping")
    runs = [await open_run(ns, queue, ShippingV1) for _ in range(2)]

    broken = await finished_check(ns, queue, ShippingV2Broken, dep, "v2-broken")
    assert broken["status"] == "failed"
    assert broken["progress"]["failed"] == 2
    assert {(f["workflow_id"], f["run_id"]) for f in broken["failures"]} == {
        (h.id, h.result_run_id) for h in runs
    }
    for failure in broken["failures"]:
        assert failure["kind"] == "nondeterminism"
        assert failure["event_id"] == 5  # V1's ACTIVITY_TASK_SCHEDULED (pack)
    with pytest.raises(RPCError) as refused:
        await promote(ns, dep, "v2-broken")
    assert refused.value.status == 409
    assert refused.value.type.endswith("/replay-check-failed")
    assert refused.value.problem["failures"] == broken["failures"]

    compatible = await finished_check(ns, queue, ShippingV2Compatible, dep, "v2-ok")
    assert compatible["status"] == "passed"
    assert compatible["progress"]["passed"] == 2
    await promote(ns, dep, "v2-ok")
    # The replays ran no activity and sent no command: the runs still wait on their timers.
    for handle in runs:
        events = (await handle.fetch_history())["events"]
        assert events[-1]["event_type"] == "TIMER_STARTED"


async def test_a_type_the_version_does_not_register_fails_not_registered(ns):
    queue, dep = uid("q"), uid("shipping")
    await open_run(ns, queue, ShippingV1)

    check = await finished_check(ns, queue, BuildC, dep, "v9")  # registers Yearly only

    assert check["status"] == "failed"
    assert check["failures"][0]["kind"] == "not-registered"
    assert "Shipping" in check["failures"][0]["message"]


async def test_removing_a_patch_that_is_not_deprecated_is_caught_by_the_gate(ns):
    """Build B recorded the `monthly-report` marker (not deprecated) in an open run: build C,
    which removed the patch, cannot replay it; build B-deprecated can."""
    queue, dep = uid("q"), uid("yearly")
    old = await open_run(ns, queue, BuildA)
    patched = await open_run(ns, queue, BuildB)

    removed = await finished_check(ns, queue, BuildC, dep, "c")
    assert removed["status"] == "failed"
    diverged = {f["run_id"]: f for f in removed["failures"]}
    assert patched.result_run_id in diverged
    marker = next(
        e for e in (await patched.fetch_history())["events"] if e["event_type"] == "MARKER_RECORDED"
    )
    assert diverged[patched.result_run_id]["event_id"] == marker["event_id"]
    # Build A's run scheduled old_step where C schedules new_step: it diverges as well.
    assert old.result_run_id in diverged
    with pytest.raises(RPCError) as refused:
        await promote(ns, dep, "c")
    assert refused.value.type.endswith("/replay-check-failed")

    deprecated = await finished_check(ns, queue, BuildBDeprecated, dep, "b-deprecated")
    assert {f["run_id"] for f in deprecated["failures"]} == {old.result_run_id}


@workflow.defn(dynamic=True)
class AnyShipping:
    """Serves every type dynamically, as V1 does: a dynamic worker replays V1's runs."""

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> None:
        await workflow.execute_activity(pack, **STEP)
        await workflow.sleep(timedelta(days=30))


async def test_a_dynamic_workflow_replays_the_types_it_serves(ns):
    queue, dep = uid("q"), uid("shipping")
    await open_run(ns, queue, ShippingV1)

    check = await finished_check(ns, queue, AnyShipping, dep, "dynamic")

    assert check["status"] == "passed", check["failures"]
    assert check["progress"]["passed"] == 1
