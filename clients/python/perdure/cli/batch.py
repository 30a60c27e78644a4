"""`perdure batch describe|list|terminate`, and the batch operations that `workflow signal|cancel|
terminate|delete --query` start (Temporal's StartBatchOperation through its CLI's flags)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from perdure.cli._api import CommandFailed, Session, UsageError
from perdure.cli._output import field

BATCH_COLUMNS = [
    ("JobId", field("job_id")),
    ("Operation", field("operation_type")),
    ("State", field("state")),
    ("Done", field("complete_operation_count")),
    ("Failed", field("failure_operation_count")),
    ("Total", field("total_operation_count")),
    ("StartTime", field("start_time")),
]


def quoted(value: str) -> str:
    """A list-filter string literal (quotes inside doubled, as the filter grammar reads them)."""
    return "'" + value.replace("'", "''") + "'"


def add_batch_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """`--query/-q` (instead of `-w`), `--reason`, `--yes/-y`, `--rps`, as on Temporal's CLI."""
    parser.add_argument(
        "--query", "-q", help=f"{what} every workflow this list filter matches (a batch job)"
    )
    parser.add_argument("--reason", help="why (recorded on each run and on the batch job)")
    parser.add_argument(
        "--yes", "-y", action="store_true", help="start the batch job without asking"
    )
    parser.add_argument(
        "--rps", type=float, help="runs acted on per second, at most (server default 50)"
    )


def start_batch(
    s: Session,
    operation: str,
    query: str,
    *,
    ask: bool = True,
    signal_name: str | None = None,
    payload: Any = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Start a batch job on the runs `query` matches, after confirming the count unless
    `--yes`; prints the job id. `extra`: the operation's own fields (reset_options, activity)."""
    args = s.args
    if ask and not args.yes:
        count = s.api.call("GET", s.api.ns("workflow-count"), params={"query": query})["count"]
        if not sys.stdin.isatty():
            raise UsageError(
                f"the query matches about {count} workflow(s); add --yes to start the batch job "
                "without a prompt"
            )
        answer = input(f"Start batch against approximately {count} workflow(s)? y/N ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CommandFailed("batch job not started")
    body: dict[str, Any] = {"operation_type": operation, "query": query, "reason": args.reason}
    if args.rps is not None:
        body["max_operations_per_second"] = args.rps
    if signal_name is not None:
        body.update(signal_name=signal_name, input=payload)
    body.update(extra or {})
    job = s.api.call("POST", s.api.ns("batch-operations"), json=body)
    s.out.document(job, lambda j: print(f"Started batch for job ID: {j['job_id']}"))


def describe(s: Session) -> int:
    job = s.api.call("GET", s.api.ns("batch-operations", s.args.job_id))
    s.out.document(job)
    return 0


def list_jobs(s: Session) -> int:
    pages = s.api.pages(s.api.ns("batch-operations"), "batch_operations", limit=s.args.limit)
    s.out.items(pages, BATCH_COLUMNS)
    return 0


def terminate(s: Session) -> int:
    """Temporal's `batch terminate` stops the job; runs already acted on stay so."""
    job = s.api.call(
        "POST", s.api.ns("batch-operations", s.args.job_id, "stop"), json={"reason": s.args.reason}
    )
    s.out.document(job, lambda j: print(f"Terminated batch job {j['job_id']} ({j['state']})"))
    return 0


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "batch", help="batch jobs started with --query", description=__doc__
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")

    p = group.add_parser("describe", parents=common, help="a batch job's state and progress")
    p.add_argument("--job-id", required=True)
    p.set_defaults(run=describe)

    p = group.add_parser("list", parents=common, help="the namespace's batch jobs, newest first")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
    p.set_defaults(run=list_jobs)

    p = group.add_parser("terminate", parents=common, help="stop a running batch job")
    p.add_argument("--job-id", required=True)
    p.add_argument("--reason", required=True, help="why it is stopped")
    p.set_defaults(run=terminate)
