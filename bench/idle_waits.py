"""What idle waits on runs cost: N event streams (and result waits) held on runs that do not
change, and another tenant's start latency meanwhile.

Holds N idle event streams spread over --runs runs, measures the CPU of the server and of its
PostgreSQL backends while they wait, and the start latency (p50, p95) of another tenant with
and without them. Issue 28's goal: 3,000 idle streams on PostgreSQL under 10 % of a core and
the other tenant's p95 within 1.5x. Bounded: each phase lasts --seconds.

    python bench/idle_waits.py --spawn postgres --streams 0 1000 3000
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
from server import ADMIN_TOKEN, CpuMeter, spawn  # noqa: E402


def other_tenant(url: str) -> str:
    """A second tenant with namespace `bench`: its key."""
    created = httpx.post(
        f"{url}/api/v1/tenants",
        json={"name": f"other-{uuid.uuid4().hex[:6]}"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ).json()
    key = created["api_key"]["key"]
    httpx.post(
        f"{url}/api/v1/namespaces",
        json={"name": "bench"},
        headers={"Authorization": f"Bearer {key}"},
    ).raise_for_status()
    return key


def idle_runs(url: str, key: str, runs: int) -> list[str]:
    ids = [f"idle-{uuid.uuid4().hex[:8]}" for _ in range(runs)]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        for workflow_id in ids:
            client.post(
                f"/api/v1/namespaces/bench/workflows/{workflow_id}",
                json={"workflow_type": "Idle", "task_queue": "nobody"},
            ).raise_for_status()
    return ids


async def starts(url: str, key: str, seconds: float) -> list[float]:
    """Sequential starts of the other tenant for `seconds`: their latencies (seconds)."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        end = time.monotonic() + seconds
        while time.monotonic() < end and len(latencies) < 5000:
            began = time.perf_counter()
            async with session.post(
                f"{url}/api/v1/namespaces/bench/workflows/w-{uuid.uuid4().hex}",
                json={"workflow_type": "Other", "task_queue": "busy"},
            ) as r:
                await r.read()
                assert r.status == 201, r.status
            latencies.append(time.perf_counter() - began)
    return latencies


async def phase(
    url: str, key: str, other: str, runs: list[str], streams: int, seconds: float, meter: CpuMeter
) -> tuple[float, float, float, float]:
    """(server CPU share, PostgreSQL backends' CPU share, other's start p50 ms, p95 ms)."""
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=streams + 10)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:
        opened = [
            await session.get(
                f"{url}/api/v1/namespaces/bench/workflows/{runs[i % len(runs)]}/events/stream"
            )
            for i in range(streams)
        ]
        assert all(r.status == 200 for r in opened), {r.status for r in opened}
        for response in opened:  # the start of each stream (retry: and the first events)
            await response.content.readany()
        before, wall = meter.sample(), time.monotonic()
        await asyncio.sleep(seconds)  # idle: the runs do not change
        after, elapsed = meter.sample(), time.monotonic() - wall
        latencies = sorted(await starts(url, other, seconds))
        for response in opened:
            response.close()
    server_pids = set(meter.sample()) - set(meter._backends())
    own = sum(after[p] - before.get(p, 0.0) for p in after if p in server_pids)
    backends = sum(after[p] - before.get(p, 0.0) for p in after if p not in server_pids)
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    return own / elapsed, backends / elapsed, statistics.median(latencies) * 1000, p95 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spawn", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--streams", type=int, nargs="+", default=[0, 1000, 3000])
    parser.add_argument("--runs", type=int, default=300, help="runs the streams spread over")
    parser.add_argument("--seconds", type=float, default=10, help="each phase's length (s)")
    args = parser.parse_args()
    if max(args.streams) > 5000:
        parser.error("--streams: at most 5,000 (this bench stays bounded)")

    print(f"Starting a throw-away server on {args.spawn} ...", flush=True)
    with spawn(args.spawn, args.postgres_url) as server:
        meter = CpuMeter(server)
        other = other_tenant(server.url)
        runs = idle_runs(server.url, server.key, args.runs)
        for streams in args.streams:
            own, backends, p50, p95 = asyncio.run(
                phase(server.url, server.key, other, runs, streams, args.seconds, meter)
            )
            print(
                f"  {args.spawn} {streams:>5} idle streams on {min(streams, args.runs) or 0} "
                f"runs: server CPU {own * 100:5.1f} %, database backends {backends * 100:5.1f} % "
                f"of a core; other tenant's start p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
