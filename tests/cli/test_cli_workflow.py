"""`perdure workflow …` and `perdure batch …` as a user runs them against a real server: starts,
lists that pipe into JSON tools, histories, results, signals, queries, cancels, terminates,
batch jobs by list filter, and errors as one line with the problem's detail."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from perdure import workflow
from perdure.client import Client
from perdure.worker import Worker

from tests.cli_helpers import PERDURE, Cli, Done
from tests.conftest import new_tenant


@workflow.defn
class Counter:
    """Counts signals until told to finish; answers its total to a query."""

    def __init__(self) -> None:
        self.total = 0
        self.finished = False

    @workflow.run
    async def run(self, start: int, step: int) -> dict[str, int]:
        self.total = start
        await workflow.wait_condition(lambda: self.finished)
        return {"total": self.total, "step": step}

    @workflow.signal
    def add(self, amount: int) -> None:
        self.total += amount

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.query
    def current(self) -> int:
        return self.total

    @workflow.update
    def set_total(self, total: int) -> int:
        previous, self.total = self.total, total
        return previous

    @set_total.validator
    def no_negative_total(self, total: int) -> None:
        if total < 0:
            raise ValueError("the total cannot be negative")


@workflow.defn
class Greeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name}"


ROOT = Path(__file__).resolve().parents[2]


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cli(server, tenant, tmp_path) -> Cli:
    return Cli(server, tenant, tmp_path)


@pytest.fixture
async def worker(server, tenant) -> AsyncIterator[str]:
    """A Python SDK worker of Counter and Greeting on the tenant's namespace; its task queue."""
    queue = new_id("cli-q")
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    async with Worker(client, task_queue=queue, workflows=[Counter, Greeting]):
        yield queue
    await client.close()


async def test_started_workflows_list_as_a_json_array_and_count_by_filter(cli):
    kind = new_id("Listed")
    for n in range(3):
        started = await cli.json(
            "workflow", "start", "-w", f"{kind}-{n}", "--type", kind, "-t", "nobody", "-i", "1"
        )
        assert started["workflow_id"] == f"{kind}-{n}" and started["run_id"]

    listed = await cli("workflow", "list", "-q", f"WorkflowType = '{kind}'", "-o", "json")
    lines = await cli("workflow", "list", "-q", f"WorkflowType = '{kind}'", "-o", "jsonl")
    text = await cli("workflow", "list", "-q", f"WorkflowType = '{kind}'", "--limit", "2")
    counted = await cli.json("workflow", "count", "-q", f"WorkflowType = '{kind}'")
    grouped = await cli(
        "workflow", "count", "-q", f"WorkflowType = '{kind}' GROUP BY ExecutionStatus"
    )

    rows = json.loads(listed.stdout)
    assert isinstance(rows, list)
    assert sorted(r["workflow_id"] for r in rows) == [f"{kind}-{n}" for n in range(3)]
    assert {r["status"] for r in rows} == {"RUNNING"}
    assert [json.loads(line)["workflow_id"] for line in lines.stdout.splitlines()] == [
        r["workflow_id"] for r in rows
    ]
    assert text.stdout.split()[:4] == ["Status", "WorkflowId", "Type", "StartTime"]
    assert len(text.stdout.strip().splitlines()) == 3  # headings and --limit 2 rows
    assert counted["count"] == 3
    assert grouped.stdout.splitlines() == ["Total: 3", "  Running: 3"]


async def test_inputs_are_one_json_value_per_argument_and_describe_shows_the_run(cli):
    workflow_id = new_id("inputs")
    await cli(
        "workflow", "start", "-w", workflow_id, "--type", "Two", "-t", "nobody",
        "-i", '{"a": 1}', "-i", "[2, 3]", "--memo", "owner=\"ops\"",
    )  # fmt: skip

    described = await cli.json("workflow", "describe", "-w", workflow_id)
    history = await cli.json("workflow", "show", "-w", workflow_id)
    text = await cli("workflow", "describe", "-w", workflow_id)

    assert described["workflow_type"] == "Two" and described["status"] == "RUNNING"
    assert described["memo"] == {"owner": "ops"}
    assert history[0]["event_type"] == "WORKFLOW_EXECUTION_STARTED"
    assert history[0]["attributes"]["input"] == [{"a": 1}, [2, 3]]
    assert "workflow_id" in text.stdout and workflow_id in text.stdout


async def test_execute_follows_the_history_and_prints_the_result(cli, worker):
    workflow_id = new_id("greet")

    text = await cli(
        "workflow", "execute", "-w", workflow_id, "--type", "Greeting", "-t", worker, "-i", '"ada"'
    )
    as_json = await cli.json(
        "workflow", "execute", "--type", "Greeting", "-t", worker, "-i", '"bob"'
    )

    assert text.returncode == 0, text
    assert "WORKFLOW_EXECUTION_COMPLETED" in text.stdout
    assert "COMPLETED" in text.stdout and "hello ada" in text.stdout
    assert as_json["status"] == "COMPLETED" and as_json["result"] == "hello bob"


async def test_signal_query_and_result_of_a_running_workflow(cli, worker):
    workflow_id = new_id("counter")
    await cli("workflow", "start", "-w", workflow_id, "--type", "Counter", "-t", worker,
              "-i", "10", "-i", "2")  # fmt: skip

    signaled = await cli("workflow", "signal", "-w", workflow_id, "--name", "add", "-i", "5")
    for _ in range(100):  # the query sees the state of the last completed workflow task
        answer = await cli.json("workflow", "query", "-w", workflow_id, "--name", "current")
        if answer["answer"] == 15:
            break
    await cli("workflow", "signal", "-w", workflow_id, "--name", "finish")
    result = await cli.json("workflow", "result", "-w", workflow_id)
    shown = await cli("workflow", "show", "-w", workflow_id)
    detailed = await cli("workflow", "show", "-w", workflow_id, "--detailed")

    assert signaled.returncode == 0 and "Signal workflow succeeded" in signaled.stdout
    assert answer["answer"] == 15
    assert result["status"] == "COMPLETED" and result["result"] == {"total": 15, "step": 2}
    assert "WORKFLOW_EXECUTION_SIGNALED" in shown.stdout and "signal_name=add" in shown.stdout
    assert "signal_name  add" in detailed.stdout and "task_queue  " in detailed.stdout


async def test_show_follow_streams_events_until_the_run_closes(cli, worker):
    workflow_id = new_id("follow")
    await cli("workflow", "start", "-w", workflow_id, "--type", "Counter", "-t", worker,
              "-i", "0", "-i", "1")  # fmt: skip
    follower = await asyncio.create_subprocess_exec(
        PERDURE, "workflow", "show", "-w", workflow_id, "--follow", "-o", "jsonl",
        env=cli.env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert follower.stdout is not None

    first = await asyncio.wait_for(follower.stdout.readline(), 30)  # while the run is open
    await cli("workflow", "signal", "-w", workflow_id, "--name", "finish")
    rest = await asyncio.wait_for(follower.stdout.read(), 60)
    await follower.wait()

    types = [json.loads(line)["event_type"] for line in [first, *rest.splitlines()]]
    assert types[0] == "WORKFLOW_EXECUTION_STARTED"
    assert types[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    assert "WORKFLOW_EXECUTION_SIGNALED" in types
    assert follower.returncode == 0


async def test_cancel_and_terminate_close_runs_and_result_exits_1(cli, worker):
    canceled, terminated = new_id("cancel"), new_id("terminate")
    for workflow_id in (canceled, terminated):
        await cli("workflow", "start", "-w", workflow_id, "--type", "Counter", "-t", worker,
                  "-i", "0", "-i", "1")  # fmt: skip

    cancel = await cli("workflow", "cancel", "-w", canceled)
    terminate = await cli("workflow", "terminate", "-w", terminated, "--reason", "done here")
    cancel_result = await cli("workflow", "result", "-w", canceled)
    terminate_result = await cli("workflow", "result", "-w", terminated, "-o", "json")

    assert cancel.returncode == 0 and terminate.returncode == 0
    assert "canceled" in cancel_result.error_line()
    assert json.loads(terminate_result.stdout)["status"] == "TERMINATED"
    assert terminate_result.returncode == 1
    described = await cli.json("workflow", "describe", "-w", terminated)
    assert described["status"] == "TERMINATED"


async def test_batch_terminate_by_query_needs_yes_and_is_described_and_listed(cli):
    kind = new_id("Batched")
    for n in range(2):
        await cli("workflow", "start", "-w", f"{kind}-{n}", "--type", kind, "-t", "nobody")
    query = f"WorkflowType = '{kind}'"

    unconfirmed = await cli("workflow", "terminate", "-q", query, "--reason", "cleanup")
    job = await cli.json(
        "workflow", "terminate", "-q", query, "--reason", "cleanup", "--yes", "--rps", "100"
    )
    for _ in range(200):
        described = await cli.json("batch", "describe", "--job-id", job["job_id"])
        if described["state"] != "RUNNING":
            break
        await asyncio.sleep(0.05)
    listed = await cli.json("batch", "list")
    stop_finished = await cli("batch", "terminate", "--job-id", job["job_id"], "--reason", "x")

    assert unconfirmed.returncode == 2
    assert "about 2 workflow(s)" in unconfirmed.error_line() and "--yes" in unconfirmed.stderr
    assert job["operation_type"] == "TERMINATE" and job["reason"] == "cleanup"
    assert described["state"] == "COMPLETED" and described["complete_operation_count"] == 2
    assert job["job_id"] in [j["job_id"] for j in listed]
    assert stop_finished.returncode == 1 and stop_finished.error_line().startswith("perdure: ")
    statuses = await cli.json("workflow", "list", "-q", query)
    assert {w["status"] for w in statuses} == {"TERMINATED"}


async def test_delete_of_one_closed_workflow_is_a_batch_job_on_its_id(cli):
    workflow_id = new_id("deleted")
    await cli("workflow", "start", "-w", workflow_id, "--type", "Gone", "-t", "nobody")
    await cli("workflow", "terminate", "-w", workflow_id)

    job = await cli.json("workflow", "delete", "-w", workflow_id)
    for _ in range(200):
        if (await cli.json("batch", "describe", "--job-id", job["job_id"]))["state"] != "RUNNING":
            break
        await asyncio.sleep(0.05)
    gone = await cli("workflow", "describe", "-w", workflow_id)

    assert job["operation_type"] == "DELETE"
    assert job["query"] == f"WorkflowId = '{workflow_id}'"
    assert gone.returncode == 1 and "perdure: " in gone.error_line()


async def test_a_problem_is_one_line_with_its_detail_and_the_body_with_json_output(cli):
    missing = await cli("workflow", "describe", "-w", "no-such-workflow")
    as_json = await cli("workflow", "describe", "-w", "no-such-workflow", "-o", "json")
    usage = await cli("workflow", "signal", "-w", "x")
    both = await cli("workflow", "cancel", "-w", "x", "-q", "WorkflowId = 'x'")
    bad_input = await cli("workflow", "start", "--type", "T", "-t", "q", "-i", "{nope")

    assert missing.returncode == 1
    assert missing.error_line().startswith("perdure: ") and "no-such-workflow" in missing.stderr
    problem = json.loads(as_json.stderr)
    assert problem["status"] == 404 and problem["type"] and problem["detail"]
    assert as_json.stdout == ""
    assert usage.returncode == 2 and "--name" in usage.error_line()
    assert both.returncode == 2 and "either --workflow-id or --query" in both.error_line()
    assert bad_input.returncode == 2 and "--input is not JSON" in bad_input.error_line()


async def test_a_wrong_key_and_an_unreachable_server_are_one_line_and_never_show_the_key(cli):
    secret = "pdk_wrong_" + uuid.uuid4().hex
    refused = await cli("workflow", "list", PERDURE_API_KEY=secret)
    unreachable = await cli("workflow", "list", "--address", "127.0.0.1:9", "--api-key", secret)

    assert refused.returncode == 1 and "api_key" in refused.error_line()
    assert unreachable.returncode == 1 and "cannot reach http://127.0.0.1:9" in unreachable.stderr
    for done in (refused, unreachable):
        assert secret not in done.stdout + done.stderr


async def test_another_tenants_workflow_is_not_found(cli, http, server, tmp_path):
    workflow_id = new_id("mine")
    await cli("workflow", "start", "-w", workflow_id, "--type", "Mine", "-t", "nobody")
    other = await new_tenant(http)
    await other.client.aclose()
    theirs = Cli(server, other, tmp_path)

    seen = await theirs("workflow", "describe", "-w", workflow_id, "-n", "main")
    listed = await theirs.json("workflow", "list")

    assert seen.returncode == 1 and json.loads((await theirs(
        "workflow", "describe", "-w", workflow_id, "-o", "json"
    )).stderr)["status"] == 404  # fmt: skip
    assert workflow_id not in [w["workflow_id"] for w in listed]


async def test_signal_with_start_starts_once_then_signals_the_same_run(cli, tmp_path):
    workflow_id = new_id("sws")
    (tmp_path / "amount.json").write_text("7")
    flags = ["--type", "Counter", "-t", "nobody", "-i", "0", "-i", "1", "--signal-name", "add"]

    first = await cli.json("workflow", "signal-with-start", "-w", workflow_id, *flags,
                           "--signal-input", "5")  # fmt: skip
    second = await cli.json("workflow", "signal-with-start", "-w", workflow_id, *flags,
                            "--signal-input-file", str(tmp_path / "amount.json"))  # fmt: skip
    events = await cli.json("workflow", "show", "-w", workflow_id)
    no_id = await cli("workflow", "signal-with-start", *flags)

    assert first["run_id"] == second["run_id"]
    signals = [e["attributes"] for e in events if e["event_type"] == "WORKFLOW_EXECUTION_SIGNALED"]
    assert [(s["signal_name"], s["input"]) for s in signals] == [("add", 5), ("add", 7)]
    assert no_id.returncode == 2 and "--workflow-id" in no_id.error_line()


async def test_input_files_and_output_none(cli, tmp_path):
    workflow_id = new_id("files")
    (tmp_path / "order.json").write_text('{"sku": "A-1"}')
    (tmp_path / "count.json").write_text("3")

    quiet = await cli(
        "workflow", "start", "-w", workflow_id, "--type", "T", "-t", "nobody",
        "--input-file", str(tmp_path / "order.json"), "--input-file", str(tmp_path / "count.json"),
        "-o", "none",
    )  # fmt: skip
    started = (await cli.json("workflow", "show", "-w", workflow_id))[0]
    both = await cli("workflow", "start", "--type", "T", "-t", "q", "-i", "1",
                     "--input-file", str(tmp_path / "count.json"))  # fmt: skip

    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert started["attributes"]["input"] == [{"sku": "A-1"}, 3]
    assert both.returncode == 2 and "not both" in both.error_line()


async def test_a_batch_from_a_terminal_asks_before_it_starts(cli):
    kind = new_id("Asked")
    await cli("workflow", "start", "-w", f"{kind}-1", "--type", kind, "-t", "nobody")

    async def answering(answer: str) -> Done:
        main, terminal = os.openpty()  # the command's stdin is a terminal, as a person's is
        try:
            process = await asyncio.create_subprocess_exec(
                PERDURE, "workflow", "cancel", "-q", f"WorkflowType = '{kind}'",
                env=cli.env, stdin=terminal,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            os.write(main, answer.encode() + b"\n")
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            os.close(main)
            os.close(terminal)
        return Done(process.returncode or 0, out.decode(), err.decode())

    declined = await answering("n")
    accepted = await answering("y")

    assert "Start batch against approximately 1 workflow(s)? y/N" in declined.stdout
    assert declined.returncode == 1 and "batch job not started" in declined.error_line()
    assert accepted.returncode == 0 and "Started batch for job ID: " in accepted.stdout


async def test_a_rate_limited_command_waits_its_retry_after_and_succeeds(cli, tenant):
    # One read every 2 s (burst 1): of two commands at once, one is refused with 429 first.
    limited = await tenant.client.patch(tenant.ns(), json={"settings": {"reads_per_second": 0.5}})
    assert limited.status_code == 200, limited.text
    try:
        both = await asyncio.gather(
            cli("workflow", "count", "-o", "json"), cli("workflow", "count", "-o", "json")
        )
    finally:
        await tenant.client.patch(tenant.ns(), json={"settings": {"reads_per_second": None}})

    assert [done.returncode for done in both] == [0, 0], both
    assert [json.loads(done.stdout)["count"] for done in both] == [0, 0]


async def test_update_execute_start_result_describe_and_a_rejection(cli, worker):
    workflow_id = new_id("updated")
    await cli("workflow", "start", "-w", workflow_id, "--type", "Counter", "-t", worker,
              "-i", "10", "-i", "1")  # fmt: skip

    executed = await cli("workflow", "update", "execute", "-w", workflow_id,
                         "--name", "set_total", "-i", "20")  # fmt: skip
    started = await cli.json("workflow", "update", "start", "-w", workflow_id, "--name",
                             "set_total", "-i", "30", "--update-id", "u-30",
                             "--wait-for-stage", "accepted")  # fmt: skip
    result = await cli.json(
        "workflow", "update", "result", "-w", workflow_id, "--update-id", "u-30"
    )
    described = await cli.json("workflow", "update", "describe", "-w", workflow_id,
                               "--update-id", "u-30")  # fmt: skip
    rejected = await cli("workflow", "update", "execute", "-w", workflow_id,
                         "--name", "set_total", "-i", "-5")  # fmt: skip
    no_stage = await cli("workflow", "update", "start", "-w", workflow_id, "--name", "set_total")

    assert executed.returncode == 0 and executed.stdout.strip() == "Result: 10"
    assert started["stage"] in ("ACCEPTED", "COMPLETED")
    assert started["update_ref"]["update_id"] == "u-30"
    assert result["outcome"] == {"success": 20}
    assert described["stage"] == "COMPLETED" and described["outcome"] == {"success": 20}
    assert rejected.returncode == 1 and "the total cannot be negative" in rejected.error_line()
    assert no_stage.returncode == 2 and "--wait-for-stage" in no_stage.error_line()


async def test_update_with_start_starts_once_and_updates_the_running_run(cli, worker):
    workflow_id = new_id("uws")
    flags = ["-w", workflow_id, "--type", "Counter", "-t", worker, "-i", "1", "-i", "1",
             "--update-name", "set_total", "--id-conflict-policy", "USE_EXISTING"]  # fmt: skip

    first = await cli.json("workflow", "execute-update-with-start", *flags, "--update-input", "5")
    second = await cli("workflow", "start-update-with-start", *flags, "--update-input", "6",
                       "--update-wait-for-stage", "accepted")  # fmt: skip
    without_policy = await cli("workflow", "execute-update-with-start", "-w", workflow_id,
                               "--type", "Counter", "-t", worker, "--update-name", "set_total")  # fmt: skip

    # The update is handled in the run's first task, before `run` set the total (Temporal's
    # order: handlers of the first activation run before the main coroutine).
    assert first["started"] is True and first["update"]["outcome"] == {"success": 0}
    assert second.returncode == 0, second
    assert f"RunId {first['run_id']}" in second.stdout and ": " in second.stdout
    assert without_policy.returncode == 2
    assert "--id-conflict-policy" in without_policy.error_line()


async def test_replay_replays_the_selected_runs_against_local_workflow_code(cli, worker):
    workflow_id = new_id("replayed")
    await cli("workflow", "start", "-w", workflow_id, "--type", "Counter", "-t", worker,
              "-i", "1", "-i", "2")  # fmt: skip
    await cli("workflow", "signal", "-w", workflow_id, "--name", "add", "-i", "3")
    await cli("workflow", "signal", "-w", workflow_id, "--name", "finish")
    await cli("workflow", "result", "-w", workflow_id)
    root = ROOT

    replayed = await cli("replay", "--query", f"WorkflowId = '{workflow_id}'",
                         "--workflows", "tests.cli.test_cli_workflow:Counter", cwd=root)  # fmt: skip
    wrong_code = await cli("replay", "--query", f"WorkflowId = '{workflow_id}'",
                           "--workflows", "tests.cli.test_cli_workflow:Greeting", cwd=root)  # fmt: skip

    assert replayed.returncode == 0, replayed
    assert f"ok    {workflow_id}" in replayed.stdout
    assert "1 replayed, 0 diverged" in replayed.stdout
    assert wrong_code.returncode == 1 and f"FAIL  {workflow_id}" in wrong_code.stdout
