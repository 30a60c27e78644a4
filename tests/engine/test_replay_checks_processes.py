"""Replay checks across server processes on one PostgreSQL database: a check started on one
replica reaches the replay polls waiting on another at once (NOTIFY), not when their poll
would have ended."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from app.engine.matching.wakeups import queue_key
from app.engine.versioning import routing
from tests.conftest import fresh_database, new_tenant, serve_app
from tests.engine.test_engine_multiprocess import on, replica_settings
from tests.engine.test_replay_checks import open_runs
from tests.engine_helpers import uid
from tests.replay_helpers import answer, register_version, replay_poll, start_check

pytestmark = pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="several server processes share a database only on PostgreSQL (SQLite serves one)",
)


async def test_a_check_started_on_one_replica_wakes_replay_polls_on_another(database_url):
    # A fallback far longer than the poll: only the NOTIFY can bring the task in time.
    with fresh_database(database_url) as url:
        settings = replica_settings(url, fallback=120)
        async with serve_app(settings) as a, serve_app(settings) as b:
            async with httpx.AsyncClient(base_url=a.base_url) as http:
                tenant = await new_tenant(http)
            queue, dep = uid("q"), uid("dep")
            on_a, on_b = on(tenant, a.base_url, queue), on(tenant, b.base_url, queue)
            runs = await open_runs(on_a, 1)
            ns = register_version(url, tenant, dep, "v1", task_queues=(queue,))
            line = queue_key(ns, "workflow", queue, routing.canonical(dep, "v1"))
            matcher = b.app.state.engine.wakeups.matcher
            waiting = asyncio.create_task(replay_poll(on_b.t, queue, dep, "v1", wait=30))
            for _ in range(1000):  # until the poll waits in its version's line (10 s at most)
                if matcher.has_waiters(line):
                    break
                await asyncio.sleep(0.01)
            assert matcher.has_waiters(line)

            await start_check(on_a.t, dep, "v1")

            task = await asyncio.wait_for(waiting, timeout=10)
            assert task is not None and task["run_id"] == runs[0]["run_id"]
            await answer(on_a.t, task["replay_task"]["token"])
            for raw in (on_a, on_b):
                await raw.c.aclose()
