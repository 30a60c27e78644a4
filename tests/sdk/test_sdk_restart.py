"""The example survives a server crash: SIGKILL the time-skipping dev server mid-run, start it
again on the same directory and port; the worker reconnects and the run finishes with every
email sent exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from perdure import activity, workflow
from perdure.client import Client
from perdure.testing import DevServer
from perdure.worker import Worker

sent: list[int] = []
four_sent = asyncio.Event()


@activity.defn
async def send_email(month: int) -> None:
    sent.append(month)
    if len(sent) == 4:
        four_sent.set()


@workflow.defn
class MonthlyEmails:
    @workflow.run
    async def run(self) -> int:
        for month in range(12):
            await workflow.execute_activity(
                send_email, month, start_to_close_timeout=timedelta(seconds=10)
            )
            await workflow.sleep(timedelta(days=30))
        return 12


async def test_a_run_survives_a_server_sigkill_and_sends_each_email_exactly_once():
    server = DevServer(time_skipping=True)
    await server.start()
    client = await Client.connect(server.url, api_key=server.api_key, namespace="default")
    try:
        async with Worker(
            client, task_queue="monthly", workflows=[MonthlyEmails], activities=[send_email]
        ):
            handle = await client.start_workflow(
                MonthlyEmails.run,
                id="monthly-emails",
                task_queue="monthly",
                task_timeout=timedelta(seconds=2),
            )
            await asyncio.wait_for(four_sent.wait(), 30)
            server.kill()
            assert len(sent) < 12, "the run must still be going when the server dies"
            await asyncio.sleep(0.5)
            await server.start()

            assert await handle.result() == 12
        assert sorted(sent) == list(range(12))
    finally:
        await client.close()
        await server.stop()
        server.remove_directory()
