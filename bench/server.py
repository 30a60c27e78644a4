"""Start a throw-away Perdure server for a benchmark: fresh database, a tenant, a namespace."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

ADMIN_TOKEN = "bench-admin-token"
PERDURE = str(Path(sys.executable).with_name("perdure"))


@dataclass
class BenchServer:
    url: str
    key: str
    namespace: str


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _database(kind: str, postgres_url: str) -> Iterator[str]:
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="perdure-bench-")
        yield f"sqlite+aiosqlite:///{directory}/bench.db"
        return
    name = f"perdure_bench_{uuid.uuid4().hex[:8]}"
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


@contextlib.contextmanager
def spawn(kind: str, postgres_url: str, *, workers: int = 1) -> Iterator[BenchServer]:
    with _database(kind, postgres_url) as db_url:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERDURE_")}
        env.update(
            PERDURE_DATABASE_URL=db_url,
            PERDURE_PORT=str(port),
            PERDURE_ADMIN_TOKEN=ADMIN_TOKEN,
            PERDURE_LOG_LEVEL="warning",
            PERDURE_WORKERS=str(workers),
        )
        subprocess.run([PERDURE, "migrate"], env=env, check=True, capture_output=True)
        proc = subprocess.Popen(
            [PERDURE, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            created = httpx.post(
                f"{url}/api/v1/tenants",
                json={"name": "bench"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ).json()
            key = created["api_key"]["key"]
            httpx.post(
                f"{url}/api/v1/namespaces",
                json={"name": "bench"},
                headers={"Authorization": f"Bearer {key}"},
            )
            yield BenchServer(url=url, key=key, namespace="bench")
        finally:
            proc.terminate()
            proc.wait(timeout=15)
