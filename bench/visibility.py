"""Visibility at scale: a namespace of 100,000 runs, the common list filters timed, and the
plans the databases choose for them.

    .venv/bin/python bench/visibility.py                       # a fresh SQLite file
    .venv/bin/python bench/visibility.py --database-url postgresql+psycopg://postgres@127.0.0.1/perdure_bench

Runs and their search attributes are inserted in bulk into the tables the engine writes
(workflow_runs, history_events, workflow_search_attributes, namespace_search_attributes);
the timings are of app.visibility.listing — what `GET …/workflows?query=` and
`…/workflow-count` run, minus HTTP — each query run `--repeat` times after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from app.db.database import Database
from app.db.migrate import upgrade_to_head
from app.db.tables import (
    history_events,
    namespace_search_attributes,
    namespaces,
    tenants,
    workflow_runs,
    workflow_search_attributes,
)
from app.engine.reads import RunFilter
from app.engine.search_attribute_types import SAType, check_value
from app.settings import Settings
from app.visibility import listing

TYPES = ["Payment"] * 3 + ["Refund", "Invoice", "Shipment", "Email", "Report", "Sync", "Audit"]
STATUSES = (
    ["RUNNING"] * 10
    + ["COMPLETED"] * 70
    + ["FAILED"] * 10
    + ["TERMINATED"] * 5
    + ["CANCELED"] * 3
    + ["TIMED_OUT"] * 2
)
ATTRIBUTES = {"CustomerId": SAType.KEYWORD, "Region": SAType.KEYWORD, "Amount": SAType.DOUBLE}
CHUNK = 5000


def sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "")


def make_rows(count: int, namespace_id: str, now: datetime) -> Any:
    rng = random.Random(16)
    for i in range(count):
        run_id = str(uuid.UUID(int=rng.getrandbits(128)))
        workflow_type = rng.choice(TYPES)
        status = rng.choice(STATUSES)
        start = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        close = None if status == "RUNNING" else start + timedelta(seconds=rng.uniform(1, 7200))
        attributes = {
            "CustomerId": f"c-{rng.randrange(5000)}",
            "Region": rng.choice(["eu", "us", "apac", "latam", "africa"]),
            "Amount": round(rng.uniform(1, 1000), 2),
        }
        run = {
            "id": run_id,
            "namespace_id": namespace_id,
            "workflow_id": f"{workflow_type.lower()}-{i}",
            "workflow_type": workflow_type,
            "task_queue": "bench",
            "status": status,
            "search_attributes": orjson.dumps(attributes).decode(),
            "start_time": start,
            "execution_time": start,
            "close_time": close,
            "task_timeout": 10.0,
            "first_run_id": run_id,
            "root_workflow_id": f"{workflow_type.lower()}-{i}",
            "next_event_id": 2,
        }
        values = [
            {"namespace_id": namespace_id, "run_id": run_id, "name": name, "value": stored}
            for name, value in attributes.items()
            for stored in check_value(name, ATTRIBUTES[name], value, field=name)
        ]
        event = {
            "run_id": run_id,
            "event_id": 1,
            "event_type": "WORKFLOW_EXECUTION_STARTED",
            "event_time": start,
            "attributes": orjson.dumps({"workflow_type": workflow_type}).decode(),
        }
        yield run, values, event


def populate(url: str, count: int) -> str:
    upgrade_to_head(url)
    engine = sa.create_engine(sync_url(url))
    now = datetime.now(UTC)
    tenant_id, namespace_id = str(uuid.uuid4()), str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(sa.insert(tenants), {"id": tenant_id, "name": "bench", "created_at": now})
        conn.execute(
            sa.insert(namespaces),
            {
                "id": namespace_id,
                "tenant_id": tenant_id,
                "name": "main",
                "settings": {},
                "created_at": now,
                "updated_at": now,
            },
        )
        conn.execute(
            sa.insert(namespace_search_attributes),
            [
                {"namespace_id": namespace_id, "name": n, "type": t.value, "created_at": now}
                for n, t in ATTRIBUTES.items()
            ],
        )
    runs, values, events = [], [], []
    started = time.monotonic()

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(sa.insert(workflow_runs), runs)
            conn.execute(sa.insert(workflow_search_attributes), values)
            conn.execute(sa.insert(history_events), events)
        runs.clear()
        values.clear()
        events.clear()

    for run, run_values, event in make_rows(count, namespace_id, now):
        runs.append(run)
        values.extend(run_values)
        events.append(event)
        if len(runs) >= CHUNK:
            flush()
    if runs:
        flush()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    print(f"inserted {count} runs in {time.monotonic() - started:.1f} s")
    engine.dispose()
    return namespace_id


def queries(now: datetime) -> list[tuple[str, str, bool]]:
    """(label, list filter, is a count)."""
    day = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    next_day = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    yesterday = f"CloseTime > '{next_day}'"
    return [
        ("type and status", "WorkflowType = 'Payment' AND ExecutionStatus = 'Failed'", False),
        ("custom keyword", "CustomerId = 'c-42'", False),
        ("time range", f"StartTime BETWEEN '{day}' AND '{next_day}'", False),
        (
            "type, status, close time, keyword",
            f"WorkflowType = 'Payment' AND ExecutionStatus = 'Failed' AND {yesterday} "
            "AND CustomerId = 'c-42'",
            False,
        ),
        ("closed newest first", "ORDER BY CloseTime DESC", False),
        ("count: type and status", "WorkflowType = 'Payment' AND ExecutionStatus = 'Failed'", True),
        ("count: custom keyword", "CustomerId = 'c-42'", True),
        ("count: time range", f"StartTime BETWEEN '{day}' AND '{next_day}'", True),
        ("count: whole namespace", "", True),
        ("count: GROUP BY ExecutionStatus", "GROUP BY ExecutionStatus", True),
    ]


async def measure(url: str, namespace_id: str, repeat: int) -> None:
    db = Database(url)
    settings = Settings(database_url=url)
    now = datetime.now(UTC)
    print(f"\n{'query':36} {'p50 ms':>8} {'max ms':>8}  answer")
    for label, query, counting in queries(now):
        times, answer = [], ""
        for attempt in range(repeat + 1):
            began = time.perf_counter()
            if counting:
                total, groups = await listing.count_runs(
                    db, settings, namespace_id, RunFilter(), query, now=now
                )
                answer = f"count {total}" + (f", {len(groups)} groups" if groups else "")
            else:
                rows, _ = await listing.list_runs(
                    db,
                    settings,
                    namespace_id,
                    RunFilter(),
                    query,
                    now=now,
                    page_size=100,
                    page_token=None,
                )
                answer = f"{len(rows)} runs"
            if attempt:  # the first is a warm-up
                times.append((time.perf_counter() - began) * 1000)
        print(f"{label:36} {statistics.median(times):8.1f} {max(times):8.1f}  {answer}")
    await explain(db, namespace_id, now)
    await db.dispose()


async def explain(db: Database, namespace_id: str, now: datetime) -> None:
    """The plan of each list query's first page, as the database reports it."""
    for label, query, counting in queries(now):
        if counting:
            continue
        async with db.read() as conn:
            planned = await listing.plan(
                conn, namespace_id, RunFilter(), query, dialect=db.dialect, now=now, counting=False
            )
            compiled = planned.compiled
            phase = listing.ORDERINGS[(compiled.order, compiled.descending)][0]
            statement = listing.phase_query(planned, phase, compiled.descending, None, 101)
            prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (COSTS OFF) "

            def run(sync: Any, statement: Any = statement, prefix: str = prefix) -> list[str]:
                sql = statement.compile(sync, compile_kwargs={"literal_binds": True})
                rows = sync.exec_driver_sql(prefix + str(sql)).all()
                return [str(r[-1]) for r in rows]

            lines = await conn.run_sync(run)
        print(f"\n-- {label}: {query}")
        for line in lines:
            print("   ", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/visibility.db"
    namespace_id = populate(url, args.runs)
    asyncio.run(measure(url, namespace_id, args.repeat))


if __name__ == "__main__":
    main()
