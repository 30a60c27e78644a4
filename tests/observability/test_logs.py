"""What an operator reads: `perdure serve` writes one JSON line per request (route template,
namespace, status, duration) and a warning for engine events worth attention; `perdure dev`
writes readable lines. No payload or key ever reaches the log."""

from __future__ import annotations

import json
import time

import httpx

from tests.cli.test_cli_dev import clean_environment, start, wait_until_ready  # noqa: F401 (fixture)
from tests.conftest import free_port, migrated_sqlite_file

SECRET_INPUT = "card-4111-1111-1111-1111"


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def wait_for_log(path, predicate, timeout: float = 15.0) -> list[dict]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = json_lines(path.read_text())
        if any(predicate(line) for line in lines):
            return lines
        time.sleep(0.05)
    raise AssertionError(f"no matching log line within {timeout}s:\n{path.read_text()[-3000:]}")


def test_serve_logs_json_requests_and_engine_warnings_without_payloads(tmp_path):
    port = free_port()
    env = clean_environment(
        PERDURE_DATABASE_URL=migrated_sqlite_file(tmp_path / "p.db"),  # as `perdure migrate` does
        PERDURE_PORT=str(port),
        PERDURE_ADMIN_TOKEN="admin-token-for-logs-test",
        PERDURE_SECRET_KEY="a-secret-key-for-the-logs-test-0123456789",
    )
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log_file:
        import subprocess

        from tests.cli.test_cli_dev import PERDURE

        server = subprocess.Popen(
            [PERDURE, "serve"], cwd=tmp_path, env=env, stdout=log_file, stderr=log_file
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base)
        admin = {"Authorization": "Bearer admin-token-for-logs-test"}
        made = httpx.post(f"{base}/api/v1/tenants", json={"name": "logs"}, headers=admin)
        key = made.json()["api_key"]["key"]
        auth = {"Authorization": f"Bearer {key}"}
        ns = f"{base}/api/v1/namespaces/default"
        started = httpx.post(
            f"{ns}/workflows/w-logs",
            json={"workflow_type": "W", "task_queue": "q", "input": SECRET_INPUT},
            headers=auth,
        )
        assert started.status_code == 201, started.text
        task = httpx.post(
            f"{ns}/task-queues/q/workflow-tasks/poll", json={"identity": "w1"}, headers=auth
        ).json()
        failed = httpx.post(
            f"{ns}/workflow-tasks/fail",
            json={"task_token": task["task_token"], "failure": {"message": "boom"}},
            headers=auth,
        )
        assert failed.status_code < 300, failed.text

        lines = wait_for_log(
            log_path, lambda line: line.get("message", "").startswith("workflow task failed")
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    request = next(
        line
        for line in lines
        if line.get("logger") == "perdure.http"
        and line.get("method") == "POST"
        and line.get("route") == "/api/v1/namespaces/{namespace}/workflows/{workflow_id}"
    )
    assert request["status"] == 201 and request["namespace"] == "default"
    assert request["duration_ms"] >= 0 and request["level"] == "INFO" and request["time"]
    warning = next(line for line in lines if line["message"].startswith("workflow task failed"))
    assert warning["level"] == "WARNING" and warning["workflow_id"] == "w-logs"
    assert warning["logger"] == "perdure.engine"
    text = log_path.read_text()
    assert SECRET_INPUT not in text and key not in text
    assert not any(line.get("logger") == "uvicorn.access" for line in lines)


def test_dev_logs_readable_request_lines(start, tmp_path):  # noqa: F811
    port = free_port()
    dev = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    dev.wait_for_line("curl ")
    key = (tmp_path / ".perdure" / "dev-key").read_text().strip()

    httpx.get(
        f"http://127.0.0.1:{port}/api/v1/namespaces/default/workflows",
        headers={"Authorization": f"Bearer {key}"},
    )

    line = dev.wait_for_line("GET /api/v1/namespaces/{namespace}/workflows 200")
    assert "namespace=default" in line and " ms" in line
    assert not line.lstrip().startswith("{")
