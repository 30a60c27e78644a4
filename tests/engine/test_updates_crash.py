"""A server killed with SIGKILL between an update's acceptance and its completion: after the
restart the update is neither lost nor handled twice, and its id still answers the same."""

from __future__ import annotations

import asyncio

from tests.conftest import free_port, fresh_database
from tests.engine.test_engine_crash import ServerProcess
from tests.engine_helpers import types
from tests.rawhttp import Raw, start_timer
from tests.update_helpers import accept, placed, poll_update, respond, send_update


async def test_sigkill_between_acceptance_and_completion_handles_the_update_once(
    database_url, tmp_path
):
    with fresh_database(database_url) as url:
        proc = ServerProcess(url, free_port(), tmp_path / "server.log")
        try:
            await proc.start()
            tenant = await proc.new_tenant(client_timeout=40)
            raw = Raw(tenant)
            await raw.start("cart")
            await raw.complete(await raw.next_workflow_task(), start_timer("t", 3600))
            caller = asyncio.create_task(
                send_update(tenant, "cart", "add", 5, update_id="u", wait_for_stage="ACCEPTED")
            )
            task = await raw.next_workflow_task()
            accepted = accept(task["messages"][0])
            await raw.complete(task, placed(accepted), messages=[accepted])
            assert (await caller).json()["stage"] == "ACCEPTED"

            proc.kill()
            await proc.start()

            again = await send_update(tenant, "cart", "add", 5, update_id="u", wait=0.3)
            assert again.json()["stage"] == "ACCEPTED"
            await tenant.client.post(tenant.ns("/workflows/cart/signal/go"), json={})
            task = await raw.next_workflow_task(wait=15)
            assert task["messages"] == []  # accepted once: never delivered again
            done = respond("u", success=5)
            await raw.complete(task, placed(done), messages=[done])

            polled = await poll_update(tenant, "cart", "u", wait=5)
            assert polled.json()["outcome"] == {"success": 5}
            resent = await send_update(tenant, "cart", "add", 5, update_id="u")
            assert resent.json()["outcome"] == {"success": 5}
            history = types(await raw.history("cart"))
            assert history.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 1
            assert history.count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 1
            await tenant.client.aclose()
        finally:
            proc.stop()


async def test_sigkill_with_an_admitted_update_delivers_it_after_restart(database_url, tmp_path):
    with fresh_database(database_url) as url:
        proc = ServerProcess(url, free_port(), tmp_path / "server.log")
        try:
            await proc.start()
            tenant = await proc.new_tenant(client_timeout=40)
            raw = Raw(tenant)
            await raw.start("cart")
            await raw.complete(await raw.next_workflow_task(), start_timer("t", 3600))
            admitted = await send_update(tenant, "cart", "add", 1, update_id="kept", wait=0)
            assert admitted.json()["stage"] == "ADMITTED"

            proc.kill()
            await proc.start()

            caller = asyncio.create_task(send_update(tenant, "cart", "add", 1, update_id="kept"))
            task = await raw.next_workflow_task(wait=15)
            (message,) = task["messages"]
            accepted, done = accept(message), respond("kept", success="after restart")
            await raw.complete(task, placed(accepted), placed(done), messages=[accepted, done])
            assert (await caller).json()["outcome"] == {"success": "after restart"}
            await tenant.client.aclose()
        finally:
            proc.stop()
