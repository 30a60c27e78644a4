"""N runs of a one-Task stored definition, served by a raw-HTTP activity worker.

The server decides every workflow task itself (no decider round trips). Two ways to drive it:

- `--style batched` (default): each run is one request, a start that waits for the result
  (`wait_for_result`); the worker takes tasks with `poll-batch` and answers them with
  `complete-batch`, so under load a handful of requests serve many runs;
- `--style single`: start, then `GET .../result`; the worker polls and completes one task at
  a time — four requests per run.

Prints throughput (runs/s) and start-to-result latency (p50, p99). Against a running server
(--url, --key, --namespace) or a throw-away one it starts itself (--spawn sqlite|postgres).
Every loop is bounded by -n and by --timeout.

    python bench/definitions.py --spawn sqlite -n 1000 --concurrency 1 50
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from raw_http import Http  # noqa: E402
from server import bench_arguments, report, run_levels  # noqa: E402

QUEUE = "bench-asl"
BATCH = 50  # tasks per poll-batch and complete-batch
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

    async def batch_worker_loop(self) -> None:
        while not self.stop.is_set():
            _, batch = await self.c.post(
                f"{self.ns}/task-queues/{QUEUE}/activity-tasks/poll-batch",
                {"identity": "bench", "wait": 1, "max_tasks": BATCH},
            )
            if batch["tasks"]:
                _, answer = await self.c.post(
                    f"{self.ns}/activity-tasks/complete-batch",
                    {
                        "identity": "bench",
                        "completions": [
                            {"task_token": t["task_token"], "result": t["input"]}
                            for t in batch["tasks"]
                        ],
                    },
                )
                assert all(r["ok"] for r in answer["results"]), answer

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

    async def one_run_waiting(self) -> float:
        workflow_id = f"wf-{uuid.uuid4().hex}"
        started = time.perf_counter()
        _, answer = await self.c.post(
            f"{self.ns}/workflows/{workflow_id}",
            {"definition": {"name": "bench"}, "input": {"value": 1}, "wait_for_result": 30},
        )
        assert answer["outcome"]["status"] == "COMPLETED", answer
        return time.perf_counter() - started


async def run(
    url: str,
    key: str,
    namespace: str,
    total: int,
    concurrency: int,
    pollers: int,
    limit: float,
    batched: bool,
) -> None:
    connector = aiohttp.TCPConnector(limit=concurrency + pollers + 10)
    async with aiohttp.ClientSession(
        connector=connector,
        headers={"Authorization": f"Bearer {key}"},
        timeout=aiohttp.ClientTimeout(total=90),
    ) as session:
        driver = Driver(Http(session, url), namespace)
        await driver.store()
        worker = driver.batch_worker_loop if batched else driver.worker_loop
        one_run = driver.one_run_waiting if batched else driver.one_run
        loops = [asyncio.create_task(worker()) for _ in range(pollers)]
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                latencies.append(await one_run())

        began = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(one() for _ in range(total))), limit)
        finally:
            elapsed = time.perf_counter() - began
            driver.stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
    report("runs", concurrency, latencies, elapsed)


def main() -> None:
    parser = bench_arguments(__doc__ or "", unit="runs", default_n=200)
    parser.add_argument("--pollers", type=int, default=4, help="activity worker loops")
    parser.add_argument("--style", choices=["batched", "single"], default="batched")
    args = parser.parse_args()

    def level(url: str, key: str, namespace: str, concurrency: int) -> None:
        asyncio.run(
            run(
                url,
                key,
                namespace,
                args.n,
                concurrency,
                args.pollers,
                args.timeout,
                args.style == "batched",
            )
        )

    run_levels(args, level)


if __name__ == "__main__":
    main()
