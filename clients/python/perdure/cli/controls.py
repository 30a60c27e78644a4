"""Operator controls, as Temporal's CLI has them: `perdure workflow reset|pause|unpause` and
`perdure activity pause|unpause|reset|update-options`, for one run (`-w`) or, with `--query`,
as a batch job on every run the list filter matches."""

from __future__ import annotations

import argparse
from typing import Any

from perdure.cli import batch
from perdure.cli._api import Session, UsageError
from perdure.cli._flags import add_workflow_ref, duration
from perdure.cli._output import field

ACTIVITY_COLUMNS = [
    ("ActivityId", field("activity_id")),
    ("Type", field("activity_type")),
    ("State", field("state")),
    ("Attempt", field("attempt")),
    ("Paused", field("paused")),
]


def _one_or_batch(s: Session, verb: str) -> str | None:
    a = s.args
    if (a.workflow_id is None) == (a.query is None):
        raise UsageError(f"{verb} needs either --workflow-id or --query")
    if a.query is not None and a.run_id:
        raise UsageError("--run-id applies to one workflow, not to --query")
    query: str | None = a.query
    return query


def _set(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, False, [])}


def reset(s: Session) -> int:
    """Temporal's `workflow reset`: to `--event-id` or a `--type` point, signals and updates
    after it reapplied unless `--reapply-exclude` names them."""
    a = s.args
    if (a.event_id is None) == (a.type is None):
        raise UsageError(
            "reset needs --event-id or --type (FirstWorkflowTask, LastWorkflowTask, …)"
        )
    point = _set(
        {
            "event_id": a.event_id,
            "reset_type": a.type,
            "build_id": a.build_id,
            "reset_reapply_exclude_types": [t.upper() for t in a.reapply_exclude],
        }
    )
    if (query := _one_or_batch(s, "reset")) is not None:
        batch.start_batch(s, "RESET", query, extra={"reset_options": point})
        return 0
    body = {**point, "reason": a.reason, "run_id": a.run_id}
    answer = s.api.call("POST", s.api.ns("workflows", a.workflow_id, "reset"), json=_set(body))
    s.out.document(
        answer, lambda r: print(f"Reset workflow {r['workflow_id']}: new run {r['run_id']}")
    )
    return 0


def _pause_or_unpause(s: Session, verb: str) -> int:
    a = s.args
    if (query := _one_or_batch(s, verb)) is not None:
        batch.start_batch(s, verb.upper(), query)
        return 0
    body = _set({"reason": a.reason, "run_id": a.run_id})
    answer = s.api.call("POST", s.api.ns("workflows", a.workflow_id, verb), json=body)
    s.out.document(answer, lambda _: print(f"Workflow {a.workflow_id} {verb}d"))
    return 0


def pause(s: Session) -> int:
    return _pause_or_unpause(s, "pause")


def unpause(s: Session) -> int:
    return _pause_or_unpause(s, "unpause")


def _activity_target(a: argparse.Namespace) -> dict[str, Any]:
    chosen = [x for x in (a.activity_id, a.activity_type, a.match_all or None) if x is not None]
    if len(chosen) != 1:
        raise UsageError("give one of --activity-id, --activity-type and --match-all")
    return _set(
        {"activity_id": a.activity_id, "activity_type": a.activity_type, "match_all": a.match_all}
    )


def _activity_options(a: argparse.Namespace) -> dict[str, Any]:
    retry = _set(
        {
            "initial_interval": a.retry_initial_interval,
            "maximum_interval": a.retry_maximum_interval,
            "backoff_coefficient": a.retry_backoff_coefficient,
            "maximum_attempts": a.retry_maximum_attempts,
        }
    )
    options = _set(
        {
            "start_to_close_timeout": a.start_to_close_timeout,
            "schedule_to_close_timeout": a.schedule_to_close_timeout,
            "schedule_to_start_timeout": a.schedule_to_start_timeout,
            "heartbeat_timeout": a.heartbeat_timeout,
            "retry_policy": retry or None,
        }
    )
    if not options:
        raise UsageError("nothing to change: give a timeout or a --retry-… flag")
    return options


def _activity_fields(a: argparse.Namespace, verb: str) -> dict[str, Any]:
    """The fields of one activity control besides the target, as the route names them."""
    if verb == "pause":
        return _set({"reason": a.reason})
    if verb == "unpause":
        return _set({"reset_attempts": a.reset_attempts, "reset_heartbeat": a.reset_heartbeats})
    if verb == "reset":
        return _set({"keep_paused": a.keep_paused, "clear_heartbeat_details": a.reset_heartbeats})
    return {"activity_options": _activity_options(a)}


def activity_control(s: Session) -> int:
    a = s.args
    verb: str = a.verb
    fields = {**_activity_target(a), **_activity_fields(a, verb)}
    if (query := _one_or_batch(s, f"activity {verb}")) is not None:
        operation = f"{verb.replace('-', '_').upper()}_ACTIVITY"
        if verb == "update-options":
            operation = "UPDATE_ACTIVITY_OPTIONS"
        batch.start_batch(s, operation, query, extra={"activity": fields})
        return 0
    path = s.api.ns("workflows", a.workflow_id, "activities", verb)
    answer = s.api.call("POST", path, json={**fields, **_set({"run_id": a.run_id})})
    s.out.document(answer, lambda r: s.out.table(r.get("activities") or [], ACTIVITY_COLUMNS))
    return 0


def register_workflow(group: Any, common: list[argparse.ArgumentParser]) -> None:
    """`reset`, `pause` and `unpause` in the `workflow` group."""
    p = group.add_parser("reset", parents=common, help="reset a workflow to a workflow task")
    add_workflow_ref(p, required=False)
    p.add_argument("--event-id", "-e", type=int, help="a workflow task event of the run")
    p.add_argument(
        "--type",
        choices=["FirstWorkflowTask", "LastWorkflowTask", "LastContinuedAsNew", "BuildId"],
        help="a point by kind instead of --event-id",
    )
    p.add_argument("--build-id", help="with --type BuildId")
    p.add_argument(
        "--reapply-exclude",
        action="append",
        default=[],
        type=str.lower,
        choices=["signal", "update"],
        help="events after the point not to reapply; repeatable",
    )
    batch.add_batch_flags(p, "reset")
    p.set_defaults(run=reset)
    for verb, run, help in (
        ("pause", pause, "pause a workflow: record everything, dispatch no task"),
        ("unpause", unpause, "unpause a paused workflow"),
    ):
        p = group.add_parser(verb, parents=common, help=help)
        add_workflow_ref(p, required=False)
        batch.add_batch_flags(p, verb)
        p.set_defaults(run=run)


def register_activity(group: Any, common: list[argparse.ArgumentParser]) -> None:
    """`pause`, `unpause`, `reset` and `update-options` in the `activity` group."""
    for verb, help in (
        ("pause", "dispatch no new attempt of pending activities"),
        ("unpause", "dispatch paused activities again"),
        ("reset", "start pending activities again from attempt 1"),
        ("update-options", "change pending activities' timeouts or retry policy"),
    ):
        p = group.add_parser(verb, parents=common, help=help)
        add_workflow_ref(p, required=False)
        p.add_argument("--activity-id")
        p.add_argument("--activity-type")
        p.add_argument("--match-all", action="store_true", help="every pending activity")
        batch.add_batch_flags(p, f"{verb} activities of")
        if verb in ("unpause", "reset"):
            p.add_argument("--reset-heartbeats", action="store_true", help="drop heartbeat details")
        if verb == "unpause":
            p.add_argument("--reset-attempts", action="store_true", help="from attempt 1 again")
        if verb == "reset":
            p.add_argument("--keep-paused", action="store_true", help="a paused one stays paused")
        if verb == "update-options":
            for flag in ("start-to-close", "schedule-to-close", "schedule-to-start", "heartbeat"):
                p.add_argument(f"--{flag}-timeout", type=duration)
            p.add_argument("--retry-initial-interval", type=duration)
            p.add_argument("--retry-maximum-interval", type=duration)
            p.add_argument("--retry-backoff-coefficient", type=float)
            p.add_argument("--retry-maximum-attempts", type=int)
        p.set_defaults(run=activity_control, verb=verb)
