"""Console pages at scale: fill a namespace with 10,000 runs and one 5,000-event history, then
print each console page's server time (its `Server-Timing` header; median of several loads).

    .venv/bin/python bench/console.py --spawn sqlite
    .venv/bin/python bench/console.py --spawn postgres
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import spawn  # noqa: E402

RUNS = 10_000
ACTIVITIES = 1_200  # each: scheduled, started, completed
LOADS = 7
DEADLINE_SECONDS = 900


async def post(c: httpx.AsyncClient, path: str, body: dict) -> httpx.Response:
    """POST, tried again when a kept-alive connection was closed under it (a start that did
    go through answers 409 the second time, which is as good)."""
    for attempt in range(3):
        try:
            return await c.post(path, json=body)
        except httpx.TransportError:
            if attempt == 2:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def fill(url: str, key: str, namespace: str, runs: int) -> str:
    """Start `runs` runs (100 at a time) and build one run with about 5,000 events."""
    headers = {"Authorization": f"Bearer {key}"}
    ns = f"/api/v1/namespaces/{namespace}"
    deadline = time.monotonic() + DEADLINE_SECONDS
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
        for start in range(0, runs, 100):
            if time.monotonic() > deadline:
                raise SystemExit("filling took too long")
            await asyncio.gather(
                *(
                    post(
                        c,
                        f"{ns}/workflows/bench-{i}",
                        {
                            "workflow_type": "Bench" if i % 3 else "Other",
                            "task_queue": "idle",
                            "input": {"i": i},
                        },
                    )
                    for i in range(start, min(start + 100, runs))
                )
            )
        big = "big-history"
        r = await c.post(
            f"{ns}/workflows/{big}", json={"workflow_type": "Big", "task_queue": "big"}
        )
        r.raise_for_status()
        task = (
            await c.post(
                f"{ns}/task-queues/big/workflow-tasks/poll", json={"identity": "b", "wait": 5}
            )
        ).json()
        commands = [
            {
                "command_type": "SCHEDULE_ACTIVITY_TASK",
                "attributes": {
                    "activity_id": f"a{i}",
                    "activity_type": "Step",
                    "task_queue": "big-act",
                    "start_to_close_timeout": 600,
                    "input": {"i": i},
                },
            }
            for i in range(ACTIVITIES)
        ]
        r = await c.post(
            f"{ns}/workflow-tasks/complete",
            json={"task_token": task["task_token"], "commands": commands, "identity": "b"},
        )
        r.raise_for_status()
        done = 0
        while done < ACTIVITIES and time.monotonic() < deadline:
            batch = (
                await c.post(
                    f"{ns}/task-queues/big-act/activity-tasks/poll-batch",
                    json={"identity": "w", "wait": 5, "max_tasks": 100},
                )
            ).json()
            tasks = batch.get("tasks") or batch.get("activity_tasks") or []
            if not tasks:
                break
            await c.post(
                f"{ns}/activity-tasks/complete-batch",
                json={
                    "identity": "w",
                    "completions": [
                        {"task_token": t["task_token"], "result": {"ok": True}} for t in tasks
                    ],
                },
            )
            done += len(tasks)
        length = (await c.get(f"{ns}/workflows/{big}")).json()["history_length"]
        for start in range(length, 5000, 50):
            await asyncio.gather(
                *(
                    post(c, f"{ns}/workflows/{big}/signal/poke", {"input": j})
                    for j in range(start, min(start + 50, 5000))
                )
            )
        return big


def sign_in(url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    page = client.get("/console/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/console/sign-in", data={"api_key": key, "csrf_token": token, "next": ""})
    assert r.status_code == 303, r.text
    return client


def server_ms(client: httpx.Client, path: str) -> float:
    timings = []
    for _ in range(LOADS):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        timings.append(float(r.headers["server-timing"].split("dur=")[1]))
    return statistics.median(timings)


def measure(url: str, key: str, namespace: str, runs: int) -> None:
    print(
        f"Filling namespace '{namespace}' with {runs} runs and one ~5,000-event history ...",
        flush=True,
    )
    started = time.monotonic()
    big = asyncio.run(fill(url, key, namespace, runs))
    print(f"  filled in {time.monotonic() - started:.0f} s", flush=True)
    client = sign_in(url, key)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as api:
        run_id = api.get(f"/api/v1/namespaces/{namespace}/workflows/{big}").json()["run_id"]
    n = f"/console/n/{namespace}"
    first = client.get(f"{n}/workflows").text
    page2 = re.search(r"next_page_token=([A-Za-z0-9_=-]+)", first).group(1)
    run = f"{n}/workflows/{big}/runs/{run_id}"
    pages = {
        "namespaces": "/console/namespaces",
        "api keys": "/console/api-keys",
        "workflows (first page, counts)": f"{n}/workflows",
        "workflows (second page)": f"{n}/workflows?next_page_token={page2}",
        "workflows (status RUNNING)": f"{n}/workflows?status=RUNNING",
        "workflows (type Other)": f"{n}/workflows?workflow_type=Other",
        "workflows (by close time)": f"{n}/workflows?order_by=close_time_desc",
        "workflows (auto-refresh fragment)": f"{n}/workflows?fragment=rows&refresh=5",
        "workflows (query box)": f"{n}/workflows?"
        + urlencode({"query": "WorkflowType = 'Other' AND StartTime > NOW() - 1d"}),
        "batch operation confirmation (count)": f"{n}/batch-operations/new?workflow_type=Other",
        "run (5,000 events)": run,
        "run history (page at event 2,500)": f"{run}/history?after=2500",
        "run history (filtered by type)": f"{run}/history?event_type=ACTIVITY_TASK_COMPLETED",
        "run timeline (5,000 events)": f"{run}/timeline",
        "run timeline (rows from event 600)": f"{run}/timeline?after=600",
        "run event": f"{run}/events/2500",
        "task queues": f"{n}/task-queues",
        "task queue": f"{n}/task-queues/big-act",
        "definitions": f"{n}/definitions",
        "schedules": f"{n}/schedules",
        "batch operations": f"{n}/batch-operations",
        "webhooks": f"{n}/webhooks",
    }
    print(f"{'page':<40} server time (median of {LOADS})")
    for name, path in pages.items():
        print(f"{name:<40} {server_ms(client, path):8.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spawn", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    with spawn(args.spawn, args.postgres_url) as server:
        measure(server.url, server.key, server.namespace, args.runs)


if __name__ == "__main__":
    main()
