"""N one-activity workflows driven by a raw-HTTP decider and activity worker.

Prints throughput (workflows/s) and start-to-result latency (p50, p99). Either against a
running server (--url, --key, --namespace) or a throw-away one it starts itself
(--spawn sqlite|postgres). Every loop is bounded by -n and by --timeout.

    python bench/raw_http.py --spawn sqlite -n 300 --concurrency 1 50
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import bench_arguments, report, run_levels  # noqa: E402

QUEUE = "bench"


class Http:
    """A thin JSON client (aiohttp: the load generator must cost less CPU than the server)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def call(
        self, method: str, path: str, body: object = None, params: dict | None = None
    ) -> tuple[int, dict | None]:
        data = orjson.dumps(body) if body is not None else None
        headers = {"content-type": "application/json"} if data is not None else None
        async with self.session.request(
            method, self.base + path, data=data, params=params, headers=headers
        ) as r:
            raw = await r.read()
            if r.status >= 400:
                raise RuntimeError(f"{method} {path}: {r.status} {raw[:300]!r}")
            return r.status, (orjson.loads(raw) if raw else None)

    async def post(self, path: str, body: object) -> tuple[int, dict | None]:
        return await self.call("POST", path, body)


class Driver:
    def __init__(self, http: Http, namespace: str, *, eager: bool) -> None:
        self.c = http
        self.ns = f"/api/v1/namespaces/{namespace}"
        self.eager = eager
        self.stop = asyncio.Event()

    async def decide(self, task: dict) -> None:
        """Schedule the activity on the first task; complete with its result afterwards.
        On the eager path the answers chain: completion → activity → completion → task."""
        while task is not None:
            events = task["history"]["events"]
            done = [e for e in events if e["event_type"] == "ACTIVITY_TASK_COMPLETED"]
            if done:
                result = done[-1]["attributes"]["result"]
                commands = [
                    {
                        "command_type": "COMPLETE_WORKFLOW_EXECUTION",
                        "attributes": {"result": result},
                    }
                ]
            else:
                attributes = {
                    "activity_id": "1",
                    "activity_type": "echo",
                    "input": "hi",
                    "start_to_close_timeout": 30,
                }
                if self.eager:
                    attributes["request_eager_execution"] = True
                commands = [{"command_type": "SCHEDULE_ACTIVITY_TASK", "attributes": attributes}]
            _, answer = await self.c.post(
                f"{self.ns}/workflow-tasks/complete",
                {"task_token": task["task_token"], "commands": commands, "identity": "bench"},
            )
            task = None
            for activity in answer.get("activity_tasks", []):
                task = await self.run_activity(activity)

    async def run_activity(self, task: dict) -> dict | None:
        body = {
            "task_token": task["task_token"],
            "result": task["input"],
            "identity": "bench",
            "return_new_workflow_task": self.eager,
        }
        _, answer = await self.c.post(f"{self.ns}/activity-tasks/complete", body)
        return answer.get("workflow_task")

    async def decider_loop(self) -> None:
        while not self.stop.is_set():
            status, task = await self.c.post(
                f"{self.ns}/task-queues/{QUEUE}/workflow-tasks/poll",
                {"identity": "bench", "wait": 1},
            )
            if status == 200:
                await self.decide(task)

    async def worker_loop(self) -> None:
        while not self.stop.is_set():
            status, task = await self.c.post(
                f"{self.ns}/task-queues/{QUEUE}/activity-tasks/poll",
                {"identity": "bench", "wait": 1},
            )
            if status == 200:
                next_task = await self.run_activity(task)
                if next_task:
                    await self.decide(next_task)

    async def one_workflow(self) -> float:
        workflow_id = f"wf-{uuid.uuid4().hex}"
        started = time.perf_counter()
        body = {"workflow_type": "Bench", "task_queue": QUEUE, "input": None}
        if self.eager:
            body |= {"request_eager_execution": True, "identity": "bench"}
        _, answer = await self.c.post(f"{self.ns}/workflows/{workflow_id}", body)
        if answer.get("eager_workflow_task"):
            await self.decide(answer["eager_workflow_task"])
        _, outcome = await self.c.call(
            "GET", f"{self.ns}/workflows/{workflow_id}/result", params={"wait": "30"}
        )
        assert outcome["status"] == "COMPLETED", outcome
        return time.perf_counter() - started


async def run(
    url: str,
    key: str,
    namespace: str,
    total: int,
    concurrency: int,
    pollers: int,
    eager: bool,
    time_limit: float,
) -> None:
    connector = aiohttp.TCPConnector(limit=concurrency + 2 * pollers + 10)
    headers = {"Authorization": f"Bearer {key}"}
    client_timeout = aiohttp.ClientTimeout(total=90)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=client_timeout
    ) as session:
        driver = Driver(Http(session, url), namespace, eager=eager)
        loops = [asyncio.create_task(driver.decider_loop()) for _ in range(pollers)]
        loops += [asyncio.create_task(driver.worker_loop()) for _ in range(pollers)]
        latencies: list[float] = []
        remaining = total
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                latencies.append(await driver.one_workflow())
                if len(latencies) % max(1, total // 5) == 0:
                    print(f"  ... {len(latencies)}/{total}", flush=True)

        began = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.gather(*(one() for _ in range(remaining))), time_limit)
        finally:
            elapsed = time.perf_counter() - began
            driver.stop.set()
            await asyncio.gather(*loops, return_exceptions=True)
    report("workflows", concurrency, latencies, elapsed)


def main() -> None:
    parser = bench_arguments(__doc__ or "", unit="workflows", default_n=200)
    parser.add_argument("--pollers", type=int, default=4, help="decider and worker loops each")
    parser.add_argument(
        "--no-eager", action="store_true", help="do not take the first workflow task with the start"
    )
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
                not args.no_eager,
                args.timeout,
            )
        )

    run_levels(args, level)
    print(
        "Done. Compare with: Temporal dev server ~30 workflows/s, p50 ~100 ms sequential (this machine)."
    )


if __name__ == "__main__":
    main()
