"""`perdure task-queue config get|set` (Temporal CLI's flags) and `perdure concurrency-limit
list|get|set|delete`: client commands that call a running server's REST API.

The server is `--address` (default http://127.0.0.1:8233), the key `--api-key` (default: the
development key in .perdure/dev-key), the namespace `--namespace` (default `default`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx

from app.settings import DATA_DIR, Settings

QUEUE_TYPES = {"workflow": "TASK_QUEUE_TYPE_WORKFLOW", "activity": "TASK_QUEUE_TYPE_ACTIVITY"}


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default="http://127.0.0.1:8233", help="the server's URL")
    parser.add_argument("--api-key", default=None, help="default: the dev key of `perdure dev`")
    parser.add_argument("--namespace", "-n", default="default")


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> int:
    key = args.api_key
    if key is None:
        dev_key = Path(DATA_DIR) / "dev-key"
        key = dev_key.read_text().strip() if dev_key.exists() else ""
    url = f"{args.address.rstrip('/')}/api/v1/namespaces/{args.namespace}{path}"
    try:
        answer = httpx.request(
            method, url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
    except httpx.TransportError as exc:
        print(f"perdure: cannot reach {args.address}: {exc}", flush=True)
        return 1
    if answer.status_code == 204:
        return 0
    try:
        shown: Any = answer.json()
    except ValueError:
        shown = answer.text
    print(json.dumps(shown, indent=2, sort_keys=True), flush=True)
    return 0 if answer.is_success else 1


def _rate_update(value: str | None, reason: str | None) -> dict[str, Any] | None:
    """Temporal CLI's `--queue-rps-limit`: a number, or `default` to remove the limit."""
    if value is None:
        return None
    if value == "default":
        return {"reason": reason or ""}
    return {"rate_limit": {"requests_per_second": float(value)}, "reason": reason or ""}


def cmd_config_get(_: Settings, args: argparse.Namespace) -> int:
    queue_type = QUEUE_TYPES[args.task_queue_type]
    return _call(args, "GET", f"/task-queues/{args.task_queue}/config?task_queue_type={queue_type}")


def cmd_config_set(_: Settings, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"task_queue_type": QUEUE_TYPES[args.task_queue_type]}
    queue = _rate_update(args.queue_rps_limit, args.queue_rps_limit_reason)
    if queue is not None:
        body["update_queue_rate_limit"] = queue
    per_key = _rate_update(args.fairness_key_rps_limit_default, args.fairness_key_rps_limit_reason)
    if per_key is not None:
        body["update_fairness_key_rate_limit_default"] = per_key
    overrides: dict[str, float] = {}
    for item in args.fairness_weight_override:
        key, _, weight = item.rpartition("=")
        overrides[key] = float(weight)
    if overrides:
        body["set_fairness_weight_overrides"] = overrides
    if args.unset_fairness_weight_override:
        body["unset_fairness_weight_overrides"] = list(args.unset_fairness_weight_override)
    return _call(args, "POST", f"/task-queues/{args.task_queue}/update-config", body)


def cmd_limit_list(_: Settings, args: argparse.Namespace) -> int:
    return _call(args, "GET", "/concurrency-limits")


def cmd_limit_get(_: Settings, args: argparse.Namespace) -> int:
    return _call(args, "GET", f"/concurrency-limits/{args.name}")


def cmd_limit_set(_: Settings, args: argparse.Namespace) -> int:
    body = {
        "applies_to": args.applies_to,
        "key": args.key,
        "max_running": args.max_running,
        "strategy": args.strategy,
        "paused": args.paused,
    }
    return _call(args, "PUT", f"/concurrency-limits/{args.name}", body)


def cmd_limit_delete(_: Settings, args: argparse.Namespace) -> int:
    return _call(args, "DELETE", f"/concurrency-limits/{args.name}")


def add_commands(commands: Any) -> None:
    """The `task-queue` and `concurrency-limit` commands, on `perdure`'s subparsers."""
    task_queue = commands.add_parser("task-queue", help="task queue configuration (a server's API)")
    config = (
        task_queue.add_subparsers(dest="subject", required=True)
        .add_parser("config", help="rate limits and fairness weight overrides")
        .add_subparsers(dest="action", required=True)
    )
    for name, run in (("get", cmd_config_get), ("set", cmd_config_set)):
        sub = config.add_parser(name, help=f"{name} a task queue's configuration")
        sub.add_argument("--task-queue", "-t", required=True)
        sub.add_argument("--task-queue-type", required=True, choices=sorted(QUEUE_TYPES))
        _connection(sub)
        sub.set_defaults(run=run)
        if name == "set":
            sub.add_argument("--queue-rps-limit", help="tasks/s for the queue; 'default' removes")
            sub.add_argument("--queue-rps-limit-reason")
            sub.add_argument(
                "--fairness-key-rps-limit-default",
                help="tasks/s per fairness key (times its weight); 'default' removes",
            )
            sub.add_argument("--fairness-key-rps-limit-reason")
            sub.add_argument(
                "--fairness-weight-override", action="append", default=[], metavar="KEY=WEIGHT"
            )
            sub.add_argument("--unset-fairness-weight-override", action="append", default=[])

    limits = commands.add_parser(
        "concurrency-limit", help="per-key concurrency limits (a server's API)"
    ).add_subparsers(dest="action", required=True)
    listed = limits.add_parser("list", help="the namespace's limits")
    _connection(listed)
    listed.set_defaults(run=cmd_limit_list)
    for name, run in (("get", cmd_limit_get), ("delete", cmd_limit_delete)):
        sub = limits.add_parser(name, help=f"{name} a limit")
        sub.add_argument("name")
        _connection(sub)
        sub.set_defaults(run=run)
    put = limits.add_parser("set", help="create or change a limit")
    put.add_argument("name")
    put.add_argument("--applies-to", required=True, choices=["activities", "workflows"])
    put.add_argument("--key", required=True, help="e.g. concurrency_keys.customer")
    put.add_argument("--max-running", required=True, type=int)
    put.add_argument(
        "--strategy",
        default="GROUP_ROUND_ROBIN",
        choices=["GROUP_ROUND_ROBIN", "CANCEL_IN_PROGRESS", "CANCEL_NEWEST"],
    )
    put.add_argument("--paused", action="store_true")
    _connection(put)
    put.set_defaults(run=cmd_limit_set)
