"""The `perdure` command: Temporal CLI's commands and flags over Perdure's REST API
(`perdure workflow list -o json`), and the one entry point of the `perdure` script — the
server's own commands (`dev`, `serve`, `migrate`, …) are handed to the server's command
(`perdure-server`, run in this process's place) when the server is installed.

argparse (the standard library) rather than click or typer: the SDK keeps its dependencies to
httpx and its transport, the server's commands are argparse too (one style of help and errors),
and completion scripts are made from the parser tree (`completion.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from perdure.cli import (
    activity,
    batch,
    completion,
    config,
    definition,
    flow,
    operator,
    schedule,
    versioning,
    workflow,
)
from perdure.cli._api import CommandFailed, Session, connection_of
from perdure.cli._flags import add_global_flags
from perdure.cli._output import error_line

# The server's commands (app/cli.py), listed in `perdure --help` and handed over as they are
# (tests/test_cli_entry.py checks the list against the server's parser).
SERVER_COMMANDS = {
    "dev": "run a local server on SQLite with a ready-made tenant and key",
    "serve": "run the server (production)",
    "migrate": "upgrade the database schema",
    "tenant": "manage tenants (server side)",
    "rotate-secrets": "seal stored secrets again with PERDURE_SECRET_KEY",
    "openapi": "write the OpenAPI document",
}
SERVER_DISTRIBUTION = "perdure-server"
SERVER_SCRIPT = "perdure-server"


class Parser(argparse.ArgumentParser):
    """argparse with Temporal CLI's usage errors: one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]  # exits, as argparse's
        error_line(f"{message} (see '{self.prog} --help')")
        sys.exit(2)


def build_parser() -> Parser:
    parser = Parser(
        prog="perdure",
        description="Perdure's command line: workflows, schedules, batch jobs, namespaces, "
        "definitions and API keys over the REST API; dev, serve and migrate run the server.",
    )
    parser.add_argument("--version", action="version", version=f"perdure {_version()}")
    add_global_flags(parser)
    common = Parser(add_help=False)
    add_global_flags(common)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    workflow.register(commands, [common])
    batch.register(commands, [common])
    activity.register(commands, [common])
    schedule.register(commands, [common])
    operator.register(commands, [common])
    flow.register(commands, [common])
    definition.register(commands, [common])
    versioning.register(commands, [common])
    config.register(commands, [common])
    completion.register(commands, parser)
    commands.add_parser(  # listed here, run by `_replay` (perdure.replay_cli's own flags)
        "replay", help="replay the histories a list filter selects against local workflow code"
    )
    for name, help in SERVER_COMMANDS.items():  # listed here, run by `_hand_to_server`
        commands.add_parser(name, help=f"server: {help}", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status (0 done, 1 failed, 2 usage)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = _command_index(arguments)
    if command is not None and arguments[command] in SERVER_COMMANDS:
        # Global flags before a server command (`perdure -o json dev`) concern the client only.
        return _hand_to_server(arguments[command:])
    if command is not None and arguments[command] == "replay":
        return _replay(arguments[:command], arguments[command + 1 :])
    args = build_parser().parse_args(arguments)
    session = Session(args)
    try:
        return int(args.run(session))
    except CommandFailed as exc:
        if session.out.form == "json":
            print(json.dumps(exc.problem, ensure_ascii=False), file=sys.stderr, flush=True)
        else:
            error_line(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `perdure workflow list | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        session.close()


# Global flags that take a value (`_flags.add_global_flags`): skipped with it to find the command.
_VALUED_FLAGS = {
    "--address",
    "--namespace",
    "-n",
    "--api-key",
    "--output",
    "-o",
    "--profile",
    "--config-file",
}


def _command_index(arguments: list[str]) -> int | None:
    """Where the command word is, after any global flags; None when there is none."""
    i = 0
    while i < len(arguments):
        word = arguments[i]
        if not word.startswith("-"):
            return i
        i += 2 if word in _VALUED_FLAGS else 1
    return None


def _replay(global_flags: list[str], arguments: list[str]) -> int:
    """`perdure replay …`: perdure.replay_cli with the connection this command line resolves
    (flags, environment, profile) unless its own flags give one; workflow modules are found
    from the current folder, as `python -m perdure.replay_cli` finds them."""
    from perdure import replay_cli

    flags = Parser(prog="perdure", add_help=False)
    add_global_flags(flags)
    try:
        connection = connection_of(flags.parse_known_args(global_flags)[0])
    except CommandFailed as exc:
        error_line(exc.message)
        return exc.exit_code
    for flag, value in (
        ("--address", connection.address),
        ("--api-key", connection.api_key),
        ("--namespace", connection.namespace),
    ):
        if value and not any(a == flag or a.startswith(f"{flag}=") for a in arguments):
            arguments = [flag, value, *arguments]
    sys.path.insert(0, os.getcwd())
    return replay_cli.main(arguments)


def _version() -> str:
    try:
        return metadata.version("perdure")
    except metadata.PackageNotFoundError:
        return "unknown"


def _server_script() -> str | None:
    """The server's own command: beside this Python (the same environment), else on PATH."""
    beside = Path(sys.executable).with_name(SERVER_SCRIPT)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(SERVER_SCRIPT)


def _hand_to_server(arguments: list[str]) -> int:
    """Run the server's command in this process's place (its exit status, its signals), so
    the SDK imports nothing of the server."""
    server = _server_script()
    if server is None:
        error_line(
            f"'{arguments[0]}' runs the Perdure server, which is not installed here (no "
            f"{SERVER_SCRIPT} command): pip install {SERVER_DISTRIBUTION} (or use the server's "
            "image), then run it again"
        )
        return 2
    sys.stdout.flush()
    os.execv(server, [server, *arguments])
