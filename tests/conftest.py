"""The suite's server: one real uvicorn process-in-loop on 127.0.0.1, on the database chosen by
PERDURE_TEST_DATABASE_URL (default: a fresh SQLite file), built with Alembic migrations."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import socket
import sqlite3
import ssl
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from app.context import ServerContext
from app.db.database import Database, _prepare_sqlite_file
from app.db.migrate import upgrade_to_head
from app.server import create_server
from app.settings import Environment, Settings
from tests import contract

ADMIN_TOKEN = "test-admin-token-0123456789"
# One TLS context for the suite's clients: they speak plain HTTP to 127.0.0.1, but httpx loads
# the CA bundle into a new context for every client otherwise (tens of ms, twice per test).
LOOPBACK_TLS = ssl.create_default_context()
# The console's browser tests drive Debian's chromium (.ci/run installs it with apt).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_database_url() -> str:
    url = os.environ.get("PERDURE_TEST_DATABASE_URL", "").strip()
    if url:
        return url
    directory = Path(tempfile.mkdtemp(prefix="perdure-test-"))
    return f"sqlite+aiosqlite:///{directory}/test.db"


def reset_database(url: str) -> None:
    """Start every session from an empty schema so migrations are exercised from scratch."""
    if url.startswith("sqlite"):
        return
    engine = sa.create_engine(url.replace("+asyncpg", "+psycopg"))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
        commit_without_waiting_for_disk(conn, sa.engine.make_url(url).database)
    engine.dispose()


def commit_without_waiting_for_disk(conn: sa.Connection, database: str | None) -> None:
    """PostgreSQL: the test database's sessions commit without waiting for the WAL to reach
    the disk (synchronous_commit=off). Only a crash of PostgreSQL itself could lose the last
    commits, which no test does; what other sessions see, and when, is unchanged. Each commit
    was a disk flush of several ms, and the suite makes thousands."""
    conn.execute(sa.text(f'ALTER DATABASE "{database}" SET synchronous_commit = off'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    base_url: str
    ctx: ServerContext
    database_url: str
    app: Any


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = test_database_url()
    reset_database(url)
    upgrade_to_head(url)
    yield url
    if url.startswith("sqlite"):  # the suite's own temporary folder, not a given database
        if not os.environ.get("PERDURE_TEST_DATABASE_URL", "").strip():
            shutil.rmtree(Path(sa.engine.make_url(url).database).parent, ignore_errors=True)


@pytest.fixture(scope="session")
async def server(database_url: str) -> AsyncIterator[RunningServer]:
    settings = Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        environment=Environment.DEVELOPMENT,
    )
    async with serve_app(settings) as running:
        yield running


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless chromium for the whole session (each test opens its own context)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client of the suite's server."""
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=90, verify=LOOPBACK_TLS
    ) as client:
        yield client


@pytest.fixture(autouse=True)
def answers_match_their_contract() -> Iterator[None]:
    """Every JSON answer a test caused matches openapi.json (see tests/contract.py)."""
    seen = len(contract.BROKEN)
    yield
    broken = contract.BROKEN[seen:]
    del contract.BROKEN[seen:]
    assert not broken, "answers that do not match openapi.json:\n" + "\n".join(broken[:5])


@dataclass
class Tenant:
    name: str
    admin_key: str
    namespace: str
    client: httpx.AsyncClient  # authenticated with the admin key

    def ns(self, path: str = "") -> str:
        return f"/api/v1/namespaces/{self.namespace}{path}"


async def new_tenant(http: httpx.AsyncClient, namespace: str = "main") -> Tenant:
    name = f"t-{uuid.uuid4().hex[:12]}"
    created = await http.post(
        "/api/v1/tenants", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]["key"]
    client = httpx.AsyncClient(
        base_url=str(http.base_url),
        headers={"Authorization": f"Bearer {key}"},
        timeout=90,
        verify=LOOPBACK_TLS,
    )
    made = await client.post("/api/v1/namespaces", json={"name": namespace})
    assert made.status_code == 201, made.text
    return Tenant(name=name, admin_key=key, namespace=namespace, client=client)


@pytest.fixture
async def tenant(http: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    """A fresh tenant with an admin key and one namespace, `main`."""
    made = await new_tenant(http)
    yield made
    await made.client.aclose()


@pytest.fixture
async def other_tenant(http: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    made = await new_tenant(http)
    yield made
    await made.client.aclose()


def keyed_client(server_or_client: httpx.AsyncClient, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=str(server_or_client.base_url),
        headers={"Authorization": f"Bearer {key}"},
        timeout=90,
        verify=LOOPBACK_TLS,
    )


# Migrated once per session and copied for each fresh database: running the migrations again
# for every test that needs a database of its own cost seconds each (the session's own database
# and tests/db/test_migrations.py still run them from an empty schema).
_templates: dict[str, str] = {}


def _template_of(suite_url: str) -> str:
    """A migrated database to copy, made on first use: a SQLite file path, or the name of a
    PostgreSQL database on the suite's server (`<suite database>_template`)."""
    kind = "sqlite" if suite_url.startswith("sqlite") else suite_url
    if kind in _templates:
        return _templates[kind]
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="perdure-template-"))
        upgrade_to_head(f"sqlite+aiosqlite:///{directory}/template.db")
        _templates[kind] = str(directory / "template.db")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        return _templates[kind]
    name = f"{sa.engine.make_url(suite_url).database}_template"
    admin = sa.create_engine(suite_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # left over by a session that was killed, maybe older code
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
        commit_without_waiting_for_disk(conn, name)
    admin.dispose()
    upgrade_to_head(sa.engine.make_url(suite_url).set(database=name).render_as_string(False))
    _templates[kind] = name

    def drop() -> None:
        engine = sa.create_engine(suite_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()

    atexit.register(drop)
    return name


def migrated_sqlite_file(path: Path) -> str:
    """A SQLite database at `path`, migrated to head (a copy of the session's template, made
    with the server's file mode: owner only); its URL."""
    url = f"sqlite+aiosqlite:///{path}"
    _prepare_sqlite_file(url)
    with contextlib.closing(sqlite3.connect(_template_of("sqlite"))) as source:
        with contextlib.closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
    return url


@contextlib.contextmanager
def fresh_database(suite_url: str):  # type: ignore[no-untyped-def]
    """A new, empty, migrated database of the suite's kind (a copy of a database migrated once
    per session), dropped afterwards."""
    if suite_url.startswith("sqlite"):
        directory = Path(tempfile.mkdtemp(prefix="perdure-fresh-"))
        try:
            yield migrated_sqlite_file(directory / "fresh.db")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    template = _template_of(suite_url)
    name = f"perdure_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(suite_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} TEMPLATE {template}"))
        commit_without_waiting_for_disk(conn, name)  # not copied from the template
    url = sa.engine.make_url(suite_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextlib.asynccontextmanager
async def serve_app(
    settings: Settings, *, db: Database | None = None, **context: Any
) -> AsyncIterator[RunningServer]:
    """Another in-process server on a free loopback port, for tests that need their own
    (`context`: more ServerContext fields, e.g. a tracer provider)."""
    ctx = ServerContext(settings=settings, db=db or Database(settings.database_url), **context)
    app = create_server(settings, ctx)
    async with serving(contract.checked(app)) as base_url:
        yield RunningServer(base_url=base_url, ctx=ctx, database_url=settings.database_url, app=app)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port, in this event loop; yields
    its base URL."""
    port = free_port()
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
