"""Time-skipping mode keeps its clock across a restart: a server killed after skipping months
starts again at its newest recorded event, not at the wall clock (where every started task's
timeout would lie months ahead and the run would wait for it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from perdure import workflow
from perdure.client import Client
from perdure.testing import DevServer
from perdure.worker import Worker


@workflow.defn
class SleepsTwoMonths:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=60))


@workflow.defn
class ReturnsAtOnce:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_a_restarted_time_skipping_server_goes_on_from_the_time_it_had_skipped_to():
    server = DevServer(time_skipping=True)
    await server.start()
    client = await Client.connect(server.url, api_key=server.api_key, namespace="default")
    try:
        async with Worker(client, task_queue="restart", workflows=[SleepsTwoMonths, ReturnsAtOnce]):
            first = await client.start_workflow(
                SleepsTwoMonths.run, id="sleeper", task_queue="restart"
            )
            await asyncio.wait_for(first.result(), 60)
            slept = await first.describe()
            assert slept.close_time is not None
            assert slept.close_time - slept.start_time >= timedelta(days=60)

            server.kill()
            await asyncio.sleep(0.5)
            await server.start()

            second = await client.start_workflow(
                ReturnsAtOnce.run, id="after", task_queue="restart"
            )
            await asyncio.wait_for(second.result(), 60)
            after = await second.describe()
        assert after.start_time >= slept.close_time
    finally:
        await client.close()
        await server.stop()
        server.remove_directory()
