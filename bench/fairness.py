"""One tenant floods, another starts workflows: does the second one notice?

Tenant B starts workflows one at a time and records each start's latency, first alone and then
while tenant A starts workflows as fast as 64 connections allow (A's namespace at the default
limits; A ignores `Retry-After` and sends again at once, as an abusive client would, unless
--polite), for --rounds rounds. A's connections run in a process of their own, B's in this
one, the server in a third. Prints B's start p50/p99 alone and under A's flood each round, what
A got (starts accepted, 429s), and the medians over the rounds. Every loop is bounded by -n,
--flood-seconds and --timeout.

    python bench/fairness.py --spawn sqlite
    python bench/fairness.py --spawn postgres
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import ADMIN_TOKEN, spawn  # noqa: E402

START = {"workflow_type": "Fairness", "task_queue": "fairness", "input": None}


async def _start(session: aiohttp.ClientSession, url: str, namespace: str) -> tuple[int, str]:
    path = f"{url}/api/v1/namespaces/{namespace}/workflows/wf-{uuid.uuid4().hex}"
    async with session.post(
        path, data=orjson.dumps(START), headers={"content-type": "application/json"}
    ) as r:
        await r.read()
        return r.status, r.headers.get("Retry-After", "")


async def measure_b(
    session: aiohttp.ClientSession, url: str, namespace: str, n: int, deadline: float
) -> list[float]:
    """B's sequential start latencies (seconds)."""
    latencies: list[float] = []
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        began = time.perf_counter()
        status, _ = await _start(session, url, namespace)
        if status != 201:
            raise RuntimeError(f"tenant B's start answered {status}")
        latencies.append(time.perf_counter() - began)
    return latencies


async def flood_a(
    session: aiohttp.ClientSession,
    url: str,
    namespace: str,
    stop: asyncio.Event,
    counts: dict[str, int],
    polite: bool,
) -> None:
    """One of A's connections: start, start, start... until told to stop."""
    while not stop.is_set():
        try:
            status, retry_after = await _start(session, url, namespace)
        except aiohttp.ClientError:
            counts["errors"] += 1
            continue
        counts[str(status)] = counts.get(str(status), 0) + 1
        if status == 429 and polite:
            try:
                await asyncio.wait_for(stop.wait(), float(retry_after or 1))
            except TimeoutError:
                pass


def _figures(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(ordered)} starts)"


async def run_flood(url: str, key: str, connections: int, polite: bool, seconds: float) -> dict:
    """Tenant A's whole flood (in its own process, so that its 64 connections do not slow
    down B's measuring loop): answers counted by status."""
    stop = asyncio.Event()
    counts: dict[str, int] = {"errors": 0}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        headers={"Authorization": f"Bearer {key}"},
        timeout=aiohttp.ClientTimeout(total=90),
    ) as a:
        flooders = [
            asyncio.create_task(flood_a(a, url, "a", stop, counts, polite))
            for _ in range(connections)
        ]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*flooders, return_exceptions=True)
    return counts


def _flood_process(url: str, key: str, args: argparse.Namespace, out: Connection) -> None:
    began = time.perf_counter()
    counts = asyncio.run(run_flood(url, key, args.connections, args.polite, args.flood_seconds))
    out.send((counts, time.perf_counter() - began))


async def measure(url: str, key: str, n: int, deadline: float) -> list[float]:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=2),
        headers={"Authorization": f"Bearer {key}"},
        timeout=aiohttp.ClientTimeout(total=90),
    ) as b:
        await measure_b(b, url, "b", 20, deadline)  # warm up connections and caches
        return await measure_b(b, url, "b", n, deadline)


def _flood_round(url: str, key_a: str, key_b: str, args: argparse.Namespace) -> tuple:
    """B's latencies while A floods, and A's answers counted by status, per second."""
    receive, send = multiprocessing.Pipe(duplex=False)
    flood = multiprocessing.Process(target=_flood_process, args=(url, key_a, args, send))
    flood.start()
    try:
        time.sleep(1.0)  # let A's flood reach its pace
        deadline = time.monotonic() + args.flood_seconds - 2
        busy = asyncio.run(measure(url, key_b, args.n, deadline))
    finally:
        counts, elapsed = receive.recv()
        flood.join(timeout=30)
    return busy, {status: n / elapsed for status, n in counts.items() if n}


def run(url: str, key_a: str, key_b: str, args: argparse.Namespace) -> None:
    """Rounds of B alone then B under A's flood: on a shared machine the load drifts, and
    alternating lets the drift fall on both figures alike."""
    idle_p50s, busy_p50s = [], []
    for round_ in range(1, args.rounds + 1):
        idle = asyncio.run(measure(url, key_b, args.n, time.monotonic() + args.timeout))
        busy, rates = _flood_round(url, key_a, key_b, args)
        idle_p50s.append(statistics.median(idle))
        busy_p50s.append(statistics.median(busy))
        print(f"round {round_}: tenant B alone:           {_figures(idle)}", flush=True)
        print(f"round {round_}: tenant B under A's flood: {_figures(busy)}", flush=True)
        print(
            f"round {round_}: tenant A meanwhile: "
            + ", ".join(
                f"{rate:.0f}/s answered {status}" for status, rate in sorted(rates.items())
            ),
            flush=True,
        )
        print(
            f"round {round_}: B's p50 under the flood is {busy_p50s[-1] / idle_p50s[-1]:.2f}x alone",
            flush=True,
        )
    ratio = statistics.median(busy_p50s) / statistics.median(idle_p50s)
    print(
        f"median of the rounds: B's p50 {statistics.median(idle_p50s) * 1000:.1f} ms alone, "
        f"{statistics.median(busy_p50s) * 1000:.1f} ms under A's flood ({ratio:.2f}x)",
        flush=True,
    )


def _tenant(url: str, name: str, writes_per_second: float | None = None) -> str:
    created = httpx.post(
        f"{url}/api/v1/tenants",
        json={"name": name},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    created.raise_for_status()
    key = created.json()["api_key"]["key"]
    settings = {"writes_per_second": writes_per_second} if writes_per_second else {}
    made = httpx.post(
        f"{url}/api/v1/namespaces",
        json={"name": name, "settings": settings},
        headers={"Authorization": f"Bearer {key}"},
    )
    made.raise_for_status()
    return key


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spawn", choices=["sqlite", "postgres"], required=True)
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("-n", type=int, default=300, help="B's starts per measurement")
    parser.add_argument("--connections", type=int, default=64, help="A's connections")
    parser.add_argument(
        "--polite", action="store_true", help="A waits Retry-After seconds after a 429"
    )
    parser.add_argument(
        "--a-writes-per-second",
        type=float,
        help="A's namespace limit on writes (default: the server's default)",
    )
    parser.add_argument(
        "--flood-seconds", type=float, default=20, help="how long A floods (B measures meanwhile)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of B alone, then flooded")
    parser.add_argument(
        "--timeout", type=float, default=120, help="give up on B's measurement after this long"
    )
    args = parser.parse_args()
    print(f"Starting a throw-away server on {args.spawn} ...", flush=True)
    with spawn(args.spawn, args.postgres_url) as server:
        key_a = _tenant(server.url, "a", args.a_writes_per_second)
        run(server.url, key_a, _tenant(server.url, "b"), args)


if __name__ == "__main__":
    main()
