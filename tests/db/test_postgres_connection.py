"""PostgreSQL connections (app/db/postgres.py): hot statements built without SQLAlchemy's
per-call work must write and read what SQLAlchemy would; reads sent ahead must read what a
statement sent in their place would; a transaction that fails leaves nothing behind and its
connection clean for the next one."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.db.database import Database
from app.db.hot import hot
from app.db.statements import INSERT_TIMER
from app.db.tables import timers
from tests import conftest

pytestmark = pytest.mark.skipif(
    not os.environ.get("PERDURE_TEST_DATABASE_URL", "sqlite").startswith("postgresql"),
    reason="PostgreSQL connections only",
)

SUITE_URL = os.environ.get("PERDURE_TEST_DATABASE_URL", "")
WHEN = datetime(2026, 11, 30, 4, 30, 1, 123456, tzinfo=UTC)
TIMERS_OF_RUN = hot(
    sa.select(timers.c.kind, timers.c.ref, timers.c.fire_at)
    .where(timers.c.run_id == sa.bindparam("run_id"))
    .order_by(timers.c.id)
)
# A constant bound in the statement itself (SQLAlchemy gives it an anonymous name) and an IN
# list bound per call: the two cases the argument builder must get right.
TIMERS_OF_KIND_A = hot(
    sa.select(timers.c.ref).where(timers.c.run_id == sa.bindparam("run_id"), timers.c.kind == "a")
)
DELETE_TIMERS = hot(
    sa.delete(timers).where(
        timers.c.run_id == sa.bindparam("run_id"),
        timers.c.kind.in_(sa.bindparam("kinds", expanding=True)),
    )
)


def _timer(run_id: str, kind: str, ref: int) -> dict[str, object]:
    return {
        "namespace_id": "ns",
        "run_id": run_id,
        "kind": kind,
        "ref": ref,
        "attempt": 1,
        "label": None,
        "fire_at": WHEN,
    }


async def test_hot_statements_write_and_read_what_sqlalchemy_does():
    with conftest.fresh_database(SUITE_URL) as url:
        db = Database(url)
        try:
            async with db.write() as conn:
                for n, kind in enumerate("abca"):
                    await conn.execute(INSERT_TIMER, _timer("r1", kind, n))  # hot, queued
                await conn.run_sync(lambda sync: sync.execute(INSERT_TIMER, _timer("r2", "a", 9)))
            async with db.read() as conn:
                rows = (await conn.execute(TIMERS_OF_RUN, {"run_id": "r1"})).all()
                assert [(r.kind, r.ref, r.fire_at) for r in rows] == [
                    ("a", 0, WHEN),
                    ("b", 1, WHEN),
                    ("c", 2, WHEN),
                    ("a", 3, WHEN),
                ]
                refs = (await conn.execute(TIMERS_OF_KIND_A, {"run_id": "r1"})).scalars().all()
                assert sorted(refs) == [0, 3]
                by_sqlalchemy = await conn.run_sync(
                    lambda sync: sync.execute(
                        sa.select(timers.c.fire_at).where(timers.c.run_id == "r2")
                    ).scalar_one()
                )
                assert by_sqlalchemy == WHEN
            async with db.write() as conn:
                await conn.execute(DELETE_TIMERS, {"run_id": "r1", "kinds": ["a", "c"]})
                left = (await conn.execute(TIMERS_OF_RUN, {"run_id": "r1"})).all()
                assert [r.kind for r in left] == ["b"]
            async with db.read() as conn:
                gone = await conn.execute(DELETE_TIMERS, {"run_id": "r2", "kinds": ["a"]})
                assert gone.rowcount == 1  # outside a transaction: answered at once
        finally:
            await db.dispose()


async def test_a_read_sent_ahead_reads_what_it_would_have_read_in_its_place():
    with conftest.fresh_database(SUITE_URL) as url:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(INSERT_TIMER, _timer("r1", "a", 1))
                # Sent with the next answered read, after it: sees the insert queued before.
                conn.read_with_next(TIMERS_OF_KIND_A, {"run_id": "r1"})
                conn.read_with_next(TIMERS_OF_RUN, {"run_id": "never asked for"})
                first = (await conn.execute(TIMERS_OF_RUN, {"run_id": "r1"})).all()
                await conn.execute(INSERT_TIMER, _timer("r1", "a", 2))
                ahead = (await conn.execute(TIMERS_OF_KIND_A, {"run_id": "r1"})).scalars().all()
                again = (await conn.execute(TIMERS_OF_KIND_A, {"run_id": "r1"})).scalars().all()
            assert [r.ref for r in first] == [1]
            assert ahead == [1]  # read in the first round trip, before the second insert
            assert sorted(again) == [1, 2]  # asked again: read again
        finally:
            await db.dispose()


async def test_a_failed_transaction_leaves_nothing_and_a_clean_connection():
    with conftest.fresh_database(SUITE_URL) as url:
        db = Database(url, pool_size=1)
        try:
            with pytest.raises(RuntimeError):
                async with db.write() as conn:
                    await conn.execute(INSERT_TIMER, _timer("r1", "a", 1))
                    await conn.execute(TIMERS_OF_RUN, {"run_id": "r1"})  # BEGIN and insert sent
                    raise RuntimeError("the transition failed")
            with pytest.raises(sa.exc.IntegrityError):
                async with db.write() as conn:
                    await conn.execute(INSERT_TIMER, _timer("r1", "a", 1))
                    # Queued: fails at COMMIT, and the insert before it is rolled back too.
                    await conn.execute(INSERT_TIMER, {**_timer("r1", "a", 1), "kind": None})
            async with db.read() as conn:
                assert (await conn.execute(TIMERS_OF_RUN, {"run_id": "r1"})).all() == []
                status = conn.raw.info.transaction_status.name  # type: ignore[attr-defined]
            assert status == "IDLE"
            async with db.write() as conn:
                await conn.execute(INSERT_TIMER, _timer("r1", "b", 2))
            async with db.read() as conn:
                rows = (await conn.execute(TIMERS_OF_RUN, {"run_id": "r1"})).all()
            assert [r.kind for r in rows] == ["b"]
        finally:
            await db.dispose()
