"""Workflow Update round trips: a caller sends updates (each to a run of its own, as a cart
service would), a raw-HTTP decider accepts and completes each in the speculative workflow task
that carries it. Prints updates/s and send-to-outcome latency (p50, p99). With --reject, every
update is rejected instead (no event written: the cheapest path). Either against a running
server (--url, --key, --namespace) or a throw-away one (--spawn sqlite|postgres). Every loop is
bounded by -n and by --timeout.

    python bench/updates.py --spawn sqlite -n 200 --concurrency 1 20
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import bench_arguments, report, run_levels  # noqa: E402

QUEUE = "bench-updates"
UPDATE = "type.googleapis.com/temporal.api.update.v1."


class Http:
    """JSON over one httpx client (the server's own dependency; no load-generator extra)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, body: object) -> tuple[int, dict | None]:
        r = await self.client.post(path, json=body)
        if r.status_code >= 400:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
        return r.status_code, (r.json() if r.content else None)


def answers(message: dict, reject: bool) -> tuple[list[dict], list[dict]]:
    """(commands, messages) answering one update request."""
    update_id = message["protocol_instance_id"]
    if reject:
        rejection = {
            "id": f"{update_id}/reject",
            "protocol_instance_id": update_id,
            "body": {"@type": UPDATE + "Rejection", "failure": {"message": "no"}},
        }
        return [], [rejection]
    accept = {
        "id": f"{update_id}/accept",
        "protocol_instance_id": update_id,
        "body": {"@type": UPDATE + "Acceptance", "accepted_request": message["body"]},
    }
    done = {
        "id": f"{update_id}/complete",
        "protocol_instance_id": update_id,
        "body": {"@type": UPDATE + "Response", "outcome": {"success": "ok"}},
    }
    commands = [
        {"command_type": "PROTOCOL_MESSAGE", "attributes": {"message_id": m["id"]}}
        for m in (accept, done)
    ]
    return commands, [accept, done]


async def decider(http: Http, ns: str, reject: bool, stop: asyncio.Event) -> None:
    """Answer every task: the first of a run starts a long timer, the others carry updates."""
    while not stop.is_set():
        status, task = await http.post(
            f"{ns}/task-queues/{QUEUE}/workflow-tasks/poll",
            {"identity": "bench", "wait": 1, "partial_history": True},
        )
        if status != 200 or task is None:
            continue
        commands: list[dict] = []
        messages: list[dict] = []
        for message in task.get("messages") or []:
            more_commands, more_messages = answers(message, reject)
            commands += more_commands
            messages += more_messages
        if task["previous_started_event_id"] == 0:
            timer = {"timer_id": "idle", "start_to_fire_timeout": 3600}
            commands.append({"command_type": "START_TIMER", "attributes": timer})
        await http.post(
            f"{ns}/workflow-tasks/complete",
            {"task_token": task["task_token"], "commands": commands, "messages": messages},
        )


async def run(
    url: str, key: str, namespace: str, total: int, concurrency: int, reject: bool, limit: float
) -> None:
    ns = f"/api/v1/namespaces/{namespace}"
    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=90,
        limits=httpx.Limits(max_connections=2 * concurrency + 10),
    ) as session:
        http = Http(session)
        stop = asyncio.Event()
        deciders = [asyncio.create_task(decider(http, ns, reject, stop)) for _ in range(4)]
        runs = [f"cart-{uuid.uuid4().hex}" for _ in range(concurrency)]
        for workflow_id in runs:
            await http.post(
                f"{ns}/workflows/{workflow_id}", {"workflow_type": "Cart", "task_queue": QUEUE}
            )
        latencies: list[float] = []

        async def sender(workflow_id: str, count: int) -> None:
            for _ in range(count):
                began = time.perf_counter()
                _, answer = await http.post(
                    f"{ns}/workflows/{workflow_id}/update/add", {"args": [1], "wait": 30}
                )
                assert answer is not None and answer["stage"] == "COMPLETED", answer
                latencies.append(time.perf_counter() - began)

        share = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
        began = time.perf_counter()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(sender(w, n) for w, n in zip(runs, share, strict=True))), limit
            )
        finally:
            elapsed = time.perf_counter() - began
            stop.set()
            await asyncio.gather(*deciders, return_exceptions=True)
    report("updates", concurrency, latencies, elapsed)


def main() -> None:
    parser = bench_arguments(__doc__ or "", unit="updates", default_n=200)
    parser.add_argument("--reject", action="store_true", help="reject every update")
    args = parser.parse_args()

    def level(url: str, key: str, namespace: str, concurrency: int) -> None:
        asyncio.run(run(url, key, namespace, args.n, concurrency, args.reject, args.timeout))

    run_levels(args, level)


if __name__ == "__main__":
    main()
