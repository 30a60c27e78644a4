"""What a new user or an operator meets (issue 28, kind 5): /metrics in production on its own
port or behind a token; JSON logs an operator can read; `perdure serve --help` listing every
setting; one `perdure dev` per folder; the open-file limit logged."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from app.settings import Environment, Settings
from tests.cli.test_cli_dev import (
    PERDURE,
    clean_environment,
    run,
    start,  # noqa: F401  (the fixture)
    wait_until_ready,
)
from tests.conftest import ADMIN_TOKEN, free_port, migrated_sqlite_file, serve_app

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


async def test_metrics_in_production_are_on_their_own_port_or_behind_the_token(server):
    metrics_port = free_port()
    settings = Settings(
        database_url=server.database_url,
        admin_token=ADMIN_TOKEN,
        environment=Environment.PRODUCTION,
        secret_key="a-secret-key-for-the-metrics-test-0123456789",
        run_background_loops=False,
        metrics_port=metrics_port,
        metrics_token="metrics-token-0123456789",
    )
    async with serve_app(settings) as running, httpx.AsyncClient(timeout=30) as http:
        api = f"{running.base_url}/metrics"
        assert (await http.get(api)).status_code == 401
        wrong = await http.get(api, headers={"Authorization": "Bearer not-it"})
        assert wrong.status_code == 401
        right = await http.get(api, headers={"Authorization": "Bearer metrics-token-0123456789"})
        assert right.status_code == 200 and "perdure_" in right.text
        own = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert own.status_code == 200 and "perdure_" in own.text
        assert own.headers["content-type"].startswith("text/plain")
        assert (await http.get(f"http://127.0.0.1:{metrics_port}/api/v1/me")).status_code == 404

    # Without a token, the API port does not serve them at all in production.
    settings = settings.model_copy(update={"metrics_token": None, "metrics_port": 0})
    async with serve_app(settings) as running, httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(f"{running.base_url}/metrics")).status_code == 404


def production_server(tmp_path: Path, **settings: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    url = migrated_sqlite_file(tmp_path / "perdure.db")
    port = free_port()
    env = clean_environment(
        PERDURE_DATABASE_URL=url,
        PERDURE_PORT=str(port),
        PERDURE_METRICS_PORT="0",
        PERDURE_ADMIN_TOKEN=ADMIN_TOKEN,
        PERDURE_SECRET_KEY="a-secret-key-for-the-log-test-0123456789",
        PERDURE_LOG_LEVEL="info",
        **settings,
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(  # noqa: S603 - our own command
            [PERDURE, "serve"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return popen, f"http://127.0.0.1:{port}", log


def stop(popen: subprocess.Popen[bytes]) -> None:
    popen.terminate()
    try:
        popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def test_json_logs_carry_an_rfc3339_time_no_color_and_the_path_of_unmatched_requests(tmp_path):
    popen, base, log = production_server(tmp_path)
    try:
        wait_until_ready(base)
        for _ in range(3):
            assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/no/such/route-xyz").status_code == 404
    finally:
        stop(popen)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines, log.read_text()
    for line in lines:
        assert RFC3339_UTC.match(line["time"]), line
        assert "color_message" not in line, line
        assert not line["logger"].startswith("alembic"), line  # /readyz logs no Alembic INFO
    unmatched = [line for line in lines if line.get("path") == "/no/such/route-xyz"]
    assert len(unmatched) == 1 and unmatched[0]["status"] == 404, lines
    assert sum(1 for line in lines if line.get("route") == "/readyz") >= 3


def test_serve_help_lists_every_setting_with_its_real_default():
    done = subprocess.run(
        [PERDURE, "serve", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "PydanticUndefined" not in done.stdout
    for name in Settings.model_fields:
        assert re.search(rf"PERDURE_{name.upper()}\s+default ", done.stdout), name
    assert re.search(r"PERDURE_PORT\s+default 8233\.", done.stdout)
    assert re.search(r"PERDURE_PREVIOUS_SECRET_KEYS\s+default unset\.", done.stdout)
    assert re.search(r"PERDURE_STREAM_STALL_SECONDS\s+default 30\.0\.", done.stdout)


def test_a_second_dev_in_the_same_folder_fails_with_one_line_naming_the_first(
    start,  # noqa: F811  (the fixture imported above)
    tmp_path,
):
    port = free_port()
    first = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    first.wait_for_line("Perdure is running at")
    second = run("dev", "--port", str(free_port()), cwd=tmp_path, env=clean_environment())
    assert second.returncode == 2
    lines = second.stdout.strip().splitlines()
    assert len(lines) == 1, second.stdout
    assert "already running" in lines[0] and f"pid {first.popen.pid}" in lines[0]
    assert f"127.0.0.1:{port}" in lines[0]


@pytest.mark.skipif(not Path("/usr/bin/prlimit").exists(), reason="needs util-linux prlimit")
def test_the_open_file_limit_is_logged_once_a_minute_with_the_limit_and_the_count(tmp_path):
    url = migrated_sqlite_file(tmp_path / "perdure.db")
    port = free_port()
    env = clean_environment(
        PERDURE_DATABASE_URL=url,
        PERDURE_PORT=str(port),
        PERDURE_METRICS_PORT="0",
        PERDURE_SECRET_KEY="a-secret-key-for-the-fd-test-0123456789",
        PERDURE_LOG_LEVEL="info",
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(  # noqa: S603 - our own command
            ["/usr/bin/prlimit", "--nofile=64:64", PERDURE, "serve"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    held: list[socket.socket] = []
    try:
        wait_until_ready(f"http://127.0.0.1:{port}")
        for _ in range(120):  # far past the limit; each connection costs the server one
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        deadline = time.monotonic() + 20
        while "open-file limit" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for sock in held:
            sock.close()
        stop(popen)
    found = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{") and "open-file limit" in line
    ]
    assert len(found) == 1, log.read_text()[-2000:]
    assert found[0]["level"] == "WARNING" and found[0]["open_file_limit"] == 64
    assert found[0]["open_files"] >= 60


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "bounded-connections.md"


def test_the_bounded_connections_guide_runs_as_written(start, tmp_path):  # noqa: F811
    from tests.docs.test_readme import PRELUDE, runnable_snippets

    port = free_port()
    snippets = runnable_snippets(GUIDE.read_text())
    assert len(snippets) >= 4
    dev = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    dev.wait_for_line("curl ")
    script = PRELUDE + "".join(
        f"\necho '>>> snippet {n}'\n{s.replace('127.0.0.1:8233', f'127.0.0.1:{port}')}\n"
        for n, s in enumerate(snippets, 1)
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n--- stderr ---\n{done.stderr[-3000:]}"
    out = done.stdout
    assert "event: history" in out  # the stream sent the run's events
    assert out.count(" 400") == 3  # the out-of-range id, the long duration, the slow batch
