"""Hot statements (app/db/hot.py) run on the sqlite3 connection directly: they must write and
read exactly what SQLAlchemy would, or the shortcut would corrupt stored data."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.db.database import Database
from app.db.hot import hot
from app.db.statements import INSERT_EVENTS, INSERT_TIMER
from app.db.tables import history_events, timers
from tests import conftest

pytestmark = pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "sqlite").startswith("sqlite"),
    reason="hot statements are a SQLite shortcut",
)

# An IN list bound per call (SQLAlchemy's "expanding" parameter): the engine no longer runs one
# on its hot path, but hot statements still take them.
DELETE_TIMERS = hot(
    sa.delete(timers).where(
        timers.c.run_id == sa.bindparam("run_id"),
        timers.c.kind.in_(sa.bindparam("kinds", expanding=True)),
    )
)
TIMERS_OF_RUN = hot(
    sa.select(timers).where(timers.c.run_id == sa.bindparam("run_id")).order_by(timers.c.id)
)
EVENTS_OF_RUN = hot(
    sa.select(history_events)
    .where(history_events.c.run_id == sa.bindparam("run_id"))
    .order_by(history_events.c.event_id)
)
WHEN = datetime(2026, 11, 24, 19, 30, 1, 123456, tzinfo=UTC)


async def test_hot_writes_and_reads_match_sqlalchemy_in_both_directions():
    with conftest.fresh_database("sqlite://") as url:
        db = Database(url)
        try:
            async with db.write() as conn:
                for n, (kind, fire_at) in enumerate(
                    [("a", WHEN), ("b", WHEN + timedelta(days=30)), ("c", WHEN)]
                ):
                    row = {
                        "namespace_id": "ns",
                        "run_id": "r1",
                        "kind": kind,
                        "ref": n,
                        "attempt": 1,
                        "label": None,
                        "fire_at": fire_at,
                    }
                    await conn.execute(INSERT_TIMER, row)  # hot
                    conn.sync.execute(INSERT_TIMER, {**row, "run_id": "r2"})  # SQLAlchemy
                events = [
                    {
                        "run_id": "r1",
                        "event_id": i,
                        "event_type": "X",
                        "event_time": WHEN,
                        "attributes": "{}",
                    }
                    for i in (1, 2)
                ]
                await conn.execute(INSERT_EVENTS, events)  # hot executemany

            async with db.read() as conn:
                for run_id in ("r1", "r2"):
                    hot_rows = (await conn.execute(TIMERS_OF_RUN, {"run_id": run_id})).all()
                    sa_rows = conn.sync.execute(TIMERS_OF_RUN, {"run_id": run_id}).all()
                    assert [r[1:] for r in hot_rows] == [r[1:] for r in sa_rows]
                    assert [r.fire_at for r in hot_rows] == [
                        WHEN,
                        WHEN + timedelta(days=30),
                        WHEN,
                    ]
                    assert hot_rows[0].fire_at.tzinfo is not None
                raw_r1 = conn.sync.exec_driver_sql(
                    "SELECT fire_at FROM timers WHERE run_id = 'r1' ORDER BY id"
                ).all()
                raw_r2 = conn.sync.exec_driver_sql(
                    "SELECT fire_at FROM timers WHERE run_id = 'r2' ORDER BY id"
                ).all()
                assert raw_r1 == raw_r2, "the stored text must be what SQLAlchemy stores"
                hot_events = (await conn.execute(EVENTS_OF_RUN, {"run_id": "r1"})).mappings()
                assert [dict(e) for e in hot_events] == [
                    dict(e) for e in conn.sync.execute(EVENTS_OF_RUN, {"run_id": "r1"}).mappings()
                ]

            async with db.write() as conn:
                gone = await conn.execute(DELETE_TIMERS, {"run_id": "r1", "kinds": ["a", "c"]})
                assert gone.rowcount == 2
                nothing = await conn.execute(DELETE_TIMERS, {"run_id": "r1", "kinds": []})
                assert nothing.rowcount == 0  # an empty IN list goes through SQLAlchemy
                left = (await conn.execute(TIMERS_OF_RUN, {"run_id": "r1"})).all()
                assert [r.kind for r in left] == ["b"]
        finally:
            await db.dispose()


async def test_a_hot_statement_fails_with_the_exception_sqlalchemy_would_raise():
    with conftest.fresh_database("sqlite://") as url:
        db = Database(url)
        event = {
            "run_id": "r",
            "event_id": 1,
            "event_type": "X",
            "event_time": WHEN,
            "attributes": "{}",
        }
        try:
            with pytest.raises(sa.exc.IntegrityError):
                async with db.write() as conn:
                    await conn.execute(INSERT_EVENTS, event)
                    await conn.execute(INSERT_EVENTS, event)
            async with db.read() as conn:
                kept = (await conn.execute(EVENTS_OF_RUN, {"run_id": "r"})).all()
            assert kept == [], "the failed transaction was rolled back whole"
        finally:
            await db.dispose()
