"""`perdure definition put|get|list|start`: stored workflow definitions (Amazon States Language,
JSON or YAML), which the server runs itself, and `perdure api-key create|list|describe|revoke`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from perdure._http import segment
from perdure.cli._api import Session, UsageError
from perdure.cli._flags import add_input_flags, duration, input_of, pairs, timestamp
from perdure.cli._output import field
from perdure.cli.workflow import post_start

DEFINITION_COLUMNS = [
    ("Name", field("name")),
    ("Version", field("version")),
    ("Language", field("language")),
    ("CreatedAt", field("created_at")),
]
KEY_COLUMNS = [
    ("Id", field("id")),
    ("Name", field("name")),
    ("Role", field("role")),
    ("Prefix", field("key_prefix")),
    ("Namespaces", field("namespaces")),
    ("ExpiresAt", field("expires_at")),
    ("RevokedAt", field("revoked_at")),
]
YAML_SUFFIXES = (".yaml", ".yml")


def put(s: Session) -> int:
    """Stores the file as a new version (the server answers the latest one when unchanged)."""
    a = s.args
    path = Path(a.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read --file {a.file}: {exc.strerror}") from None
    kind = "application/yaml" if path.suffix.lower() in YAML_SUFFIXES else "application/json"
    stored = s.api.call(
        "PUT", s.api.ns("definitions", a.name), content=content, headers={"Content-Type": kind}
    )
    s.out.document(stored, lambda d: print(f"Definition {d['name']} version {d['version']}"))
    return 0


def get(s: Session) -> int:
    a = s.args
    if a.version is None:
        path = s.api.ns("definitions", a.name)
    else:
        path = s.api.ns("definitions", a.name, "versions", str(a.version))
    s.out.document(s.api.call("GET", path))
    return 0


def list_definitions(s: Session) -> int:
    pages = s.api.pages(s.api.ns("definitions"), "definitions", limit=s.args.limit)
    s.out.items(pages, DEFINITION_COLUMNS)
    return 0


def start(s: Session) -> int:
    """Starts a run of the definition, pinned to `--version` (default: the latest)."""
    a = s.args
    ref: dict[str, Any] = {"name": a.name}
    if a.version is not None:
        ref["version"] = a.version
    body = {
        "definition": ref,
        "task_queue": a.task_queue,
        "input": input_of(a),
        "execution_timeout": a.execution_timeout,
        "memo": pairs(a.memo, "--memo"),
        "search_attributes": pairs(a.search_attribute, "--search-attribute"),
    }
    started = post_start(s, {k: v for k, v in body.items() if v is not None})
    if not s.out.text:
        s.out.document(started)
    return 0


def key_create(s: Session) -> int:
    """Prints the new key's secret: the only time it is shown."""
    a = s.args
    body = {"name": a.name, "role": a.role, "namespaces": a.key_namespace or None}
    if a.expires_at:
        body["expires_at"] = a.expires_at
    made = s.api.call("POST", "/api/v1/api-keys", json=body)

    def text(k: dict[str, Any]) -> None:
        print(f"API key {k['name']} ({k['role']}), id {k['id']}")
        print("Its secret (shown once, store it now):")
        print(k["key"])

    s.out.document(made, text)
    return 0


def key_list(s: Session) -> int:
    s.out.items(s.api.pages("/api/v1/api-keys", "api_keys", limit=s.args.limit), KEY_COLUMNS)
    return 0


def key_describe(s: Session) -> int:
    s.out.document(s.api.call("GET", f"/api/v1/api-keys/{segment(s.args.id)}"))
    return 0


def key_revoke(s: Session) -> int:
    revoked = s.api.call("POST", f"/api/v1/api-keys/{segment(s.args.id)}/revoke")
    s.out.document(revoked, lambda k: print(f"API key {k['name']} revoked"))
    return 0


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "definition", help="stored workflow definitions (States Language)"
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")

    p = group.add_parser("put", parents=common, help="store a new version from a file")
    p.add_argument("name")
    p.add_argument("--file", "-f", required=True, help="the state machine, .json or .yaml")
    p.set_defaults(run=put)

    p = group.add_parser("get", parents=common, help="a definition (latest or --version)")
    p.add_argument("name")
    p.add_argument("--version", type=int)
    p.set_defaults(run=get)

    p = group.add_parser("list", parents=common, help="definitions, latest version of each")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
    p.set_defaults(run=list_definitions)

    p = group.add_parser("start", parents=common, help="start a run of a definition")
    p.add_argument("name")
    p.add_argument("--version", type=int, help="pin this version (default: the latest)")
    p.add_argument("--workflow-id", "-w", help="workflow id (default: one the server makes)")
    p.add_argument("--task-queue", "-t", help="task queue of its activities (optional)")
    add_input_flags(p, "the run")
    p.add_argument("--execution-timeout", type=duration)
    p.add_argument("--memo", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--search-attribute", action="append", default=[], metavar="KEY=JSON")
    p.set_defaults(run=start)

    keys = commands.add_parser("api-key", help="the tenant's API keys").add_subparsers(
        dest="action", required=True, metavar="COMMAND"
    )
    p = keys.add_parser("create", parents=common, help="create a key; prints its secret once")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=["admin", "operator", "worker", "reader"])
    p.add_argument(
        "--key-namespace",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="a namespace the key may use; repeatable (default: all)",
    )
    p.add_argument("--expires-at", type=timestamp, help="RFC 3339 time")
    p.set_defaults(run=key_create)
    p = keys.add_parser("list", parents=common, help="the tenant's keys (never their secrets)")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
    p.set_defaults(run=key_list)
    for name, run, help in (
        ("describe", key_describe, "one key"),
        ("revoke", key_revoke, "refuse a key from now on"),
    ):
        p = keys.add_parser(name, parents=common, help=help)
        p.add_argument("--id", required=True, help="the key's id (from list)")
        p.set_defaults(run=run)
