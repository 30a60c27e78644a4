"""Flags shared by many commands, named as Temporal's CLI names them, and how their values are
read: durations (`90s`, `1h30m`, `3d`), JSON inputs, `KEY=JSON` pairs, times."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perdure.cli._api import UsageError
from perdure.cli._output import FORMATS
from perdure.converter import encode_args

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    """The connection and output flags every server command takes. Their defaults are left
    unset (SUPPRESS) so that a flag given before the command and one given after it both
    count; `_api.connection_of` supplies the defaults."""
    group = parser.add_argument_group("connection and output")
    quiet = argparse.SUPPRESS
    group.add_argument(
        "--address", default=quiet, help="server URL or host:port (env PERDURE_ADDRESS)"
    )
    group.add_argument(
        "--namespace", "-n", default=quiet, help="namespace (env PERDURE_NAMESPACE; 'default')"
    )
    group.add_argument("--api-key", default=quiet, help="API key (env PERDURE_API_KEY)")
    group.add_argument(
        "--output", "-o", choices=FORMATS, default=quiet, help="text (default), json, jsonl, none"
    )
    group.add_argument(
        "--profile", default=quiet, help="profile of the config file (env PERDURE_PROFILE)"
    )
    group.add_argument(
        "--config-file", default=quiet, help="TOML profile file (env PERDURE_CONFIG_FILE)"
    )
    group.add_argument(
        "--disable-config-file", action="store_true", default=quiet, help="ignore the profile file"
    )
    group.add_argument(
        "--disable-config-env",
        action="store_true",
        default=quiet,
        help="ignore PERDURE_* connection variables",
    )


def duration(text: str) -> float:
    """Seconds from Go's duration form as Temporal's CLI takes it (`10s`, `1h30m`, `500ms`),
    plus `d` for days and a bare number of seconds."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a duration (e.g. 30s, 5m, 1h30m, 7d)"
            ) from None
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration cannot be negative")
    return seconds


def timestamp(text: str) -> str:
    """An RFC 3339 time as the server takes it; a time without an offset is UTC (as Temporal)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time (e.g. 2026-01-31T09:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def add_input_flags(parser: argparse.ArgumentParser, what: str = "the workflow") -> None:
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="JSON",
        help=f"an argument of {what} as JSON; repeat once per argument",
    )
    parser.add_argument(
        "--input-file",
        action="append",
        default=[],
        metavar="PATH",
        help="a file holding one argument as JSON; repeat once per argument",
    )


def input_values(args: argparse.Namespace) -> list[Any]:
    """The values of `--input`/`--input-file`, one per argument, in order."""
    if args.input and args.input_file:
        raise UsageError("give --input or --input-file, not both")
    values = [_json(text, "--input") for text in args.input]
    for name in args.input_file:
        try:
            values.append(_json(Path(name).read_text(), f"--input-file {name}"))
        except OSError as exc:
            raise UsageError(f"cannot read --input-file {name}: {exc.strerror}") from None
    return values


def input_of(args: argparse.Namespace) -> Any:
    """The payload of `--input`/`--input-file`, in the SDK's wire form of positional
    arguments: one argument as itself, several as a JSON array, none as null."""
    return encode_args(input_values(args))


def pairs(items: list[str], flag: str) -> dict[str, Any] | None:
    """`KEY=JSON` flags (Temporal's `--memo`, `--search-attribute`) as a mapping; a value that
    is not JSON is taken as a string."""
    if not items:
        return None
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} takes KEY=VALUE (VALUE as JSON), not {item!r}")
        try:
            result[key] = json.loads(raw)
        except ValueError:
            result[key] = raw
    return result


def _json(text: str, flag: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{flag} is not JSON ({exc}): {text[:80]!r}") from None


def add_workflow_ref(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--workflow-id", "-w", required=required, help="workflow id")
    parser.add_argument("--run-id", "-r", help="run id (default: the latest run)")


def add_start_flags(p: argparse.ArgumentParser) -> None:
    """Temporal's `workflow start` flags: the id, type, queue, input, timeouts and policies."""
    p.add_argument("--workflow-id", "-w", help="workflow id (default: one the server makes)")
    p.add_argument("--type", required=True, help="workflow type")
    p.add_argument("--task-queue", "-t", required=True, help="task queue of its workers")
    add_input_flags(p)
    p.add_argument("--execution-timeout", type=duration, help="whole workflow, retries included")
    p.add_argument("--run-timeout", type=duration, help="one run")
    p.add_argument("--task-timeout", type=duration, help="one workflow task (default 10s)")
    p.add_argument("--start-delay", type=duration, help="wait this long before the first task")
    p.add_argument(
        "--id-reuse-policy",
        choices=["ALLOW_DUPLICATE", "ALLOW_DUPLICATE_FAILED_ONLY", "REJECT_DUPLICATE"],
    )
    p.add_argument("--id-conflict-policy", choices=["FAIL", "USE_EXISTING", "TERMINATE_EXISTING"])
    p.add_argument("--memo", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--search-attribute", action="append", default=[], metavar="KEY=JSON")


def start_body(args: argparse.Namespace) -> dict[str, Any]:
    """The start request the `add_start_flags` flags describe (unset ones left out)."""
    body: dict[str, Any] = {
        "workflow_type": args.type,
        "task_queue": args.task_queue,
        "input": input_of(args),
        "execution_timeout": args.execution_timeout,
        "run_timeout": args.run_timeout,
        "task_timeout": args.task_timeout,
        "start_delay": args.start_delay,
        "id_reuse_policy": args.id_reuse_policy,
        "id_conflict_policy": args.id_conflict_policy,
        "memo": pairs(args.memo, "--memo"),
        "search_attributes": pairs(args.search_attribute, "--search-attribute"),
    }
    return {k: v for k, v in body.items() if v is not None}
