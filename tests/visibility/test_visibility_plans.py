"""The common list filters are served by indexes on both databases: the plans, as the
database itself reports them (EXPLAIN QUERY PLAN on SQLite; EXPLAIN on PostgreSQL with
sequential scans priced out, since a test database is too small for the planner to care;
bench/visibility.py prints PostgreSQL's choices on 100,000 runs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from app.db.tables import namespaces
from app.engine.reads import RunFilter
from app.visibility import listing
from tests.engine_helpers import register_search_attributes

SHAPES = [
    (
        "WorkflowType = 'Payment' AND ExecutionStatus = 'Failed'",
        False,
        "ix_workflow_runs_namespace_id_",
    ),
    ("CustomerId = 'c-42'", False, "ix_workflow_search_attributes_lookup"),
    (
        "StartTime BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-02T00:00:00Z'",
        False,
        "ix_workflow_runs_namespace_id_start_time",
    ),
    ("WorkflowId STARTS_WITH 'order-'", False, "ix_workflow_runs_namespace_id_workflow_id"),
    ("ORDER BY CloseTime DESC", False, "ix_workflow_runs_namespace_id_status"),
    ("Notes = 'refund'", False, "ix_workflow_search_texts_words"),
    ("ExecutionStatus = 'Running'", True, "ix_workflow_runs_namespace_id_status"),
    ("CustomerId = 'c-42'", True, "ix_workflow_search_attributes_lookup"),
    ("GROUP BY ExecutionStatus", True, "ix_workflow_runs_namespace_id_status"),
]


async def explain(server: Any, namespace_id: str, query: str, counting: bool) -> str:
    db = server.ctx.db
    async with db.read() as conn:
        planned = await listing.plan(
            conn,
            namespace_id,
            RunFilter(),
            query,
            dialect=db.dialect,
            now=datetime.now(UTC),
            counting=counting,
        )
        if counting:
            statement = listing.count_query(planned)
        else:
            compiled = planned.compiled
            phase = listing.ORDERINGS[(compiled.order, compiled.descending)][0]
            statement = listing.phase_query(planned, phase, compiled.descending, None, 101)

        def run(sync: sa.Connection) -> str:
            sql = str(statement.compile(sync, compile_kwargs={"literal_binds": True}))
            if db.is_sqlite:
                return "\n".join(
                    str(r[-1]) for r in sync.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
                )
            sync.exec_driver_sql("SET LOCAL enable_seqscan = off")
            return "\n".join(str(r[0]) for r in sync.exec_driver_sql("EXPLAIN (COSTS OFF) " + sql))

        return await conn.run_sync(run)


@pytest.mark.parametrize(("query", "counting", "index"), SHAPES)
async def test_the_common_filters_are_served_by_an_index(server, tenant, query, counting, index):
    await register_search_attributes(tenant, CustomerId="Keyword", Notes="Text")
    async with server.ctx.db.read() as conn:
        namespace_id = await conn.scalar(
            sa.select(namespaces.c.id)
            .where(namespaces.c.name == tenant.namespace)
            .order_by(namespaces.c.created_at.desc())
            .limit(1)
        )
    if index.endswith("_words") and server.ctx.db.is_sqlite:
        index = "workflow_search_texts_fts VIRTUAL TABLE INDEX"

    plan = await explain(server, namespace_id, query, counting)

    if server.ctx.db.is_sqlite:  # its statistics are seeded (migration 0011): plans are fixed
        assert index in plan, plan
        assert "SCAN workflow_runs" not in plan, plan
    else:  # which index wins depends on statistics an almost empty database does not have
        assert "Seq Scan" not in plan, plan
        assert "Index" in plan, plan
