"""The API edge's cost per request, in process: FastAPI's own solver, the edge solver, the one-node graph.

Drives the six hot routes of a one-activity workflow (start, poll workflow task, complete
workflow task, poll activity task, complete activity task, result) through the app's ASGI
callable directly: no socket, no HTTP parser, so what differs between the variants is the
framework's work around each endpoint and the endpoint's own work, which is the same in all.

A variant is a source tree and whether its routes are solved by the edge solver
(app/api/solver.py, where the tree has one) or by FastAPI:

- `stock`    the tree before the one-node graph (--before, default `main`), FastAPI's solver;
- `solver`   the same tree, the edge solver (as it served requests there);
- `one-node` this tree, FastAPI's solver over the one-node caller (`NamespaceBearer`);
- `one-node+solver` this tree as it serves requests: the edge solver over the one-node caller.

This tree's `app` is copied when the bench starts, so edits made while it runs do not reach it.

Each variant runs in a process of its own on a fresh SQLite database, one after another,
alternated for --rounds rounds; a round of a variant drives -n workflows (each route called -n
times, or twice for polls and workflow-task completions) after --warm-up workflows not counted.
Prints each route's median CPU µs per call, and per variant the median over rounds of the mean of
the six routes' medians with its spread (min–max over rounds).

    python bench/edge.py -n 1250 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUTES = ("start", "poll workflow task", "complete workflow task", "poll activity task",
          "complete activity task", "result")  # fmt: skip
LABELS = ("start", "poll wt", "done wt", "poll at", "done at", "result")
QUEUE = "bench"
# A call answered by the endpoint within this time is what the bench expects; a stuck call
# (a poll finding no task) fails the round instead of waiting out its long poll.
CALL_TIMEOUT_SECONDS = 10.0


class AsgiClient:
    """Calls an ASGI app with one request at a time and times each call: the process's CPU
    time, ns (the bench drives one request at a time, so the process works only on that call
    meanwhile; unlike wall-clock time, CPU time is not lengthened by other processes of a
    busy, shared machine)."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.auth = f"Bearer {key}".encode()
        self.timings: dict[str, list[int]] = {route: [] for route in ROUTES}
        self.recording = False

    async def call(
        self, route: str, method: str, path: str, body: object = None, query: bytes = b""
    ) -> tuple[int, Any]:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = [(b"host", b"bench"), (b"authorization", self.auth)]
        if body is not None:
            headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(raw)).encode())]  # fmt: skip
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": query, "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
            "app": self.app,
        }  # fmt: skip
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await asyncio.Event().wait()  # the client stays connected until the answer
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        began = time.process_time_ns()
        await asyncio.wait_for(self.app(scope, receive, send), CALL_TIMEOUT_SECONDS)
        spent = time.process_time_ns() - began
        if self.recording:
            self.timings[route].append(spent)
        answer = b"".join(chunks)
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {answer[:300]!r}")
        return status, (json.loads(answer) if answer else None)


async def one_workflow(client: AsgiClient, ns: str, number: int) -> None:
    """A one-activity workflow through the six routes, decided by hand."""
    workflow_id = f"wf-{number}"
    await client.call(
        "start", "POST", f"{ns}/workflows/{workflow_id}",
        {"workflow_type": "Bench", "task_queue": QUEUE, "input": None},
    )  # fmt: skip
    poll = f"{ns}/task-queues/{QUEUE}/workflow-tasks/poll"
    _, task = await client.call("poll workflow task", "POST", poll, {"identity": "bench"})
    schedule = {
        "command_type": "SCHEDULE_ACTIVITY_TASK",
        "attributes": {"activity_id": "1", "activity_type": "echo", "input": "hi",
                       "start_to_close_timeout": 30},
    }  # fmt: skip
    await client.call(
        "complete workflow task", "POST", f"{ns}/workflow-tasks/complete",
        {"task_token": task["task_token"], "commands": [schedule], "identity": "bench"},
    )  # fmt: skip
    activity_poll = f"{ns}/task-queues/{QUEUE}/activity-tasks/poll"
    _, activity = await client.call(
        "poll activity task", "POST", activity_poll, {"identity": "bench"}
    )
    await client.call(
        "complete activity task", "POST", f"{ns}/activity-tasks/complete",
        {"task_token": activity["task_token"], "result": activity["input"], "identity": "bench"},
    )  # fmt: skip
    _, task = await client.call("poll workflow task", "POST", poll, {"identity": "bench"})
    done = {"command_type": "COMPLETE_WORKFLOW_EXECUTION", "attributes": {"result": "hi"}}
    await client.call(
        "complete workflow task", "POST", f"{ns}/workflow-tasks/complete",
        {"task_token": task["task_token"], "commands": [done], "identity": "bench"},
    )  # fmt: skip
    _, outcome = await client.call("result", "GET", f"{ns}/workflows/{workflow_id}/result")
    if outcome["status"] != "COMPLETED":
        raise RuntimeError(f"{workflow_id}: {outcome}")


def _stock_fastapi() -> None:
    """Make the edge route handlers of this tree leave every route to FastAPI's solver: the
    edge reads `plan_route` when a route's handler is built, so it is replaced before the
    routers are imported."""
    import app.api.edge as edge

    if hasattr(edge, "plan_route"):
        edge.plan_route = lambda route: None  # type: ignore[attr-defined]  # only in trees with the solver


async def child(workflows: int, warm_up: int, stock: bool) -> dict[str, float]:
    """One round of one variant: median µs per call of each route."""
    if stock:
        _stock_fastapi()
    try:
        from app.server import create_server
    except ImportError:  # a tree from before the composition root (app/server.py)
        from app.api.app import create_app as create_server  # type: ignore[no-redef]
    from app.db.database import Database
    from app.db.migrate import upgrade_to_head
    from app.devsetup import DEV_NAMESPACE, ensure_dev_tenant
    from app.settings import Settings

    directory = tempfile.mkdtemp(prefix="perdure-edge-")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{directory}/edge.db",
        environment="development",  # no secret key needed: the bench makes no webhooks
        run_background_loops=False,  # nothing but the requests on the event loop
        namespace_writes_per_second=1e9,
        namespace_worker_requests_per_second=1e9,
        namespace_reads_per_second=1e9,
    )
    upgrade_to_head(settings.database_url)
    db = Database(settings.database_url)
    async with db.write() as conn:
        from app.clock import Clock

        key, _ = await ensure_dev_tenant(conn, None, Clock().now())
    await db.dispose()
    app = create_server(settings)
    client = AsgiClient(app, key)
    ns = f"/api/v1/namespaces/{DEV_NAMESPACE}"
    async with app.router.lifespan_context(app):
        for number in range(warm_up):
            await one_workflow(client, ns, number)
        client.recording = True
        for number in range(warm_up, warm_up + workflows):
            await one_workflow(client, ns, number)
    return {route: statistics.median(spent) / 1000 for route, spent in client.timings.items()}


def _variants(before: Path, after: Path) -> list[tuple[str, Path, bool]]:
    """(name, source tree, FastAPI's solver) of each variant."""
    return [
        ("stock", before, True),
        ("solver", before, False),
        ("one-node", after, True),
        ("one-node+solver", after, False),
    ]


def _this_tree() -> Path:
    """A copy of this checkout's `app`, as it is now."""
    target = Path(tempfile.mkdtemp(prefix="perdure-edge-tree-"))
    shutil.copytree(ROOT / "app", target / "app", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _tree_at(revision: str) -> Path:
    """The files of `revision` in a new temporary folder."""
    target = Path(tempfile.mkdtemp(prefix="perdure-edge-tree-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "app"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def _run_variant(tree: Path, stock: bool, args: argparse.Namespace) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--child",
        "-n",
        str(args.n),
        "--warm-up",
        str(args.warm_up),
    ]
    if stock:
        command.append("--stock")
    # The tree's `app` package first, before the editable install of this checkout.
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=args.timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"variant in {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(name: str, rounds: list[dict[str, float]], say: Callable[[str], None]) -> float:
    per_round = [statistics.fmean(r.values()) for r in rounds]
    cells = "  ".join(f"{statistics.median(r[route] for r in rounds):8.1f}" for route in ROUTES)
    middle = statistics.median(per_round)
    say(f"{name:15}  {cells}   {middle:7.1f} µs  ({min(per_round):.1f}–{max(per_round):.1f})")
    return middle


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-n", type=int, default=1_250, help="workflows a round (8 calls each: 10,000 calls)"
    )
    parser.add_argument("--warm-up", type=int, default=200, help="workflows not counted, a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", default="main", help="revision of the stock and solver tree")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds a variant's round may take"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import app

        print(f"app from {Path(app.__file__).parent}", file=sys.stderr)
        print(json.dumps(asyncio.run(child(args.n, args.warm_up, args.stock))))
        return

    before = _tree_at(args.before)
    variants = _variants(before, _this_tree())
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in variants}
    print(f"{args.n} workflows a round after {args.warm_up} not counted; {args.rounds} rounds; "
          f"stock and solver from {args.before}, one-node from this tree")  # fmt: skip
    for round_number in range(args.rounds):
        for name, tree, stock in variants:
            results[name].append(_run_variant(tree, stock, args))
            mean = statistics.fmean(results[name][-1].values())
            print(f"  round {round_number + 1} {name:15} {mean:7.1f} µs a call", flush=True)
    print()
    print(f"{'median µs a call':15}  " + "  ".join(f"{label:>8}" for label in LABELS))
    middles = {name: _summary(name, rounds, print) for name, rounds in results.items()}

    # Paired by round (the variants of a round ran one after another): steadier on a busy
    # machine than the difference of the medians.
    def paired(name: str) -> float:
        return statistics.median(
            statistics.fmean(stock.values()) - statistics.fmean(other.values())
            for stock, other in zip(results["stock"], results[name], strict=True)
        )

    gain, kept = paired("solver"), paired("one-node")
    share = kept / gain if gain > 0 else float("nan")
    print(
        f"\nsolver's gain {gain:.1f} µs a call (median over rounds of stock minus solver); "
        f"the one-node graph keeps {kept:.1f} µs ({share:.0%}); the one-node graph under the "
        f"solver gains {paired('one-node+solver'):.1f} µs"
    )
    print(f"(medians of the rounds: stock {middles['stock']:.1f}, solver {middles['solver']:.1f})")


if __name__ == "__main__":
    main()
