"""/metrics has the engine's figures, named after Temporal's: runs started and closed by status,
schedule-to-start latency of workflow and activity tasks, timers fired and their lateness,
pollers waiting, the backlog, database pool use, process metrics. Namespace labels are
'tenant/namespace', for a bounded number of namespaces per process; with several worker
processes /metrics sums them all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.settings import Environment, Settings
from tests.cli.test_cli_dev import PERDURE, clean_environment, wait_until_ready
from tests.conftest import (
    ADMIN_TOKEN,
    Tenant,
    free_port,
    fresh_database,
    new_tenant,
    serve_app,
)
from tests.engine_helpers import uid
from tests.rawhttp import Raw, complete_workflow, schedule_activity, start_timer


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> dict:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    return samples(answer.text)


async def one_activity_run(tenant: Tenant) -> None:
    raw = Raw(tenant, task_queue=uid("q"))
    workflow_id = uid()
    # A long task timeout: a slow machine must not time a task out between poll and answer.
    await raw.start(workflow_id, task_timeout=60)
    await raw.complete(await raw.next_workflow_task(), schedule_activity("a1"))
    await raw.activity("complete", await raw.next_activity_task(), result=1)
    await raw.complete(await raw.next_workflow_task(), complete_workflow(2))


@contextlib.asynccontextmanager
async def own_server(server, **settings):  # type: ignore[no-untyped-def]
    """A server of its own with fresh metrics, on a database of its own (the suite server's
    clock may have been moved ahead by other tests: its deadline loop would time tasks out)."""
    with fresh_database(server.database_url) as url:
        config = Settings(
            database_url=url,
            admin_token=ADMIN_TOKEN,
            environment=Environment.DEVELOPMENT,
            **settings,
        )
        async with serve_app(config) as running:
            async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
                yield http


async def test_runs_and_task_latencies_are_counted_per_tenant_namespace(server):
    async with own_server(server) as http:
        tenant = await new_tenant(http)

        await one_activity_run(tenant)
        await one_activity_run(tenant)

        found = await scrape(http)
    label = f"{tenant.name}/main"
    assert value(found, "perdure_workflow_started_total", namespace=label) == 2
    assert value(found, "perdure_workflow_closed_total", namespace=label, status="COMPLETED") == 2
    assert (
        value(
            found, "perdure_workflow_task_schedule_to_start_latency_seconds_count", namespace=label
        )
        == 4
    )
    assert (
        value(found, "perdure_activity_schedule_to_start_latency_seconds_count", namespace=label)
        == 2
    )
    assert value(found, "perdure_approximate_backlog_count", kind="activity") >= 0
    assert value(found, "perdure_db_connections_in_use") >= 0
    assert value(found, "process_cpu_seconds_total") > 0
    await tenant.client.aclose()


async def test_namespaces_beyond_the_cap_share_one_label(server):
    async with own_server(server, metrics_max_namespaces=1) as http:
        first, second = await new_tenant(http), await new_tenant(http)

        await one_activity_run(first)
        await one_activity_run(second)

        found = await scrape(http)
    assert value(found, "perdure_workflow_started_total", namespace=f"{first.name}/main") == 1
    assert value(found, "perdure_workflow_started_total", namespace="_other") == 1
    assert not any(second.name in str(labels) for _, labels in found)
    for tenant in (first, second):
        await tenant.client.aclose()


async def test_fired_timers_and_waiting_pollers_are_reported(server, http, tenant):
    raw = Raw(tenant, task_queue=uid("q"))
    before = await scrape(http)
    workflow_id = uid()
    await raw.start(workflow_id)
    await raw.complete(await raw.next_workflow_task(), start_timer("t", 0.05))
    await raw.next_workflow_task()  # after TIMER_FIRED
    poll = asyncio.create_task(raw.poll_activity_task(wait=5, queue=uid("idle")))
    for _ in range(100):
        after = await scrape(http)
        if value(after, "perdure_pollers", kind="activity") >= 1:
            break
        await asyncio.sleep(0.02)

    assert value(after, "perdure_pollers", kind="activity") >= 1
    fired = value(after, "perdure_timers_fired_total", kind="user_timer") - value(
        before, "perdure_timers_fired_total", kind="user_timer"
    )
    assert fired >= 1
    assert value(after, "perdure_timer_lateness_seconds_count", kind="user_timer") >= 1
    poll.cancel()


ON_POSTGRES = os.environ.get("PERDURE_TEST_DATABASE_URL", "").startswith("postgresql")


@pytest.mark.skipif(not ON_POSTGRES, reason="several worker processes need PostgreSQL")
def test_several_worker_processes_report_the_sum_of_their_metrics(database_url, tmp_path):
    with fresh_database(database_url) as url:
        port, metrics_port = free_port(), free_port()
        env = clean_environment(
            PERDURE_DATABASE_URL=url,
            PERDURE_PORT=str(port),
            PERDURE_METRICS_PORT=str(metrics_port),
            PERDURE_WORKERS="2",
            PERDURE_ADMIN_TOKEN="admin-token-for-metrics",
            PERDURE_SECRET_KEY="a-secret-key-for-the-metrics-test-0123456789",
        )
        with open(tmp_path / "server.log", "w") as log_file:
            server = subprocess.Popen(
                [PERDURE, "serve"], cwd=tmp_path, env=env, stdout=log_file, stderr=log_file
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(base)
            made = httpx.post(
                f"{base}/api/v1/tenants",
                json={"name": "metrics"},
                headers={"Authorization": "Bearer admin-token-for-metrics"},
            )
            auth = {"Authorization": f"Bearer {made.json()['api_key']['key']}"}
            starts = 12
            for i in range(starts):  # new connections: spread over both processes
                started = httpx.post(
                    f"{base}/api/v1/namespaces/default/workflows/w{i}",
                    json={"workflow_type": "W", "task_queue": "q"},
                    headers=auth,
                )
                assert started.status_code == 201, started.text
            totals = {
                value(
                    samples(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text),
                    "perdure_workflow_started_total",
                    namespace="metrics/default",
                )
                for _ in range(6)
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert totals == {starts}
