"""`perdure schedule create|describe|list|update|toggle|trigger|backfill|delete`, with
Temporal CLI's `temporal schedule` flags (`--cron`, `--interval 1h/15m`, `--calendar JSON`,
`--overlap-policy`, …) mapped onto the schedule routes."""

from __future__ import annotations

import argparse
import json
from typing import Any

from perdure.cli._api import Session, UsageError
from perdure.cli._flags import add_input_flags, duration, input_of, pairs, timestamp
from perdure.cli._output import field

OVERLAP = ["SKIP", "BUFFER_ONE", "BUFFER_ALL", "CANCEL_OTHER", "TERMINATE_OTHER", "ALLOW_ALL"]
LIST_COLUMNS = [
    ("ScheduleId", field("schedule_id")),
    ("WorkflowType", field("workflow_type")),
    ("Paused", field("state.paused")),
    ("Notes", field("state.note")),
    ("NextRunTime", lambda e: (e.get("next_action_times") or [None])[0]),
]


def interval(text: str) -> dict[str, float]:
    """Temporal's `--interval` value: `every` or `every/offset`, both durations."""
    every, _, offset = text.partition("/")
    spec = {"every": duration(every)}
    if offset:
        spec["offset"] = duration(offset)
    return spec


def calendar(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--calendar is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('--calendar takes a JSON object, e.g. \'{"hour": "9"}\'')
    return value


def definition_ref(text: str) -> dict[str, Any]:
    name, _, version = text.partition(":")
    return {"name": name, "version": int(version)} if version else {"name": name}


def schedule_of(args: argparse.Namespace) -> dict[str, Any]:
    """The `schedule` document (spec, action, policy, state) the flags describe."""
    spec = {
        "cron_expressions": args.cron,
        "intervals": args.interval,
        "calendars": args.calendar,
        "start_at": args.start_time,
        "end_at": args.end_time,
        "jitter": args.jitter,
        "time_zone_name": args.time_zone,
    }
    if (args.type is None) == (args.definition is None):
        raise UsageError("give the action's --type (with --task-queue) or --definition")
    action = {
        "workflow_type": args.type,
        "definition": definition_ref(args.definition) if args.definition else None,
        "task_queue": args.task_queue,
        "workflow_id": args.workflow_id,
        "input": input_of(args),
        "execution_timeout": args.execution_timeout,
        "run_timeout": args.run_timeout,
        "task_timeout": args.task_timeout,
        "memo": pairs(args.memo, "--memo"),
        "search_attributes": pairs(args.search_attribute, "--search-attribute"),
        "priority": _set(
            {
                "priority_key": args.priority_key,
                "fairness_key": args.fairness_key,
                "fairness_weight": args.fairness_weight,
            }
        )
        or None,
        "concurrency_keys": {
            name: str(value)
            for name, value in (pairs(args.concurrency_key, "--concurrency-key") or {}).items()
        }
        or None,
    }
    policy = {
        "overlap": args.overlap_policy,
        "catchup_window": args.catchup_window,
        "pause_on_failure": args.pause_on_failure or None,
    }
    state: dict[str, Any] = {"paused": args.paused or None, "note": args.notes}
    if args.remaining_actions is not None:
        state.update(limited_actions=True, remaining_actions=args.remaining_actions)
    return {
        "spec": _set(spec),
        "action": {"start_workflow": _set(action)},
        "policy": _set(policy),
        "state": _set(state),
    }


def _set(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, [])}


def create(s: Session) -> int:
    a = s.args
    body = {
        "schedule": schedule_of(a),
        "memo": pairs(a.schedule_memo, "--schedule-memo"),
        "search_attributes": pairs(a.schedule_search_attribute, "--schedule-search-attribute"),
    }
    made = s.api.call("POST", s.api.ns("schedules", a.schedule_id), json=_set(body))
    s.out.document(made, lambda _: print(f"Schedule {a.schedule_id} created"))
    return 0


def update(s: Session) -> int:
    """Replaces the whole schedule, as Temporal's `schedule update` does."""
    a = s.args
    body = {
        "schedule": schedule_of(a),
        "search_attributes": pairs(a.schedule_search_attribute, "--schedule-search-attribute"),
    }
    done = s.api.call("POST", s.api.ns("schedules", a.schedule_id, "update"), json=_set(body))
    s.out.document(done, lambda _: print(f"Schedule {a.schedule_id} updated"))
    return 0


def describe(s: Session) -> int:
    s.out.document(s.api.call("GET", s.api.ns("schedules", s.args.schedule_id)))
    return 0


def list_schedules(s: Session) -> int:
    pages = s.api.pages(s.api.ns("schedules"), "schedules", limit=s.args.limit)
    s.out.items(pages, LIST_COLUMNS)
    return 0


def toggle(s: Session) -> int:
    a = s.args
    if a.pause == a.unpause:
        raise UsageError("toggle needs exactly one of --pause and --unpause")
    verb = "pause" if a.pause else "unpause"
    done = s.api.call("POST", s.api.ns("schedules", a.schedule_id, verb), json={"note": a.reason})
    s.out.document(done, lambda _: print(f"Schedule {a.schedule_id} {verb}d"))
    return 0


def trigger(s: Session) -> int:
    a = s.args
    body = _set({"overlap": a.overlap_policy})
    done = s.api.call("POST", s.api.ns("schedules", a.schedule_id, "trigger"), json=body)
    s.out.document(
        done, lambda o: print(f"Trigger: {o.get('outcome')} {o.get('workflow_id') or ''}")
    )
    return 0


def backfill(s: Session) -> int:
    a = s.args
    period = _set({"start_at": a.start_time, "end_at": a.end_time, "overlap": a.overlap_policy})
    path = s.api.ns("schedules", a.schedule_id, "backfill")
    done = s.api.call("POST", path, json={"backfill": [period]})
    s.out.document(done, lambda _: print(f"Backfill of schedule {a.schedule_id} taken"))
    return 0


def delete(s: Session) -> int:
    s.api.call("DELETE", s.api.ns("schedules", s.args.schedule_id))
    s.out.say(f"Schedule {s.args.schedule_id} deleted")
    return 0


def _schedule_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--schedule-id", "-s", required=True)
    spec = p.add_argument_group("when (the spec)")
    spec.add_argument("--cron", action="append", default=[], help="cron string; repeatable")
    spec.add_argument(
        "--interval", action="append", default=[], type=interval, help="e.g. 45m or 6h/5h"
    )
    spec.add_argument(
        "--calendar", action="append", default=[], type=calendar, help="calendar spec as JSON"
    )
    spec.add_argument("--start-time", type=timestamp, help="no action before this time")
    spec.add_argument("--end-time", type=timestamp, help="no action after this time")
    spec.add_argument("--jitter", type=duration, help="delay each action up to this long")
    spec.add_argument("--time-zone", help="IANA time zone of calendars and crons (default UTC)")
    action = p.add_argument_group("what (the workflow each action starts)")
    action.add_argument("--workflow-id", "-w", help="id prefix (default: the schedule id)")
    action.add_argument("--type", help="workflow type")
    action.add_argument("--definition", metavar="NAME[:VERSION]", help="a stored definition")
    action.add_argument("--task-queue", "-t")
    add_input_flags(p)
    action.add_argument("--execution-timeout", type=duration)
    action.add_argument("--run-timeout", type=duration)
    action.add_argument("--task-timeout", type=duration)
    action.add_argument("--memo", action="append", default=[], metavar="KEY=JSON")
    action.add_argument("--search-attribute", action="append", default=[], metavar="KEY=JSON")
    # Temporal CLI's priority flags on starts.
    action.add_argument("--priority-key", type=int, help="1 (highest) to 5 (default 3)")
    action.add_argument("--fairness-key", help="tasks are shared fairly across these keys")
    action.add_argument("--fairness-weight", type=float, help="the key's share (default 1.0)")
    action.add_argument(
        "--concurrency-key",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="what concurrency limits on concurrency_keys.NAME count each run by; repeatable",
    )
    policy = p.add_argument_group("policy and state")
    policy.add_argument("--overlap-policy", choices=OVERLAP)
    policy.add_argument("--catchup-window", type=duration)
    policy.add_argument("--pause-on-failure", action="store_true")
    policy.add_argument("--paused", action="store_true", help="create it paused")
    policy.add_argument("--notes", help="note on the schedule's state")
    policy.add_argument("--remaining-actions", type=int, help="stop after this many actions")
    policy.add_argument("--schedule-memo", action="append", default=[], metavar="KEY=JSON")
    policy.add_argument(
        "--schedule-search-attribute", action="append", default=[], metavar="KEY=JSON"
    )


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "schedule", help="create and control schedules", description=__doc__
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")

    def command(name: str, run: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, parents=common, help=help)
        p.set_defaults(run=run)
        return p

    _schedule_flags(command("create", create, "create a schedule"))
    _schedule_flags(command("update", update, "replace a schedule's spec, action and policy"))
    command("describe", describe, "a schedule and its recent actions").add_argument(
        "--schedule-id", "-s", required=True
    )
    command("list", list_schedules, "the namespace's schedules").add_argument(
        "--limit", type=int, default=0, help="at most this many (0: all)"
    )
    p = command("toggle", toggle, "pause or unpause a schedule")
    p.add_argument("--schedule-id", "-s", required=True)
    p.add_argument("--pause", action="store_true")
    p.add_argument("--unpause", action="store_true")
    p.add_argument("--reason", help="note recorded with the change")
    p = command("trigger", trigger, "take the schedule's action now")
    p.add_argument("--schedule-id", "-s", required=True)
    p.add_argument("--overlap-policy", choices=OVERLAP)
    p = command("backfill", backfill, "take the actions of a past period now")
    p.add_argument("--schedule-id", "-s", required=True)
    p.add_argument("--start-time", type=timestamp, required=True)
    p.add_argument("--end-time", type=timestamp, required=True)
    p.add_argument("--overlap-policy", choices=OVERLAP)
    command("delete", delete, "delete a schedule").add_argument(
        "--schedule-id", "-s", required=True
    )
