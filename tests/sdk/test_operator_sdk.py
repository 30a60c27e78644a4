"""The SDK's operator controls (Perdure additions): `handle.reset(...)`, `pause()`,
`unpause()`, against a real worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from perdure import ResetType, RPCError, WorkflowExecutionStatus, activity, workflow
from perdure.worker import Worker

from tests.sdk_helpers import activity_started, described_until, new_id, query_until, sdk_client

QUEUE = "operator-sdk"


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @workflow.signal
    def add(self, item: str) -> None:
        self.seen.append(item)

    @workflow.query
    def items(self) -> list[str]:
        return self.seen

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.seen) >= 2)
        return self.seen


async def test_reset_pause_and_unpause_from_the_sdk(server):
    async with sdk_client(server) as client:
        async with Worker(client, task_queue=QUEUE, workflows=[Counter]):
            handle = await client.start_workflow(
                Counter.run, id=new_id("counter"), task_queue=QUEUE
            )
            await handle.signal(Counter.add, "one")
            await query_until(handle, Counter.items, ["one"])

            reset_handle = await handle.reset(
                reason="replay from the start", reset_type=ResetType.FIRST_WORKFLOW_TASK
            )
            assert reset_handle.run_id not in (None, handle.run_id)
            old = await client.get_workflow_handle(handle.id, run_id=handle.run_id).describe()
            assert old.status == WorkflowExecutionStatus.TERMINATED
            # The signal was reapplied: the new run has seen "one".
            await query_until(reset_handle, Counter.items, ["one"])

            await reset_handle.pause("checking")
            paused = await reset_handle.describe()
            assert paused.status == WorkflowExecutionStatus.PAUSED
            try:
                await reset_handle.query(Counter.items)
            except RPCError as err:
                assert err.status == 409
            else:
                raise AssertionError("a paused workflow answered a query")
            await reset_handle.signal(Counter.add, "two")
            await reset_handle.unpause()

            assert await reset_handle.result() == ["one", "two"]


cancellations: list[activity.ActivityCancellationDetails | None] = []


@activity.defn
async def crawl() -> str:
    info = activity.info()
    if info.attempt == 1:
        try:
            while True:
                activity.heartbeat(info.attempt)
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            cancellations.append(activity.cancellation_details())
            raise
    return f"attempt {info.attempt}"


@workflow.defn
class Crawler:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            crawl,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=1),
        )


async def test_a_paused_activity_is_cancelled_at_its_heartbeat_and_resumes_on_unpause(server):
    async with sdk_client(server) as client:
        async with Worker(
            client, task_queue=QUEUE + "-acts", workflows=[Crawler], activities=[crawl]
        ):
            handle = await client.start_workflow(
                Crawler.run, id=new_id("crawler"), task_queue=QUEUE + "-acts"
            )
            await described_until(handle, activity_started)

            [paused] = await handle.pause_activity(activity_type="crawl", reason="vendor down")
            assert paused["state"] == "PAUSE_REQUESTED"
            described = await described_until(
                handle, lambda d: d.raw_description["pending_activities"][0]["state"] == "PAUSED"
            )
            assert described.pending_activities[0].attempt == 2
            assert described.pending_activities[0].paused
            assert cancellations and cancellations[-1] is not None
            assert cancellations[-1].paused and not cancellations[-1].cancel_requested

            await handle.unpause_activity(activity_type="crawl")
            assert await handle.result() == "attempt 2"
