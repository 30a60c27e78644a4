"""N one-activity workflows through the Python SDK (client + worker in this process).

Prints throughput (workflows/s) and start-to-result latency (p50, p99) per concurrency level.
Either against a running server (--url, --key, --namespace) or a throw-away one it starts
itself (--spawn sqlite|postgres). Every level is bounded by -n and by --timeout.

    python bench/sdk.py --spawn sqlite -n 300 --concurrency 1 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from perdure import activity, workflow
from perdure.client import Client
from perdure.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import spawn  # noqa: E402

QUEUE = "bench-sdk"


@activity.defn
async def echo(value: int) -> int:
    return value


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, value: int) -> int:
        return await workflow.execute_activity(
            echo, value, start_to_close_timeout=timedelta(seconds=30)
        )


async def run(url: str, key: str, namespace: str, n: int, level: int, limit: float) -> None:
    client = await Client.connect(url, api_key=key, namespace=namespace)
    prefix = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    slots = asyncio.Semaphore(level)

    async def one(i: int) -> None:
        async with slots:
            started = time.perf_counter()
            result = await client.execute_workflow(
                OneActivity.run, i, id=f"{prefix}-{i}", task_queue=QUEUE
            )
            latencies.append(time.perf_counter() - started)
            assert result == i

    try:
        async with Worker(
            client,
            task_queue=QUEUE,
            workflows=[OneActivity],
            activities=[echo],
            max_concurrent_workflow_task_polls=4,
            max_concurrent_activity_task_polls=2,
        ):
            await one(-1)  # warm up
            latencies.clear()
            began = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), limit)
            elapsed = time.perf_counter() - began
    finally:
        await client.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"concurrency {level:>3}: {n / elapsed:7.1f} workflows/s   "
        f"p50 {statistics.median(latencies) * 1000:6.1f} ms   p99 {p99 * 1000:6.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--spawn", choices=["sqlite", "postgres"], help="start a throw-away server on this database"
    )
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--url", default="http://127.0.0.1:8233")
    parser.add_argument("--key", default=None, help="API key (default: .perdure/dev-key)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("-n", type=int, default=300, help="workflows per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    parser.add_argument(
        "--timeout", type=float, default=300, help="give up after this many seconds per level"
    )
    args = parser.parse_args()

    def levels(url: str, key: str, namespace: str) -> None:
        for level in args.concurrency:
            asyncio.run(run(url, key, namespace, args.n, level, args.timeout))

    if args.spawn:
        print(f"Starting a throw-away server on {args.spawn} ...", flush=True)
        with spawn(args.spawn, args.postgres_url) as server:
            levels(server.url, server.key, server.namespace)
    else:
        key = args.key or Path(".perdure/dev-key").read_text().strip()
        levels(args.url, key, args.namespace)


if __name__ == "__main__":
    main()
