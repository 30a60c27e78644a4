"""The SDK's operator controls (Perdure additions): `handle.reset(...)`, `pause()`,
`unpause()`, against a real worker."""

from __future__ import annotations

from perdure import ResetType, RPCError, WorkflowExecutionStatus, workflow
from perdure.worker import Worker

from tests.sdk_helpers import new_id, query_until, sdk_client

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
