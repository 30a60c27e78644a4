"""What marks a statement hot (app/db/hot.py): SQLAlchemy's execution option `perdure_hot`, and
nothing else. A marked statement runs past SQLAlchemy (its engine events never see it) on the
database the suite runs on; the same SQL unmarked, or any statement with the shortcut turned
off, goes through SQLAlchemy; and both read and write the same rows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from app.db.database import Database
from app.db.hot import HOT, hot, is_hot
from app.db.tables import timers
from tests import conftest

SUITE_URL = os.environ.get("PERDURE_TEST_DATABASE_URL", "sqlite://")
WHEN = datetime(2026, 12, 7, 9, 0, 0, 250000, tzinfo=UTC)

_INSERT = sa.insert(timers)
_SELECT = sa.select(timers.c.kind, timers.c.ref, timers.c.fire_at).where(
    timers.c.run_id == sa.bindparam("run_id")
)
# Marked the way the statements module marks them, but spelled out: the option is the mark.
INSERT_MARKED = _INSERT.execution_options(perdure_hot=True)
SELECT_MARKED = _SELECT.execution_options(perdure_hot=True)


def _timer(run_id: str, ref: int) -> dict[str, Any]:
    return {
        "namespace_id": "ns",
        "run_id": run_id,
        "kind": "a",
        "ref": ref,
        "attempt": 1,
        "label": None,
        "fire_at": WHEN,
    }


@contextmanager
def statements_sqlalchemy_ran(url: str) -> Iterator[list[str]]:
    """The SQL of every statement that goes through a SQLAlchemy engine of the database at
    `url` meanwhile (the listener is on the Engine class, so it sees the Database's engines;
    servers of other tests in this process use other databases)."""
    seen: list[str] = []
    database = sa.engine.make_url(url).database

    def _before(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if conn.engine.url.database == database:
            seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", _before)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", _before)


def test_the_mark_is_the_execution_option_and_it_survives_generative_copies():
    assert is_hot(INSERT_MARKED) and is_hot(hot(_SELECT))
    assert not is_hot(_INSERT) and not is_hot(_SELECT)
    assert hot(_SELECT).get_execution_options()[HOT] is True
    # A copy made from a marked statement is marked (SELECT … FOR UPDATE of a hot SELECT).
    assert is_hot(SELECT_MARKED.with_for_update())
    assert not is_hot(SELECT_MARKED.execution_options(perdure_hot=False))


async def test_a_marked_statement_skips_sqlalchemy_and_an_unmarked_one_does_not():
    with conftest.fresh_database(SUITE_URL) as url:
        db = Database(url)
        try:
            with statements_sqlalchemy_ran(url) as seen:
                async with db.write() as conn:
                    await conn.execute(INSERT_MARKED, _timer("marked", 1))
                    await conn.execute(INSERT_MARKED, _timer("marked", 2))
                async with db.read() as conn:
                    marked = (await conn.execute(SELECT_MARKED, {"run_id": "marked"})).all()
            assert not [sql for sql in seen if "timers" in sql], seen

            with statements_sqlalchemy_ran(url) as seen:
                async with db.write() as conn:
                    await conn.execute(_INSERT, _timer("plain", 1))
                    await conn.execute(_INSERT, _timer("plain", 2))
                async with db.read() as conn:
                    plain = (await conn.execute(_SELECT, {"run_id": "plain"})).all()
            assert len([sql for sql in seen if sql.startswith("INSERT INTO timers")]) == 2, seen
            assert len([sql for sql in seen if sql.startswith("SELECT timers.kind")]) == 1, seen

            assert sorted(tuple(r) for r in marked) == [("a", 1, WHEN), ("a", 2, WHEN)]
            assert sorted(tuple(r) for r in plain) == sorted(tuple(r) for r in marked)
        finally:
            await db.dispose()


async def test_with_the_shortcut_off_a_marked_statement_goes_through_sqlalchemy():
    with conftest.fresh_database(SUITE_URL) as url:
        db = Database(url, hot_statements=False)
        try:
            with statements_sqlalchemy_ran(url) as seen:
                async with db.write() as conn:
                    await conn.execute(INSERT_MARKED, _timer("off", 1))
                async with db.read() as conn:
                    rows = (await conn.execute(SELECT_MARKED, {"run_id": "off"})).all()
            assert len([sql for sql in seen if sql.startswith("INSERT INTO timers")]) == 1, seen
            assert len([sql for sql in seen if sql.startswith("SELECT timers.kind")]) == 1, seen
            assert [tuple(r) for r in rows] == [("a", 1, WHEN)]
        finally:
            await db.dispose()
