"""`perdure task-queue config get|set` (Temporal CLI's flags) and `perdure concurrency-limit …`
against a running server, as an operator types them."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tests.engine_helpers import uid

PERDURE = str(Path(sys.executable).with_name("perdure"))


async def _perdure(server: Any, tenant: Any, *argv: str) -> tuple[int, Any]:
    proc = await asyncio.create_subprocess_exec(
        PERDURE,
        *argv,
        "--address",
        server.base_url,
        "--api-key",
        tenant.admin_key,
        "--namespace",
        tenant.namespace,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, json.loads(out) if out.strip() else err.decode()


async def test_task_queue_config_set_and_get_with_temporals_flags(server, tenant):
    queue = uid("q")
    code, answer = await _perdure(
        server,
        tenant,
        "task-queue", "config", "set",
        "--task-queue", queue,
        "--task-queue-type", "activity",
        "--queue-rps-limit", "20",
        "--queue-rps-limit-reason", "ledger quota",
        "--fairness-key-rps-limit-default", "2",
        "--fairness-weight-override", "gold=4",
    )  # fmt: skip
    assert code == 0, answer
    code, config = await _perdure(
        server, tenant, "task-queue", "config", "get", "-t", queue, "--task-queue-type", "activity"
    )
    assert code == 0
    assert config == answer["config"]
    assert config["queue_rate_limit"]["rate_limit"] == {"requests_per_second": 20.0}
    assert config["queue_rate_limit"]["metadata"]["reason"] == "ledger quota"
    assert config["fairness_weight_overrides"] == {"gold": 4.0}

    code, answer = await _perdure(
        server, tenant, "task-queue", "config", "set", "-t", queue,
        "--task-queue-type", "activity", "--queue-rps-limit", "default",
    )  # fmt: skip
    assert code == 0
    assert answer["config"]["queue_rate_limit"] is None


async def test_concurrency_limit_commands(server, tenant):
    name = uid("lim")
    code, made = await _perdure(
        server, tenant, "concurrency-limit", "set", name, "--applies-to", "activities",
        "--key", "concurrency_keys.customer", "--max-running", "3",
    )  # fmt: skip
    assert code == 0 and made["max_running"] == 3
    code, listed = await _perdure(server, tenant, "concurrency-limit", "list")
    assert [limit["name"] for limit in listed["limits"]] == [name]
    assert (await _perdure(server, tenant, "concurrency-limit", "delete", name))[0] == 0

    code, problem = await _perdure(server, tenant, "concurrency-limit", "get", name)
    assert code == 1 and problem["status"] == 404
