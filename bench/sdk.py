"""N one-activity workflows through the Python SDK (client + worker in this process).

Prints throughput (workflows/s) and start-to-result latency (p50, p99) per concurrency level.
Either against a running server (--url, --key, --namespace) or a throw-away one it starts
itself (--spawn sqlite|postgres). Every level is bounded by -n and by --timeout.

    python bench/sdk.py --spawn sqlite -n 300 --concurrency 1 50
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from perdure import activity, workflow
from perdure.client import Client
from perdure.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import bench_arguments, report, run_levels  # noqa: E402

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
        # The worker's default settings: what a user gets without tuning.
        async with Worker(client, task_queue=QUEUE, workflows=[OneActivity], activities=[echo]):
            await one(-1)  # warm up
            latencies.clear()
            cpu_before = _own_cpu_seconds()
            began = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), limit)
            elapsed = time.perf_counter() - began
            cpu = _own_cpu_seconds() - cpu_before
    finally:
        await client.close()
    report("workflows", level, latencies, elapsed)
    # The SDK (client and worker) shares the machine with the server: its CPU counts too.
    print(f"  CPU per workflow: SDK process {cpu / n * 1000:.2f} ms", flush=True)


def _own_cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    args = bench_arguments(__doc__ or "", unit="workflows", default_n=300).parse_args()

    def level(url: str, key: str, namespace: str, concurrency: int) -> None:
        asyncio.run(run(url, key, namespace, args.n, concurrency, args.timeout))

    run_levels(args, level)


if __name__ == "__main__":
    main()
