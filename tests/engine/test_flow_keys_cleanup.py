"""The per-key rows of fairness and rate limits are forgotten once a key has nothing left in
them (no backlog, no rate state), by the deadline loop's retention pass, so that a stream of
unique fairness keys does not grow those tables without end."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.db.tables import task_queue_fairness, task_queue_key_rates
from tests.engine_helpers import advance, raw_on_fresh_queue, uid
from tests.rawhttp import Raw


async def _keys(server: Any, table: sa.Table, task_queue: str) -> set[str]:
    """The fairness keys the table keeps for the queue (workflow tasks)."""
    async with server.ctx.db.read() as conn:
        rows = await conn.execute(
            sa.select(table.c.fairness_key).where(
                table.c.task_queue == task_queue, table.c.kind == "workflow"
            )
        )
        return {row.fairness_key for row in rows}


async def _retention_pass(server: Any) -> None:
    await server.app.state.engine.deadline_loop.purge_expired_runs()


async def _start_keyed(raw: Raw, key: str) -> str:
    wid = uid(key)
    await raw.start(wid, priority={"fairness_key": key})
    return wid


async def test_fairness_rows_of_keys_without_backlog_are_forgotten(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    passing = [f"customer-{n}" for n in range(6)]
    for key in passing:
        await _start_keyed(raw, key)
    for _ in passing:
        await raw.next_workflow_task()
    waiting = await _start_keyed(raw, "still-queued")
    assert await _keys(server, task_queue_fairness, raw.q) == {*passing, "still-queued"}

    await _retention_pass(server)

    kept = await _keys(server, task_queue_fairness, raw.q)
    # The key with a backlog stays; of the drained keys at most the one holding the queue's
    # highest pass (its virtual time) does.
    assert "still-queued" in kept
    assert len(kept - {"still-queued"}) <= 1
    assert (await raw.next_workflow_task())["workflow_id"] == waiting


async def test_a_forgotten_key_takes_its_turn_again_like_a_new_key(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    for key in ("gone", "other"):
        await _start_keyed(raw, key)
    for _ in range(2):
        await raw.next_workflow_task()
    await _retention_pass(server)

    busy = [await _start_keyed(raw, "busy") for _ in range(3)]
    again = await _start_keyed(raw, "gone")

    taken = [(await raw.next_workflow_task())["workflow_id"] for _ in range(4)]
    # Its row forgotten, the key starts at the head, as a new key does (kept, one stride on).
    assert taken == [busy[0], again, busy[1], busy[2]]


async def test_rate_rows_are_forgotten_once_the_keys_limiter_has_caught_up(server, tenant):
    raw = raw_on_fresh_queue(tenant)
    r = await raw.c.post(
        raw.t.ns(f"/task-queues/{raw.q}/update-config"),
        json={
            "task_queue_type": "TASK_QUEUE_TYPE_WORKFLOW",
            "update_fairness_key_rate_limit_default": {"rate_limit": {"requests_per_second": 0.5}},
        },
    )
    assert r.status_code == 200, r.text
    keys = [f"once-{n}" for n in range(4)]
    for key in keys:
        await _start_keyed(raw, key)
    for _ in keys:
        await raw.next_workflow_task()
    assert await _keys(server, task_queue_key_rates, raw.q) == set(keys)

    await _retention_pass(server)
    assert await _keys(server, task_queue_key_rates, raw.q) == set(keys)  # each waits 2 s

    await advance(server, 2)
    await _retention_pass(server)
    assert await _keys(server, task_queue_key_rates, raw.q) == set()
