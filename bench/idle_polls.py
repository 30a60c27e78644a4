"""What idle long polls cost: a flock of polls waiting on queues with no work, and another
namespace's starts meanwhile.

Holds N idle polls (spread over --queues task queues) in namespace `idle`, measures the server's
CPU use while they wait, and the start latency of namespace `bench` with and without them.
Bounded: each phase lasts --seconds, every poll waits at most --wait seconds.

    python bench/idle_polls.py --spawn sqlite --polls 1000 2000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import cpu_seconds, rss_mib, spawn  # noqa: E402


async def starts(session: aiohttp.ClientSession, url: str, seconds: float) -> list[float]:
    """Sequential starts in namespace `bench` for `seconds`: their latencies (seconds)."""
    latencies: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and len(latencies) < 5000:
        began = time.perf_counter()
        async with session.post(
            f"{url}/api/v1/namespaces/bench/workflows/w-{uuid.uuid4().hex}",
            json={"workflow_type": "Idle", "task_queue": "busy"},
        ) as r:
            await r.read()
            assert r.status == 201, r.status
        latencies.append(time.perf_counter() - began)
    return latencies


async def waiting_polls(session: aiohttp.ClientSession, metrics_url: str) -> float:
    """Long polls waiting in the server now (its perdure_pollers gauge)."""
    async with session.get(metrics_url) as r:
        text = await r.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("perdure_pollers{")
    )


async def phase(
    url: str,
    key: str,
    polls: int,
    queues: int,
    wait: float,
    seconds: float,
    pid: int,
    metrics_url: str,
) -> tuple[float, float, float, float, float]:
    """(seconds until every poll waited, server CPU share while they wait, server memory
    (MiB) while they wait, start p50 ms, start p99 ms)."""
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=polls + 20)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=wait + 60)
    ) as session:

        async def idle(i: int) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                async with session.post(
                    f"{url}/api/v1/namespaces/idle/task-queues/empty-{i % queues}/activity-tasks/poll",
                    json={"identity": f"idle-{i}", "wait": wait},
                ) as r:
                    await r.read()
                    assert r.status in (200, 204), r.status

        arriving = time.monotonic()
        flock = [asyncio.create_task(idle(i)) for i in range(polls)]
        while await waiting_polls(session, metrics_url) < polls:  # every poll arrived and waits
            assert time.monotonic() - arriving < wait, "the polls never all waited together"
            await asyncio.sleep(0.05)
        settle = time.monotonic() - arriving
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds / 3)  # idle: no client work at all
        idle_share = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        memory = rss_mib(pid)
        latencies = await starts(session, url, seconds / 3)
        for task in flock:
            task.cancel()
        await asyncio.gather(*flock, return_exceptions=True)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return settle, idle_share, memory, statistics.median(ordered) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spawn", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--polls", type=int, nargs="+", default=[0, 1000, 2000])
    parser.add_argument("--queues", type=int, default=100, help="idle task queues")
    parser.add_argument("--wait", type=float, default=20, help="each poll's wait (s)")
    parser.add_argument("--seconds", type=float, default=15, help="each phase's length (s)")
    args = parser.parse_args()

    print(f"Starting a throw-away server on {args.spawn} ...", flush=True)
    with spawn(args.spawn, args.postgres_url) as server:
        httpx.post(
            f"{server.url}/api/v1/namespaces",
            json={"name": "idle"},
            headers={"Authorization": f"Bearer {server.key}"},
        ).raise_for_status()
        for polls in args.polls:
            settle, share, memory, p50, p99 = asyncio.run(
                phase(
                    server.url,
                    server.key,
                    polls,
                    args.queues,
                    args.wait,
                    args.seconds,
                    server.pid,
                    server.metrics_url,
                )
            )
            print(
                f"  {args.spawn} {polls:>5} idle polls on {args.queues} queues: all waiting "
                f"after {settle:.1f} s; server CPU {share * 100:5.1f} % and {memory:.0f} MiB "
                "while they wait; "
                f"other namespace's start p50 {p50:.1f} ms, "
                f"p99 {p99:.1f} ms",
                flush=True,
            )
    print(
        "Done. Issue 11: idle polls should cost nearly nothing (one look per queue and "
        "fallback interval)."
    )


if __name__ == "__main__":
    main()
