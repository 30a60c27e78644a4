"""`perdure schedule|operator|task-queue|definition|api-key …` as a user runs them against a
real server, each group through its whole life: create, read, change, remove."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.cli_helpers import Cli


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cli(server, tenant, tmp_path) -> Cli:
    return Cli(server, tenant, tmp_path)


async def test_schedule_create_describe_list_toggle_trigger_backfill_update_delete(cli):
    schedule_id = new_id("nightly")
    created = await cli(
        "schedule", "create", "-s", schedule_id, "--interval", "1h/5m", "--type", "Report",
        "-t", "reports", "-i", '{"full": true}', "--overlap-policy", "ALLOW_ALL",
        "--notes", "made by the cli", "--execution-timeout", "10m",
    )  # fmt: skip
    described = await cli.json("schedule", "describe", "-s", schedule_id)
    listed = await cli.json("schedule", "list")
    paused = await cli("schedule", "toggle", "-s", schedule_id, "--pause", "--reason", "quiet")
    after_pause = await cli.json("schedule", "describe", "-s", schedule_id)
    triggered = await cli.json("schedule", "trigger", "-s", schedule_id)
    backfilled = await cli(
        "schedule", "backfill", "-s", schedule_id,
        "--start-time", "2026-01-01T00:00:00Z", "--end-time", "2026-01-01T02:30:00Z",
    )  # fmt: skip
    updated = await cli(
        "schedule", "update", "-s", schedule_id, "--cron", "0 9 * * mon-fri",
        "--time-zone", "Europe/Paris", "--type", "Report", "-t", "reports",
    )  # fmt: skip
    after_update = await cli.json("schedule", "describe", "-s", schedule_id)
    deleted = await cli("schedule", "delete", "-s", schedule_id)
    gone = await cli("schedule", "describe", "-s", schedule_id)

    assert created.returncode == 0 and f"Schedule {schedule_id} created" in created.stdout
    spec, action = described["schedule"]["spec"], described["schedule"]["action"]["start_workflow"]
    assert spec["intervals"] == [{"every": 3600.0, "offset": 300.0}]
    assert action["workflow_type"] == "Report" and action["input"] == {"full": True}
    assert action["execution_timeout"] == 600
    assert described["schedule"]["policy"]["overlap"] == "ALLOW_ALL"
    assert described["schedule"]["state"]["note"] == "made by the cli"
    assert schedule_id in [s["schedule_id"] for s in listed]
    assert paused.returncode == 0 and after_pause["schedule"]["state"]["paused"] is True
    assert after_pause["schedule"]["state"]["note"] == "quiet"
    assert triggered["outcome"] == "started" and triggered["workflow_id"].startswith(schedule_id)
    assert backfilled.returncode == 0, backfilled
    assert updated.returncode == 0, updated
    assert after_update["schedule"]["spec"]["time_zone_name"] == "Europe/Paris"
    assert after_update["schedule"]["spec"]["intervals"] == []
    assert deleted.returncode == 0
    assert gone.returncode == 1 and schedule_id in gone.error_line()


async def test_schedule_flags_are_checked_before_any_call(cli):
    both = await cli("schedule", "toggle", "-s", "x", "--pause", "--unpause")
    no_action = await cli("schedule", "create", "-s", "x", "--cron", "@daily")
    bad_interval = await cli("schedule", "create", "-s", "x", "--interval", "often", "--type", "T")

    assert both.returncode == 2 and "exactly one of --pause and --unpause" in both.error_line()
    assert no_action.returncode == 2 and "--type" in no_action.error_line()
    assert bad_interval.returncode == 2 and "not a duration" in bad_interval.error_line()


async def test_operator_namespace_create_describe_list_update_delete(cli):
    name = new_id("ns")
    created = await cli.json(
        "operator", "namespace", "create", name, "--description", "cli", "--retention", "72h"
    )
    described = await cli.json("operator", "namespace", "describe", "-n", name)
    listed = await cli.json("operator", "namespace", "list")
    updated = await cli.json("operator", "namespace", "update", name, "--retention", "30d")
    unconfirmed = await cli("operator", "namespace", "delete", name)
    deleted = await cli("operator", "namespace", "delete", name, "--yes")
    gone = await cli("operator", "namespace", "describe", name)

    assert created["name"] == name and created["retention_days"] == 3
    assert described["description"] == "cli"
    assert name in [n["name"] for n in listed]
    assert updated["retention_days"] == 30
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.error_line()
    assert deleted.returncode == 0 and f"Namespace {name} has been deleted." in deleted.stdout
    assert gone.returncode == 1


async def test_operator_search_attribute_create_and_list(cli):
    created = await cli(
        "operator", "search-attribute", "create",
        "--name", "CustomerId", "--type", "Keyword", "--name", "Amount", "--type", "Double",
    )  # fmt: skip
    listed = await cli.json("operator", "search-attribute", "list")
    text = await cli("operator", "search-attribute", "list")
    unpaired = await cli("operator", "search-attribute", "create", "--name", "A", "--name", "B",
                         "--type", "Int")  # fmt: skip

    assert created.returncode == 0, created
    assert listed["custom_attributes"] == {"Amount": "Double", "CustomerId": "Keyword"}
    assert "WorkflowType" in listed["system_attributes"]
    assert "CustomerId" in text.stdout and "custom" in text.stdout
    assert unpaired.returncode == 2 and "one --type per --name" in unpaired.error_line()


async def test_operator_search_attribute_remove_asks_then_removes_with_the_runs_values(cli):
    await cli("operator", "search-attribute", "create", "--name", "Region", "--type", "Keyword",
              "--name", "Tier", "--type", "Int", "--name", "Plan", "--type", "Keyword")  # fmt: skip
    await cli("workflow", "start", "--type", "Waiting", "-t", new_id("tq"), "-w", "regional",
              "--search-attribute", 'Region="eu"')  # fmt: skip
    unconfirmed = await cli("operator", "search-attribute", "remove", "--name", "Region")
    removed = await cli("operator", "search-attribute", "remove", "--name", "Region",
                        "--name", "Tier", "--yes")  # fmt: skip
    left = await cli.json("operator", "search-attribute", "remove", "--name", "Plan", "-y")
    described = await cli.json("workflow", "describe", "-w", "regional")
    system = await cli("operator", "search-attribute", "remove", "--name", "WorkflowId", "-y")
    unknown = await cli("operator", "search-attribute", "remove", "--name", "Region", "-y")

    assert unconfirmed.returncode == 2 and "needs --yes" in unconfirmed.error_line()
    assert removed.returncode == 0 and "Search attributes have been removed" in removed.stdout
    assert left["custom_attributes"] == {}
    assert described["search_attributes"] == {}
    assert system.returncode == 1 and "non-custom" in system.error_line()
    assert unknown.returncode == 1 and "not registered" in unknown.error_line()


async def test_task_queue_describe_shows_the_backlog(cli):
    queue = new_id("tq")
    await cli("workflow", "start", "--type", "Waiting", "-t", queue)

    described = await cli.json("task-queue", "describe", "-t", queue)
    text = await cli("task-queue", "describe", "-t", queue)

    assert described["name"] == queue
    assert described["backlog"]["workflow_tasks"] == 1
    assert f"Task queue {queue}" in text.stdout and "workflow_tasks=1" in text.stdout


async def test_definition_put_get_list_start_runs_a_stored_state_machine(cli, tmp_path):
    name = new_id("greeter")
    path = tmp_path / "greeter.json"
    machine = {
        "StartAt": "Greet",
        "States": {"Greet": {"Type": "Pass", "Parameters": {"greeting.$": "$.name"}, "End": True}},
    }
    path.write_text(json.dumps(machine))
    yaml_path = tmp_path / "greeter.yaml"
    yaml_path.write_text("StartAt: Done\nStates:\n  Done:\n    Type: Succeed\n")

    stored = await cli.json("definition", "put", name, "--file", str(path))
    second = await cli.json("definition", "put", name, "-f", str(yaml_path))
    first_again = await cli.json("definition", "get", name, "--version", "1")
    latest = await cli.json("definition", "get", name)
    listed = await cli.json("definition", "list")
    started = await cli.json("definition", "start", name, "--version", "1", "-i", '{"name": "ada"}')
    result = await cli.json("workflow", "result", "-w", started["workflow_id"])
    missing_file = await cli("definition", "put", name, "--file", str(tmp_path / "none.json"))

    assert stored["version"] == 1 and second["version"] == 2
    assert first_again["definition"] == machine
    assert latest["version"] == 2
    assert name in [d["name"] for d in listed]
    assert result["status"] == "COMPLETED" and result["result"] == {"greeting": "ada"}
    assert missing_file.returncode == 2 and "cannot read --file" in missing_file.error_line()


async def test_api_key_create_list_describe_revoke_and_the_new_key_works_until_revoked(cli):
    created = await cli.json(
        "api-key", "create", "--name", "ci-reader", "--role", "reader", "--key-namespace", "main"
    )
    as_reader = await cli("workflow", "list", "-o", "json", PERDURE_API_KEY=created["key"])
    listed = await cli.json("api-key", "list")
    described = await cli.json("api-key", "describe", "--id", created["id"])
    text = await cli("api-key", "list")
    revoked = await cli.json("api-key", "revoke", "--id", created["id"])
    refused = await cli("workflow", "list", PERDURE_API_KEY=created["key"])

    assert created["role"] == "reader" and created["namespaces"] == ["main"]
    assert as_reader.returncode == 0 and isinstance(json.loads(as_reader.stdout), list)
    assert created["id"] in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)
    assert described["name"] == "ci-reader" and described["revoked_at"] is None
    assert created["key"] not in text.stdout
    assert revoked["revoked_at"] is not None
    assert refused.returncode == 1 and refused.error_line().startswith("perdure: ")
    assert created["key"] not in refused.stderr


async def test_activity_complete_and_fail_by_workflow_and_activity_id(cli, tenant, tmp_path):
    name, queue = new_id("charge"), new_id("charges")
    path = tmp_path / "charge.json"
    path.write_text(json.dumps(task_machine(queue)))
    await cli("definition", "put", name, "--file", str(path))
    failed_id, completed_id = new_id("failed"), new_id("completed")

    async def started(workflow_id: str) -> dict:
        """Start a run and let a worker take its activity and go away (as one that crashed)."""
        await cli("definition", "start", name, "-w", workflow_id)
        polled = await tenant.client.post(
            tenant.ns(f"/task-queues/{queue}/activity-tasks/poll"), json={"wait": 10}
        )
        assert polled.status_code == 200, polled.text
        return polled.json()

    attempt = await started(failed_id)
    failed = await cli(
        "activity", "fail", "-w", failed_id, "--activity-id", attempt["activity_id"],
        "--reason", "card declined", "--detail", '{"code": 51}',
    )  # fmt: skip
    failed_run = await cli("workflow", "result", "-w", failed_id, "-o", "json")
    completed = await cli(
        "activity", "complete", "-w", completed_id,
        "--activity-id", (await started(completed_id))["activity_id"], "--result", '{"ok": true}',
    )  # fmt: skip
    result = await cli.json("workflow", "result", "-w", completed_id)
    unknown = await cli("activity", "complete", "-w", completed_id, "--activity-id", "nope",
                        "--result", "1")  # fmt: skip

    assert failed.returncode == 0 and "Failed activity" in failed.stdout
    # A States Language Task without Retry is not retried: the run fails with the reason.
    assert failed_run.returncode == 1 and "card declined" in failed_run.stdout
    assert json.loads(failed_run.stdout)["status"] == "FAILED"
    assert completed.returncode == 0, completed
    assert result["status"] == "COMPLETED" and result["result"] == {"ok": True}
    assert unknown.returncode == 1 and unknown.error_line().startswith("perdure: ")


def task_machine(queue: str) -> dict:
    resource = f"perdure:activity:{queue}:charge"
    return {"StartAt": "Charge", "States": {"Charge": {"Type": "Task", "Resource": resource,
                                                       "End": True}}}  # fmt: skip


async def test_operator_cluster_health_says_serving(cli):
    text = await cli("operator", "cluster", "health")
    down = await cli("operator", "cluster", "health", "--address", "127.0.0.1:9")

    assert text.returncode == 0 and text.stdout.strip() == "SERVING"
    assert down.returncode == 1 and "cannot reach" in down.error_line()
