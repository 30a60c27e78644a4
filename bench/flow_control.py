"""Flow control in task queues, measured (docs/flow-control.md): priority, weighted fairness,
a noisy key, and a per-key concurrency limit across two server processes.

Each scenario runs on a throw-away server per database and prints its figures; every loop is
bounded in count and in time (--timeout per scenario). Activity tasks are queued in bulk (a
workflow task schedules up to --per-run activities), so the backlogs build in seconds.

    python bench/flow_control.py                        # all scenarios, SQLite and PostgreSQL
    python bench/flow_control.py --databases sqlite --scenarios priority weights
    python bench/flow_control.py --scale 0.1            # a tenth of the issue's sizes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import ADMIN_TOKEN, PERDURE, BenchServer, _free_port, spawn  # noqa: E402

ACTIVITY_QUEUE = "flow-act"
WORKFLOW_QUEUE = "flow-wf"


class Api:
    def __init__(self, url: str, key: str, namespace: str) -> None:
        self.c = httpx.AsyncClient(
            base_url=f"{url}/api/v1/namespaces/{namespace}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
            limits=httpx.Limits(max_connections=64),
        )

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.c.post(path, json=body)

    async def queue_activities(self, activities: list[dict[str, Any]], per_run: int) -> None:
        """Queue these activities (SCHEDULE_ACTIVITY_TASK attributes beyond id and type) from
        runs of `per_run` each: each run's first workflow task schedules them."""
        for start in range(0, len(activities), per_run):
            wid = f"bulk-{uuid.uuid4().hex[:10]}"
            r = await self.post(
                f"/workflows/{wid}",
                {"workflow_type": "Bulk", "task_queue": WORKFLOW_QUEUE},
            )
            r.raise_for_status()
            task = await self.next_workflow_task()
            commands = [
                {
                    "command_type": "SCHEDULE_ACTIVITY_TASK",
                    "attributes": {
                        "activity_id": f"a{i}",
                        "activity_type": "work",
                        "task_queue": ACTIVITY_QUEUE,
                        "start_to_close_timeout": 3600,
                        **extra,
                    },
                }
                for i, extra in enumerate(activities[start : start + per_run])
            ]
            r = await self.post(
                "/workflow-tasks/complete",
                {"task_token": task["task_token"], "commands": commands, "identity": "bench"},
            )
            r.raise_for_status()

    async def next_workflow_task(self) -> dict[str, Any]:
        for _ in range(10):
            r = await self.post(
                f"/task-queues/{WORKFLOW_QUEUE}/workflow-tasks/poll",
                {"identity": "bench", "wait": 10},
            )
            if r.status_code == 200:
                return r.json()
        raise RuntimeError("no workflow task came")

    async def poll_activity(self, wait: float = 5) -> dict[str, Any] | None:
        r = await self.post(
            f"/task-queues/{ACTIVITY_QUEUE}/activity-tasks/poll",
            {"identity": "bench", "wait": wait},
        )
        return r.json() if r.status_code == 200 else None

    async def complete(self, task: dict[str, Any]) -> None:
        r = await self.post("/activity-tasks/complete", {"task_token": task["task_token"]})
        r.raise_for_status()


def _keyed(key: str, weight: float | None = None, level: int | None = None) -> dict[str, Any]:
    priority: dict[str, Any] = {"fairness_key": key}
    if weight is not None:
        priority["fairness_weight"] = weight
    if level is not None:
        priority["priority_key"] = level
    return {"priority": priority, "input": key}


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- scenarios ------------------------------------------------------------------------------------


async def priority(api: Api, args: argparse.Namespace) -> None:
    backlog = int(5000 * args.scale)
    began = time.perf_counter()
    await api.queue_activities([{"priority": {"priority_key": 5}}] * backlog, args.per_run)
    await api.queue_activities([{"priority": {"priority_key": 1}, "input": "urgent"}], 1)
    queued = time.perf_counter() - began
    task = await api.poll_activity()
    ok = task is not None and task["input"] == "urgent"
    print(
        f"  priority: {backlog} priority-5 tasks queued ({queued:.1f} s), then one priority-1: "
        f"next dispatched is {'the priority-1 task (ok)' if ok else 'NOT the priority-1 task'}",
        flush=True,
    )


async def weights(api: Api, args: argparse.Namespace) -> None:
    dispatches = int(3000 * args.scale)
    keep = int(3000 * args.scale)
    plan = {"w1": 1.0, "w2": 2.0, "w3": 3.0}
    # Enough per key to keep `keep` queued after its share of the dispatches (w3: half).
    per_key = keep + dispatches // 2 + 10
    mixed = [_keyed(key, weight) for _ in range(per_key) for key, weight in plan.items()]
    began = time.perf_counter()
    await api.queue_activities(mixed, args.per_run)
    queued = time.perf_counter() - began
    taken: list[str] = []
    deadline = time.monotonic() + args.timeout

    async def poller() -> None:
        while len(taken) < dispatches and time.monotonic() < deadline:
            task = await api.poll_activity(wait=2)
            if task is not None and len(taken) < dispatches:
                taken.append(task["input"])

    began = time.perf_counter()
    await asyncio.gather(*(poller() for _ in range(args.pollers)))
    elapsed = time.perf_counter() - began
    shares = Counter(taken)
    total = sum(plan.values())
    line = ", ".join(
        f"{key} {100 * shares[key] / max(1, len(taken)):.1f}% (want {100 * w / total:.1f}%)"
        for key, w in plan.items()
    )
    worst = max(
        abs(100 * shares[key] / max(1, len(taken)) - 100 * w / total) for key, w in plan.items()
    )
    print(
        f"  weights 1:2:3: {len(taken)} dispatches by {args.pollers} pollers in {elapsed:.1f} s "
        f"({3 * per_key} queued in {queued:.1f} s): {line}; worst off by {worst:.1f} pp",
        flush=True,
    )


async def noisy(api: Api, args: argparse.Namespace) -> None:
    async def b_latencies(with_backlog: bool) -> list[float]:
        stop = asyncio.Event()
        got: dict[str, float] = {}

        async def poller() -> None:
            while not stop.is_set():
                task = await api.poll_activity(wait=1)
                if task is not None and task["input"] == "B":
                    waited = _t(task["started_time"]) - _t(task["current_attempt_scheduled_time"])
                    got[task["run_id"]] = waited.total_seconds()

        if with_backlog:
            await api.queue_activities([_keyed("A")] * int(10000 * args.scale), args.per_run)
        pollers = [asyncio.create_task(poller()) for _ in range(args.pollers)]
        try:
            for _ in range(args.b_tasks):
                await api.queue_activities([_keyed("B")], 1)
                await asyncio.sleep(1)
            end = time.monotonic() + 10
            while len(got) < args.b_tasks and time.monotonic() < end:  # noqa: ASYNC110 - bounded
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*pollers, return_exceptions=True)
        return list(got.values())

    alone = await b_latencies(False)
    noisy_ = await b_latencies(True)
    p_alone = statistics.median(alone) * 1000 if alone else float("nan")
    p_noisy = statistics.median(noisy_) * 1000 if noisy_ else float("nan")
    print(
        f"  noisy key: B's schedule-to-start p50 alone {p_alone:.1f} ms ({len(alone)} tasks), "
        f"with A's {int(10000 * args.scale)} queued {p_noisy:.1f} ms ({len(noisy_)} tasks): "
        f"{p_noisy / p_alone:.2f}x",
        flush=True,
    )


@contextlib.asynccontextmanager
async def second_process(server: BenchServer) -> AsyncIterator[str]:
    """Another `perdure serve` on the same database (PostgreSQL)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERDURE_")}
    env.update(
        PERDURE_DATABASE_URL=server.database_url,
        PERDURE_PORT=str(port),
        PERDURE_ADMIN_TOKEN=ADMIN_TOKEN,
        PERDURE_LOG_LEVEL="warning",
        PERDURE_SECRET_KEY=uuid.uuid4().hex + uuid.uuid4().hex,
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 - a child that outlives this call
        [PERDURE, "serve"], env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def _work_through(
    apis: list[Api], expected: dict[str, int], deadline: float
) -> tuple[int, Counter[str], dict[str, float]]:
    """16 pollers over `apis` take and complete tasks (50 ms of work each) until `expected`
    of each input kind are done or `deadline` passes: (peak acme attempts held at once, done
    per kind, seconds until each kind's first ("<kind>:first") and last task was done)."""
    running = peak = 0
    done: Counter[str] = Counter()
    finished: dict[str, float] = {}
    began = time.perf_counter()

    async def poller(on: Api) -> None:
        nonlocal running, peak
        while any(done[k] < n for k, n in expected.items()) and time.monotonic() < deadline:
            task = await on.poll_activity(wait=1)
            if task is None:
                continue
            kind = task["input"]
            if kind == "acme":
                running += 1
                peak = max(peak, running)
            await asyncio.sleep(0.05)  # the work
            if kind == "acme":
                running -= 1  # before the completion: the server frees the slot after it
            await on.complete(task)
            done[kind] += 1
            if done[kind] == 1:
                finished[f"{kind}:first"] = time.perf_counter() - began
            if done[kind] == expected.get(kind):
                finished[kind] = time.perf_counter() - began

    await asyncio.gather(*(poller(apis[i % len(apis)]) for i in range(16)))
    return peak, done, finished


async def concurrency(api: Api, server: BenchServer, args: argparse.Namespace) -> None:
    """max_running=3 for customer=acme across the server processes, checked at the pollers;
    and the throughput of unlimited tasks alone, then with acme's backlog queued ahead of
    them (the limit must not slow the others down)."""
    limit = 3
    r = await api.c.put(
        "/concurrency-limits/bench",
        json={"applies_to": "activities", "key": "concurrency_keys.customer", "max_running": 3},
    )
    r.raise_for_status()
    # acme's backlog outlasts the others': 3 at a time, 50 ms each, is at most 60 per second.
    limited = int(400 * max(args.scale, 0.25))
    free = int(400 * max(args.scale, 0.25))
    deadline = time.monotonic() + args.timeout
    two = server.database_url.startswith("postgresql")
    async with contextlib.AsyncExitStack() as stack:
        apis = [api]
        if two:
            other_url = await stack.enter_async_context(second_process(server))
            apis.append(Api(other_url, server.key, server.namespace))

        await api.queue_activities([{"input": "other"}] * free, 50)
        _, alone_done, alone_times = await _work_through(apis, {"other": free}, deadline)

        acme = {"concurrency_keys": {"customer": "acme"}, "input": "acme"}
        await api.queue_activities([acme] * limited + [{"input": "other"}] * free, 50)
        peak, done, times = await _work_through(apis, {"acme": limited, "other": free}, deadline)
    alone_rate = alone_done["other"] / alone_times.get("other", float("nan"))
    with_rate = done["other"] / times.get("other", float("nan"))
    print(
        f"  concurrency: max_running={limit} for customer=acme, {len(apis)} server process(es), "
        f"16 pollers: at most {peak} acme attempts held at once "
        f"({'ok' if peak <= limit else 'OVER THE LIMIT'}); {done['acme']} acme tasks in "
        f"{times.get('acme', float('nan')):.1f} s; other keys' throughput: {alone_rate:.0f}/s "
        f"alone ({alone_done['other']} tasks), {with_rate:.0f}/s behind acme's backlog "
        f"({done['other']} tasks, the first after {times.get('other:first', float('nan')):.1f} s):"
        f" {with_rate / alone_rate:.2f}x",
        flush=True,
    )


SCENARIOS = ("priority", "weights", "noisy", "concurrency")


async def scenario(name: str, server: BenchServer, args: argparse.Namespace) -> None:
    api = Api(server.url, server.key, server.namespace)
    try:
        if name == "concurrency":
            await asyncio.wait_for(concurrency(api, server, args), args.timeout + 60)
        else:
            await asyncio.wait_for(globals()[name](api, args), args.timeout + 60)
    except TimeoutError:
        print(f"  {name}: gave up after {args.timeout + 60:.0f} s", flush=True)
    finally:
        await api.c.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--scale", type=float, default=1.0, help="of the issue's backlog sizes")
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--per-run", type=int, default=100, help="activities per bulk run")
    parser.add_argument("--b-tasks", type=int, default=10, help="noisy key: B's tasks, 1/s")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per scenario")
    args = parser.parse_args()
    for database in args.databases:
        for name in args.scenarios:
            print(f"{database} / {name}:", flush=True)
            with spawn(database, args.postgres_url) as server:
                asyncio.run(scenario(name, server, args))


if __name__ == "__main__":
    main()
