"""SIGTERM ends a server within seconds even while workers hold long polls open: the polls
answer empty at once (as on timeout), result waits answer with the run still RUNNING, and the
process exits; a task scheduled meanwhile is still there for the next server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import httpx

from tests.cli.test_cli_dev import PERDURE, clean_environment, wait_until_ready
from tests.conftest import free_port, migrated_sqlite_file

POLLS = 50
EXIT_WITHIN = 5.0


async def until_waiting(http: httpx.AsyncClient, polls: int, metrics_url: str) -> None:
    """Until the server reports that many activity long polls waiting (its pollers gauge, read
    on PERDURE_METRICS_PORT: in production the API port does not serve /metrics)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        metrics = (await http.get(metrics_url)).text
        if f'perdure_pollers{{kind="activity"}} {float(polls)}' in metrics:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{polls} polls never waited at once")


def spawn_serve(tmp_path, env: dict[str, str]) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    """`perdure serve` on a migrated database, its output in server.log."""
    with open(tmp_path / "server.log", "w") as log_file:
        return subprocess.Popen(
            [PERDURE, "serve"], cwd=tmp_path, env=env, stdout=log_file, stderr=log_file
        )


async def test_sigterm_answers_fifty_long_polls_and_exits_within_seconds(tmp_path):
    port, metrics_port = free_port(), free_port()
    env = clean_environment(
        PERDURE_DATABASE_URL=migrated_sqlite_file(tmp_path / "p.db"),  # as `perdure migrate` does
        PERDURE_PORT=str(port),
        PERDURE_METRICS_PORT=str(metrics_port),
        PERDURE_ADMIN_TOKEN="admin-token-for-shutdown",
        PERDURE_SECRET_KEY="a-secret-key-for-the-shutdown-test-0123456789",
    )
    server = spawn_serve(tmp_path, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base)
        async with httpx.AsyncClient(base_url=base, timeout=90) as http:
            made = await http.post(
                "/api/v1/tenants",
                json={"name": "drain"},
                headers={"Authorization": "Bearer admin-token-for-shutdown"},
            )
            http.headers["Authorization"] = f"Bearer {made.json()['api_key']['key']}"
            ns = "/api/v1/namespaces/default"
            started = await http.post(
                f"{ns}/workflows/waiting", json={"workflow_type": "W", "task_queue": "busy"}
            )
            assert started.status_code == 201
            result_wait = asyncio.create_task(
                http.get(f"{ns}/workflows/waiting/result", params={"wait": 30})
            )
            polls = [
                asyncio.create_task(
                    http.post(
                        f"{ns}/task-queues/idle-{i % 5}/activity-tasks/poll",
                        json={"identity": f"p{i}", "wait": 60},
                    )
                )
                for i in range(POLLS)
            ]
            await until_waiting(http, POLLS, f"http://127.0.0.1:{metrics_port}/metrics")
            assert not any(p.done() for p in polls)

            signalled = time.monotonic()
            server.send_signal(signal.SIGTERM)
            answers = await asyncio.wait_for(asyncio.gather(*polls), EXIT_WITHIN)
            result = await asyncio.wait_for(result_wait, EXIT_WITHIN)
            exit_code = await asyncio.to_thread(server.wait, EXIT_WITHIN)
            took = time.monotonic() - signalled
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert [a.status_code for a in answers] == [204] * POLLS
    assert result.status_code == 200 and result.json()["status"] == "RUNNING"
    # uvicorn re-raises the signal once it has shut down cleanly: the exit is 'by SIGTERM'.
    assert exit_code in (0, -signal.SIGTERM) and took < EXIT_WITHIN
    assert "Traceback" not in (tmp_path / "server.log").read_text()
