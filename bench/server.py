"""Start a throw-away Perdure server for a benchmark: fresh database, a tenant, a namespace."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
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
    pid: int = 0
    database_url: str = ""
    metrics_url: str = ""  # its /metrics (PERDURE_METRICS_PORT: not on the API port)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's workers under PERDURE_WORKERS)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(current := todo.pop())
        todo.extend(children.get(current, []))
    return tree


class CpuMeter:
    """CPU seconds spent by the bench server's processes and by its PostgreSQL backends (this
    machine only): a cost per workflow that a busy, shared machine disturbs far less than
    wall-clock throughput."""

    def __init__(self, server: BenchServer) -> None:
        self.server = server
        self.engine = (
            sa.create_engine(server.database_url.replace("+asyncpg", "+psycopg"))
            if server.database_url.startswith("postgresql")
            else None
        )

    def _backends(self) -> list[int]:
        if self.engine is None:
            return []
        with self.engine.connect() as conn:
            return list(
                conn.scalars(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            )

    def sample(self) -> dict[int, float]:
        pids = _process_tree(self.server.pid) + self._backends()
        return {pid: _cpu_seconds(pid) for pid in pids}

    def report(self, before: dict[int, float], units: int, unit: str) -> None:
        after = self.sample()
        server = set(_process_tree(self.server.pid))
        spent = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
        own = sum(v for pid, v in spent.items() if pid in server)
        backends = sum(v for pid, v in spent.items() if pid not in server)
        line = f"  CPU per {unit[:-1]}: server {own / units * 1000:.2f} ms"
        if self.engine is not None:
            line += f", PostgreSQL backends {backends / units * 1000:.2f} ms"
        print(line, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` and its descendants (Linux)."""
    return sum(_cpu_seconds(p) for p in _process_tree(pid))


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` and its descendants, MiB (Linux; 0 once gone)."""
    total = 0
    for p in _process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])  # kB
        except OSError:
            continue
    return total / 1024


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
    # Named after the database of --postgres-url, so a bench's throw-away databases sit beside
    # the one it was given (perdure_x -> perdure_x_bench_1a2b3c4d).
    base = sa.engine.make_url(postgres_url).database or "perdure"
    name = f"{base}_bench_{uuid.uuid4().hex[:8]}"
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
def spawn(
    kind: str, postgres_url: str, *, workers: int = 1, port: int = 0
) -> Iterator[BenchServer]:
    with _database(kind, postgres_url) as db_url:
        port = port or _free_port()
        metrics_port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERDURE_")}
        env.update(
            PERDURE_DATABASE_URL=db_url,
            PERDURE_PORT=str(port),
            PERDURE_METRICS_PORT=str(metrics_port),
            PERDURE_ADMIN_TOKEN=ADMIN_TOKEN,
            PERDURE_LOG_LEVEL="warning",
            PERDURE_WORKERS=str(workers),
            PERDURE_SECRET_KEY=uuid.uuid4().hex + uuid.uuid4().hex,
        )
        # BENCH_PERDURE_X=v sets PERDURE_X=v for the spawned server (the bench's own
        # environment's PERDURE_ settings are not passed on).
        env.update(
            {
                k.removeprefix("BENCH_"): v
                for k, v in os.environ.items()
                if k.startswith("BENCH_PERDURE_")
            }
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
            yield BenchServer(
                url=url,
                key=key,
                namespace="bench",
                pid=proc.pid,
                database_url=db_url,
                metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
            )
        finally:
            proc.terminate()
            proc.wait(timeout=15)


# -- what every benchmark script shares: its command line, its server, its report ---------------


def bench_arguments(description: str, *, unit: str, default_n: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--spawn", choices=["sqlite", "postgres"], help="start a throw-away server on this database"
    )
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes of --spawn (PERDURE_WORKERS)"
    )
    parser.add_argument("--port", type=int, default=0, help="port of --spawn (default: a free one)")
    parser.add_argument("--url", default="http://127.0.0.1:8233")
    parser.add_argument("--key", default=None, help="API key (default: .perdure/dev-key)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("-n", type=int, default=default_n, help=f"{unit} per concurrency level")
    parser.set_defaults(unit=unit)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    parser.add_argument(
        "--timeout", type=float, default=300, help="give up after this many seconds per level"
    )
    return parser


def run_levels(args: argparse.Namespace, level: Callable[[str, str, str, int], None]) -> None:
    """Call `level(url, key, namespace, concurrency)` for each level, against a throw-away
    server (--spawn) or the one named by --url/--key."""
    if args.spawn:
        print(f"Starting a throw-away server on {args.spawn} ...", flush=True)
        with spawn(args.spawn, args.postgres_url, workers=args.workers, port=args.port) as server:
            meter = CpuMeter(server)
            for concurrency in args.concurrency:
                before = meter.sample()
                level(server.url, server.key, server.namespace, concurrency)
                meter.report(before, args.n, args.unit)
    else:
        key = args.key or Path(".perdure/dev-key").read_text().strip()
        for concurrency in args.concurrency:
            level(args.url, key, args.namespace, concurrency)


def report(unit: str, concurrency: int, latencies: list[float], elapsed: float) -> None:
    """One line of figures: throughput and start-to-result latency."""
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(
        f"concurrency {concurrency:>3}: {len(ordered)} {unit} in {elapsed:.2f}s = {len(ordered) / elapsed:.1f} {unit}/s; "
        f"start-to-result p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        flush=True,
    )
