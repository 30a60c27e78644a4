"""A list or count cannot stall the server: a filter no index narrows is refused on a large
namespace, and a query past its time budget is cut off, both as problems."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.settings import Environment, Settings
from tests.conftest import ADMIN_TOKEN, fresh_database, new_tenant, serve_app
from tests.engine_helpers import register_search_attributes
from tests.rawhttp import Raw
from tests.tenancy_helpers import assert_problem


@pytest.fixture(scope="module")
def bounded_database(database_url: str) -> Iterator[str]:
    with fresh_database(database_url) as url:
        yield url


def settings(url: str, **bounds: float) -> Settings:
    return Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        environment=Environment.DEVELOPMENT,
        **bounds,
    )


async def test_a_filter_no_index_narrows_is_refused_only_on_a_large_namespace(bounded_database):
    async with serve_app(settings(bounded_database, visibility_scan_limit=3)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            tenant = await new_tenant(http)
        small = await tenant.client.post("/api/v1/namespaces", json={"name": "small"})
        assert small.status_code == 201
        raw = Raw(tenant, task_queue="q")
        for n in range(5):
            await raw.start(f"big-{n}", workflow_type="A" if n % 2 else "B")
        await tenant.client.post(
            "/api/v1/namespaces/small/workflows/tiny",
            json={"workflow_type": "A", "task_queue": "q"},
        )

        async def status(path: str, query: str, namespace: str = "main") -> int:
            r = await tenant.client.get(
                f"/api/v1/namespaces/{namespace}/{path}", params={"query": query}
            )
            if r.status_code == 422:
                assert "narrow it" in assert_problem(r, 422, "limit-exceeded")["detail"]
            return r.status_code

        assert await status("workflows", "TaskQueue = 'x'") == 422
        assert await status("workflow-count", "TaskQueue = 'q' OR WorkflowType = 'A'") == 422
        assert await status("workflows", "ORDER BY ExecutionTime") == 422
        assert await status("workflows", "NOT WorkflowType = 'A'") == 422
        assert await status("workflows", "WorkflowType = 'A' AND TaskQueue = 'x'") == 200
        assert await status("workflows", "WorkflowType = 'A' ORDER BY ExecutionTime") == 200
        assert await status("workflows", "ExecutionStatus != 'Completed'") == 200
        assert await status("workflow-count", "") == 200
        assert await status("workflows", "TaskQueue = 'q'", namespace="small") == 200
        refused = await tenant.client.post(
            tenant.ns("/batch-operations"),
            json={"query": "TaskQueue = 'q'", "operation_type": "CANCEL"},
        )
        assert_problem(refused, 422, "limit-exceeded")
        await tenant.client.aclose()


async def test_a_query_past_its_time_budget_is_cut_off(bounded_database):
    async with serve_app(settings(bounded_database, visibility_query_timeout=1e-6)) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            tenant = await new_tenant(http)
        await register_search_attributes(tenant, Region="Keyword")
        raw = Raw(tenant, task_queue="q")
        for n in range(3):
            await raw.start(f"r-{n}", search_attributes={"Region": f"r{n}"})
        # Hundreds of subqueries, each evaluated: more work than the budget (a microsecond here;
        # PostgreSQL's statement_timeout counts whole milliseconds) allows on either database.
        heavy = " AND ".join(f"Region != 'no{n}'" for n in range(500))

        r = await tenant.client.get(tenant.ns("/workflow-count"), params={"query": heavy})

        problem = assert_problem(r, 504, "deadline-exceeded")
        assert "narrow it" in problem["detail"]
        await tenant.client.aclose()
