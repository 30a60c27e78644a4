"""What the hot-statement shortcut (docs/adr/0002-hot-statements.md) saves, in process.

Times `Database.write()` transactions of 10 INSERTs, a SELECT and a DELETE, and `Database.read()`
of one SELECT, with the shortcut on and off (`hot_statements`), alternated; prints the median
and range of each, in microseconds. On a fresh database it migrates itself (a temporary SQLite
file, or a throw-away database beside --postgres-url, dropped afterwards).

    python bench/hot_statements.py sqlite
    python bench/hot_statements.py postgres --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from app.db.database import Database
from app.db.migrate import upgrade_to_head
from app.db.statements import DELETE_RUN_TIMERS, INSERT_TIMER, SELECT_RUN

ROW = {
    "namespace_id": "ns",
    "run_id": "r",
    "kind": "a",
    "ref": 1,
    "attempt": 1,
    "label": None,
    "fire_at": datetime(2026, 12, 7, tzinfo=UTC),
}


async def one_round(url: str, *, hot: bool, reads: int) -> tuple[float, float]:
    """(µs per write transaction, µs per read) over `reads // 10` writes and `reads` reads."""
    db = Database(url, hot_statements=hot)
    try:
        writes = reads // 10
        started = time.perf_counter()
        for _ in range(writes):
            async with db.write() as conn:
                for ref in range(10):
                    await conn.execute(INSERT_TIMER, {**ROW, "ref": ref})
                (await conn.execute(SELECT_RUN, {"run_id": "none"})).first()
                await conn.execute(DELETE_RUN_TIMERS, {"run_id": "r"})
        write = (time.perf_counter() - started) / writes * 1e6
        started = time.perf_counter()
        for _ in range(reads):
            async with db.read() as conn:
                (await conn.execute(SELECT_RUN, {"run_id": "none"})).first()
        return write, (time.perf_counter() - started) / reads * 1e6
    finally:
        await db.dispose()


async def measure(url: str, rounds: int, reads: int) -> None:
    await one_round(url, hot=True, reads=reads // 10)  # warm both paths up
    await one_round(url, hot=False, reads=reads // 10)
    figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(rounds):
        for hot in (True, False):
            figures[hot].append(await one_round(url, hot=hot, reads=reads))
    for hot in (True, False):
        writes = [w for w, _ in figures[hot]]
        reads_ = [r for _, r in figures[hot]]
        print(
            f"shortcut {'on ' if hot else 'off'}: write transaction median "
            f"{statistics.median(writes):.0f} µs [{min(writes):.0f}–{max(writes):.0f}], "
            f"read median {statistics.median(reads_):.0f} µs [{min(reads_):.0f}–{max(reads_):.0f}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternated on/off pairs")
    parser.add_argument("--reads", type=int, default=3000, help="reads per round (writes: 1/10)")
    args = parser.parse_args()
    if args.database == "sqlite":
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='perdure-bench-')}/hot.db"
        upgrade_to_head(url)
        asyncio.run(measure(url, args.rounds, args.reads))
        return
    name = f"perdure_hot_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        url = sa.make_url(args.postgres_url).set(database=name).render_as_string(False)
        upgrade_to_head(url)
        asyncio.run(measure(url, args.rounds, args.reads))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


if __name__ == "__main__":
    main()
