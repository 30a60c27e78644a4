"""Worker Versioning from the command line, as Temporal's CLI has it: `perdure worker deployment
list|describe|delete|describe-version|set-current-version|set-ramping-version|delete-version`
and `perdure workflow update-options` (a run's versioning override); and Perdure's replay gate:
`perdure worker deployment replay-check|describe-replay-check`.

A version is a deployment name and a build id; an empty build id (`--unversioned`) names the
unversioned workers, as current or ramping target. Routing changes ask before they act unless
`--yes`, and send the conflict token read when asking, so that a change made by someone else in
between is refused (409 conflict-token-mismatch) instead of overwritten.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from perdure.cli._api import CommandFailed, Session, UsageError
from perdure.cli._flags import duration
from perdure.cli._output import compact, field

UNVERSIONED = "__unversioned__"  # how Temporal's CLI prints the unversioned workers
# Temporal's `--versioning-override-behavior` values; `unspecified` (and `unset`) clears it.
OVERRIDE_BEHAVIORS = ("pinned", "auto_upgrade", "unspecified", "unset")


def version_text(version: Any) -> str:
    """A version as one string (`deployment.build_id`, Temporal's canonical form);
    `__unversioned__` for none."""
    if not isinstance(version, dict) or not version.get("build_id"):
        return UNVERSIONED
    return f"{version.get('deployment_name')}.{version['build_id']}"


def _routing(item: dict[str, Any]) -> dict[str, Any]:
    info = item.get("worker_deployment_info", item)
    routing: dict[str, Any] = info.get("routing_config") or {}
    return routing


DEPLOYMENT_COLUMNS = [
    ("Name", field("name")),
    ("CreateTime", field("create_time")),
    ("CurrentVersion", lambda d: version_text(_routing(d).get("current_version"))),
    ("RampingVersion", lambda d: _ramping_text(_routing(d))),
    ("RampingPercentage", lambda d: _routing(d).get("ramping_version_percentage") or 0),
]
VERSION_COLUMNS = [
    ("BuildId", field("version.build_id")),
    ("Status", field("status")),
    ("DrainageStatus", field("drainage_status")),
    ("CreateTime", field("create_time")),
]
TASK_QUEUE_COLUMNS = [("Name", field("name")), ("Type", field("type"))]
POLLER_COLUMNS = [
    ("TaskQueue", field("task_queue")),
    ("Type", field("type")),
    ("LastAccessTime", field("last_access_time")),
]


def _ramping_text(routing: dict[str, Any]) -> str:
    """The ramping version, or nothing when no version ramps (the unversioned workers can
    ramp too: then `__unversioned__`)."""
    ramping = routing.get("ramping_version")
    if ramping is None and not routing.get("ramping_version_percentage"):
        return ""
    return version_text(ramping)


def _deployment(s: Session) -> str:
    name: str | None = s.args.deployment_name
    if not name:
        raise UsageError("name the deployment: --deployment-name (or --name, -d)")
    return name


def _build_id(s: Session) -> str:
    """`--build-id`, or '' with `--unversioned`: exactly one of the two."""
    a = s.args
    if getattr(a, "unversioned", False):
        if a.build_id is not None:
            raise UsageError("give --build-id or --unversioned, not both")
        return ""
    if not a.build_id:
        raise UsageError("give --build-id (or --unversioned for the unversioned workers)")
    build_id: str = a.build_id
    return build_id


def deployment_list(s: Session) -> int:
    pages = s.api.pages(s.api.ns("worker-deployments"), "worker_deployments", limit=s.args.limit)
    count = s.out.items(pages, DEPLOYMENT_COLUMNS)
    if count == 0:
        s.out.say("No worker deployment: one exists once a versioned worker polls.")
    return 0


def _describe_deployment(s: Session, name: str) -> dict[str, Any]:
    answer: dict[str, Any] = s.api.call("GET", s.api.ns("worker-deployments", name))
    return answer


def deployment_describe(s: Session) -> int:
    answer = _describe_deployment(s, _deployment(s))

    def text(d: dict[str, Any]) -> None:
        info = d.get("worker_deployment_info") or {}
        routing = info.get("routing_config") or {}
        print("Worker Deployment:")
        s.out.fields(
            {
                "Name": info.get("name"),
                "CreateTime": info.get("create_time"),
                "LastModifierIdentity": info.get("last_modifier_identity"),
                "CurrentVersion": version_text(routing.get("current_version")),
                "CurrentVersionChangedTime": routing.get("current_version_changed_time"),
                "RampingVersion": _ramping_text(routing),
                "RampingVersionPercentage": routing.get("ramping_version_percentage") or 0,
                "RampingVersionChangedTime": routing.get("ramping_version_changed_time"),
                "ConflictToken": d.get("conflict_token"),
            }
        )
        summaries = info.get("version_summaries") or []
        print()
        print("Version Summaries:")
        if summaries:
            s.out.table(summaries, VERSION_COLUMNS)
        else:
            print("  (no version has polled)")

    s.out.document(answer, text)
    return 0


def deployment_delete(s: Session) -> int:
    name = _deployment(s)
    s.api.call("DELETE", s.api.ns("worker-deployments", name))
    s.out.document({"deleted": name}, lambda _: print(f"Deleted worker deployment {name}"))
    return 0


def version_describe(s: Session) -> int:
    path = s.api.ns("worker-deployment-versions", _deployment(s), _build_id(s))
    answer = s.api.call("GET", path)

    def text(d: dict[str, Any]) -> None:
        info = d.get("worker_deployment_version_info") or {}
        drainage = info.get("drainage_info") or {}
        runs = d.get("open_runs") or {}
        print("Worker Deployment Version:")
        s.out.fields(
            {
                "Version": version_text(info.get("version")),
                "Status": info.get("status"),
                "CreateTime": info.get("create_time"),
                "CurrentSinceTime": info.get("current_since_time"),
                "RampingSinceTime": info.get("ramping_since_time"),
                "RoutingChangedTime": info.get("routing_changed_time"),
                "FirstActivationTime": info.get("first_activation_time"),
                "LastDeactivationTime": info.get("last_deactivation_time"),
                "DrainageStatus": drainage.get("status"),
                "DrainageLastChangedTime": drainage.get("last_changed_time"),
                "DrainageLastCheckedTime": drainage.get("last_checked_time"),
                "OpenRunsPinned": runs.get("PINNED", 0),
                "OpenRunsAutoUpgrade": runs.get("AUTO_UPGRADE", 0),
            }
        )
        for heading, rows, columns in (
            ("Task Queues", info.get("task_queue_infos") or [], TASK_QUEUE_COLUMNS),
            ("Pollers", d.get("pollers") or [], POLLER_COLUMNS),
        ):
            print()
            print(f"{heading}:")
            if rows:
                s.out.table(rows, columns)
            else:
                print("  (none)")

    s.out.document(answer, text)
    return 0


def _confirm(s: Session, question: str) -> None:
    """Ask before a routing change, as Temporal's CLI does; refused without a terminal unless
    `--yes` (a script must say so)."""
    if not sys.stdin.isatty():
        raise UsageError(f"{question} — add --yes to change it without a prompt")
    answer = input(f"{question} y/N ")
    if answer.strip().lower() not in ("y", "yes"):
        raise CommandFailed("nothing changed")


def _promotion_body(s: Session, build_id: str) -> dict[str, Any]:
    """The checks' overrides and the caller's identity, as the routes name them."""
    a = s.args
    body: dict[str, Any] = {"build_id": build_id}
    for flag in ("allow_no_pollers", "ignore_missing_task_queues", "ignore_replay_check"):
        if getattr(a, flag):
            body[flag] = True
    if a.identity:
        body["identity"] = a.identity
    if a.conflict_token:
        body["conflict_token"] = a.conflict_token
    return body


def _ask_with_token(s: Session, name: str, change: str, body: dict[str, Any]) -> None:
    """Without `--yes`: show what changes, ask, and pin the change to the routing that was shown
    (its conflict token) unless `--conflict-token` pinned it already."""
    if s.args.yes:
        return
    shown = _describe_deployment(s, name)
    routing = _routing(shown)
    now = (
        f"current {version_text(routing.get('current_version'))}, ramping "
        f"{_ramping_text(routing) or 'nothing'}"
    )
    _confirm(s, f"Worker deployment {name} ({now}): {change}?")
    body.setdefault("conflict_token", shown.get("conflict_token"))


def set_current(s: Session) -> int:
    name = _deployment(s)
    build_id = _build_id(s)
    body = _promotion_body(s, build_id)
    target = version_text({"deployment_name": name, "build_id": build_id})
    _ask_with_token(s, name, f"set the current version to {target}", body)
    path = s.api.ns("worker-deployments", name, "set-current-version")
    answer = s.api.call("POST", path, json=body)
    s.out.document(
        answer,
        lambda r: print(
            f"Current version of {name} set to {target} (was "
            f"{version_text(r.get('previous_version'))})"
        ),
    )
    return 0


def set_ramping(s: Session) -> int:
    a = s.args
    name = _deployment(s)
    if a.delete:
        # Temporal's `--delete`: nothing ramps any more (the unversioned target at 0 %).
        if a.build_id is not None or a.unversioned or a.percentage is not None:
            raise UsageError("--delete takes no --build-id, --unversioned or --percentage")
        build_id, percentage = "", 0.0
        change = "stop ramping"
    else:
        build_id = _build_id(s)
        if a.percentage is None:
            raise UsageError("give --percentage (0 to 100), or --delete to stop ramping")
        percentage = a.percentage
        target = version_text({"deployment_name": name, "build_id": build_id})
        change = f"ramp {percentage:g} % of new runs to {target}"
    if not 0 <= percentage <= 100:
        raise UsageError(f"--percentage must be between 0 and 100, not {percentage:g}")
    body = {**_promotion_body(s, build_id), "percentage": percentage}
    _ask_with_token(s, name, change, body)
    path = s.api.ns("worker-deployments", name, "set-ramping-version")
    answer = s.api.call("POST", path, json=body)

    def text(r: dict[str, Any]) -> None:
        previous = version_text(r.get("previous_version"))
        was = f"{previous} at {compact(r.get('previous_percentage') or 0)} %"
        print(f"Ramping version of {name}: {change} (was {was})")

    s.out.document(answer, text)
    return 0


def version_delete(s: Session) -> int:
    a = s.args
    name, build_id = _deployment(s), _build_id(s)
    params = {"skip_drainage": "true"} if a.skip_drainage else None
    path = s.api.ns("worker-deployment-versions", name, build_id)
    s.api.call("DELETE", path, params=params)
    target = version_text({"deployment_name": name, "build_id": build_id})
    s.out.document(
        {"deleted": {"deployment_name": name, "build_id": build_id}},
        lambda _: print(f"Deleted worker deployment version {target}"),
    )
    return 0


FAILURE_COLUMNS = [
    ("WorkflowId", field("workflow_id")),
    ("RunId", field("run_id")),
    ("Type", field("workflow_type")),
    ("EventId", field("event_id")),
    ("Message", field("message")),
]
# `replay-check --wait`: how often the check's progress is read (seconds).
CHECK_POLL_SECONDS = 1.0


def _check_text(s: Session, check: dict[str, Any]) -> None:
    progress = check.get("progress") or {}
    print(f"Replay check {check.get('check_id')} of {version_text(check.get('version'))}:")
    s.out.fields(
        {
            "Status": check.get("status"),
            "Progress": f"{progress.get('passed', 0)} passed, {progress.get('failed', 0)} failed, "
            f"{progress.get('pending', 0) + progress.get('running', 0)} to go of "
            f"{progress.get('total', 0)}",
            "WaitingOn": check.get("waiting_on"),
            "CreateTime": check.get("create_time"),
            "FinishTime": check.get("finish_time"),
            "ValidUntil": check.get("valid_until"),
        }
    )
    failures = check.get("failures") or []
    if failures:
        print()
        print("Failing runs:")
        s.out.table(failures, FAILURE_COLUMNS)


def _versions_path(s: Session, *parts: str) -> str:
    return s.api.ns("worker-deployment-versions", _deployment(s), _build_id(s), *parts)


def _wait_for(s: Session, check: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Read the check's progress until it finishes or `seconds` pass (the check goes on
    on the server either way)."""
    deadline = time.monotonic() + seconds
    path = _versions_path(s, "replay-checks", check["check_id"])
    while check.get("status") == "running" and time.monotonic() < deadline:
        time.sleep(CHECK_POLL_SECONDS)
        check = s.api.call("GET", path)
    return check


def _check_outcome(s: Session, check: dict[str, Any]) -> int:
    """Print the check; exit status 1 when it failed (as `perdure replay`), 0 otherwise."""
    s.out.document(check, lambda c: _check_text(s, c))
    return 1 if check.get("status") == "failed" else 0


def replay_check(s: Session) -> int:
    """Start a replay check of the version (Perdure's replay gate); with `--wait`, follow it."""
    a = s.args
    body: dict[str, Any] = {"sample_size": a.sample_size}
    if a.query:
        body["query"] = a.query
    if a.identity:
        body["identity"] = a.identity
    check = s.api.call("POST", _versions_path(s, "replay-check"), json=body)
    if a.wait:
        check = _wait_for(s, check, a.timeout)
    return _check_outcome(s, check)


def describe_replay_check(s: Session) -> int:
    """A check by `--check-id`, else the version's latest."""
    a = s.args
    if a.check_id:
        check = s.api.call("GET", _versions_path(s, "replay-checks", a.check_id))
    else:
        listed = s.api.call("GET", _versions_path(s, "replay-checks"), params={"page_size": 1})
        if not listed["checks"]:
            raise CommandFailed(
                "the version has no replay check yet (perdure worker deployment "
                "replay-check starts one)"
            )
        latest = listed["checks"][0]["check_id"]
        check = s.api.call("GET", _versions_path(s, "replay-checks", latest))
    return _check_outcome(s, check)


def override_of(a: argparse.Namespace) -> dict[str, Any] | None:
    """The versioning override the `--versioning-override-…` flags describe (None: unset),
    in the start request's shape (Temporal's VersioningOverride)."""
    behavior = a.versioning_override_behavior
    name, build_id = a.versioning_override_deployment_name, a.versioning_override_build_id
    if behavior == "pinned":
        if not name or not build_id:
            raise UsageError(
                "a pinned override needs --versioning-override-deployment-name and "
                "--versioning-override-build-id"
            )
        version = {"deployment_name": name, "build_id": build_id}
        return {"pinned": {"behavior": "PINNED", "version": version}}
    if name or build_id:
        raise UsageError(
            "--versioning-override-deployment-name and --versioning-override-build-id go with "
            "--versioning-override-behavior pinned"
        )
    if behavior == "auto_upgrade":
        return {"auto_upgrade": True}
    return None


def update_options(s: Session) -> int:
    a = s.args
    body: dict[str, Any] = {
        "workflow_execution_options": {"versioning_override": override_of(a)},
        "update_mask": "versioning_override",
    }
    if a.run_id:
        body["run_id"] = a.run_id
    path = s.api.ns("workflows", a.workflow_id, "update-options")
    answer = s.api.call("POST", path, json=body)
    s.out.document(answer, lambda _: print("Update workflow options succeeded"))
    return 0


def _deployment_flag(p: argparse.ArgumentParser, primary: str) -> None:
    """Temporal names the deployment `--name/-d` on deployment commands and `--deployment-name`
    on version commands; both spellings are taken everywhere."""
    others = [f for f in ("--deployment-name", "--name", "-d") if f != primary]
    p.add_argument(primary, *others, dest="deployment_name", help="worker deployment name")


def _version_flags(p: argparse.ArgumentParser, unversioned: bool = False) -> None:
    _deployment_flag(p, "--deployment-name")
    p.add_argument("--build-id", help="build id of the version")
    if unversioned:
        p.add_argument(
            "--unversioned",
            action="store_true",
            help="the unversioned workers as target (instead of --build-id)",
        )


def _promotion_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-no-pollers",
        action="store_true",
        help="even if no worker of the version has polled",
    )
    p.add_argument(
        "--ignore-missing-task-queues",
        action="store_true",
        help="even if the version does not poll a task queue the current version polls",
    )
    p.add_argument(
        "--ignore-replay-check",
        action="store_true",
        help="even without a passing replay check of the version (Perdure's gate)",
    )
    p.add_argument("--identity", help="who makes the change (recorded as last modifier)")
    p.add_argument("--conflict-token", help="refuse if the routing changed since this token")
    p.add_argument("--yes", "-y", action="store_true", help="change it without asking")


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    """The `worker deployment` group."""
    worker = commands.add_parser(
        "worker", help="worker deployments and their versions", description=__doc__
    ).add_subparsers(dest="worker_group", required=True, metavar="COMMAND")
    group = worker.add_parser(
        "deployment", help="worker deployments: versions, current and ramping", description=__doc__
    ).add_subparsers(dest="action", required=True, metavar="COMMAND")

    def command(name: str, run: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(name, parents=common, help=help)
        p.set_defaults(run=run)
        return p

    p = command("list", deployment_list, "the namespace's worker deployments")
    p.add_argument("--limit", type=int, default=0, help="at most this many (0: all)")
    _deployment_flag(
        command("describe", deployment_describe, "a deployment and its versions"), "--name"
    )
    _deployment_flag(
        command("delete", deployment_delete, "delete a deployment with no versions"), "--name"
    )
    _version_flags(
        command("describe-version", version_describe, "a version: pollers, queues, runs")
    )

    p = command("set-current-version", set_current, "make a version current")
    _version_flags(p, unversioned=True)
    _promotion_flags(p)

    p = command("set-ramping-version", set_ramping, "ramp a share of new runs to a version")
    _version_flags(p, unversioned=True)
    p.add_argument("--percentage", type=float, help="share of new runs, 0 to 100")
    p.add_argument("--delete", action="store_true", help="stop ramping")
    _promotion_flags(p)

    p = command("replay-check", replay_check, "replay open runs' histories on the version")
    _version_flags(p)
    p.add_argument(
        "--sample-size", type=int, default=100, help="runs to replay, 1 to 1000 (default 100)"
    )
    p.add_argument("--query", "-q", help="list filter narrowing the runs sampled")
    p.add_argument("--identity", help="who asks (shown with the check)")
    p.add_argument("--wait", action="store_true", help="follow the check until it finishes")
    p.add_argument(
        "--timeout", type=duration, default=600.0, help="with --wait: at most this long (10m)"
    )

    p = command("describe-replay-check", describe_replay_check, "a replay check's progress")
    _version_flags(p)
    p.add_argument("--check-id", help="the check (default: the version's latest)")

    p = command("delete-version", version_delete, "delete a drained, unpolled version")
    _version_flags(p)
    p.add_argument(
        "--skip-drainage", action="store_true", help="even if pinned runs may still need it"
    )


def register_workflow(group: Any, common: list[argparse.ArgumentParser]) -> None:
    """`update-options` in the `workflow` group."""
    p = group.add_parser(
        "update-options", parents=common, help="change a run's versioning override"
    )
    p.add_argument("--workflow-id", "-w", required=True, help="workflow id")
    p.add_argument("--run-id", "-r", help="run id (default: the latest run)")
    p.add_argument(
        "--versioning-override-behavior",
        required=True,
        type=str.lower,
        choices=OVERRIDE_BEHAVIORS,
        help="pinned, auto_upgrade, or unspecified (unset) to remove the override",
    )
    p.add_argument("--versioning-override-deployment-name", help="with pinned: the deployment")
    p.add_argument("--versioning-override-build-id", help="with pinned: the build id")
    p.set_defaults(run=update_options)
