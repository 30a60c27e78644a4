"""Concurrency limits hold across server processes and survive a SIGKILL: slots live in the
database, and a slot held by a killed worker's attempt is freed when that attempt times out."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, Tenant, free_port, fresh_database
from tests.engine.test_engine_crash import ServerProcess
from tests.rawhttp import Raw, schedule_activity

ON_POSTGRES = os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql")


async def _tenant_on(base_url: str) -> tuple[str, httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        created = await http.post(
            "/api/v1/tenants",
            json={"name": "flow"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert created.status_code == 201, created.text
    key = created.json()["api_key"]["key"]
    client = httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    made = await client.post("/api/v1/namespaces", json={"name": "main"})
    assert made.status_code == 201, made.text
    return key, client


def _raw(key: str, base_url: str) -> Raw:
    client = httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    return Raw(Tenant(name="flow", admin_key=key, namespace="main", client=client), "work")


async def _limit(client: httpx.AsyncClient, **spec: Any) -> None:
    r = await client.put("/api/v1/namespaces/main/concurrency-limits/charges", json=spec)
    assert r.status_code == 201, r.text


@pytest.mark.skipif(not ON_POSTGRES, reason="several server processes share only PostgreSQL")
async def test_a_limit_holds_across_two_server_processes_and_sixteen_pollers(
    database_url, tmp_path
):
    with fresh_database(database_url) as url:
        a = ServerProcess(url, free_port(), tmp_path / "a.log")
        b = ServerProcess(url, free_port(), tmp_path / "b.log")
        try:
            await a.start()
            await b.start()
            key, client = await _tenant_on(a.base_url)
            await _limit(
                client, applies_to="activities", key="concurrency_keys.customer", max_running=3
            )
            raw_a, raw_b = _raw(key, a.base_url), _raw(key, b.base_url)
            # One activity per run, as a fleet's work usually is: 12 for one customer, 4 that
            # no limit counts.
            for i in range(16):
                keyed = {"concurrency_keys": {"customer": "acme"}} if i < 12 else {}
                activity_type = "charge" if i < 12 else "other"
                await raw_a.start(f"run-{i}", **keyed)
                task = await raw_a.next_workflow_task()
                await raw_a.complete(task, schedule_activity(f"a{i}", activity_type))

            # 16 pollers, 8 on each process, all at once: 3 charges and the 4 others go out.
            polls = [(raw_a if i % 2 else raw_b).poll_activity_task(wait=5) for i in range(16)]
            taken = [t for t in await asyncio.gather(*polls) if t is not None]
            charges = [t for t in taken if t["activity_type"] == "charge"]
            others = [t for t in taken if t["activity_type"] == "other"]
            assert (len(charges), len(others)) == (3, 4)

            # One finishes on process A: exactly one more charge goes out, on either process.
            await raw_a.activity("complete", charges[0], result="ok")
            more = await asyncio.gather(
                *((raw_a if i % 2 else raw_b).poll_activity_task(wait=3) for i in range(4))
            )
            assert len([t for t in more if t is not None]) == 1
            limit = (await client.get("/api/v1/namespaces/main/concurrency-limits/charges")).json()
            assert (limit["running"], limit["waiting"]) == (3, 8)
            for c in (client, raw_a.c, raw_b.c):
                await c.aclose()
        finally:
            a.stop()
            b.stop()


async def test_a_slot_held_by_a_killed_workers_attempt_is_freed_when_it_times_out(
    database_url, tmp_path
):
    with fresh_database(database_url) as url:
        proc = ServerProcess(url, free_port(), tmp_path / "server.log")
        try:
            await proc.start()
            key, client = await _tenant_on(proc.base_url)
            await _limit(client, applies_to="activities", key="activity_type", max_running=1)
            raw = _raw(key, proc.base_url)
            await raw.start("crash")
            task = await raw.next_workflow_task()
            await raw.complete(
                task,
                schedule_activity(
                    "lost", "charge", start_to_close_timeout=2, retry_policy={"maximum_attempts": 1}
                ),
                schedule_activity("next", "charge", start_to_close_timeout=30),
            )
            assert (await raw.next_activity_task())["activity_id"] == "lost"

            proc.kill()  # the server and, with it, the worker's connection
            await proc.start()

            # Real time: "lost" times out 2 s after it started; its slot goes to "next".
            handed = await raw.next_activity_task(wait=20)
            assert handed["activity_id"] == "next"
            limit = (await client.get("/api/v1/namespaces/main/concurrency-limits/charges")).json()
            assert (limit["running"], limit["waiting"]) == (1, 0)
            types = await raw.event_types("crash")
            assert "ACTIVITY_TASK_TIMED_OUT" in types
            for c in (client, raw.c):
                await c.aclose()
        finally:
            proc.stop()
