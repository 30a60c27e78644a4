"""`perdure workflow reset|pause|unpause` and `perdure activity pause|unpause|reset|update-options`
as an operator runs them against a real server: one run with `-w`, many with `--query`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from perdure.client import Client
from perdure.worker import Worker

from tests.cli.test_cli_workflow import Counter
from tests.cli_helpers import Cli


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cli(server, tenant, tmp_path) -> Cli:
    return Cli(server, tenant, tmp_path)


@pytest.fixture
async def worker(server, tenant) -> AsyncIterator[str]:
    queue = new_id("controls-q")
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    async with Worker(client, task_queue=queue, workflows=[Counter]):
        yield queue
    await client.close()


async def test_workflow_pause_unpause_and_reset_of_one_run(cli, worker):
    workflow_id = new_id("controlled")
    started = await cli.json("workflow", "start", "-w", workflow_id, "--type", "Counter",
                             "-t", worker, "-i", "1", "-i", "1")  # fmt: skip
    await cli("workflow", "signal", "-w", workflow_id, "--name", "add", "-i", "4")

    paused = await cli("workflow", "pause", "-w", workflow_id, "--reason", "look first")
    while_paused = await cli.json("workflow", "describe", "-w", workflow_id)
    unpaused = await cli("workflow", "unpause", "-w", workflow_id)
    after = await cli.json("workflow", "describe", "-w", workflow_id)
    reset = await cli.json("workflow", "reset", "-w", workflow_id, "--type", "FirstWorkflowTask",
                           "--reason", "replay it")  # fmt: skip
    no_point = await cli("workflow", "reset", "-w", workflow_id, "--reason", "x")

    assert paused.returncode == 0 and "paused" in paused.stdout
    assert while_paused["status"] == "PAUSED"
    assert while_paused["pause_info"]["reason"] == "look first"
    assert unpaused.returncode == 0 and after["status"] == "RUNNING"
    assert reset["base_run_id"] == started["run_id"] and reset["run_id"] != started["run_id"]
    assert no_point.returncode == 2 and "--event-id or --type" in no_point.error_line()


async def test_workflow_and_activity_controls_by_query_are_batch_jobs(cli, tenant):
    allowed = await tenant.client.patch(
        tenant.ns(), json={"settings": {"max_concurrent_batch_operations": 3}}
    )
    assert allowed.status_code == 200, allowed.text
    kind = new_id("Paused")
    for n in range(2):
        await cli("workflow", "start", "-w", f"{kind}-{n}", "--type", kind, "-t", "nobody")

    query = f"WorkflowType = '{kind}'"

    job = await cli.json("workflow", "pause", "-q", query, "--yes", "--reason", "freeze")
    resets = await cli("workflow", "reset", "-q", query, "--yes", "--type", "LastWorkflowTask",
                       "--reason", "again", "-o", "json")  # fmt: skip
    activities = await cli("activity", "pause", "-q", query, "--yes", "--match-all", "-o", "json")

    assert job["operation_type"] == "PAUSE" and job["reason"] == "freeze"
    assert json.loads(resets.stdout)["operation_type"] == "RESET"
    assert json.loads(activities.stdout)["operation_type"] == "PAUSE_ACTIVITY"


async def test_activity_pause_update_options_reset_unpause(cli, tmp_path):
    name, queue = new_id("charge"), new_id("charges")
    machine = {
        "StartAt": "Charge",
        "States": {
            "Charge": {
                "Type": "Task",
                "Resource": f"perdure:activity:{queue}:charge",
                "TimeoutSeconds": 60,
                "End": True,
            }
        },
    }
    (tmp_path / "charge.json").write_text(json.dumps(machine))
    await cli("definition", "put", name, "--file", str(tmp_path / "charge.json"))
    workflow_id = new_id("charged")
    await cli("definition", "start", name, "-w", workflow_id)
    pending = (await cli.json("workflow", "describe", "-w", workflow_id))["pending_activities"]
    activity_id = pending[0]["activity_id"]

    paused = await cli.json("activity", "pause", "-w", workflow_id, "--activity-id", activity_id,
                            "--reason", "supplier down")  # fmt: skip
    text = await cli("activity", "update-options", "-w", workflow_id, "--match-all",
                     "--start-to-close-timeout", "30s", "--retry-maximum-attempts", "5")  # fmt: skip
    reset = await cli("activity", "reset", "-w", workflow_id, "--activity-type", "charge",
                      "--keep-paused")  # fmt: skip
    described = await cli.json("workflow", "describe", "-w", workflow_id)
    unpaused = await cli.json("activity", "unpause", "-w", workflow_id, "--match-all")
    no_target = await cli("activity", "pause", "-w", workflow_id)

    assert paused["activities"][0]["activity_id"] == activity_id
    assert described["pending_activities"][0]["paused"] is True
    assert text.returncode == 0 and "ActivityId" in text.stdout and "Paused" in text.stdout
    assert reset.returncode == 0, reset
    assert unpaused["activities"][0]["paused"] is False
    assert no_target.returncode == 2 and "--activity-id" in no_target.error_line()
