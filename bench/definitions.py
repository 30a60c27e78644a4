"""N runs of a one-Task stored definition, served by a raw-HTTP activity worker.

The server decides every workflow task itself (no decider round trips); the worker polls the
activity queue and completes each task. Prints throughput (runs/s) and start-to-result latency
(p50, p99). Against a running server (--url, --key, --namespace) or a throw-away one it starts
itself (--spawn sqlite|postgres). Every loop is bounded by -n and by --timeout.

    python bench/definitions.py --spawn sqlite -n 300 --concurrency 1 50
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from raw_http import Http  # noqa: E402
from server import spawn  # noqa: E402

QUEUE = "bench-asl"
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


class Driver:
    def __init__(self, http: Http, namespace: str) -> None:
        self.c = http
        self.ns = f"/api/v1/namespaces/{namespace}"
        self.stop = asyncio.Event()

    async def store(self) -> None:
        await self.c.call("PUT", f"{self.ns}/definitions/bench", DEFINITION)

    async def worker_loop(self) -> None:
        while not self.stop.is_set():
            status, task = await self.c.post(
                f"{self.ns}/task-queues/{QUEUE}/activity-tasks/poll",
                {"identity": "bench", "wait": 1},
            )
            if status == 200:
                await self.c.post(
                    f"{self.ns}/activity-tasks/complete",
                    {
                        "task_token": task["task_token"],
                        "result": task["input"],
                        "identity": "bench",
                    },
                )

    async def one_run(self) -> float:
        workflow_id = f"wf-{uuid.uuid4().hex}"
        started = time.perf_counter()
        await self.c.post(
            f"{self.ns}/workflows/{workflow_id}",
            {"definition": {"name": "bench"}, "input": {"value": 1}},
        )
        _, outcome = await self.c.call(
            "GET", f"{self.ns}/workflows/{workflow_id}/result", params={"wait": "30"}
        )
        assert outcome["status"] == "COMPLETED", outcome
        return time.perf_counter() - started


async def run(
    url: str, key: str, namespace: str, total: int, concurrency: int, pollers: int, limit: float
) -> None:
    connector = aiohttp.TCPConnector(limit=concurrency + pollers + 10)
    async with aiohttp.ClientSession(
        connector=connector,
        headers={"Authorization": f"Bearer {key}"},
        timeout=aiohttp.ClientTimeout(total=90),
    ) as session:
        driver = Driver(Http(session, url), namespace)
        await driver.store()
        loops = [asyncio.create_task(driver.worker_loop()) for _ in range(pollers)]
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                latencies.append(await driver.one_run())

        began = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(one() for _ in range(total))), limit)
        finally:
            elapsed = time.perf_counter() - began
            driver.stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(
        f"concurrency {concurrency:>3}: {len(latencies)} runs in {elapsed:.2f}s = "
        f"{len(latencies) / elapsed:.1f} runs/s; start-to-result p50 {p50:.1f} ms, p99 {p99:.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spawn", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--url", default="http://127.0.0.1:8233")
    parser.add_argument("--key", default=None, help="API key (default: .perdure/dev-key)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("-n", type=int, default=200, help="runs per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--pollers", type=int, default=4, help="activity worker loops")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per level at most")
    args = parser.parse_args()

    def levels(url: str, key: str, namespace: str) -> None:
        for level in args.concurrency:
            asyncio.run(run(url, key, namespace, args.n, level, args.pollers, args.timeout))

    if args.spawn:
        print(f"Starting a throw-away server on {args.spawn} ...", flush=True)
        with spawn(args.spawn, args.postgres_url) as server:
            levels(server.url, server.key, server.namespace)
    else:
        key = args.key or Path(".perdure/dev-key").read_text().strip()
        levels(args.url, key, args.namespace)


if __name__ == "__main__":
    main()
