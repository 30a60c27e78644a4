"""A run's outcome from a row the caller has already read (RunWatcher.outcome's `known`)."""

from __future__ import annotations

import sqlalchemy as sa

from app.db.tables import workflow_runs
from tests.rawhttp import Raw, complete_workflow


async def _row(server, workflow_id: str) -> sa.RowMapping:
    async with server.ctx.db.read() as conn:
        result = await conn.execute(
            sa.select(workflow_runs).where(workflow_runs.c.workflow_id == workflow_id)
        )
        return result.mappings().one()


async def test_outcome_of_a_known_closed_run_is_the_one_read_from_the_database(tenant, server):
    raw = Raw(tenant)
    await raw.start("done-1", input=1)
    task = await raw.next_workflow_task()
    await raw.complete(task, complete_workflow({"total": 3}))
    row = await _row(server, "done-1")
    watcher = server.app.state.engine.watcher

    read = await watcher.outcome("done-1", row["id"], 0)
    assert read["status"] == "COMPLETED" and read["result"] == {"total": 3}
    assert await watcher.outcome("done-1", row["id"], 0, known=row) == read


async def test_a_known_row_of_an_open_run_is_not_trusted(tenant, server):
    raw = Raw(tenant)
    await raw.start("open-1", input=1)
    row = await _row(server, "open-1")  # read while RUNNING
    task = await raw.next_workflow_task()
    await raw.complete(task, complete_workflow("late"))

    found = await server.app.state.engine.watcher.outcome("open-1", row["id"], 1.0, known=row)
    assert found["status"] == "COMPLETED" and found["result"] == "late"
