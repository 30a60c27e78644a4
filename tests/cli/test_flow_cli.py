"""`perdure task-queue config get|set` (Temporal CLI's flags) and `perdure concurrency-limit …`
against the suite's server, as an operator types them."""

from __future__ import annotations

from tests.cli_helpers import Cli
from tests.engine_helpers import uid


async def test_task_queue_config_set_and_get_with_temporals_flags(server, tenant, tmp_path):
    perdure = Cli(server, tenant, tmp_path)
    queue = uid("q")
    config = await perdure.json(
        "task-queue", "config", "set",
        "--task-queue", queue,
        "--task-queue-type", "activity",
        "--queue-rps-limit", "20",
        "--queue-rps-limit-reason", "ledger quota",
        "--fairness-key-rps-limit-default", "2",
        "--fairness-weight-override", "gold=4",
    )  # fmt: skip
    got = await perdure.json(
        "task-queue", "config", "get", "-t", queue, "--task-queue-type", "activity"
    )

    assert got == config
    assert config["queue_rate_limit"]["rate_limit"] == {"requests_per_second": 20.0}
    assert config["queue_rate_limit"]["metadata"]["reason"] == "ledger quota"
    assert config["fairness_weight_overrides"] == {"gold": 4.0}
    removed = await perdure.json(
        "task-queue", "config", "set", "-t", queue,
        "--task-queue-type", "activity", "--queue-rps-limit", "default",
    )  # fmt: skip
    assert removed["queue_rate_limit"] is None


async def test_a_bad_flag_value_is_a_usage_error(server, tenant, tmp_path):
    perdure = Cli(server, tenant, tmp_path)
    done = await perdure(
        "task-queue", "config", "set", "-t", "q", "--task-queue-type", "workflow",
        "--queue-rps-limit", "fast",
    )  # fmt: skip
    assert done.returncode == 2
    assert "--queue-rps-limit" in done.error_line()


async def test_concurrency_limit_commands(server, tenant, tmp_path):
    perdure = Cli(server, tenant, tmp_path)
    name = uid("lim")
    made = await perdure.json(
        "concurrency-limit", "set", name, "--applies-to", "activities",
        "--key", "concurrency_keys.customer", "--max-running", "3",
    )  # fmt: skip
    assert made["max_running"] == 3
    listed = await perdure.json("concurrency-limit", "list")
    assert [limit["name"] for limit in listed] == [name]
    table = await perdure("concurrency-limit", "list")
    assert "MaxRunning" in table.stdout and name in table.stdout
    assert (await perdure("concurrency-limit", "delete", name)).returncode == 0

    missing = await perdure("concurrency-limit", "get", name)
    assert missing.returncode == 1
    assert "not found" in missing.error_line()


async def test_schedule_create_takes_priority_and_concurrency_key_flags(server, tenant, tmp_path):
    perdure = Cli(server, tenant, tmp_path)
    schedule = uid("sched")
    made = await perdure(
        "schedule", "create", "-s", schedule, "--cron", "0 0 1 1 *",
        "--type", "Nightly", "-t", uid("q"),
        "--priority-key", "2", "--fairness-key", "acme", "--fairness-weight", "3",
        "--concurrency-key", "customer=acme", "--concurrency-key", "region=eu",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    action = (await perdure.json("schedule", "describe", "-s", schedule))["schedule"]["action"]

    assert action["start_workflow"]["priority"] == {
        "priority_key": 2,
        "fairness_key": "acme",
        "fairness_weight": 3.0,
    }
    assert action["start_workflow"]["concurrency_keys"] == {"customer": "acme", "region": "eu"}
    assert (await perdure("schedule", "delete", "-s", schedule)).returncode == 0
