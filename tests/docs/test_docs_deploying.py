"""docs/deploying.md works as written: its Python blocks, in order, are one program that
runs; its `perdure replay` snippet catches a build that would break an open run, and so does
its replay-gate snippet on the server."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from perdure.client import Client
from perdure.testing import WorkflowEnvironment
from perdure.worker import Worker

from tests.conftest import new_tenant
from tests.replay_helpers import register_version
from tests.sdk_helpers import history_until

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "deploying.md").read_text()
PYTHON = re.compile(r"```python\n(.*?)```", re.S)
SHELL = re.compile(
    r"<!-- deploying-test: (\w+)[^>]*-->\s*\n(?:<!-- readme-test: skip[^>]*-->\s*\n)?```sh\n(.*?)```",
    re.S,
)


def shell_snippet(name: str) -> str:
    """The guide's shell block tagged `<!-- deploying-test: name … -->`."""
    return dict(SHELL.findall(GUIDE))[name]


def example_module(directory: Path) -> Path:
    """The guide's Python blocks, in order, as `deploying_example.py`."""
    path = directory / "deploying_example.py"
    path.write_text("\n\n".join(PYTHON.findall(GUIDE)))
    return path


def test_the_guides_python_runs_a_year_across_a_deploy(tmp_path):
    path = example_module(tmp_path)
    done = subprocess.run(
        [sys.executable, path.name], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"build C diverges at event \d+", done.stdout), done.stdout


async def test_the_guides_replay_snippet_catches_the_build_that_drops_a_patch(tmp_path):
    example_module(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        example = importlib.import_module("deploying_example")
    finally:
        sys.path.remove(str(tmp_path))
    async with await WorkflowEnvironment.start_time_skipping() as env:
        workflow_id = f"yearly-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client,
            task_queue="reports",
            workflows=[example.YearlyB],
            activities=[example.send_report, example.send_rich_report],
        ):
            await env.client.start_workflow(
                example.YearlyB.run, id=workflow_id, task_queue="reports"
            )
            await env.sleep(timedelta(days=1))  # the first month's report sent, the run open
        snippet = shell_snippet("replay")
        environment = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "PERDURE_ADDRESS": env.server.url,
            "PERDURE_API_KEY": env.server.api_key,
            "PERDURE_NAMESPACE": "default",
        }
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            snippet,
            cwd=tmp_path,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert f"FAIL  {workflow_id}" in out.decode(), out.decode() + err.decode()
        assert "build C would break open runs" in out.decode()


async def test_the_guides_release_ramps_promotes_and_rolls_back(server, tenant, tmp_path):
    from perdure.client import Client

    from tests.engine_helpers import uid
    from tests.versioning_helpers import poll_as_version, status_of

    example_module(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        example = importlib.import_module("deploying_example")
    finally:
        sys.path.remove(str(tmp_path))
    name = uid("orders")
    for build_id in ("1.0", "2.0"):
        await poll_as_version(tenant, name, build_id, ((name, "workflow"),))
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    try:
        await example.release(client, name, "1.0", ignore_replay_check=True)
        await example.release(client, name, "2.0", ignore_replay_check=True)
        assert await status_of(tenant, name, "2.0") == "current"
        assert await status_of(tenant, name, "1.0") == "drained"  # no pinned run was open
        assert await example.roll_back(client, name, "1.0", ignore_replay_check=True) == "current"
        assert await status_of(tenant, name, "2.0") == "drained"
    finally:
        await client.close()


async def test_the_guides_check_snippet_fails_build_c_at_the_patch_marker(server, tmp_path):
    """The replay gate's snippet, on the suite's server: version yearly.build-c polls
    `reports` while a run of build B (its `rich-report` marker at event 5) is open."""
    example_module(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        example = importlib.import_module("deploying_example")
    finally:
        sys.path.remove(str(tmp_path))
    async with httpx.AsyncClient(base_url=server.base_url, timeout=90) as http:
        tenant = await new_tenant(http, namespace="orders")
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    try:
        async with Worker(
            client,
            task_queue="reports",
            workflows=[example.YearlyB],
            activities=[example.send_report, example.send_rich_report],
        ):
            handle = await client.start_workflow(
                example.YearlyB.run, id=f"yearly-{uuid.uuid4().hex[:8]}", task_queue="reports"
            )
            events = await history_until(
                handle, lambda events: events[-1]["event_type"] == "TIMER_STARTED"
            )
        assert events[4]["event_type"] == "MARKER_RECORDED"
        register_version(server.database_url, tenant, "yearly", "build-c", task_queues=("reports",))
        environment = {
            **os.environ,
            "PERDURE": server.base_url,
            "KEY": tenant.admin_key,
        }
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            shell_snippet("check"),
            cwd=tmp_path,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        final = json.loads(out.decode().strip().splitlines()[-1])
        assert final["status"] == "failed"
        assert final["failures"] == [
            {
                "workflow_id": handle.id,
                "run_id": handle.result_run_id,
                "workflow_type": "Yearly",
                "kind": "nondeterminism",
                "message": "history recorded the patch marker of rich-report",
                "event_id": 5,
            }
        ]
    finally:
        await client.close()
        await tenant.client.aclose()


async def test_the_guides_python_check_keeps_build_c_from_becoming_current(server, tmp_path):
    """Build C's versioned worker polls (the version exists), a run of build B is open: the
    guide's `check_then_promote` reports where the run diverges and promotes nothing."""
    from tests.versioning_helpers import namespace_id, version_polled

    example_module(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        example = importlib.import_module("deploying_example")
    finally:
        sys.path.remove(str(tmp_path))
    async with httpx.AsyncClient(base_url=server.base_url, timeout=90) as http:
        tenant = await new_tenant(http)
    client = await Client.connect(
        server.base_url, api_key=tenant.admin_key, namespace=tenant.namespace
    )
    try:
        async with Worker(
            client,
            task_queue="reports",
            workflows=[example.YearlyB],
            activities=[example.send_report, example.send_rich_report],
        ):
            handle = await client.start_workflow(
                example.YearlyB.run, id=f"yearly-{uuid.uuid4().hex[:8]}", task_queue="reports"
            )
            await history_until(handle, lambda events: events[-1]["event_type"] == "TIMER_STARTED")
        async with example.build_c_worker(client):
            await version_polled(server, await namespace_id(server, tenant), "yearly", "build-c")
            check = await example.check_then_promote(client, "yearly", "build-c")
        assert check["status"] == "failed"
        assert [(f["run_id"], f["event_id"]) for f in check["failures"]] == [
            (handle.result_run_id, 5)
        ]
        routing = (await client.describe_worker_deployment("yearly"))["worker_deployment_info"][
            "routing_config"
        ]
        assert (routing["current_version"] or {}).get("build_id", "") == ""
        assert [c["check_id"] async for c in client.list_replay_checks("yearly", "build-c")] == [
            check["check_id"]
        ]
    finally:
        await client.close()
        await tenant.client.aclose()
