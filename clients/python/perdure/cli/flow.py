"""`perdure task-queue config get|set` (Temporal CLI's flags: `--queue-rps-limit`,
`--fairness-key-rps-limit-default`, their `…-reason`s) and `perdure concurrency-limit
list|get|set|delete`: flow control in task queues (docs/flow-control.md)."""

from __future__ import annotations

import argparse
from typing import Any

from perdure.cli._api import Session, UsageError
from perdure.cli._output import field

QUEUE_TYPES = {"workflow": "TASK_QUEUE_TYPE_WORKFLOW", "activity": "TASK_QUEUE_TYPE_ACTIVITY"}
STRATEGIES = ["GROUP_ROUND_ROBIN", "CANCEL_IN_PROGRESS", "CANCEL_NEWEST"]
LIMIT_COLUMNS = [
    ("Name", field("name")),
    ("AppliesTo", field("applies_to")),
    ("Key", field("key")),
    ("MaxRunning", field("max_running")),
    ("Strategy", field("strategy")),
    ("Running", field("running")),
    ("Waiting", field("waiting")),
    ("Paused", field("paused")),
]


def _rate_update(value: str | None, reason: str | None, flag: str) -> dict[str, Any] | None:
    """A `--…-rps-limit` value: tasks per second, or `default` to remove the limit."""
    if value is None:
        return None
    if value == "default":
        return {"reason": reason or ""}
    try:
        rps = float(value)
    except ValueError:
        raise UsageError(f"{flag} takes tasks per second or 'default', not {value!r}") from None
    return {"rate_limit": {"requests_per_second": rps}, "reason": reason or ""}


def config_get(s: Session) -> int:
    """Temporal's `task-queue config get`: rate limits and weight overrides of one queue."""
    params = {"task_queue_type": QUEUE_TYPES[s.args.task_queue_type]}
    path = s.api.ns("task-queues", s.args.task_queue, "config")
    s.out.document(s.api.call("GET", path, params=params))
    return 0


def config_set(s: Session) -> int:
    """Temporal's `task-queue config set`; the answer is the queue's configuration."""
    a = s.args
    body: dict[str, Any] = {"task_queue_type": QUEUE_TYPES[a.task_queue_type]}
    queue = _rate_update(a.queue_rps_limit, a.queue_rps_limit_reason, "--queue-rps-limit")
    if queue is not None:
        body["update_queue_rate_limit"] = queue
    per_key = _rate_update(
        a.fairness_key_rps_limit_default,
        a.fairness_key_rps_limit_reason,
        "--fairness-key-rps-limit-default",
    )
    if per_key is not None:
        body["update_fairness_key_rate_limit_default"] = per_key
    overrides: dict[str, float] = {}
    for item in a.fairness_weight_override:
        key, sep, weight = item.rpartition("=")
        try:
            overrides[key] = float(weight)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise UsageError(f"--fairness-weight-override takes KEY=WEIGHT, not {item!r}")
    if overrides:
        body["set_fairness_weight_overrides"] = overrides
    if a.unset_fairness_weight_override:
        body["unset_fairness_weight_overrides"] = list(a.unset_fairness_weight_override)
    path = s.api.ns("task-queues", a.task_queue, "update-config")
    answer = s.api.call("POST", path, json=body)
    s.out.document(answer["config"])
    return 0


def limit_list(s: Session) -> int:
    s.out.items([s.api.call("GET", s.api.ns("concurrency-limits"))["limits"]], LIMIT_COLUMNS)
    return 0


def limit_get(s: Session) -> int:
    s.out.document(s.api.call("GET", s.api.ns("concurrency-limits", s.args.name)))
    return 0


def limit_set(s: Session) -> int:
    a = s.args
    body = {
        "applies_to": a.applies_to,
        "key": a.key,
        "max_running": a.max_running,
        "strategy": a.strategy,
        "paused": a.paused,
    }
    s.out.document(s.api.call("PUT", s.api.ns("concurrency-limits", a.name), json=body))
    return 0


def limit_delete(s: Session) -> int:
    s.api.call("DELETE", s.api.ns("concurrency-limits", s.args.name))
    s.out.say(f"Concurrency limit {s.args.name} deleted.")
    return 0


def register_config(task_queue: Any, common: list[argparse.ArgumentParser]) -> None:
    """`config get|set` under `perdure task-queue`."""
    config = task_queue.add_parser(
        "config", help="rate limits and fairness weight overrides"
    ).add_subparsers(dest="config_action", required=True, metavar="COMMAND")
    for name, run, help in (
        ("get", config_get, "a task queue's configuration"),
        ("set", config_set, "change a task queue's configuration"),
    ):
        p = config.add_parser(name, parents=common, help=help)
        p.add_argument("--task-queue", "-t", required=True)
        p.add_argument("--task-queue-type", required=True, choices=sorted(QUEUE_TYPES))
        p.set_defaults(run=run)
        if name == "set":
            p.add_argument("--queue-rps-limit", help="tasks/s for the queue; 'default' removes")
            p.add_argument("--queue-rps-limit-reason")
            p.add_argument(
                "--fairness-key-rps-limit-default",
                help="tasks/s per fairness key (times its weight); 'default' removes",
            )
            p.add_argument("--fairness-key-rps-limit-reason")
            p.add_argument(
                "--fairness-weight-override",
                action="append",
                default=[],
                metavar="KEY=WEIGHT",
                help="repeatable",
            )
            p.add_argument(
                "--unset-fairness-weight-override", action="append", default=[], metavar="KEY"
            )


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    limits = commands.add_parser(
        "concurrency-limit", help="per-key concurrency limits", description=__doc__
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")
    limits.add_parser("list", parents=common, help="the namespace's limits").set_defaults(
        run=limit_list
    )
    for name, run, help in (
        ("get", limit_get, "a limit, with its running and waiting counts"),
        ("delete", limit_delete, "remove a limit (what waited for it goes on)"),
    ):
        p = limits.add_parser(name, parents=common, help=help)
        p.add_argument("name")
        p.set_defaults(run=run)
    p = limits.add_parser("set", parents=common, help="create or change a limit")
    p.add_argument("name")
    p.add_argument("--applies-to", required=True, choices=["activities", "workflows"])
    p.add_argument("--key", required=True, help="e.g. concurrency_keys.customer, activity_type")
    p.add_argument("--max-running", required=True, type=int)
    p.add_argument("--strategy", default="GROUP_ROUND_ROBIN", choices=STRATEGIES)
    p.add_argument("--paused", action="store_true", help="dispatch nothing under it")
    p.set_defaults(run=limit_set)
