"""`perdure operator namespace create|describe|list|update|delete`, `perdure operator
search-attribute create|list|remove` and `perdure operator cluster health` (Temporal's
`temporal operator …`), and `perdure task-queue describe`."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from perdure._http import segment
from perdure.cli import flow
from perdure.cli._api import CommandFailed, Session, UsageError
from perdure.cli._flags import duration
from perdure.cli._output import field

NAMESPACE_COLUMNS = [
    ("Name", field("name")),
    ("RetentionDays", field("retention_days")),
    ("Description", field("description")),
]
ATTRIBUTE_TYPES = [
    "Keyword",
    "Text",
    "Int",
    "Double",
    "Bool",
    "Datetime",
    "KeywordList",
]


def _target(s: Session) -> str:
    """The namespace a namespace command acts on: its positional argument, else `-n`."""
    name: str | None = s.args.name or getattr(s.args, "namespace", None)
    if not name:
        raise UsageError("name the namespace: a positional argument or --namespace")
    return name


def _days(seconds: float | None) -> int | None:
    """Temporal's `--retention` is a duration; Perdure keeps whole days (rounded up)."""
    return None if seconds is None else max(1, math.ceil(seconds / 86400))


def namespace_create(s: Session) -> int:
    a = s.args
    body = {"name": _target(s), "description": a.description, "retention_days": _days(a.retention)}
    made = s.api.call("POST", "/api/v1/namespaces", json={k: v for k, v in body.items() if v})
    s.out.document(made, lambda n: print(f"Namespace {n['name']} successfully registered."))
    return 0


def namespace_describe(s: Session) -> int:
    s.out.document(s.api.call("GET", f"/api/v1/namespaces/{segment(_target(s))}"))
    return 0


def namespace_list(s: Session) -> int:
    s.out.items(s.api.pages("/api/v1/namespaces", "namespaces"), NAMESPACE_COLUMNS)
    return 0


def namespace_update(s: Session) -> int:
    a = s.args
    body = {"description": a.description, "retention_days": _days(a.retention)}
    body = {k: v for k, v in body.items() if v is not None}
    if not body:
        raise UsageError("nothing to change: give --description or --retention")
    path = f"/api/v1/namespaces/{segment(_target(s))}"
    changed = s.api.call("PATCH", path, json=body)
    s.out.document(changed, lambda n: print(f"Namespace {n['name']} update succeeded."))
    return 0


def namespace_delete(s: Session) -> int:
    name = _target(s)
    if not s.args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"deleting namespace {name} needs --yes when not run from a terminal")
        if input(f"Delete namespace {name} and all its data? y/N ").strip().lower() not in (
            "y",
            "yes",
        ):
            raise CommandFailed("namespace not deleted")
    s.api.call("DELETE", f"/api/v1/namespaces/{segment(name)}")
    s.out.say(f"Namespace {name} has been deleted.")
    return 0


def search_attribute_create(s: Session) -> int:
    a = s.args
    if len(a.name) != len(a.type):
        raise UsageError("give one --type per --name, in the same order")
    body = {"search_attributes": dict(zip(a.name, a.type, strict=True))}
    answer = s.api.call("POST", s.api.ns("search-attributes"), json=body)
    s.out.document(answer, lambda _: print("Search attributes have been added"))
    return 0


def search_attribute_remove(s: Session) -> int:
    """Temporal's `operator search-attribute remove`: asks first unless `--yes`; each name is
    removed with every run's value of it. Answers the attributes left."""
    names = s.args.name
    if not s.args.yes:
        listed = ", ".join(names)
        if not sys.stdin.isatty():
            raise UsageError(
                f"removing search attributes {listed} needs --yes when not run from a terminal"
            )
        if input(
            f"Remove search attributes {listed} and every run's values of them? y/N "
        ).strip().lower() not in ("y", "yes"):
            raise CommandFailed("search attributes not removed")
    answer: dict[str, Any] = {}
    for name in names:
        answer = s.api.call("DELETE", s.api.ns("search-attributes", name))
    s.out.document(answer, lambda _: print("Search attributes have been removed"))
    return 0


def search_attribute_list(s: Session) -> int:
    answer = s.api.call("GET", s.api.ns("search-attributes"))
    rows = [
        {"name": name, "type": kind, "kind": kind_of}
        for kind_of in ("custom", "system")
        for name, kind in (answer.get(f"{kind_of}_attributes") or {}).items()
    ]
    s.out.document(
        answer,
        lambda _: s.out.table(
            rows, [("Name", field("name")), ("Type", field("type")), ("Kind", field("kind"))]
        ),
    )
    return 0


def cluster_health(s: Session) -> int:
    """Temporal's `operator cluster health`: SERVING when the server is ready (its database
    reachable and migrated), else the reason and exit status 1."""
    s.out.document(s.api.call("GET", "/readyz"), lambda _: print("SERVING"))
    return 0


def task_queue_describe(s: Session) -> int:
    """Backlog and recent pollers of a task queue (Temporal's `task-queue describe`)."""
    answer = s.api.call("GET", s.api.ns("task-queues", s.args.task_queue))

    def text(tq: dict[str, Any]) -> None:
        def pairs(values: dict[str, Any]) -> str:
            return "  ".join(f"{k}={'-' if v is None else v}" for k, v in values.items())

        print(f"Task queue {tq['name']}")
        print(f"  Backlog             {pairs(tq.get('backlog') or {})}")
        print(f"  Oldest task age (s) {pairs(tq.get('backlog_age_seconds') or {})}")
        print("Pollers:" if tq.get("pollers") else "Pollers: none")
        if tq.get("pollers"):
            columns = [(k.title().replace("_", ""), field(k)) for k in _poller_keys(tq)]
            s.out.table(tq["pollers"], columns)

    s.out.document(answer, text)
    return 0


def _poller_keys(tq: dict[str, Any]) -> list[str]:
    pollers = tq.get("pollers") or []
    return list(pollers[0].keys()) if pollers else []


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    operator = commands.add_parser(
        "operator", help="namespaces, search attributes, server health", description=__doc__
    ).add_subparsers(dest="group", required=True, metavar="GROUP")

    namespace = operator.add_parser("namespace", help="manage namespaces").add_subparsers(
        dest="action", required=True, metavar="COMMAND"
    )

    def ns_command(name: str, run: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = namespace.add_parser(name, parents=common, help=help)
        p.add_argument("name", nargs="?", help="the namespace (default: --namespace)")
        p.set_defaults(run=run)
        return p

    for name, run, help in (
        ("create", namespace_create, "create a namespace"),
        ("update", namespace_update, "change a namespace's description or retention"),
    ):
        p = ns_command(name, run, help)
        p.add_argument("--description")
        p.add_argument("--retention", type=duration, help="e.g. 72h or 30d (whole days)")
    ns_command("describe", namespace_describe, "a namespace and its settings")
    namespace.add_parser("list", parents=common, help="namespaces this key may use").set_defaults(
        run=namespace_list
    )
    ns_command("delete", namespace_delete, "delete a namespace").add_argument(
        "--yes", "-y", action="store_true", help="without asking"
    )

    attributes = operator.add_parser(
        "search-attribute", help="custom search attributes"
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")
    p = attributes.add_parser("create", parents=common, help="register custom search attributes")
    p.add_argument("--name", action="append", required=True, help="attribute name; repeatable")
    p.add_argument(
        "--type", action="append", required=True, help=f"its type: {', '.join(ATTRIBUTE_TYPES)}"
    )
    p.set_defaults(run=search_attribute_create)
    attributes.add_parser(
        "list", parents=common, help="the namespace's search attributes"
    ).set_defaults(run=search_attribute_list)
    p = attributes.add_parser(
        "remove", parents=common, help="remove custom search attributes and their values"
    )
    p.add_argument("--name", action="append", required=True, help="attribute name; repeatable")
    p.add_argument("--yes", "-y", action="store_true", help="without asking")
    p.set_defaults(run=search_attribute_remove)

    cluster = operator.add_parser("cluster", help="the server").add_subparsers(
        dest="action", required=True, metavar="COMMAND"
    )
    cluster.add_parser("health", parents=common, help="whether the server serves").set_defaults(
        run=cluster_health
    )

    task_queue = commands.add_parser(
        "task-queue", help="task queues", description="Task queues of a namespace."
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")
    p = task_queue.add_parser("describe", parents=common, help="backlog and recent pollers")
    p.add_argument("--task-queue", "-t", required=True)
    p.set_defaults(run=task_queue_describe)
    flow.register_config(task_queue, common)
