"""`perdure worker deployment …` and `perdure workflow update-options` as an operator runs them
against a real server: versions made by real versioned polls, routing changed through the CLI,
refusals shown as one line (or the problem body with `-o json`) and changing nothing."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import uuid
from datetime import timedelta

import pytest

from tests.cli_helpers import PERDURE, RUN_TIMEOUT, Cli, Done
from tests.conftest import Tenant
from tests.rawhttp import Raw, schedule_activity
from tests.replay_helpers import answer, replay_poll
from tests.versioning_helpers import age_version_polls


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cli(server, tenant, tmp_path) -> Cli:
    return Cli(server, tenant, tmp_path)


async def versioned_poll(
    tenant: Tenant, queue: str, deployment: str, build_id: str, identity: str = "w1"
) -> None:
    """One workflow-task poll of a versioned worker that waits for nothing: what makes the
    version (and its deployment) exist, with `queue` as one of its task queues."""
    answer = await tenant.client.post(
        tenant.ns(f"/task-queues/{queue}/workflow-tasks/poll"),
        json={
            "identity": identity,
            "wait": 0,
            "deployment_options": {
                "deployment_name": deployment,
                "build_id": build_id,
                "worker_versioning_mode": "VERSIONED",
            },
        },
    )
    assert answer.status_code in (200, 204), answer.text


async def routing(tenant: Tenant, deployment: str) -> dict:
    answer = await tenant.client.get(tenant.ns(f"/worker-deployments/{deployment}"))
    assert answer.status_code == 200, answer.text
    return answer.json()["worker_deployment_info"]["routing_config"]


async def test_list_describe_and_describe_version_show_what_the_polls_made(cli, tenant):
    deployment, queue = new_id("orders"), new_id("q")
    await versioned_poll(tenant, queue, deployment, "b1", identity="worker-b1")

    listed = await cli.json("worker", "deployment", "list")
    listed_text = await cli("worker", "deployment", "list")
    described = await cli.json("worker", "deployment", "describe", "--name", deployment)
    described_text = await cli("worker", "deployment", "describe", "-d", deployment)
    version = await cli.json("worker", "deployment", "describe-version",
                             "--deployment-name", deployment, "--build-id", "b1")  # fmt: skip
    version_text = await cli("worker", "deployment", "describe-version",
                             "--deployment-name", deployment, "--build-id", "b1")  # fmt: skip
    lines = await cli("worker", "deployment", "list", "-o", "jsonl")

    assert [d["name"] for d in listed] == [deployment]
    assert deployment in listed_text.stdout and "__unversioned__" in listed_text.stdout
    info = described["worker_deployment_info"]
    assert [v["version"]["build_id"] for v in info["version_summaries"]] == ["b1"]
    assert "Version Summaries:" in described_text.stdout and "b1" in described_text.stdout
    assert version["worker_deployment_version_info"]["status"] == "inactive"
    assert [q["name"] for q in version["worker_deployment_version_info"]["task_queue_infos"]] == [
        queue
    ]
    assert f"{deployment}.b1" in version_text.stdout
    assert "Pollers:" in version_text.stdout and "TASK_QUEUE_TYPE_WORKFLOW" in version_text.stdout
    assert [json.loads(line)["name"] for line in lines.stdout.splitlines()] == [deployment]


async def test_set_current_refused_without_pollers_changes_nothing_then_allowed(
    server, cli, tenant
):
    deployment, queue = new_id("billing"), new_id("q")
    await versioned_poll(tenant, queue, deployment, "b0")
    await age_version_polls(server, tenant, deployment, "b0", by=timedelta(minutes=6))
    await versioned_poll(tenant, queue, deployment, "b1")

    unknown = await cli("worker", "deployment", "set-current-version", "--deployment-name",
                        deployment, "--build-id", "nobody-polled", "--yes",
                        "--ignore-replay-check")  # fmt: skip
    gone = await cli("worker", "deployment", "set-current-version", "--deployment-name",
                     deployment, "--build-id", "b0", "--yes", "--ignore-replay-check")  # fmt: skip
    as_json = await cli("worker", "deployment", "set-current-version", "--deployment-name",
                        deployment, "--build-id", "b0", "--yes", "--ignore-replay-check",
                        "-o", "json")  # fmt: skip
    unchanged = await routing(tenant, deployment)
    done = await cli("worker", "deployment", "set-current-version", "--deployment-name",
                     deployment, "--build-id", "b1", "--yes", "--ignore-replay-check",
                     "--identity", "deploy-bot")  # fmt: skip
    after = await routing(tenant, deployment)
    described = await cli.json("worker", "deployment", "describe", "--name", deployment)

    assert unknown.returncode == 1 and "not found" in unknown.error_line()
    assert gone.returncode == 1 and "poll" in gone.error_line()
    assert json.loads(as_json.stderr)["type"].endswith("/no-pollers")
    assert unchanged["current_version"]["build_id"] == ""
    assert done.returncode == 0, done
    assert f"set to {deployment}.b1" in done.stdout and "was __unversioned__" in done.stdout
    assert after["current_version"] == {"deployment_name": deployment, "build_id": "b1"}
    assert described["worker_deployment_info"]["last_modifier_identity"] == "deploy-bot"


async def test_set_ramping_then_stop_ramping(cli, tenant):
    deployment, queue = new_id("ramp"), new_id("q")
    for build_id in ("b1", "b2"):
        await versioned_poll(tenant, queue, deployment, build_id)
    await cli("worker", "deployment", "set-current-version", "--deployment-name", deployment,
              "--build-id", "b1", "--yes", "--ignore-replay-check")  # fmt: skip

    ramped = await cli.json("worker", "deployment", "set-ramping-version", "--deployment-name",
                            deployment, "--build-id", "b2", "--percentage", "12.5", "--yes",
                            "--ignore-replay-check")  # fmt: skip
    ramping = await routing(tenant, deployment)
    stopped = await cli("worker", "deployment", "set-ramping-version", "--deployment-name",
                        deployment, "--delete", "--yes")  # fmt: skip
    after = await routing(tenant, deployment)

    assert "conflict_token" in ramped and ramped["previous_percentage"] == 0
    assert ramping["ramping_version"] == {"deployment_name": deployment, "build_id": "b2"}
    assert ramping["ramping_version_percentage"] == 12.5
    assert stopped.returncode == 0, stopped
    assert after["ramping_version"] is None and after["ramping_version_percentage"] == 0
    assert after["current_version"]["build_id"] == "b1"


async def test_a_routing_change_without_yes_and_without_a_terminal_asks_for_yes(cli, tenant):
    deployment, queue = new_id("asked"), new_id("q")
    await versioned_poll(tenant, queue, deployment, "b1")

    asked = await cli("worker", "deployment", "set-current-version", "--deployment-name",
                      deployment, "--build-id", "b1", "--ignore-replay-check")  # fmt: skip

    assert asked.returncode == 2 and "--yes" in asked.error_line()
    assert (await routing(tenant, deployment))["current_version"]["build_id"] == ""


async def test_a_stale_conflict_token_is_refused(cli, tenant):
    deployment, queue = new_id("token"), new_id("q")
    for build_id in ("b1", "b2"):
        await versioned_poll(tenant, queue, deployment, build_id)
    first = await cli.json("worker", "deployment", "set-current-version", "--deployment-name",
                           deployment, "--build-id", "b1", "--yes",
                           "--ignore-replay-check")  # fmt: skip
    await cli("worker", "deployment", "set-current-version", "--deployment-name", deployment,
              "--build-id", "b2", "--yes", "--ignore-replay-check")  # fmt: skip

    stale = await cli("worker", "deployment", "set-current-version", "--deployment-name",
                      deployment, "--unversioned", "--yes", "--conflict-token",
                      first["conflict_token"], "-o", "json")  # fmt: skip

    assert stale.returncode == 1
    assert json.loads(stale.stderr)["type"].endswith("/conflict-token-mismatch")
    assert (await routing(tenant, deployment))["current_version"]["build_id"] == "b2"


async def test_version_and_flag_mistakes_are_usage_errors(cli):
    both = await cli("worker", "deployment", "set-current-version", "--deployment-name", "d",
                     "--build-id", "b", "--unversioned", "--yes")  # fmt: skip
    neither = await cli("worker", "deployment", "set-current-version", "--deployment-name", "d",
                        "--yes")  # fmt: skip
    no_share = await cli("worker", "deployment", "set-ramping-version", "--deployment-name", "d",
                         "--build-id", "b", "--yes")  # fmt: skip
    too_much = await cli("worker", "deployment", "set-ramping-version", "--deployment-name", "d",
                         "--build-id", "b", "--percentage", "101", "--yes")  # fmt: skip
    pinned_alone = await cli("workflow", "update-options", "-w", "x",
                             "--versioning-override-behavior", "pinned")  # fmt: skip

    assert both.returncode == 2 and "not both" in both.error_line()
    assert neither.returncode == 2 and "--build-id" in neither.error_line()
    assert no_share.returncode == 2 and "--percentage" in no_share.error_line()
    assert too_much.returncode == 2 and "between 0 and 100" in too_much.error_line()
    assert pinned_alone.returncode == 2 and "--versioning-override-build-id" in (
        pinned_alone.error_line()
    )


async def test_describe_of_an_unknown_deployment_is_not_found(cli):
    missing = await cli("worker", "deployment", "describe", "--name", new_id("nothing"))
    assert missing.returncode == 1 and "not found" in missing.error_line().lower()


async def test_delete_version_of_a_polled_version_is_refused(cli, tenant):
    deployment, queue = new_id("keep"), new_id("q")
    await versioned_poll(tenant, queue, deployment, "b1")

    refused = await cli("worker", "deployment", "delete-version", "--deployment-name",
                        deployment, "--build-id", "b1", "--skip-drainage")  # fmt: skip
    still = await cli.json("worker", "deployment", "describe", "--name", deployment)

    assert refused.returncode == 1
    assert [
        v["version"]["build_id"] for v in still["worker_deployment_info"]["version_summaries"]
    ] == ["b1"]


async def test_update_options_pins_a_run_and_unsets_the_override(cli, tenant):
    workflow_id, queue = new_id("pinned"), new_id("q")
    await cli("workflow", "start", "-w", workflow_id, "--type", "Flow", "-t", queue)

    pinned = await cli("workflow", "update-options", "-w", workflow_id,
                       "--versioning-override-behavior", "pinned",
                       "--versioning-override-deployment-name", "orders",
                       "--versioning-override-build-id", "b7")  # fmt: skip
    while_pinned = await cli.json("workflow", "describe", "-w", workflow_id)
    unset = await cli.json("workflow", "update-options", "-w", workflow_id,
                           "--versioning-override-behavior", "unspecified")  # fmt: skip
    after = await cli.json("workflow", "describe", "-w", workflow_id)

    assert pinned.returncode == 0 and "succeeded" in pinned.stdout
    override = while_pinned["versioning_info"]["versioning_override"]
    assert override["pinned"]["version"] == {"deployment_name": "orders", "build_id": "b7"}
    assert unset["workflow_execution_options"]["versioning_override"] is None
    assert (after.get("versioning_info") or {}).get("versioning_override") is None


async def test_completion_knows_the_worker_deployment_commands_and_flags(cli):
    script = (await cli("completion", "bash")).stdout

    def complete(*words: str) -> list[str]:
        probe = (
            f"{script}\nCOMP_WORDS=(perdure {' '.join(words)}); COMP_CWORD={len(words)}; "
            '_perdure; printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("worker", "deployment", "set-") == [
        "set-current-version",
        "set-ramping-version",
    ]
    assert "--ignore-replay-check" in complete("worker", "deployment", "set-current-version", "--")
    assert "--versioning-override-behavior" in complete("workflow", "update-options", "--")


async def test_the_replay_gate_from_the_command_line(cli, tenant):
    raw = Raw(tenant, task_queue=new_id("q"))
    run = await raw.start(new_id("open"))
    await raw.complete(await raw.next_workflow_task(), schedule_activity("a1"))
    deployment = new_id("gated")
    await versioned_poll(tenant, raw.q, deployment, "v2")
    version = ("--deployment-name", deployment, "--build-id", "v2")

    ungated = await cli("worker", "deployment", "set-current-version", *version, "--yes",
                        "-o", "json")  # fmt: skip
    started = await cli.json("worker", "deployment", "replay-check", *version)
    task = await replay_poll(tenant, raw.q, deployment, "v2")
    failure = {"message": "emitted START_TIMER", "kind": "nondeterminism", "event_id": 5}
    await answer(tenant, task["replay_task"]["token"], "failed", failure=failure)
    failed = await cli("worker", "deployment", "describe-replay-check", *version)
    refused = await cli("worker", "deployment", "set-current-version", *version, "--yes",
                        "-o", "json")  # fmt: skip

    assert json.loads(ungated.stderr)["type"].endswith("/replay-check-required")
    assert started["status"] == "running" and started["progress"]["total"] == 1
    assert "replay" in started["waiting_on"]
    assert failed.returncode == 1  # a failed check fails the command, as `perdure replay`
    assert "Failing runs:" in failed.stdout and run["run_id"] in failed.stdout
    assert "emitted START_TIMER" in failed.stdout
    problem = json.loads(refused.stderr)
    assert problem["type"].endswith("/replay-check-failed")
    assert [(f["run_id"], f["event_id"]) for f in problem["failures"]] == [(run["run_id"], 5)]
    assert (await routing(tenant, deployment))["current_version"]["build_id"] == ""


async def test_a_replay_check_with_nothing_to_replay_passes_and_opens_the_gate(cli, tenant):
    deployment, queue = new_id("empty"), new_id("q")
    await versioned_poll(tenant, queue, deployment, "v1")
    version = ("--deployment-name", deployment, "--build-id", "v1")

    checked = await cli("worker", "deployment", "replay-check", *version, "--wait")
    promoted = await cli("worker", "deployment", "set-current-version", *version, "--yes")

    assert checked.returncode == 0 and "passed" in checked.stdout
    assert promoted.returncode == 0, promoted
    assert (await routing(tenant, deployment))["current_version"]["build_id"] == "v1"


async def answered_on_a_terminal(cli: Cli, answer: str, *args: str) -> Done:
    """`perdure …` with a terminal as its stdin (so it asks), answering `answer`."""
    controller, terminal = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            PERDURE, *args, env=cli.env, stdin=terminal,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        os.write(controller, f"{answer}\n".encode())
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode is not None
    return Done(process.returncode, out.decode(), err.decode())


async def test_on_a_terminal_a_routing_change_shows_the_routing_and_asks(cli, tenant):
    deployment, queue = new_id("asking"), new_id("q")
    await versioned_poll(tenant, queue, deployment, "b1")
    change = ("worker", "deployment", "set-current-version", "--deployment-name", deployment,
              "--build-id", "b1", "--ignore-replay-check")  # fmt: skip

    declined = await answered_on_a_terminal(cli, "n", *change)
    unchanged = await routing(tenant, deployment)
    accepted = await answered_on_a_terminal(cli, "y", *change)

    asked = f"Worker deployment {deployment} (current __unversioned__, ramping nothing)"
    assert declined.returncode == 1 and asked in declined.stdout
    assert f"set the current version to {deployment}.b1?" in declined.stdout
    assert unchanged["current_version"]["build_id"] == ""
    assert accepted.returncode == 0, accepted
    assert (await routing(tenant, deployment))["current_version"]["build_id"] == "b1"
