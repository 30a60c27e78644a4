"""Testing support: a throw-away Perdure dev server (optionally skipping time) and a client.

The server runs as a child process (`perdure dev` in a temporary directory, SQLite), so tests
exercise the real HTTP API. The SDK never imports the server's code. The time-skipping clock
behaves like Temporal's test server: locked while the test runs, unlocked while it waits for a
result (`handle.result()`, `execute_workflow`) or sleeps (`env.sleep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
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
        self,
        *,
        time_skipping: bool,
        directory: str | None = None,
        port: int | None = None,
        search_attributes: Mapping[str, str] | None = None,
    ) -> None:
        self.time_skipping = time_skipping
        # Registered at start (`perdure dev --search-attribute Name=Type`).
        self.search_attributes = dict(search_attributes or {})
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
        for name, kind in self.search_attributes.items():
            command += ["--search-attribute", f"{name}={kind}"]
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


def _attribute_types(search_attributes: Sequence[Any] | Mapping[str, Any]) -> dict[str, str]:
    """`{name: type}` from a mapping, or from Temporal's `SearchAttributeKey`s (`name` and
    `indexed_value_type`/`value_type`) as `start_local(search_attributes=…)` takes them."""
    if isinstance(search_attributes, Mapping):
        return {str(name): str(getattr(t, "name", t)) for name, t in search_attributes.items()}
    types: dict[str, str] = {}
    for key in search_attributes:
        kind = getattr(key, "indexed_value_type", None) or getattr(key, "value_type", None)
        types[key.name] = str(getattr(kind, "name", kind))
    return types


class WorkflowEnvironment:
    """A running test server and a client connected to it. Use as
    `async with await WorkflowEnvironment.start_time_skipping() as env: env.client ...`.

    Time, as in Temporal's time-skipping test server: the environment holds a lock on time
    skipping, so time runs at wall-clock speed while the test acts (a run started, then
    signalled, finds its 7-day timer still waiting); `handle.result()` and `execute_workflow`
    of `env.client` release it while they wait, `env.sleep(d)` while it sleeps, and the server
    then jumps to the next deadline whenever nothing else can happen."""

    def __init__(
        self, client: Client, server: DevServer | None = None, *, time_skipping: bool = False
    ) -> None:
        self.server = server
        self._client = client
        self._time_skipping = time_skipping
        self._auto_time_skipping = time_skipping
        # Waits of this process that released the lock together: the first releases it, the
        # last takes it again (two concurrent results must not unlock twice).
        self._unlocked_waits = 0
        self._relock: asyncio.Lock = asyncio.Lock()
        self._clock_http: httpx.AsyncClient | None = None
        if server is not None:
            self._clock_http = httpx.AsyncClient(
                base_url=server.url,
                headers={"Authorization": f"Bearer {server.api_key}"},
                timeout=httpx.Timeout(10.0, read=None),
            )

    @property
    def client(self) -> Client:
        """The client connected to the environment's server."""
        return self._client

    @classmethod
    def from_client(cls, client: Client) -> WorkflowEnvironment:
        """An environment around an existing client: real time, nothing to shut down but it."""
        return cls(client)

    @classmethod
    async def start_time_skipping(
        cls,
        *,
        port: int | None = None,
        search_attributes: Sequence[Any] | Mapping[str, Any] = (),
        **options: Any,
    ) -> WorkflowEnvironment:
        """A server that jumps to the next timer whenever nothing else can happen and no one
        holds the lock, so that month-long sleeps finish in moments. Starts locked (Temporal's
        test server). Temporal's other options (`data_converter`, `download_dest_dir`, …)
        are accepted and have no effect here."""
        return await cls._start(
            time_skipping=True, port=port, search_attributes=_attribute_types(search_attributes)
        )

    @classmethod
    async def start_local(
        cls,
        *,
        namespace: str = "default",
        port: int | None = None,
        search_attributes: Sequence[Any] | Mapping[str, Any] = (),
        **options: Any,
    ) -> WorkflowEnvironment:
        """A real-time embedded server (`perdure dev`), Temporal's `start_local`;
        `search_attributes` are registered in it (Temporal's `SearchAttributeKey`s or a
        `{name: type}` mapping). Temporal's other options are accepted and have no effect."""
        return await cls._start(
            time_skipping=False,
            port=port,
            search_attributes=_attribute_types(search_attributes),
            namespace=namespace,
        )

    @classmethod
    async def _start(
        cls,
        *,
        time_skipping: bool,
        port: int | None = None,
        search_attributes: Mapping[str, str] | None = None,
        namespace: str = "default",
    ) -> WorkflowEnvironment:
        server = DevServer(
            time_skipping=time_skipping, port=port, search_attributes=search_attributes
        )
        await server.start()
        client = await Client.connect(server.url, api_key=server.api_key, namespace=namespace)
        env = cls(client, server, time_skipping=time_skipping)
        if time_skipping:
            await env._clock("POST", "/lock")
            client.result_wait = env.time_skipping_unlocked
        return env

    @property
    def supports_time_skipping(self) -> bool:
        """Whether this environment's server skips time."""
        return self._time_skipping

    async def _clock(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        if self._clock_http is None:
            raise RuntimeError("this environment has no server of its own")
        r = await self._clock_http.request(method, "/api/v1/dev/clock" + path, json=body)
        if r.status_code != 200:
            raise RuntimeError(f"the test clock answered {r.status_code}: {r.text}")
        answer: dict[str, Any] = r.json()
        return answer

    async def sleep(self, duration: timedelta | float) -> None:
        """Let `duration` of the environment's time pass: skipped in a time-skipping
        environment (the lock released meanwhile), slept on real time otherwise."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        if not self._time_skipping:
            await asyncio.sleep(seconds)
            return
        await self._clock("POST", "/unlock-with-sleep", {"duration": seconds})

    async def get_current_time(self, handle: Any = None) -> datetime:
        """The server's current time (UTC): the skipped-ahead clock in a time-skipping
        environment. `handle` is Temporal's V2 parameter and is ignored."""
        if self._clock_http is None:
            return datetime.now(UTC)
        return datetime.fromisoformat((await self._clock("GET", ""))["time"])

    @contextlib.contextmanager
    def auto_time_skipping_disabled(self) -> Iterator[None]:
        """Within the block, waiting for a result does not release the lock (time runs at
        wall-clock speed unless `sleep` is called)."""
        already_disabled = not self._auto_time_skipping
        self._auto_time_skipping = False
        try:
            yield None
        finally:
            if not already_disabled:
                self._auto_time_skipping = True

    @contextlib.asynccontextmanager
    async def time_skipping_unlocked(self) -> AsyncIterator[None]:
        """Release the lock for the block (what `handle.result()` does), unless automatic
        time skipping is disabled or this environment does not skip time."""
        if not self._auto_time_skipping:
            yield None
            return
        async with self._relock:
            self._unlocked_waits += 1
            if self._unlocked_waits == 1:
                await self._clock("POST", "/unlock")
        try:
            yield None
        finally:
            async with self._relock:
                self._unlocked_waits -= 1
                if self._unlocked_waits == 0:
                    await self._clock("POST", "/lock")

    async def fast_forward(self, handle: Any, duration: timedelta | float | None = None, /) -> bool:
        """Temporal's V2 per-workflow fast-forward: not available (see the SDK README's
        differences); raises `RuntimeError` as Temporal does outside a V2 environment."""
        raise RuntimeError(
            "fast_forward needs Temporal's V2 per-workflow time skipping, which Perdure does not "
            "have; use env.sleep() in a start_time_skipping() environment"
        )

    @contextlib.contextmanager
    def with_time_skipping_disabled(self) -> Iterator[None]:
        """Temporal's V2 switch for newly started workflows: a no-op here, as in Temporal's
        non-V2 environments."""
        yield None

    async def shutdown(self) -> None:
        """Close the client and stop the server (an environment `from_client` leaves the
        client to its owner, as Temporal's does)."""
        if self._clock_http is not None:
            await self._clock_http.aclose()
        if self.server is not None:
            await self._client.close()
            await self.server.stop()
            self.server.remove_directory()

    async def __aenter__(self) -> WorkflowEnvironment:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()


from perdure._activity_environment import ActivityEnvironment  # noqa: E402

__all__ = ["ActivityEnvironment", "DevServer", "WorkflowEnvironment"]
