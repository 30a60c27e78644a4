"""`perdure workflow update start|execute|result|describe` and `perdure workflow
start-update-with-start|execute-update-with-start`: Temporal CLI's Workflow Update commands
over the update routes (`POST …/update/{name}`, `GET …/updates/{id}`,
`POST …/update-with-start/{name}`)."""

from __future__ import annotations

import argparse
from typing import Any

from perdure.cli._api import CommandFailed, Session, UsageError
from perdure.cli._flags import add_start_flags, input_values, start_body
from perdure.cli._output import compact

# The server's longest wait for a stage; asked again after it.
LONG_POLL = 30.0
STAGES = ("ADMITTED", "ACCEPTED", "COMPLETED")


def _reached(answer: dict[str, Any], stage: str) -> bool:
    return STAGES.index(answer["stage"]) >= STAGES.index(stage)


def _wait(s: Session, workflow_id: str, answer: dict[str, Any], stage: str) -> dict[str, Any]:
    """The update once it reached `stage`: `answer` when it has, else polled for."""
    if _reached(answer, stage):
        return answer
    ref = answer["update_ref"]
    run_id = (ref.get("workflow_execution") or {}).get("run_id")
    return _poll(s, workflow_id, ref["update_id"], run_id, stage)


def _poll(
    s: Session, workflow_id: str, update_id: str, run_id: str | None, stage: str
) -> dict[str, Any]:
    """Ask for the update until it reaches `stage` (each ask a long wait on the server)."""
    while True:
        answer: dict[str, Any] = s.api.call(
            "GET",
            s.api.ns("workflows", workflow_id, "updates", update_id),
            params={"run_id": run_id, "wait": LONG_POLL},
        )
        if _reached(answer, stage):
            return answer


def _show_outcome(s: Session, answer: dict[str, Any], shown: Any = None) -> int:
    """Print `shown` (default: the update's answer; text: its result) and exit with status 1
    when the update failed (a validator's rejection included)."""
    outcome = answer.get("outcome") or {}
    s.out.document(
        answer if shown is None else shown,
        lambda _: print(f"Result: {compact(outcome.get('success'))}"),
    )
    if "failure" in outcome:
        failure = outcome["failure"] or {}
        message = failure.get("message") if isinstance(failure, dict) else compact(failure)
        raise CommandFailed(f"update failed: {message}", problem={"detail": message, **answer})
    return 0


def _accepted(s: Session, answer: dict[str, Any]) -> None:
    update_id = answer["update_ref"]["update_id"]
    s.out.document(answer, lambda a: print(f"Update {update_id}: {a['stage'].lower()}"))


def _body(a: argparse.Namespace, stage: str) -> dict[str, Any]:
    body = {
        "args": input_values(a),
        "update_id": a.update_id,
        "run_id": a.run_id,
        "first_execution_run_id": a.first_execution_run_id,
        "wait_for_stage": stage,
        "wait": LONG_POLL,
    }
    return {k: v for k, v in body.items() if v is not None}


def start(s: Session) -> int:
    """Send the update and answer once the workflow accepted it (Temporal's `update start`)."""
    a = s.args
    path = s.api.ns("workflows", a.workflow_id, "update", a.name)
    answer = s.api.call("POST", path, json=_body(a, "ACCEPTED"))
    _accepted(s, _wait(s, a.workflow_id, answer, "ACCEPTED"))
    return 0


def execute(s: Session) -> int:
    a = s.args
    path = s.api.ns("workflows", a.workflow_id, "update", a.name)
    answer = s.api.call("POST", path, json=_body(a, "COMPLETED"))
    return _show_outcome(s, _wait(s, a.workflow_id, answer, "COMPLETED"))


def result(s: Session) -> int:
    a = s.args
    return _show_outcome(s, _poll(s, a.workflow_id, a.update_id, a.run_id, "COMPLETED"))


def describe(s: Session) -> int:
    a = s.args
    path = s.api.ns("workflows", a.workflow_id, "updates", a.update_id)
    s.out.document(s.api.call("GET", path, params={"run_id": a.run_id}))
    return 0


def _with_start(s: Session, stage: str) -> dict[str, Any]:
    a = s.args
    if not a.workflow_id:
        raise UsageError("update-with-start needs --workflow-id")
    if a.id_conflict_policy is None:
        # Temporal requires it: which run the update goes to must be said, not guessed.
        raise UsageError("update-with-start needs --id-conflict-policy (USE_EXISTING or FAIL)")
    update_args = argparse.Namespace(input=a.update_input, input_file=a.update_input_file)
    fields = {
        "args": input_values(update_args),
        "update_id": a.update_id,
        "wait_for_stage": stage,
        "wait": LONG_POLL,
    }
    body = {**start_body(a), "update": {k: v for k, v in fields.items() if v is not None}}
    answer: dict[str, Any] = s.api.call(
        "POST", s.api.ns("workflows", a.workflow_id, "update-with-start", a.update_name), json=body
    )
    s.out.say(f"Running execution: WorkflowId {answer['workflow_id']}, RunId {answer['run_id']}")
    return {**answer, "update": _wait(s, a.workflow_id, answer["update"], stage)}


def start_with_start(s: Session) -> int:
    answer = _with_start(s, "ACCEPTED")
    if s.out.text:
        _accepted(s, answer["update"])
    else:
        s.out.document(answer)
    return 0


def execute_with_start(s: Session) -> int:
    answer = _with_start(s, "COMPLETED")
    return _show_outcome(s, answer["update"], shown=answer)


def _update_flags(p: argparse.ArgumentParser, *, by_id: bool) -> None:
    p.add_argument("--workflow-id", "-w", required=True)
    p.add_argument("--run-id", "-r", help="only this run (default: the latest)")
    if by_id:
        p.add_argument("--update-id", required=True)
        return
    p.add_argument("--name", required=True, help="update name (the handler's)")
    p.add_argument("--update-id", help="deduplicates within a run (default: one made for it)")
    p.add_argument("--first-execution-run-id", help="only a run of the chain this run started")
    p.add_argument("--input", "-i", action="append", default=[], metavar="JSON")
    p.add_argument("--input-file", action="append", default=[], metavar="PATH")


def register(workflow_group: Any, common: list[argparse.ArgumentParser]) -> None:
    """`update …` under `workflow`, and the two update-with-start commands beside it."""
    group = workflow_group.add_parser(
        "update", help="send Workflow Updates and read their outcome", description=__doc__
    ).add_subparsers(dest="update_action", required=True, metavar="COMMAND")
    p = group.add_parser("start", parents=common, help="send an update; answer once accepted")
    _update_flags(p, by_id=False)
    p.add_argument(
        "--wait-for-stage",
        type=str.lower,
        choices=["accepted"],
        required=True,
        help="accepted (as Temporal's CLI)",
    )
    p.set_defaults(run=start)
    p = group.add_parser("execute", parents=common, help="send an update and wait for its result")
    _update_flags(p, by_id=False)
    p.set_defaults(run=execute)
    for name, run, help in (
        ("result", result, "wait for an update's result"),
        ("describe", describe, "an update's stage and outcome"),
    ):
        p = group.add_parser(name, parents=common, help=help)
        _update_flags(p, by_id=True)
        p.set_defaults(run=run)

    for name, run, help in (
        ("start-update-with-start", start_with_start, "start (or take) a run, send an update"),
        ("execute-update-with-start", execute_with_start, "… and wait for the update's result"),
    ):
        p = workflow_group.add_parser(name, parents=common, help=help)
        add_start_flags(p)
        p.add_argument("--update-name", required=True)
        p.add_argument("--update-id")
        p.add_argument("--update-input", action="append", default=[], metavar="JSON")
        p.add_argument("--update-input-file", action="append", default=[], metavar="PATH")
        if name.startswith("start"):
            p.add_argument(
                "--update-wait-for-stage", type=str.lower, choices=["accepted"], required=True
            )
        p.set_defaults(run=run)
