"""`perdure workflow …`: start, execute, signal-with-start, describe, list, count, show, result,
signal, query, cancel, terminate, delete (and `update …`, update.py) — Temporal CLI's
`temporal workflow` commands and flags over the REST routes. Signal, cancel, terminate and
delete take `--query` instead of `-w` for a batch job."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from perdure.cli import batch, controls, update, versioning
from perdure.cli._api import CommandFailed, Session, UsageError
from perdure.cli._flags import (
    add_input_flags,
    add_start_flags,
    add_workflow_ref,
    input_of,
    start_body,
)
from perdure.cli._output import compact, field

# The server's longest wait for a result or new history (MAX_HISTORY_WAIT); asked again after.
LONG_POLL = 30.0
LIST_COLUMNS = [
    ("Status", field("status")),
    ("WorkflowId", field("workflow_id")),
    ("Type", field("workflow_type")),
    ("StartTime", field("start_time")),
]
# Attributes worth a glance in `show`'s text form, in this order.
SUMMARY_KEYS = (
    "workflow_type",
    "activity_type",
    "activity_id",
    "signal_name",
    "timer_id",
    "reason",
    "result",
    "failure",
)


def post_start(s: Session, body: dict[str, Any]) -> dict[str, Any]:
    """Start a run (with the given id, or one the server makes) and say which."""
    workflow_id = s.args.workflow_id
    path = s.api.ns("workflows", workflow_id) if workflow_id else s.api.ns("workflows")
    started: dict[str, Any] = s.api.call("POST", path, json=body)
    s.out.say("Running execution:")
    s.out.say(f"  WorkflowId  {started['workflow_id']}")
    s.out.say(f"  RunId       {started['run_id']}")
    s.out.say(f"  Namespace   {s.api.namespace}")
    if not started.get("started", True):
        s.out.say("  (an existing run: the id's conflict or reuse policy returned it)")
    return started


def start(s: Session) -> int:
    started = post_start(s, start_body(s.args))
    if not s.out.text:
        s.out.document(started)
    return 0


def execute(s: Session) -> int:
    """Start, follow the history in text form, then print the outcome (exit 1 unless the run
    completed), as `temporal workflow execute`."""
    started = post_start(s, start_body(s.args))
    if s.out.text:
        s.out.say("Progress:")
        for events in history_pages(s, started["workflow_id"], started["run_id"], follow=True):
            print_events(events)
    return show_outcome(s, wait_outcome(s, started["workflow_id"], started["run_id"]))


def signal_with_start(s: Session) -> int:
    """Signal the workflow, starting it first when it is not running (one request)."""
    a = s.args
    if not a.workflow_id:
        raise UsageError("signal-with-start needs --workflow-id")
    if a.signal_input and a.signal_input_file:
        raise UsageError("give --signal-input or --signal-input-file, not both")
    signal_args = argparse.Namespace(input=a.signal_input, input_file=a.signal_input_file)
    body = {**start_body(a), "signal_input": input_of(signal_args)}
    path = s.api.ns("workflows", a.workflow_id, "signal-with-start", a.signal_name)
    started = s.api.call("POST", path, json=body)
    s.out.document(
        started,
        lambda r: print(
            f"Signal-with-start succeeded: WorkflowId {r['workflow_id']}, RunId {r['run_id']}"
        ),
    )
    return 0


def wait_outcome(s: Session, workflow_id: str, run_id: str | None) -> dict[str, Any]:
    """The run's outcome, following continue-as-new, asking again after each long poll."""
    while True:
        outcome: dict[str, Any] = s.api.call(
            "GET",
            s.api.ns("workflows", workflow_id, "result"),
            params={"run_id": run_id, "wait": LONG_POLL},
        )
        if outcome["status"] != "RUNNING":
            return outcome


def show_outcome(s: Session, outcome: dict[str, Any]) -> int:
    def text(o: dict[str, Any]) -> None:
        print("Results:")
        print(f"  Status  {o['status']}")
        if o.get("failure") is not None:
            print(f"  Failure {compact(o['failure'])}")
        else:
            print(f"  Result  {compact(o.get('result'))}")

    s.out.document(outcome, text)
    if outcome["status"] == "COMPLETED":
        return 0
    failure = outcome.get("failure") or {}
    message = failure.get("message") if isinstance(failure, dict) else compact(failure)
    raise CommandFailed(
        f"workflow {outcome['status'].lower()}" + (f": {message}" if message else ""),
        problem={"detail": f"workflow {outcome['status'].lower()}", **outcome},
    )


def result(s: Session) -> int:
    return show_outcome(s, wait_outcome(s, s.args.workflow_id, s.args.run_id))


def describe(s: Session) -> int:
    a = s.args
    if a.run_id:
        path = s.api.ns("workflows", a.workflow_id, "runs", a.run_id)
    else:
        path = s.api.ns("workflows", a.workflow_id)
    s.out.document(s.api.call("GET", path))
    return 0


def list_workflows(s: Session) -> int:
    pages = s.api.pages(
        s.api.ns("workflows"), "workflows", {"query": s.args.query}, limit=s.args.limit
    )
    s.out.items(pages, LIST_COLUMNS)
    return 0


def count(s: Session) -> int:
    counted = s.api.call("GET", s.api.ns("workflow-count"), params={"query": s.args.query})

    def text(c: dict[str, Any]) -> None:
        print(f"Total: {c['count']}")
        for group in c.get("groups") or []:
            print(f"  {', '.join(map(compact, group['group_values']))}: {group['count']}")

    s.out.document(counted, text)
    return 0


def history_pages(
    s: Session, workflow_id: str, run_id: str | None, follow: bool
) -> Iterator[list[dict[str, Any]]]:
    """Pages of a run's events; with `follow`, long-polls for new ones until the run closes."""
    token: str | None = None
    while True:
        params: dict[str, Any] = {"run_id": run_id, "next_page_token": token}
        if follow:
            params.update(wait_new_event="true", wait=LONG_POLL)
        page = s.api.call("GET", s.api.ns("workflows", workflow_id, "history"), params=params)
        run_id = page["run_id"]  # one run throughout, the latest at the first page
        yield page["events"]
        token = page.get("next_page_token")
        if not token:
            return


def print_events(events: list[dict[str, Any]], detailed: bool = False) -> None:
    """One line an event (id, time, type, a few telling attributes); `detailed`: every
    attribute on a line of its own under it, as `temporal workflow show --detailed`."""
    for event in events:
        if detailed:
            print(f"  {event['event_id']:>5}  {event['event_time']}  {event['event_type']}")
            for key, value in (event.get("attributes") or {}).items():
                print(f"         {key}  {compact(value)}", flush=True)
            continue
        attributes = event.get("attributes") or {}
        summary = ", ".join(
            f"{k}={compact(attributes[k])}" for k in SUMMARY_KEYS if attributes.get(k) is not None
        )
        if len(summary) > 120:
            summary = summary[:119] + "…"
        line = f"  {event['event_id']:>5}  {event['event_time']}  {event['event_type']}  {summary}"
        print(line.rstrip(), flush=True)


def show(s: Session) -> int:
    """The history, readable (`--follow` streams new events until the run closes)."""
    pages = history_pages(s, s.args.workflow_id, s.args.run_id, s.args.follow)
    if s.out.text:
        print("Progress:")
        for events in pages:
            print_events(events, s.args.detailed)
    else:
        s.out.items(pages, [])
    return 0


def one_or_batch(s: Session, verb: str) -> str | None:
    """The batch query when `--query` is given, None for one workflow (`-w`); a usage error
    for both or neither."""
    a = s.args
    if (a.workflow_id is None) == (a.query is None):
        raise UsageError(f"{verb} needs either --workflow-id or --query")
    if a.query is not None and a.run_id:
        raise UsageError("--run-id applies to one workflow, not to --query")
    query: str | None = a.query
    return query


def signal(s: Session) -> int:
    a = s.args
    payload = input_of(a)
    if (query := one_or_batch(s, "signal")) is not None:
        batch.start_batch(s, "SIGNAL", query, signal_name=a.name, payload=payload)
        return 0
    body = {"input": payload, "run_id": a.run_id}
    s.api.call("POST", s.api.ns("workflows", a.workflow_id, "signal", a.name), json=body)
    s.out.say("Signal workflow succeeded")
    return 0


def query(s: Session) -> int:
    a = s.args
    body = {"args": input_of(a), "run_id": a.run_id}
    answer = s.api.call("POST", s.api.ns("workflows", a.workflow_id, "query", a.name), json=body)
    s.out.document(answer, lambda q: print(f"Query result:\n  {compact(q.get('answer'))}"))
    return 0


def cancel(s: Session) -> int:
    a = s.args
    if (query := one_or_batch(s, "cancel")) is not None:
        batch.start_batch(s, "CANCEL", query)
        return 0
    body = {"reason": a.reason, "run_id": a.run_id}
    s.api.call("POST", s.api.ns("workflows", a.workflow_id, "cancel"), json=body)
    s.out.say("Canceled workflow")
    return 0


def terminate(s: Session) -> int:
    a = s.args
    if (query := one_or_batch(s, "terminate")) is not None:
        batch.start_batch(s, "TERMINATE", query)
        return 0
    body = {"reason": a.reason, "run_id": a.run_id}
    s.api.call("POST", s.api.ns("workflows", a.workflow_id, "terminate"), json=body)
    s.out.say("Terminated workflow")
    return 0


def delete(s: Session) -> int:
    """The server deletes through batch jobs only, and closed runs only: `-w` is a batch job
    on that workflow's id (and run), started without a prompt."""
    a = s.args
    if (query := one_or_batch(s, "delete")) is not None:
        batch.start_batch(s, "DELETE", query)
        return 0
    one = f"WorkflowId = {batch.quoted(a.workflow_id)}"
    if a.run_id:
        one += f" AND RunId = {batch.quoted(a.run_id)}"
    batch.start_batch(s, "DELETE", one, ask=False)
    return 0


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    """The group and its commands; a command still to come (reset, pause, …) is one more
    `command(...)` line with its function."""
    group = commands.add_parser(
        "workflow", help="start, inspect and control workflows", description=__doc__
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")

    def command(name: str, run: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, parents=common, help=help)
        p.set_defaults(run=run)
        return p

    add_start_flags(command("start", start, "start a workflow and print its ids"))
    add_start_flags(command("execute", execute, "start a workflow and wait for its result"))
    p = command("signal-with-start", signal_with_start, "signal a workflow, starting it if needed")
    add_start_flags(p)
    p.add_argument("--signal-name", required=True)
    p.add_argument("--signal-input", action="append", default=[], metavar="JSON")
    p.add_argument("--signal-input-file", action="append", default=[], metavar="PATH")
    add_workflow_ref(command("describe", describe, "a run's state, pending work and outcome"))

    p = command("list", list_workflows, "workflows the list filter matches, newest first")
    p.add_argument("--query", "-q", help="list filter, e.g. \"ExecutionStatus = 'Running'\"")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")

    p = command("count", count, "how many workflows the list filter matches")
    p.add_argument("--query", "-q", help="list filter; GROUP BY ExecutionStatus counts each")

    p = command("show", show, "a run's event history")
    add_workflow_ref(p)
    p.add_argument("--follow", "-f", action="store_true", help="stream new events until it closes")
    p.add_argument("--detailed", action="store_true", help="every attribute of every event")

    add_workflow_ref(command("result", result, "wait for a run's outcome"))

    p = command("signal", signal, "send a signal to a workflow (or, with --query, to many)")
    add_workflow_ref(p, required=False)
    p.add_argument("--name", required=True, help="signal name")
    add_input_flags(p, "the signal")
    batch.add_batch_flags(p, "signal")

    p = command("query", query, "ask a worker for a workflow's state")
    add_workflow_ref(p)
    p.add_argument("--name", required=True, help="query name")
    add_input_flags(p, "the query")

    for name, run, what in (
        ("cancel", cancel, "ask a workflow to cancel"),
        ("terminate", terminate, "end a workflow at once"),
        ("delete", delete, "delete a closed workflow's runs"),
    ):
        p = command(name, run, f"{what} (or, with --query, many)")
        add_workflow_ref(p, required=False)
        batch.add_batch_flags(p, name)
    update.register(group, common)
    controls.register_workflow(group, common)
    versioning.register_workflow(group, common)
