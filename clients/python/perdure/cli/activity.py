"""`perdure activity complete|fail`: finish an activity from outside its worker, by workflow and
activity id (Temporal's `temporal activity complete|fail`); pause, unpause, reset and
update-options are in controls.py."""

from __future__ import annotations

import argparse
import json
from typing import Any

from perdure.cli import controls
from perdure.cli._api import Session, UsageError


def _json(text: str | None, flag: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{flag} is not JSON ({exc}): {text[:80]!r}") from None


def _path(s: Session, verb: str) -> str:
    return s.api.ns("workflows", s.args.workflow_id, "activities", s.args.activity_id, verb)


def complete(s: Session) -> int:
    a = s.args
    body = {"result": _json(a.result, "--result"), "run_id": a.run_id, "identity": a.identity}
    s.api.call("POST", _path(s, "complete"), json={k: v for k, v in body.items() if v is not None})
    s.out.say(f"Completed activity {a.activity_id}")
    return 0


def fail(s: Session) -> int:
    a = s.args
    failure = {"message": a.reason or "", "details": _json(a.detail, "--detail")}
    body = {"failure": failure, "run_id": a.run_id, "identity": a.identity}
    s.api.call("POST", _path(s, "fail"), json={k: v for k, v in body.items() if v is not None})
    s.out.say(f"Failed activity {a.activity_id}")
    return 0


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    """The group: complete and fail here, the operator controls from controls.py."""
    group = commands.add_parser(
        "activity", help="complete, fail, pause, unpause, reset activities", description=__doc__
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")
    for name, run, help in (
        ("complete", complete, "complete an activity with a result"),
        ("fail", fail, "fail an activity attempt (retried by its policy)"),
    ):
        p = group.add_parser(name, parents=common, help=help)
        p.add_argument("--workflow-id", "-w", required=True)
        p.add_argument("--run-id", "-r")
        p.add_argument("--activity-id", required=True)
        p.add_argument("--identity", help="who completes it")
        if name == "complete":
            p.add_argument("--result", required=True, metavar="JSON")
        else:
            p.add_argument("--reason", help="the failure's message")
            p.add_argument("--detail", metavar="JSON", help="the failure's details")
        p.set_defaults(run=run)
    controls.register_activity(group, common)
