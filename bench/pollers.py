"""The plain raw-HTTP client with growing worker fleets: does adding pollers cost throughput?

What someone writes in Go or Node from the README: a decider and an activity worker, each
poller one request at a time, no eager paths, no batches. One-activity workflows at 1 and 50
concurrent, for 2, 8, 32 and 128 pollers per kind, on SQLite and PostgreSQL; one table at the
end. Each level is bounded by -n and --timeout.

    python bench/pollers.py -n 300
    python bench/pollers.py --databases sqlite --pollers 8 128 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from raw_http import Driver, Http  # noqa: E402
from server import cpu_seconds, spawn  # noqa: E402

# How long each plain poll waits (seconds): long polls, as a real worker would ask for.
POLL_WAIT = 10


class PlainDriver(Driver):
    """raw_http's driver with long polls and no eager paths."""

    async def decider_loop(self) -> None:
        while True:
            status, task = await self.c.post(
                f"{self.ns}/task-queues/bench/workflow-tasks/poll",
                {"identity": "plain", "wait": POLL_WAIT},
            )
            if status == 200:
                await self.decide(task)

    async def worker_loop(self) -> None:
        while True:
            status, task = await self.c.post(
                f"{self.ns}/task-queues/bench/activity-tasks/poll",
                {"identity": "plain", "wait": POLL_WAIT},
            )
            if status == 200:
                await self.run_activity(task)


async def level(
    url: str, key: str, namespace: str, pollers: int, concurrency: int, total: int, limit: float
) -> tuple[float, float, int]:
    """(workflows/s, p50 ms, workflows done) for one fleet size and concurrency."""
    connector = aiohttp.TCPConnector(limit=concurrency + 2 * pollers + 10)
    async with aiohttp.ClientSession(
        connector=connector,
        headers={"Authorization": f"Bearer {key}"},
        timeout=aiohttp.ClientTimeout(total=POLL_WAIT + 60),
    ) as session:
        driver = PlainDriver(Http(session, url), namespace, eager=False)
        loops = [asyncio.create_task(driver.decider_loop()) for _ in range(pollers)]
        loops += [asyncio.create_task(driver.worker_loop()) for _ in range(pollers)]
        await asyncio.sleep(0.5)  # let the fleet's first polls arrive
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                latencies.append(await driver.one_workflow())

        began = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(one() for _ in range(total))), limit)
        except TimeoutError:
            print(f"    (stopped at the {limit:g} s limit)", flush=True)
        elapsed = time.perf_counter() - began
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    return len(latencies) / elapsed, p50, len(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--pollers", type=int, nargs="+", default=[2, 8, 32, 128])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    parser.add_argument("-n", type=int, default=300, help="workflows per level")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per level at most")
    args = parser.parse_args()

    rows: list[tuple[str, int, int, float, float, float]] = []
    for database in args.databases:
        print(f"Starting a throw-away server on {database} ...", flush=True)
        with spawn(database, args.postgres_url) as server:
            for pollers in args.pollers:
                for concurrency in args.concurrency:
                    cpu_before = cpu_seconds(server.pid)
                    rate, p50, done = asyncio.run(
                        level(
                            server.url,
                            server.key,
                            server.namespace,
                            pollers,
                            concurrency,
                            args.n,
                            args.timeout,
                        )
                    )
                    cpu = (cpu_seconds(server.pid) - cpu_before) / max(done, 1) * 1000
                    rows.append((database, pollers, concurrency, rate, p50, cpu))
                    print(
                        f"  {database} {pollers:>3} pollers/kind, {concurrency:>2} at a time: "
                        f"{rate:6.1f} workflows/s, p50 {p50:7.1f} ms, server CPU {cpu:.1f} ms "
                        f"per workflow ({done} workflows)",
                        flush=True,
                    )
    print()
    print(
        "| database | pollers per kind | concurrent | workflows/s | p50 ms | server CPU ms/workflow |"
    )
    print("|---|---|---|---|---|---|")
    for database, pollers, concurrency, rate, p50, cpu in rows:
        print(f"| {database} | {pollers} | {concurrency} | {rate:.1f} | {p50:.1f} | {cpu:.1f} |")
    print(
        "\nDone. Issue 11's targets: >= 100 workflows/s at 50 concurrent on SQLite for 8, 32 and "
        "128 pollers; 128 within 85 % of 8; p50 <= 15 ms at 1 concurrent."
    )


if __name__ == "__main__":
    main()
