"""`perdure replay`: fetch the histories a list filter selects and replay them against local
workflow code, before a deploy (Temporal's replay test, run in CI). Exit code 0 when every
history replays, 1 on any divergence, 2 on a usage error.

    perdure replay --query "WorkflowType = 'X' AND ExecutionStatus = 'Running'" \
        --workflows my_module:WORKFLOWS
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from perdure.client import Client
from perdure.replayer import Replayer

DEFAULT_LIMIT = 1000


def workflows_from(reference: str) -> list[type]:
    """The workflow classes named by `module:ATTRIBUTE` (a list of classes, or one class)."""
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(
            f"expected module:ATTRIBUTE (e.g. my_app.workflows:WORKFLOWS), got {reference!r}"
        )
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    return list(found) if isinstance(found, list | tuple | set) else [found]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perdure replay",
        description="Replay the histories a list filter selects against local workflow code.",
    )
    parser.add_argument("--query", required=True, help="list filter (Temporal's syntax)")
    parser.add_argument(
        "--workflows",
        required=True,
        action="append",
        help="module:ATTRIBUTE naming the workflow classes (repeatable)",
    )
    parser.add_argument("--address", default=None, help="server (default PERDURE_ADDRESS)")
    parser.add_argument("--namespace", default=None, help="namespace (default PERDURE_NAMESPACE)")
    parser.add_argument("--api-key", default=None, help="API key (default PERDURE_API_KEY)")
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many runs ({DEFAULT_LIMIT})"
    )
    return parser


async def replay_query(
    client: Client, query: str, workflows: Sequence[type], *, limit: int, out: TextIO
) -> int:
    """Replay every run `query` selects (up to `limit`); print one line per run. Returns the
    number of runs that diverged."""
    replayer = Replayer(workflows=workflows, namespace=client.namespace)
    diverged = replayed = 0
    async for execution in client.list_workflows(query):
        if replayed >= limit:
            break
        replayed += 1
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        if failure is None:
            print(f"ok    {execution.id} {execution.run_id}", file=out)
            continue
        diverged += 1
        where = getattr(failure, "event_id", None)
        at = f" at event {where}" if where is not None else ""
        print(f"FAIL  {execution.id} {execution.run_id}{at}: {failure}", file=out)
    print(f"{replayed} replayed, {diverged} diverged", file=out)
    return diverged


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    workflows: list[type] = []
    for reference in args.workflows:
        workflows += workflows_from(reference)
    client = await Client.connect(args.address, api_key=args.api_key, namespace=args.namespace)
    try:
        diverged = await replay_query(client, args.query, workflows, limit=args.limit, out=out)
    finally:
        await client.close()
    return 1 if diverged else 0


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """`perdure replay …` (arguments without the command words); the exit code."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    stream = out or sys.stdout
    try:
        return asyncio.run(_run(args, stream))
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"perdure replay: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
