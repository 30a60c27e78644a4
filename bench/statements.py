"""Statements, transactions and database round trips per API operation: a deterministic cost.

Wall-clock figures on a shared machine are noisy; what each request asks of the database is
not. This runs a server in this process (background loops off) and drives workflows one
request at a time, the way bench/raw_http.py and bench/definitions.py do, counting per request:

- statements: the queries the database executed (on PostgreSQL read off the wire by a TCP
  relay between the server and PostgreSQL, so an
  executemany counts each row set; on SQLite from its trace callback, hot statements included);
- commits;
- round trips (PostgreSQL): the times the driver waited for PostgreSQL's answer (a statement
  sent alone, BEGIN, a ping, COMMIT, a pipeline synced or a result fetched from it).

    .venv/bin/python bench/statements.py                                   # a fresh SQLite file
    .venv/bin/python bench/statements.py --postgres-url postgresql+psycopg://postgres@127.0.0.1/perdure_x
    .venv/bin/python bench/statements.py --postgres-url ... --show 'complete activity'

Each operation is measured over --workflows workflows (after one warm-up) and its median is
printed, then the sum per workflow of each flow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from app.context import ServerContext
from app.db.database import Database
from app.db.migrate import upgrade_to_head
from app.server import create_server
from app.settings import Environment, Settings

ADMIN = "statements-admin-token"
QUEUE = "bench"
DEFINITION = {
    "StartAt": "Echo",
    "States": {
        "Echo": {
            "Type": "Task",
            "Resource": f"perdure:activity:{QUEUE}:echo",
            "Parameters": {"value.$": "$.value"},
            "ResultPath": "$.echoed",
            "End": True,
        }
    },
}


class Counter:
    """What the database was asked, since the last `take`."""

    def __init__(self) -> None:
        self.statements = 0
        self.commits = 0
        self.round_trips = 0
        self.sql: list[str] = []

    def take(self) -> tuple[int, int, int, list[str]]:
        taken = (self.statements, self.commits, self.round_trips, self.sql)
        self.statements = self.commits = self.round_trips = 0
        self.sql = []
        return taken

    def statement(self, sql: str) -> None:
        word = sql.lstrip()[:8].upper()
        if word.startswith("COMMIT"):
            self.commits += 1
        elif not word.startswith(("BEGIN", "ROLLBACK", "PRAGMA")):
            self.statements += 1
        self.sql.append(" ".join(sql.split())[:160])


class Protocol:
    """Reads PostgreSQL's frontend messages off the wire: every query executed (simple Query,
    or Bind of a parsed statement, pipelined or not) goes to the counter."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.buffer = b""
        self.started = False
        self.parsed: dict[bytes, str] = {}

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if not self.started:  # the startup message has no type byte
                if len(self.buffer) < 4:
                    return
                length = int.from_bytes(self.buffer[:4], "big")
                if len(self.buffer) < length:
                    return
                self.buffer = self.buffer[length:]
                self.started = True
                continue
            if len(self.buffer) < 5:
                return
            kind, length = self.buffer[:1], int.from_bytes(self.buffer[1:5], "big")
            if len(self.buffer) < 1 + length:
                return
            body, self.buffer = self.buffer[5 : 1 + length], self.buffer[1 + length :]
            if kind == b"Q":
                self.counter.statement(body.rstrip(b"\0").decode())
            elif kind == b"P":
                name, rest = body.split(b"\0", 1)
                self.parsed[name] = rest.split(b"\0", 1)[0].decode()
            elif kind == b"B":
                _portal, name, _ = body.split(b"\0", 2)
                self.counter.statement(self.parsed.get(name, "?"))


class Relay:
    """A TCP relay to PostgreSQL that reads the statements off the wire."""

    def __init__(self, counter: Counter, host: str, port: int) -> None:
        self.counter = counter
        self.target = (host, port)
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        protocol = Protocol(self.counter)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await src.read(65536):
                    if up:
                        protocol.feed(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def count_waits(counter: Counter) -> None:
    """Count psycopg's waits for an answer: each time the driver must read from PostgreSQL
    before it can go on (a statement sent alone, a pipeline synced, a result fetched), one
    round trip. Sending without waiting (a pipeline's queued statements) counts nothing."""
    import psycopg.waiting
    from psycopg.waiting import Wait

    wait_async = psycopg.waiting.wait_async

    def counted(gen: Any) -> Any:
        try:
            state = next(gen)
            while True:
                if state == Wait.R:
                    counter.round_trips += 1
                    counter.sql.append(f"-- wait {counter.round_trips}")
                ready = yield state
                state = gen.send(ready)
        except StopIteration as stop:
            return stop.value

    async def waiting(gen: Any, *args: Any, **kwargs: Any) -> Any:
        return await wait_async(counted(gen), *args, **kwargs)

    psycopg.waiting.wait_async = waiting


def watch_sqlite(db: Database, counter: Counter) -> None:
    """Every statement SQLite runs, hot ones included (on PostgreSQL the relay reads them)."""
    for engine in [db._sqlite_writer, db._sqlite_reader]:

        @sa.event.listens_for(engine, "connect")
        def _trace(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(counter.statement)


@contextlib.asynccontextmanager
async def serving(settings: Settings, db: Database) -> AsyncIterator[str]:
    ctx = ServerContext(settings=settings, db=db)
    app = create_server(settings, ctx)
    with socket_port() as port:
        uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        await task


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


@contextlib.contextmanager
def database(postgres_url: str | None) -> Iterator[str]:
    if postgres_url is None:
        yield f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='perdure-statements-')}/s.db"
        return
    base = sa.engine.make_url(postgres_url).database or "perdure"
    name = f"{base}_statements_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield (
            sa.engine.make_url(postgres_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


Op = Callable[[], Awaitable[dict[str, Any]]]


class Flows:
    """The request sequences of the benches, one request at a time."""

    def __init__(self, client: httpx.AsyncClient, measure: Callable[[str, Op], Awaitable[Any]]):
        self.c = client
        self.measure = measure
        self.ns = "/api/v1/namespaces/bench"

    async def post(self, path: str, body: object) -> dict[str, Any]:
        r = await self.c.post(self.ns + path, json=body)
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json() if r.content else {}

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        r = await self.c.get(self.ns + path, params=params)
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json()

    def complete_wft(self, task: dict[str, Any], commands: list[dict[str, Any]]) -> Op:
        body = {"task_token": task["task_token"], "commands": commands, "identity": "b"}
        return lambda: self.post("/workflow-tasks/complete", body)

    @staticmethod
    def schedule(eager: bool) -> list[dict[str, Any]]:
        attributes: dict[str, Any] = {
            "activity_id": "1",
            "activity_type": "echo",
            "input": "hi",
            "start_to_close_timeout": 30,
        }
        if eager:
            attributes["request_eager_execution"] = True
        return [{"command_type": "SCHEDULE_ACTIVITY_TASK", "attributes": attributes}]

    DONE = [{"command_type": "COMPLETE_WORKFLOW_EXECUTION", "attributes": {"result": "hi"}}]

    async def eager(self) -> None:
        """bench/raw_http.py: every hand-back taken."""
        m, wid = self.measure, f"wf-{uuid.uuid4().hex}"
        started = await m(
            "start (eager)",
            lambda: self.post(
                f"/workflows/{wid}",
                {
                    "workflow_type": "Bench",
                    "task_queue": QUEUE,
                    "request_eager_execution": True,
                    "identity": "b",
                },
            ),
        )
        answer = await m(
            "complete wft: schedule (eager)",
            self.complete_wft(started["eager_workflow_task"], self.schedule(True)),
        )
        activity = answer["activity_tasks"][0]
        body = {
            "task_token": activity["task_token"],
            "result": "hi",
            "identity": "b",
            "return_new_workflow_task": True,
        }
        answer = await m(
            "complete activity (hand back wft)",
            lambda: self.post("/activity-tasks/complete", body),
        )
        await m("complete wft: complete", self.complete_wft(answer["workflow_task"], self.DONE))
        await m("result (closed)", lambda: self.get(f"/workflows/{wid}/result", wait="30"))

    async def plain(self) -> None:
        """bench/pollers.py's plain client: poll and answer, no hand-backs."""
        m, wid = self.measure, f"wf-{uuid.uuid4().hex}"
        poll_wft = f"/task-queues/{QUEUE}/workflow-tasks/poll"
        poll_act = f"/task-queues/{QUEUE}/activity-tasks/poll"
        poll = {"identity": "b", "wait": 1}
        await m(
            "start",
            lambda: self.post(f"/workflows/{wid}", {"workflow_type": "B", "task_queue": QUEUE}),
        )
        task = await m("poll wft", lambda: self.post(poll_wft, poll))
        await m("complete wft: schedule", self.complete_wft(task, self.schedule(False)))
        activity = await m("poll activity", lambda: self.post(poll_act, poll))
        body = {"task_token": activity["task_token"], "result": "hi", "identity": "b"}
        await m("complete activity", lambda: self.post("/activity-tasks/complete", body))
        task = await m("poll wft", lambda: self.post(poll_wft, poll))
        await m("complete wft: complete", self.complete_wft(task, self.DONE))
        await m("result (closed)", lambda: self.get(f"/workflows/{wid}/result", wait="30"))

    async def definition(self) -> None:
        """bench/definitions.py --style single: the server decides."""
        m, wid = self.measure, f"wf-{uuid.uuid4().hex}"
        await m(
            "start definition",
            lambda: self.post(
                f"/workflows/{wid}", {"definition": {"name": "bench"}, "input": {"value": 1}}
            ),
        )
        activity = await m(
            "poll activity",
            lambda: self.post(f"/task-queues/{QUEUE}/activity-tasks/poll", {"identity": "b"}),
        )
        body = {"task_token": activity["task_token"], "result": 1, "identity": "b"}
        await m("complete activity (decided)", lambda: self.post("/activity-tasks/complete", body))
        await m("result (closed)", lambda: self.get(f"/workflows/{wid}/result", wait="30"))


async def main_async(args: argparse.Namespace) -> None:
    counter = Counter()
    relay: Relay | None = None
    with database(args.postgres_url) as url:
        upgrade_to_head(url)
        served_url = url
        if args.postgres_url:
            parsed = sa.engine.make_url(url)
            relay = Relay(counter, parsed.host or "127.0.0.1", parsed.port or 5432)
            with socket_port() as relay_port:
                pass
            await relay.start(args.relay_port or relay_port)
            count_waits(counter)
            served_url = parsed.set(
                host="127.0.0.1", port=args.relay_port or relay_port
            ).update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
            served_url = served_url.render_as_string(hide_password=False)
        settings = Settings(
            database_url=served_url,
            admin_token=ADMIN,
            environment=Environment.DEVELOPMENT,
            run_background_loops=False,
        )
        db = Database(served_url)
        if db.is_sqlite:
            watch_sqlite(db, counter)
        figures: dict[str, dict[str, list[tuple[int, int, int]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        shown: dict[str, list[str]] = {}
        async with serving(settings, db) as base:
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                made = await http.post(
                    "/api/v1/tenants",
                    json={"name": "bench"},
                    headers={"Authorization": f"Bearer {ADMIN}"},
                )
                key = made.json()["api_key"]["key"]
                http.headers["Authorization"] = f"Bearer {key}"
                await http.post("/api/v1/namespaces", json={"name": "bench"})
                await http.put("/api/v1/namespaces/bench/definitions/bench", json=DEFINITION)
                flow_name = ""

                async def measure(name: str, op: Op) -> Any:
                    counter.take()
                    answer = await op()
                    statements, commits, trips, sql = counter.take()
                    figures[flow_name][name].append((statements, commits, trips))
                    if args.show is not None and args.show in name:
                        shown[f"{flow_name}: {name}"] = sql
                    return answer

                flows = Flows(http, measure)
                for flow_name, flow in (
                    ("raw_http (eager)", flows.eager),
                    ("plain (poll each task)", flows.plain),
                    ("definition (single)", flows.definition),
                ):
                    for i in range(args.workflows + 1):
                        await flow()
                        if i == 0:  # the warm-up: caches filled, statements prepared
                            figures[flow_name].clear()
    kind = "PostgreSQL" if args.postgres_url else "SQLite"
    print(f"{kind}: per request, median of {args.workflows} workflows")
    print(f"{'operation':<42} {'statements':>10} {'commits':>8} {'round trips':>12}")
    for flow_name, ops in figures.items():
        print(f"-- {flow_name}")
        total = [0, 0, 0]
        for name, samples in ops.items():
            medians = [statistics.median(s[i] for s in samples) for i in range(3)]
            total = [a + b for a, b in zip(total, medians, strict=True)]
            trips = f"{medians[2]:>12g}" if relay else f"{'-':>12}"
            print(f"{name:<42} {medians[0]:>10g} {medians[1]:>8g} {trips}")
        trips = f"{total[2]:>12g}" if relay else f"{'-':>12}"
        print(f"{'= per workflow':<42} {total[0]:>10g} {total[1]:>8g} {trips}")
    for name, sql in shown.items():
        print(f"\n{name}:")
        for line in sql:
            print(f"  {line}")
    if relay:
        await relay.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres-url", help="measure on PostgreSQL (a database is made beside it)"
    )
    parser.add_argument("--relay-port", type=int, default=0, help="the counting relay's port")
    parser.add_argument("--workflows", type=int, default=5, help="workflows per flow, measured")
    parser.add_argument("--show", help="print the SQL of the operations whose name has this")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
