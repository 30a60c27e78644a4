"""Limits between tenants: request rates per namespace (token buckets, burst 2x) answered 429
with Retry-After, a tenant-wide cap on namespace settings, and a cap on waiting long polls.
Raw HTTP + JSON only."""

from __future__ import annotations

import asyncio

from tests.conftest import keyed_client
from tests.engine_helpers import assert_problem, raw_on_fresh_queue, uid


async def limit(tenant, **settings) -> None:
    r = await tenant.client.patch(tenant.ns(), json={"settings": settings})
    assert r.status_code == 200, r.text


async def until_waiting(tenant, server, polls: int) -> None:
    """Until the server counts `polls` long polls waiting in the tenant's namespace (bounded)."""
    me = (await tenant.client.get("/api/v1/me")).json()
    await tenant.client.get(tenant.ns("/workflow-count"))  # the namespace is now cached
    namespace = server.ctx.auth_cache.namespace(me["tenant_id"], tenant.namespace)
    for _ in range(1000):
        if server.app.state.limiter.long_polls(namespace.id) == polls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never saw {polls} long polls waiting")


async def test_starts_beyond_the_burst_get_429_with_retry_after_and_start_nothing(
    tenant, other_tenant
):
    await limit(tenant, writes_per_second=1)  # a burst of 2
    raw = raw_on_fresh_queue(tenant)

    first, second = await raw.start(uid()), await raw.start(uid())
    refused = await raw.c.post(
        raw.t.ns(f"/workflows/{uid()}"), json={"workflow_type": "Flow", "task_queue": raw.q}
    )

    assert first["started"] and second["started"]
    body = assert_problem(refused, 429, "rate-limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert body["limit_kind"] == "writes" and body["limit_scope"] == "namespace"
    count = await tenant.client.get(tenant.ns("/workflow-count"))  # reads: a bucket of their own
    assert count.status_code == 200 and count.json()["count"] == 2
    others = raw_on_fresh_queue(other_tenant)
    assert (await others.start(uid()))["started"]  # another tenant is not touched


async def test_a_namespace_may_not_be_given_more_than_its_tenants_cap(tenant):
    r = await tenant.client.patch(tenant.ns(), json={"settings": {"writes_per_second": 1e9}})

    assert assert_problem(r, 400, "invalid-argument")["field"] == "settings.writes_per_second"


async def test_long_polls_beyond_the_cap_get_429_at_once_and_others_are_not_held(
    tenant, other_tenant, server
):
    await limit(tenant, max_long_polls=2)
    raw = raw_on_fresh_queue(tenant)
    async with (
        keyed_client(tenant.client, tenant.admin_key) as one,
        keyed_client(tenant.client, tenant.admin_key) as two,
    ):
        polls = [
            asyncio.create_task(
                c.post(
                    raw.t.ns(f"/task-queues/{raw.q}/workflow-tasks/poll"),
                    json={"identity": "w", "wait": 30},
                )
            )
            for c in (one, two)
        ]
        await until_waiting(tenant, server, 2)

        third = await raw.c.post(
            raw.t.ns(f"/task-queues/{raw.q}/activity-tasks/poll"), json={"identity": "w"}
        )
        others = raw_on_fresh_queue(other_tenant)
        elsewhere = await others.poll_workflow_task(wait=0.1)
        for _ in polls:
            await raw.start(uid())  # a task for each waiting poll
        answered = await asyncio.gather(*polls)

    body = assert_problem(third, 429, "rate-limited")
    assert body["limit_kind"] == "long_polls" and third.headers["Retry-After"] == "1"
    assert elsewhere is None  # another tenant's poll waited and answered as usual
    assert [a.status_code for a in answered] == [200, 200]
    await until_waiting(tenant, server, 0)
    assert await raw.poll_workflow_task(wait=0.1) is None  # accepted again


async def test_result_waits_count_as_long_polls(tenant, server):
    await limit(tenant, max_long_polls=1)
    raw = raw_on_fresh_queue(tenant)
    wid = uid()
    await raw.start(wid)
    waiting = asyncio.create_task(
        tenant.client.get(tenant.ns(f"/workflows/{wid}/result"), params={"wait": 30})
    )
    await until_waiting(tenant, server, 1)

    refused = await tenant.client.post(
        tenant.ns(f"/task-queues/{raw.q}/workflow-tasks/poll"), json={"identity": "w"}
    )
    await tenant.client.post(tenant.ns(f"/workflows/{wid}/terminate"), json={})
    outcome = await waiting

    assert_problem(refused, 429, "rate-limited")
    assert outcome.json()["status"] == "TERMINATED"
