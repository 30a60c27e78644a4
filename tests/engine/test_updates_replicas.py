"""Updates across server processes on one PostgreSQL database: the caller waits on one
replica, the decider answers on another; only LISTEN/NOTIFY wake-ups can bring the answer
back in time (the fallback look is far longer than the wait)."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest

from tests.conftest import fresh_database, new_tenant, serve_app
from tests.engine.test_engine_multiprocess import on, replica_settings
from tests.rawhttp import start_timer
from tests.update_helpers import accept, placed, reject, respond

pytestmark = pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="several server processes share a database only on PostgreSQL (SQLite serves one)",
)


async def test_an_update_sent_to_one_replica_is_answered_by_a_decider_on_another(database_url):
    with fresh_database(database_url) as url:
        settings = replica_settings(url, fallback=120)
        async with serve_app(settings) as a, serve_app(settings) as b:
            async with httpx.AsyncClient(base_url=a.base_url) as http:
                tenant = await new_tenant(http)
            queue = f"q-{uuid.uuid4().hex[:6]}"
            caller, decider = on(tenant, a.base_url, queue), on(tenant, b.base_url, queue)
            await caller.start("cart")
            await decider.complete(await decider.next_workflow_task(), start_timer("t", 3600))

            for verdict in ("accept", "reject"):
                sent = asyncio.create_task(
                    caller.c.post(
                        tenant.ns("/workflows/cart/update/add"),
                        json={"args": [1], "update_id": verdict, "wait": 20},
                    )
                )
                task = await decider.next_workflow_task(wait=20)
                (message,) = task["messages"]
                if verdict == "accept":
                    accepted, done = accept(message), respond(verdict, success="ok")
                    await decider.complete(
                        task, placed(accepted), placed(done), messages=[accepted, done]
                    )
                else:
                    await decider.complete(task, messages=[reject(message)])
                answer = (await sent).json()

                assert answer["stage"] == "COMPLETED"  # not the ADMITTED of a wait run out
                assert ("success" in answer["outcome"]) == (verdict == "accept")
            await caller.c.aclose()
            await decider.c.aclose()
