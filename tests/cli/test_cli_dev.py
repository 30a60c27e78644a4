"""The `perdure` command as a user runs it: `dev` from a clean directory, `serve` and `migrate`.

Each test starts real processes with bounded waits and always stops them.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, migrated_sqlite_file

PERDURE = str(Path(sys.executable).with_name("perdure"))
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def clean_environment(**settings: str) -> dict[str, str]:
    """The caller's environment without any PERDURE_* variable (the suite's own included),
    plus the given settings. The port is a free one unless given: a `perdure dev` on the
    default port (8233) may be running beside the suite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERDURE_")}
    env["PERDURE_PORT"] = str(free_port())
    env.update(settings)
    return env


@dataclass
class Process:
    """A running `perdure` command whose output is read line by line as it comes."""

    popen: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, marker: str, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
            if marker in line:
                return line
        raise AssertionError(
            f"no line with {marker!r} within {timeout}s; output so far:\n" + "\n".join(self.output)
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@pytest.fixture
def start() -> Iterator:
    """Start `perdure <args>`; every process started is stopped when the test ends."""
    started: list[Process] = []

    def _start(*args: str, cwd: Path, env: dict[str, str]) -> Process:
        popen = subprocess.Popen(
            [PERDURE, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process = Process(popen)
        started.append(process)
        return process

    yield _start
    for process in started:
        process.stop()


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PERDURE, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


def wait_until_ready(base_url: str) -> httpx.Response:
    """Poll /readyz until it answers 200, for at most START_TIMEOUT seconds."""
    deadline = time.monotonic() + START_TIMEOUT
    last: str = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base_url}/readyz", timeout=5)
            if response.status_code == 200:
                return response
            last = f"{response.status_code} {response.text}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise AssertionError(f"{base_url}/readyz not ready within {START_TIMEOUT}s: {last}")


def run_curl_line(line: str, cwd: Path) -> dict:
    command = line.strip()
    assert command.startswith("curl "), line
    assert "$(cat .perdure/dev-key)" in command
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_dev_starts_from_a_clean_directory_and_its_curl_line_works(start, tmp_path):
    port = free_port()

    dev = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    key_line = dev.wait_for_line("API key")
    curl_line = dev.wait_for_line("curl ")

    assert "(new," in key_line
    ready = wait_until_ready(f"http://127.0.0.1:{port}")
    assert ready.json()["database"] == "sqlite"
    me = run_curl_line(curl_line, tmp_path)
    assert me["role"] == "admin"
    assert me["namespaces"] == ["default"]
    key_file = tmp_path / ".perdure" / "dev-key"
    assert key_file.read_text().strip() in key_line
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    database = tmp_path / ".perdure" / "perdure.db"
    assert database.stat().st_mode & 0o077 == 0
    secret_key = tmp_path / ".perdure" / "secret-key"  # seals webhook secrets, kept beside
    assert len(secret_key.read_text().strip()) >= 32
    assert secret_key.stat().st_mode & 0o077 == 0


def test_dev_restarted_reuses_its_key(start, tmp_path):
    port = free_port()
    first = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    first.wait_for_line("curl ")
    key_file = tmp_path / ".perdure" / "dev-key"
    saved = key_file.read_bytes()
    saved_mtime = key_file.stat().st_mtime_ns
    first.popen.send_signal(signal.SIGTERM)
    first.popen.wait(timeout=STOP_TIMEOUT)  # a clean stop, not a kill

    second = start("dev", "--port", str(port), cwd=tmp_path, env=clean_environment())
    key_line = second.wait_for_line("API key")
    curl_line = second.wait_for_line("curl ")

    assert "(reused," in key_line
    assert saved.decode().strip() in key_line
    assert key_file.read_bytes() == saved
    assert key_file.stat().st_mtime_ns == saved_mtime
    assert run_curl_line(curl_line, tmp_path)["tenant"] == "default"


SECRET_KEY = "a-test-secret-key-of-enough-length-0123456789"


def test_serve_refuses_to_start_in_production_without_a_secret_key(tmp_path):
    env = clean_environment(PERDURE_DATABASE_URL=migrated_sqlite_file(tmp_path / "serve.db"))

    refused = run("serve", cwd=tmp_path, env=env)

    assert refused.returncode != 0
    assert "PERDURE_SECRET_KEY is required" in refused.stdout + refused.stderr


def test_serve_refuses_an_unmigrated_database_and_names_perdure_migrate(tmp_path):
    env = clean_environment(
        PERDURE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/serve.db",
        PERDURE_SECRET_KEY=SECRET_KEY,
    )

    refused = run("serve", cwd=tmp_path, env=env)

    assert refused.returncode != 0
    assert "perdure migrate" in refused.stdout + refused.stderr


def test_migrate_then_serve_answers_ready(start, tmp_path):
    port = free_port()
    env = clean_environment(
        PERDURE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/serve.db",
        PERDURE_PORT=str(port),
        PERDURE_SECRET_KEY=SECRET_KEY,
    )

    migrated = run("migrate", cwd=tmp_path, env=env)

    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "head" in migrated.stdout
    start("serve", cwd=tmp_path, env=env)
    assert wait_until_ready(f"http://127.0.0.1:{port}").json()["status"] == "ready"
