"""Testing support: a throw-away Perdure dev server (optionally skipping time) and a client.

The server runs as a child process (`perdure dev` in a temporary directory, SQLite), so tests
exercise the real HTTP API. The SDK never imports the server's code.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from perdure.client import Client


def _perdure_executable() -> str:
    beside = Path(sys.executable).with_name("perdure")
    if beside.exists():
        return str(beside)
    found = shutil.which("perdure")
    if found is None:
        raise RuntimeError(
            "the 'perdure' server executable was not found (pip install perdure-server)"
        )
    return found


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevServer:
    """`perdure dev` as a child process on a directory and port that survive restarts."""

    def __init__(
        self, *, time_skipping: bool, directory: str | None = None, port: int | None = None
    ) -> None:
        self.time_skipping = time_skipping
        # A directory made here is this server's to remove (`remove_directory`).
        self.owns_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="perdure-env-"))
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_key(self) -> str:
        """The development admin key the server saved in its directory."""
        return (self.directory / ".perdure" / "dev-key").read_text().strip()

    async def start(self, wait: float = 60.0) -> None:
        """Start the server and wait until it answers."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERDURE_")}
        command = [_perdure_executable(), "dev", "--port", str(self.port)]
        if self.time_skipping:
            command.append("--time-skipping")
        self.process = self._spawn(command, env)
        deadline = time.monotonic() + wait
        async with httpx.AsyncClient() as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"perdure dev exited: {(self.directory / 'server.log').read_text()[-2000:]}"
                    )
                try:
                    ready = await http.get(f"{self.url}/readyz", timeout=1)
                    if (
                        ready.status_code == 200
                        and (self.directory / ".perdure" / "dev-key").exists()
                    ):
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("perdure dev did not become ready in time")
                await asyncio.sleep(0.05)

    def _spawn(self, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.directory / "server.log", "ab") as log:
            return subprocess.Popen(
                command, cwd=self.directory, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing is flushed or closed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    async def stop(self) -> None:
        """Stop the server gracefully."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                # Long polls keep a graceful shutdown waiting; a test server need not wait.
                await asyncio.to_thread(self.process.wait, 2)
            except subprocess.TimeoutExpired:
                self.kill()

    def remove_directory(self) -> None:
        """Delete the temporary directory (database, key, log) if this server made it."""
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class WorkflowEnvironment:
    """A running test server and a client connected to it. Use as
    `async with await WorkflowEnvironment.start_time_skipping() as env: env.client ...`."""

    def __init__(self, server: DevServer, client: Client) -> None:
        self.server = server
        self.client = client

    @classmethod
    async def start_time_skipping(cls, **kwargs: Any) -> WorkflowEnvironment:
        """A server that jumps to the next timer whenever nothing else can happen, so that
        month-long sleeps finish in moments."""
        return await cls._start(time_skipping=True, **kwargs)

    @classmethod
    async def start_local(cls, **kwargs: Any) -> WorkflowEnvironment:
        """A server on real time."""
        return await cls._start(time_skipping=False, **kwargs)

    @classmethod
    async def _start(cls, *, time_skipping: bool, port: int | None = None) -> WorkflowEnvironment:
        server = DevServer(time_skipping=time_skipping, port=port)
        await server.start()
        client = await Client.connect(server.url, api_key=server.api_key, namespace="default")
        return cls(server, client)

    async def shutdown(self) -> None:
        """Close the client and stop the server."""
        await self.client.close()
        await self.server.stop()
        self.server.remove_directory()

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()


from perdure._activity_environment import ActivityEnvironment  # noqa: E402

__all__ = ["ActivityEnvironment", "DevServer", "WorkflowEnvironment"]
